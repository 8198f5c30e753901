"""The one way files and folders are replaced here, so that a crash never leaves half of one.

A file is written beside its target, fsynced and renamed over it (`replacing`, `write_atomic`,
`write_json`): results, samples, manifests, feature shards, logs, teacher labels. A folder (a checkpoint,
the healed SLM, a converted or tuned model) is filled as `<name>.partial`, its files fsynced; the old
folder is moved aside to `<name>.old`, the new one renamed into place, and only then is the old one
deleted (`replacing_folder`), so a crash leaves the old copy or the new one; `recover_folder`, which
every reader of such a folder runs first, puts the right one in place after a crash between the renames.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yields a temp path in the same folder for the caller to write, then fsyncs it and renames it over
    `path`; on any error the temp file is removed and the old file kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """`data` (text as UTF-8, or bytes) written to `path` through `replacing`."""
    path = Path(path)
    with replacing(path) as tmp:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
    return path


def write_json(data: dict, path: str | Path) -> Path:
    return write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def replacing_folder(path: str | Path) -> Iterator[Path]:
    """Yields an empty `<path>.partial` folder for the caller to fill; then fsyncs its files and puts it
    in place of `path`, the old copy kept as `<path>.old` until the new one is there. On an error inside
    the block nothing at `path` changes."""
    path = recover_folder(path)  # an earlier crash between the renames: its whole copy first, then replaced
    partial, old = path.with_name(path.name + ".partial"), path.with_name(path.name + ".old")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for file in partial.rglob("*"):
        if file.is_file():
            _fsync(file)
    (partial / ".complete").touch()  # what `recover_folder` trusts: every file above was written and synced
    _fsync(partial)
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    partial.rename(path)
    _fsync(path.parent)
    shutil.rmtree(old, ignore_errors=True)
    (path / ".complete").unlink(missing_ok=True)


def recover_folder(path: str | Path) -> Path:
    """After a crash inside `replacing_folder` between its renames (`path` gone, `<path>.old` kept): the
    new copy is put in place if it was complete, else the old one. Returns `path`."""
    path = Path(path)
    partial, old = path.with_name(path.name + ".partial"), path.with_name(path.name + ".old")
    if not path.exists() and old.exists():
        (partial if (partial / ".complete").exists() else old).rename(path)
        (path / ".complete").unlink(missing_ok=True)
        shutil.rmtree(old, ignore_errors=True)
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
