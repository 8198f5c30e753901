"""Model adapters: every system under test behind `ModelAdapter` (encode once, then decode).

Built-ins register by decorator; other packages add adapters through the `l2s_bench.models`
entry-point group (`[project.entry-points."l2s_bench.models"] my-model = "pkg.mod:MyAdapter"`).
"""

import json

from bench.errors import BenchError
from bench.models.base import Encoded, GenSettings, ModelAdapter
from bench.registry import Registry

MODELS: Registry[type[ModelAdapter]] = Registry("model adapter", "l2s_bench.models")

from bench.models import assisted, hf, llm2slm  # noqa: E402,F401  (registers the built-ins)


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


def get_adapter(name: str, **kwargs) -> ModelAdapter:
    """An adapter instance by registry name, e.g. `get_adapter("llm2slm", checkpoint="runs/x/final")`."""
    return MODELS.get(name)(**kwargs)


__all__ = ["MODELS", "Encoded", "GenSettings", "ModelAdapter", "get_adapter", "parse_model_args"]
