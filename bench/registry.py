"""Name -> object registries (model adapters, tasks, metrics), extensible by other packages.

Built-in objects register themselves with a decorator; third-party packages add theirs
through an entry-point group in their own packaging metadata, so using a plugin needs
only `pip install`, never an edit here. Entry points are listed on the first miss and
each one is imported only when its name is asked for, so a slow or broken plugin costs
nothing unless it is actually used.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import metadata
from typing import Generic, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of `T`s, e.g. `Registry[type[ModelAdapter]]("model adapter", "l2s_bench.models")`."""

    def __init__(self, kind: str, entry_point_group: str) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering the decorated object under `name`; returns it unchanged.

        Re-registering the same object is a no-op (a module imported twice), but a second,
        different object under a taken name is a programming error, hence `ValueError`.
        """

        def decorator(obj: T) -> T:
            existing = self._items.get(name)
            if existing is not None and existing is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered to {existing!r}")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The object registered as `name`, loading it from its entry point if need be."""
        if name in self._items:
            return self._items[name]
        entry_point = self._discover().get(name)
        if entry_point is None:
            raise BenchError(self._unknown_message(name))
        try:
            obj = entry_point.load()
        except Exception as exc:  # a plugin can fail in any way; report it, don't crash
            raise BenchError(
                f"{self.kind} {name!r}: entry point {entry_point.value!r} "
                f"(group {self.entry_point_group!r}) failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        self._items[name] = obj
        return obj

    def names(self) -> list[str]:
        """Every name `get` can resolve: registered ones plus those offered by entry points."""
        return sorted(set(self._items) | set(self._discover()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._items or name in self._discover())

    def _discover(self) -> dict[str, metadata.EntryPoint]:
        """The group's entry points by name, listed once (listing scans installed metadata)."""
        if self._entry_points is None:
            found = metadata.entry_points(group=self.entry_point_group)
            self._entry_points = {ep.name: ep for ep in found}
        return self._entry_points

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        message = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
        return message + f" (known: {', '.join(known) if known else 'none'})"
