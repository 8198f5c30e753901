"""Records for training and evaluation: a prepared data set by name, a folder of split files, or one JSONL file."""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench.errors import BenchError


def load_records(source: str, split: str = "train", limit: int | None = None, seed: int = 0) -> list[dict]:
    """Records of `split`; with `limit`, a seeded sample that keeps the file order (prepared splits are
    ordered by book or package, so a plain head would cover one book only)."""
    path = Path(source)
    if path.is_dir():
        records = read_jsonl(path / f"{split}.jsonl")
    elif path.suffix in {".jsonl", ".json"} or path.exists():
        records = read_jsonl(path)
    else:
        from bench.data import bible  # the builders register by name; only bible data exists so far

        records = bible.load_split(source, split)
    records = subsample(records, limit, seed)
    if not records:
        raise BenchError(f"{source} [{split}] has no records")
    return records


def subsample(records: list[dict], limit: int | None, seed: int = 0) -> list[dict]:
    if limit is None or limit >= len(records):
        return records
    keep = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in keep]


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise BenchError(f"data file {path} does not exist")
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
