"""YAML run configs: `include:` inheritance, typed dataclass sections, and a stable run key.

Configs are plain YAML so they diff and review well; `include:` lets a sweep share one
base file. Loading them into dataclasses checks every key and type up front, so a typo
fails in the first second with the file and dotted key named, not hours into a run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from l2s_bench import builtin
from l2s_bench.errors import BenchError, did_you_mean

D = TypeVar("D")


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (plain PyYAML keeps the last one
    silently, so a suite listing `llm:` twice would run one of them without a word)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {seen[key] + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path, overrides: dict | None = None) -> dict:
    """The mapping in `path`, with its `include:` files (relative to it) merged in underneath and
    `overrides` (nested keys, e.g. from a suite) merged on top. A relative `tasks/`, `suites/` or
    `configs/` path not found from the working directory is looked up in the search folders
    (`l2s_bench.builtin`)."""
    return deep_merge(_load(builtin.locate(path), ()), overrides or {})


def _load(path: Path, stack: tuple[Path, ...]) -> dict:
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise BenchError(f"{path}: include cycle: {chain}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raised_by = f" (included from {stack[-1]})" if stack else ""
        raise BenchError(f"config file not found: {path}{raised_by}") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BenchError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    data = {} if data is None else data  # an empty file is an empty config
    if not isinstance(data, dict):
        raise BenchError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise BenchError(f"{path}: 'include' must be a path or a list of paths")
    merged: dict = {}
    for include in includes:  # later includes win over earlier ones, the file itself over all
        merged = deep_merge(merged, _load(path.parent / include, (*stack, resolved)))
    return deep_merge(merged, data)


def deep_merge(base: dict, override: dict) -> dict:
    """`base` updated by `override`: nested dicts merge key by key; anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def from_dict(cls: type[D], data: dict, where: str) -> D:
    """An instance of dataclass `cls` built from `data`, every key and type checked.

    Errors start with `where` (the file name) and name the dotted key, e.g. `train.steps`.
    """
    return _build(cls, data, where, "")


def _build(cls: type[D], data: Any, where: str, prefix: str) -> D:
    if not isinstance(data, dict):
        raise BenchError(f"{where}: {repr(prefix[:-1]) if prefix else 'top level'} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            hint = did_you_mean(key, fields) or f"; known: {', '.join(fields)}"
            raise BenchError(f"{where}: unknown key '{prefix}{key}'{hint}")
    kwargs = {}
    for name, field in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], where, f"{prefix}{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise BenchError(f"{where}: missing required key '{prefix}{name}'")
    return cls(**kwargs)


def _coerce(value: Any, tp: Any, where: str, key: str) -> Any:
    """`value` checked against (and, for floats, converted to) the annotation `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, where, f"{key}.")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:  # `X | None`: X's own message is the precise one
            return _coerce(value, options[0], where, key)
        for option in options:
            try:
                return _coerce(value, option, where, key)
            except BenchError:
                continue
        raise _type_error(value, tp, where, key)
    if origin is Literal:
        if value in args:
            return value
        hint = did_you_mean(value, args)
        allowed = ", ".join(repr(a) for a in args)
        raise BenchError(f"{where}: '{key}' must be one of {allowed}, got {value!r}{hint}")
    if origin is list and isinstance(value, list):
        return [_coerce(v, args[0], where, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        return {k: _coerce(v, args[1], where, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, bool) and tp in (int, float):  # bool subclasses int; `steps: true` is a slip
        raise _type_error(value, tp, where, key)
    if tp is float and isinstance(value, (int, str)):
        try:  # PyYAML reads `3e-4` (no dot before the e) as a string, and `1` as an int
            return float(value)
        except ValueError:
            raise _type_error(value, tp, where, key) from None
    if isinstance(origin or tp, type) and not isinstance(value, origin or tp):
        raise _type_error(value, tp, where, key)
    return value


def _type_error(value: Any, tp: Any, where: str, key: str) -> BenchError:
    name = tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")
    return BenchError(f"{where}: '{key}' must be {name}, got {value!r} ({type(value).__name__})")


def config_hash(data: dict) -> str:
    """First 12 hex chars of the sha256 of `data` as canonical JSON (`str()` for YAML dates)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
