"""Name -> object registries (model adapters, tasks, metrics), extensible by other packages.

Built-in objects register themselves with a decorator; third-party packages add theirs
through an entry-point group in their own packaging metadata, so using a plugin needs
only `pip install`, never an edit here. Entry points are listed on the first miss and
each one is imported only when its name is asked for, so a slow or broken plugin costs
nothing unless it is actually used.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Generic, TypeVar

from l2s_bench.errors import BenchError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of `T`s, e.g. `Registry[type[ModelAdapter]]("model adapter", "l2s_bench.models",
    base_cls=ModelAdapter)`.

    With `base_cls` (lm-eval's `Registry(base_cls=...)`), only subclasses of it are accepted: a class
    registered by decorator is checked when it registers, one from an entry point when it loads, so a
    wrong plugin fails with its name and the base it should extend, not later with a missing method.
    """

    def __init__(self, kind: str, entry_point_group: str, base_cls: type | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.base_cls = base_cls
        self._items: dict[str, T] = {}
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering the decorated object under `name`; returns it unchanged.

        Re-registering the same object is a no-op (a module imported twice), but a second,
        different object under a taken name is a programming error, hence `ValueError`.
        """

        def decorator(obj: T) -> T:
            self._check_base(name, obj, "")
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
        self._check_base(name, obj, f" (entry point {entry_point.value!r}, group {self.entry_point_group!r})")
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

    def _check_base(self, name: str, obj: object, where: str) -> None:
        """BenchError unless `obj` is a subclass of `base_cls` (when the registry has one)."""
        base = self.base_cls
        if base is not None and not (isinstance(obj, type) and issubclass(obj, base)):
            raise BenchError(f"{self.kind} {name!r}{where}: {obj!r} is not a subclass of "
                             f"{base.__module__}.{base.__qualname__}")

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        return (f"unknown {self.kind} {name!r}{did_you_mean(name, known)}"
                f" (known: {', '.join(known) if known else 'none'})")
