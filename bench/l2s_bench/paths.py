"""Where l2s-bench keeps what it downloads, converts or caches (models, data, LLM features)."""

import os
from pathlib import Path


def cache_path(*parts: str) -> Path:
    """`$L2S_BENCH_CACHE` (default `~/.cache/l2s-bench`) joined with `parts`, not created: for reading, so
    that a read-only command (`list`, `validate`) leaves no empty folders behind."""
    return Path(os.environ.get("L2S_BENCH_CACHE", Path.home() / ".cache" / "l2s-bench")).joinpath(*parts)


def cache_dir(*parts: str) -> Path:
    """`cache_path(*parts)`, created on demand: for writing."""
    path = cache_path(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_weights(model, path: str | Path) -> Path:
    """safetensors' `save_model`, with the file mode every other file here gets (the umask's, typically
    0644): safetensors creates its files 0600, so a checkpoint was half unreadable to other users."""
    from safetensors.torch import save_model

    save_model(model, str(path))
    return umask_mode(path)


def umask_mode(path: str | Path) -> Path:
    """Give `path` the mode a plain `open(..., "w")` would have."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)
    return Path(path)

