"""How a model runs: the extra `generate` kwargs of each backend, through transformers' own mechanisms.

- `eager`: HF `generate` as shipped, dynamic KV cache, no compilation.
- `compiled`: a static KV cache plus a `CompileConfig(mode="reduce-overhead")`; `generate` then
  compiles the decode step with torch.compile (CUDA graphs). The prefill step stays eager (that is
  how transformers does it), and the first call pays the compilation: the tracker's cold call.
  transformers only auto-compiles on accelerators; on CPU it would silently run eager, so asking for
  it there is an error unless explicitly allowed (then it is forced, which is useful only to test).
"""

from __future__ import annotations

from typing import Any

from l2s_bench.errors import BenchError, did_you_mean

BACKENDS = ("eager", "compiled")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        hint = did_you_mean(backend, BACKENDS)
        raise BenchError(f"unknown backend '{backend}'{hint} (choose from {', '.join(BACKENDS)})")
    return backend


def generate_kwargs(backend: str, device: str, allow_cpu_compile: bool = False) -> dict[str, Any]:
    if check_backend(backend) == "eager":
        return {}
    on_cuda = device.startswith("cuda")
    if not on_cuda and not allow_cpu_compile:
        raise BenchError(f"the compiled backend needs CUDA (device is '{device}'): transformers compiles "
                         "generate only on accelerators; use --backends eager")
    from transformers import CompileConfig

    config = CompileConfig(mode="reduce-overhead")
    if not on_cuda:
        config._compile_all_devices = True  # transformers' own switch for compiling on CPU (tests only)
    return {"cache_implementation": "static", "compile_config": config}
