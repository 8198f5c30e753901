"""Where tasks, suites and training configs are found: the user's folders first, then those that ship.

The checkout's top-level `tasks/`, `suites/` and `configs/` are installed as package data
(`l2s_bench.builtin.tasks`, `.suites`, `.configs`) and read through `importlib.resources`, so an installed
wheel finds them as a checkout does. Searched, in this order (the first folder holding a name wins, so a
user's copy of a shipped task, suite or config replaces it):

1. every folder given by `--include-path DIR` (the `L2S_BENCH_INCLUDE` variable, `os.pathsep`-separated,
   which training subprocesses inherit): `DIR/tasks`, `DIR/suites`, `DIR/configs` where they exist,
   else DIR itself holds tasks (lm-eval's `--include_path`);
2. `./tasks`, `./suites`, `./configs` of the working directory;
3. the shipped folders.

A relative file reference that does not exist from the working directory (a suite's
`train: configs/{task}.yaml`, `l2s-bench train configs/kjv-web.yaml`) is looked up the same way.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from l2s_bench.errors import BenchError

KINDS = ("tasks", "suites", "configs")
INCLUDE_ENV = "L2S_BENCH_INCLUDE"


def include(folders: list[str]) -> None:
    """Add `--include-path` folders for this process and the subprocesses it starts."""
    missing = [f for f in folders if not Path(f).is_dir()]
    if missing:
        raise BenchError(f"--include-path: not a folder: {', '.join(missing)}")
    known = [p for p in os.environ.get(INCLUDE_ENV, "").split(os.pathsep) if p]
    given = [str(Path(f).resolve()) for f in folders]
    os.environ[INCLUDE_ENV] = os.pathsep.join(dict.fromkeys([*known, *given]))  # in order, each once


def shipped(kind: str) -> Path:
    """The folder of `kind` that ships with the package."""
    return Path(str(files(f"l2s_bench.builtin.{kind}")))


def folders(kind: str) -> list[Path]:
    """Every folder searched for `kind` (one of KINDS), in search order, each once."""
    found: list[Path] = []
    for root in [Path(p) for p in os.environ.get(INCLUDE_ENV, "").split(os.pathsep) if p]:
        if any((root / k).is_dir() for k in KINDS):
            found.append(root / kind)
        elif kind == "tasks":
            found.append(root)
    found += [Path.cwd() / kind, shipped(kind)]
    unique: list[Path] = []
    for folder in found:
        if folder.is_dir() and folder.resolve() not in [u.resolve() for u in unique]:
            unique.append(folder)
    return unique


def locate(ref: str | Path) -> Path:
    """`ref` itself where it exists (or is absolute); else `KIND/rest` looked up in the folders of KIND.
    A reference found nowhere comes back unchanged, so that the caller's 'not found' names it."""
    path = Path(ref)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] not in KINDS:
        return path
    rest = Path(*path.parts[1:])
    for folder in folders(path.parts[0]):
        if (folder / rest).is_file():
            return folder / rest
    return path
