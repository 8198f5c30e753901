"""Per-sample JSONL written as a run goes: `results/<run-id>/samples/<task>/<system>.jsonl`.

One line per scored item: id, prompt hash, prediction, reference, generated token count and the
batch's wall time; for a system that read a prompt, also the prompt tokens its model read
(`prompt_tokens`) and whether the prompt was cut to fit (`prompt_truncated`), outside the key. Lines are appended and fsynced batch by batch, so a killed run loses at most the
batch in flight. Each line carries `key` = sha256(task, sample id, system config hash): `--resume`
skips the keys already present, and a changed system (new checkpoint, other generation settings)
gets new keys, so stale predictions are never mixed in. A torn last line (killed mid-write) is
dropped when the file is read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from l2s_bench.errors import BenchError
from l2s_bench.files import write_atomic

log = logging.getLogger(__name__)


def sample_key(task: str, sample_id: str, system_hash: str) -> str:
    return hashlib.sha256(f"{task}\x00{sample_id}\x00{system_hash}".encode()).hexdigest()[:16]


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:12]


class SampleStore:
    """The rows of one (task, system), keyed; duplicates keep the first row written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines()
        good = []
        for i, line in enumerate(lines):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    log.warning("%s: dropping a torn last line (the run was killed mid-write)", self.path)
                    continue
                raise BenchError(f"{self.path}:{i + 1}: not valid JSON (a damaged samples file; delete it to "
                                 "regenerate that system's predictions)") from None
            if row["key"] not in self.rows:
                self.rows[row["key"]] = row
                good.append(line)
        if len(good) != len(lines) or not text.endswith("\n"):  # rewrite clean (whole lines only) before appending
            write_atomic(self.path, "".join(g + "\n" for g in good))

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, rows: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for row in rows:
                if row["key"] not in self.rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    self.rows[row["key"]] = row
            f.flush()
            os.fsync(f.fileno())


def shard_stores(folder: Path, system: str) -> list[SampleStore]:
    """The per-rank sample files of a system under `folder/_shards/`: one per rank of this run (rank r at
    index r, `l2s_bench.parallel`), then any an earlier sitting with more ranks left behind."""
    from l2s_bench import parallel

    shards = folder / "_shards"
    ranks = [shards / f"{system}.rank{r}.jsonl" for r in range(parallel.world())] if parallel.state() else []
    left = sorted(set(shards.glob(f"{system}.rank*.jsonl")) - set(ranks)) if shards.exists() else []
    return [SampleStore(p) for p in (*ranks, *left)]


def merge_shards(store: SampleStore, shards: list[SampleStore]) -> None:
    """Fold the shards' rows into the store, the whole file rewritten in manifest order (`index`) at once,
    then delete the shards. Whatever order ranks and sittings stored rows in, the merged file is the
    one-process file; a merge killed half-way is finished by the next one."""
    new = {r["key"]: r for s in shards for r in s.rows.values() if r["key"] not in store}
    if new:
        rows = sorted([*store.rows.values(), *new.values()], key=lambda r: r["index"])
        write_atomic(store.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        store.rows = {r["key"]: r for r in rows}
    for s in shards:
        s.path.unlink(missing_ok=True)
