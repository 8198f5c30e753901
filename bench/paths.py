"""Where l2s-bench keeps what it downloads, converts or caches (models, data, LLM features)."""

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """`$L2S_BENCH_CACHE` (default `~/.cache/l2s-bench`) joined with `parts`, created on demand."""
    root = Path(os.environ.get("L2S_BENCH_CACHE", Path.home() / ".cache" / "l2s-bench"))
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
