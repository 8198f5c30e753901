"""Data sets: offline builders registered by name, prepared once into the data cache, then read as
records; or a folder of split files; or one JSONL file.

A builder is `build(name) -> (rows per split, manifest)`; `prepare` writes them as
`train/valid/test.jsonl` plus `manifest.json` (counts and sha256 per file added). Out-of-tree builders register through the
`l2s_bench.datasets` entry-point group.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path

from l2s_bench.errors import BenchError, MissingData
from l2s_bench.paths import cache_dir, cache_path
from l2s_bench.registry import Registry
from l2s_bench.files import write_atomic

SPLITS = ("train", "valid", "test")
DATASETS: Registry[Callable[[str], tuple[dict[str, list[dict]], dict]]] = Registry("data set", "l2s_bench.datasets")


def prepare(name: str, out_dir: str | Path | None = None) -> Path:
    """Build data set `name` into `out_dir` (default: the data cache); returns the folder."""
    rows, manifest = DATASETS.get(name)(name)
    return write_splits(Path(out_dir) if out_dir else cache_dir("data", name), rows, manifest)


def prepared_split(name: str, split: str, data_dir: str | Path | None = None) -> list[dict]:
    """Rows of one prepared split. Never prepares implicitly: that may need apt and root."""
    DATASETS.get(name)  # unknown names get a did-you-mean
    if split not in SPLITS:
        raise BenchError(f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")
    path = Path(data_dir or cache_path("data", name)) / f"{split}.jsonl"
    if not path.is_file():
        raise MissingData(f"{path} not found; run `l2s-bench data prepare {name}` first")
    return read_jsonl(path)


def load_records(source: str, split: str = "train", limit: int | None = None, seed: int = 0) -> list[dict]:
    """Records of `split`; with `limit`, a seeded sample that keeps the file order (prepared splits are
    ordered by book or package, so a plain head would cover one book only)."""
    path = Path(source)
    if path.is_dir():
        records = read_jsonl(path / f"{split}.jsonl")
    elif path.suffix in {".jsonl", ".json"} or path.exists():
        records = read_jsonl(path)
    else:
        records = prepared_split(source, split)
    records = subsample(records, limit, seed)
    if not records:
        raise BenchError(f"{source} [{split}] has no records")
    return records


def subsample(records: list[dict], limit: int | None, seed: int = 0) -> list[dict]:
    if limit is None or limit >= len(records):
        return records
    keep = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in keep]


def write_splits(out_dir: Path, rows: dict[str, list[dict]], manifest: dict) -> Path:
    """Write the splits, then the manifest, so a manifest always describes complete files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest["splits"] = {}
    for split in SPLITS:
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[split]).encode("utf-8")
        write_atomic(out_dir / f"{split}.jsonl", data)
        manifest["splits"][split] = {"count": len(rows[split]), "sha256": hashlib.sha256(data).hexdigest()}
    write_atomic(out_dir / "manifest.json", (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    return out_dir


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise MissingData(f"data file {path} does not exist")
    records = []
    with open(path, encoding="utf-8", errors="strict") as f:
        try:
            for lineno, line in enumerate(f, 1):
                if line.strip():
                    records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise BenchError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
        except UnicodeDecodeError as e:
            raise BenchError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    return records


from l2s_bench.data import bible, debian, instruct  # noqa: E402,F401  (registers the built-in builders)
