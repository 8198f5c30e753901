"""Model adapters: every system under test behind `ModelAdapter` (encode once, then decode).

Built-ins register by decorator; other packages add adapters through the `l2s_bench.models`
entry-point group (`[project.entry-points."l2s_bench.models"] my-model = "pkg.mod:MyAdapter"`).
Runners know an adapter only through what its class declares (`ModelAdapter`) and the arguments its
constructor accepts (`adapter_args`); the adapter names they pick themselves are the `FOR_*` below.
"""

import inspect
import json
from collections.abc import Mapping

from l2s_bench.errors import BenchError, did_you_mean
from l2s_bench.models.base import Encoded, GenSettings, ModelAdapter
from l2s_bench.registry import Registry

MODELS: Registry[type[ModelAdapter]] = Registry("model adapter", "l2s_bench.models", base_cls=ModelAdapter)

# The adapters chosen without a user naming them (every other system names its adapter):
FOR_TRAINED = "llm2slm"  # a suite's `train:` systems, on their final checkpoint (its `checkpoint_arg`)
FOR_ASSISTED = "assisted"  # a suite's `assisted` systems: target's arguments + assistant's checkpoint (`draft_arg`)
FOR_LOOKUP = "prompt-lookup"  # a suite's `assisted` systems with `lookup: N`: target's arguments + lookup_tokens=N
FOR_JUDGE = "hf-causal"  # the `judge` metric's model

# What runners offer every adapter; each is passed only where the constructor accepts it.
RUNNER_ARGS = ("device", "dtype", "reserve_new_tokens")

from l2s_bench.models import assisted, hf, llm2slm  # noqa: E402,F401  (registers the built-ins)


def parse_model_args(text: str) -> dict:
    """`k=v,k2=v2` (lm-eval's --model_args syntax); values parsed as JSON where they parse."""
    args = {}
    for part in filter(None, text.split(",")):
        if "=" not in part:
            raise BenchError(f"model arguments are key=value pairs, got {part!r}")
        key, value = part.split("=", 1)
        try:
            args[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            args[key.strip()] = value
    return args


def constructor_args(cls: type) -> list[str] | None:
    """The keyword arguments `cls(...)` accepts, in order; None when it accepts any. A constructor
    with `**kwargs` is followed into its base classes' (`Assisted` hands them on to `HFAdapter`); one
    whose `**kwargs` reach no base constructor keeps them itself, so it accepts any."""
    names: list[str] = []
    forwarded = False  # a `**kwargs` still looking for the base constructor that takes them
    for klass in cls.__mro__:
        if klass is object:
            break
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            params = list(inspect.signature(init).parameters.values())[1:]  # without self
        except (TypeError, ValueError):  # no signature to read: let the constructor itself decide
            return None
        names += [p.name for p in params
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in names]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
        forwarded = True
    return None if forwarded else names


def adapter_args(name: str, cls: type, args: Mapping) -> dict:
    """The arguments of `args` that adapter `name` (class `cls`) accepts: a runner-supplied one
    (`RUNNER_ARGS`) it lacks is left out; any other it lacks is a BenchError with a did-you-mean."""
    accepted = constructor_args(cls)
    if accepted is None:
        return dict(args)
    unknown = [k for k in args if k not in accepted and k not in RUNNER_ARGS]
    if unknown:
        also = f" (also unknown: {', '.join(repr(k) for k in unknown[1:])})" if len(unknown) > 1 else ""
        raise BenchError(f"unknown argument '{unknown[0]}' for {name} (accepts: {', '.join(accepted) or 'none'})"
                         f"{did_you_mean(unknown[0], accepted)}{also}")
    return {k: v for k, v in args.items() if k in accepted}


def adapter_class(name: str) -> type[ModelAdapter] | None:
    """The adapter class registered as `name`, or None (e.g. a stored run's `trivial` systems, or a plugin
    no longer installed): for reading what an adapter declares where the name may not be an adapter's."""
    try:
        return MODELS.get(name) if name in MODELS else None
    except BenchError:  # a plugin that fails to load
        return None


def get_adapter(name: str, **kwargs) -> ModelAdapter:
    """An adapter instance by registry name, e.g. `get_adapter("llm2slm", checkpoint="runs/x/final")`;
    it gets only the arguments its constructor accepts (`adapter_args`)."""
    cls = MODELS.get(name)
    return cls(**adapter_args(name, cls, kwargs))


__all__ = ["FOR_ASSISTED", "FOR_JUDGE", "FOR_LOOKUP", "FOR_TRAINED", "MODELS", "RUNNER_ARGS", "Encoded", "GenSettings",
           "ModelAdapter", "adapter_args", "adapter_class", "constructor_args", "get_adapter", "parse_model_args"]
