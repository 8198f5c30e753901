"""The one pattern for the names that become folder and file names: tasks, systems, suites and run ids.

Letters, digits, `.`, `_` and `-`, not starting with a dot: no separator, so a name cannot reach outside
the folder it names something in (`../../x` is refused, not written three folders up)."""

from __future__ import annotations

import re

from l2s_bench.errors import BenchError

PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_name(kind: str, value: str, where: str = "") -> str:
    """`value` if it is a safe name, else one clear error naming `kind` (and `where` it was given)."""
    if not isinstance(value, str) or not PATTERN.fullmatch(value):
        at = f"{where}: " if where else ""
        raise BenchError(f"{at}{kind} {value!r} is not a valid name: use letters, digits, '.', '_' and '-', "
                         "not starting with a dot (it names a folder or file)")
    return value
