"""One exclusive lock per folder a process writes a run into (a suite's run folder, a training's run
folder): a second process gets one clear error naming the holder's pid instead of both writing."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from l2s_bench.errors import BenchError


def hold(folder: Path, doing: str) -> IO:
    """Lock `folder` (its `.lock` file, which records our pid) for as long as the returned file stays open
    or the process lives; BenchError if another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "a+", encoding="ascii")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise BenchError(f"{folder} is in use by another process (pid {holder}): {doing}; wait for it to finish, "
                         "or use another folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
