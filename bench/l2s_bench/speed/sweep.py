"""`l2s-bench speed`: LLM vs SLM vs L2S generation speed on public shapes with random weights.

Speed does not depend on weight values, so models are built from their public configs with random
weights: no downloads, any GPU can reproduce research/gpu-anchors.md. For each LLM:SLM pair, batch
size and backend it times, on the same random prompts:

- `llm`: the LLM's `generate`;
- `slm`: the SLM's `generate`;
- `l2s`: a `l2s_bench.method.l2s.LLMToSLM` around the two random models (LLM layer: seq2seq, the encoder;
  decoder-only, the first half of its layers), run as the `llm2slm` adapter runs a checkpoint:
  `LLMToSLM.encode` (the LLM's prompt encode once, feature norm, projector, SLM prompt embeddings)
  then `LLMToSLM.generate`, marked as stages llm_encode / projector / slm_decode.

Output length is forced (min_new_tokens = max_new_tokens, greedy, KV cache on, no EOS). Each system
is timed twice by the same tracker: the full generate, and a one-token generate of the same inputs
(prefill), so TTFT, TPOT and decode tokens/s follow conventions.md. There are no tokenizers: the
shapes' tokenizer names say whether a pair shares a vocabulary (`LLMToSLM(shared_vocab=...)`), which
decides the prompt side as in training: the SLM embeds the prompt when they share one, otherwise the
LLM's embedding table + a Linear to d_slm does. Its projector starts at zero as a trained one does
not; the work is the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging

from l2s_bench.errors import BenchError, did_you_mean

log = logging.getLogger(__name__)

# name -> (family, tokenizer, config kwargs): the public sizes; the tokenizer says which shapes share a vocabulary.
T5_IDS = {"pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0}
T5_V1 = {**T5_IDS, "vocab_size": 32128, "d_kv": 64, "feed_forward_proj": "relu", "tie_word_embeddings": True}
FLAN = {**T5_IDS, "vocab_size": 32128, "d_kv": 64, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False}
SMOLLM2 = {"vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
           "num_key_value_heads": 3, "max_position_embeddings": 8192, "rope_theta": 100000.0,
           "rms_norm_eps": 1e-5, "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0}
SHAPES: dict[str, tuple[str, str, dict]] = {
    "t5-small": ("t5", "t5", {**T5_V1, "d_model": 512, "d_ff": 2048, "num_heads": 8, "num_layers": 6}),
    "t5-base": ("t5", "t5", {**T5_V1, "d_model": 768, "d_ff": 3072, "num_heads": 12, "num_layers": 12}),
    "t5-large": ("t5", "t5", {**T5_V1, "d_model": 1024, "d_ff": 4096, "num_heads": 16, "num_layers": 24}),
    "flan-t5-large": ("t5", "t5", {**FLAN, "d_model": 1024, "d_ff": 2816, "num_heads": 16, "num_layers": 24}),
    "flan-t5-xl": ("t5", "t5", {**FLAN, "d_model": 2048, "d_ff": 5120, "num_heads": 32, "num_layers": 24}),
    "gpt2": ("gpt2", "gpt2", {}),  # GPT2Config() is the public gpt2 (124M)
    "smollm2-135m": ("llama", "smollm2", {**SMOLLM2, "num_hidden_layers": 30}),
    "smollm2-135m-4l": ("llama", "smollm2", {**SMOLLM2, "num_hidden_layers": 4}),
    "tiny-t5": ("t5", "tiny-t5", {**T5_IDS, "vocab_size": 128, "d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4,
                                  "num_layers": 2}),
    "tiny-llama": ("llama", "tiny-llama", {"vocab_size": 128, "hidden_size": 32, "intermediate_size": 64,
                                           "num_attention_heads": 4, "num_key_value_heads": 2,
                                           "num_hidden_layers": 2, "max_position_embeddings": 512}),
}
PAIRS = ("t5-large:t5-small", "t5-base:t5-small", "flan-t5-large:gpt2", "flan-t5-xl:gpt2", "flan-t5-xl:t5-small",
         "smollm2-135m:smollm2-135m-4l")
SYSTEMS = ("llm", "slm", "l2s")


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """'llm:slm,...' into shape-name pairs; any two known shapes make a pair."""
    pairs = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        if item.count(":") != 1:
            raise BenchError(f"a pair is LLM:SLM, got '{item}' (known pairs: {', '.join(PAIRS)})")
        pairs.append(tuple(check_shape(name) for name in item.split(":")))
    if not pairs:
        raise BenchError("no pairs given")
    return pairs


def check_shape(name: str) -> str:
    if name not in SHAPES:
        hint = did_you_mean(name, SHAPES)
        raise BenchError(f"unknown shape '{name}'{hint} (known: {', '.join(SHAPES)})")
    return name


def build_config(name: str):
    from transformers import GPT2Config, LlamaConfig, T5Config

    family, _, kwargs = SHAPES[name]
    return {"t5": T5Config, "gpt2": GPT2Config, "llama": LlamaConfig}[family](**kwargs)


def build(name: str, device: str, dtype: str):
    """A random-weight model of the named public shape, created directly on the device."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = build_config(name)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    with torch.device(device):
        model = auto.from_config(config, dtype=getattr(torch, dtype))
    return model.eval().requires_grad_(False)


def max_positions(model) -> int | None:
    """Absolute positions a decoder-only model can hold; None for T5's relative positions."""
    if model.config.is_encoder_decoder:
        return None
    config = model.config
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


class Pair:
    """Both models of a pair, the L2S system built from them, one set of random prompts, and the
    three systems as tracker calls."""

    def __init__(self, llm_name: str, slm_name: str, device: str, dtype: str, seed: int = 0):
        import torch

        from l2s_bench.method.l2s import FrozenLLM, L2SConfig, LLMToSLM

        self.names, self.device, self.seed = (llm_name, slm_name), device, seed
        self.llm, self.slm = build(llm_name, device, dtype), build(slm_name, device, dtype)
        config = self.llm.config
        self.llm_layer = None if config.is_encoder_decoder else max(config.num_hidden_layers // 2, 1)
        frozen = FrozenLLM(self.llm, tokenizer=None, source=f"random:{llm_name}", hash="random",
                           layer=self.llm_layer)
        torch.manual_seed(seed)
        with torch.device(device):  # projector and prompt-side Linear: random init, on the device
            model = LLMToSLM(L2SConfig(llm_layer=self.llm_layer), self.slm, None, frozen,
                             shared_vocab=SHAPES[llm_name][1] == SHAPES[slm_name][1])
        # cast as the llm2slm adapter casts a checkpoint; the feature statistics stay the identity
        self.l2s = model.to(device=device, dtype=getattr(torch, dtype)).eval()

    def inputs(self, batch: int, prompt_tokens: int, new_tokens: int, n: int) -> list[tuple[str, dict]]:
        """`n` random prompts of `batch` x `prompt_tokens` in both vocabularies (ids >= 2 avoid pad/EOS)."""
        import torch

        for name, model in zip(self.names, (self.llm, self.slm)):
            limit = max_positions(model)
            if limit is not None and prompt_tokens + new_tokens > limit:
                raise BenchError(f"{name} has {limit} positions: too few for {prompt_tokens} prompt tokens "
                                 f"+ {new_tokens} new ones")
        gen = torch.Generator().manual_seed(self.seed)
        out = []
        for i in range(n):
            llm_ids = torch.randint(2, self.llm.config.vocab_size, (batch, prompt_tokens), generator=gen)
            slm_ids = torch.randint(2, self.slm.config.vocab_size, (batch, prompt_tokens), generator=gen)
            mask = torch.ones(batch, prompt_tokens, dtype=torch.long)
            out.append((f"s{i}", {"llm_ids": llm_ids.to(self.device), "slm_ids": slm_ids.to(self.device),
                                  "mask": mask.to(self.device)}))
        return out

    def call(self, system: str, x: dict, kwargs: dict):
        """The tracker call for one system on one input: returns generated token ids (whole batch).
        L2S reads the LLM's token ids, as its prompt tokenizer is the LLM's."""
        import torch

        model = self.llm if system == "llm" else self.slm

        @torch.no_grad()
        def run(mark) -> int:
            if system == "l2s":
                out = self.l2s.generate(self.l2s.encode(x["llm_ids"], x["mask"], mark), **kwargs)
                mark("slm_decode")
                new = out.shape[1]  # `LLMToSLM.generate` returns new tokens only
            else:
                ids = x["llm_ids"] if system == "llm" else x["slm_ids"]
                out = model.generate(input_ids=ids, attention_mask=x["mask"], **kwargs)
                new = out.shape[1] - (1 if model.config.is_encoder_decoder else ids.shape[1])  # seq2seq: start token
            if new != kwargs["max_new_tokens"]:
                raise BenchError(f"{system} generated {new} tokens, not the forced {kwargs['max_new_tokens']}")
            return out.shape[0] * new

        return run

    def weights_mb(self, system: str) -> float:
        def mb(*modules) -> float:
            return sum(p.numel() * p.element_size() for m in modules for p in m.parameters()) / 2**20

        if system == "llm":
            return mb(self.llm)
        if system == "slm":
            return mb(self.slm)
        return mb(self.llm, self.l2s)  # the L2S module holds the SLM, projector and prompt-side Linear

    def close(self) -> None:
        del self.llm, self.slm, self.l2s
        gc.collect()
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()


def forced(new_tokens: int) -> dict:
    """Fixed output length: greedy, KV cache on, EOS disabled (min = max new tokens, no eos id)."""
    return {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False, "num_beams": 1,
            "use_cache": True, "eos_token_id": None, "pad_token_id": 0}


def sweep(pairs: list[tuple[str, str]], batch_sizes: list[int], backends: list[str], prompt_tokens: int = 128,
          new_tokens: int = 64, device: str = "cpu", dtype: str = "float32", samples: int = 3,
          min_runs: int = 5, min_seconds: float = 1.0, max_runs: int | None = None, warmup: int = 1) -> dict:
    """Every (pair, backend, batch size, system) timed; returns the speed-sweep JSON dict."""
    import torch
    import transformers

    from l2s_bench.runner import provenance
    from l2s_bench.speed.backends import check_backend, generate_kwargs
    from l2s_bench.speed.speedup import paired_speedup
    from l2s_bench.speed.tracker import Tracker, cpu_contention, gpu_sharing, peak_memory, summarize

    if new_tokens < 1 or prompt_tokens < 1 or samples < 1 or any(b < 1 for b in batch_sizes):
        raise BenchError("new tokens, prompt tokens, samples and batch sizes must all be >= 1")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError(f"device '{device}' asked for, but torch sees no CUDA device")
    backend_kwargs = {b: generate_kwargs(check_backend(b), device) for b in backends}  # fail before any work
    shared = gpu_sharing(device)
    if shared:
        log.warning("other processes use this GPU (%s): timings may be slow and noisy", shared)
    tracker = Tracker(device, warmup=warmup, min_runs=min_runs, min_seconds=min_seconds, max_runs=max_runs)
    rows, attention = [], {}
    for llm_name, slm_name in pairs:
        log.info("building %s -> %s (%s, %s)", llm_name, slm_name, device, dtype)
        pair = Pair(llm_name, slm_name, device, dtype)
        attention.update({name: m.config._attn_implementation for name, m in zip(pair.names, (pair.llm, pair.slm))})
        try:
            for backend in backends:
                for batch in batch_sizes:
                    inputs = pair.inputs(batch, prompt_tokens, new_tokens, samples)
                    full_kw = {**forced(new_tokens), **backend_kwargs[backend]}
                    first_kw = {**forced(1), **backend_kwargs[backend]}  # prefill: a one-token generate
                    measured = {}
                    for system in SYSTEMS:
                        calls = lambda kw: [(k, pair.call(system, x, kw)) for k, x in inputs]  # noqa: E731
                        with cpu_contention(f"{llm_name}:{slm_name} {system} b={batch} ({backend})") as contention:
                            with peak_memory(device) as peak:
                                full = measured[system] = tracker.measure(calls(full_kw), batch)
                            prefill = tracker.measure(calls(first_kw), batch)
                        speed = {**summarize(full, prefill), "peak_mem_mb": peak, "weights_mb": pair.weights_mb(system),
                                 **contention}
                        base = measured["llm"]
                        speedup = None if system == "llm" else paired_speedup(
                            base.per_key(), full.per_key(), base_tokens=base.tokens_per_key(),
                            other_tokens=full.tokens_per_key())
                        rows.append({
                            "pair": f"{llm_name}:{slm_name}", "llm": llm_name, "slm": slm_name, "system": system,
                            "backend": backend, "batch_size": batch, "prompt_tokens": prompt_tokens,
                            "new_tokens": new_tokens,
                            "llm_layer": pair.llm_layer if system == "l2s" else None,
                            "ms_per_token": speed["latency_ms"]["median"] / new_tokens,
                            "speed": speed, "speedup_vs_llm": speedup,
                        })
                        log.info("timed %s -> %s: %s, batch %d (%s)", llm_name, slm_name, system, batch, backend)
        finally:
            pair.close()
    return {
        "kind": "speed-sweep",
        "schema_version": 1,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "provenance": {
            **provenance.collect(device),
            "transformers": transformers.__version__,
            "dtype": dtype,
            "weights": "random (public shapes; speed does not depend on the values)",
            "attention": attention,
            "backends": {b: describe(kw) for b, kw in backend_kwargs.items()},
            "gpu_shared_with": shared,
            "settings": {"prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "samples": samples,
                         "batch_sizes": batch_sizes, "min_runs": min_runs, "min_seconds": min_seconds,
                         "max_runs": max_runs, "warmup": warmup, "padding": "none (equal-length prompts)",
                         "cold_ms": "first call of that system in this configuration; compilation lands here"},
        },
        "rows": rows,
    }


def describe(kwargs: dict) -> dict:
    config = kwargs.get("compile_config")
    return {"cache": kwargs.get("cache_implementation", "dynamic"),
            "torch_compile": None if config is None else {"mode": config.mode, "fullgraph": config.fullgraph}}


def format_row(row: dict) -> str:
    s = row["speed"]
    speedup = row["speedup_vs_llm"]
    gain = f"{speedup['value']:.2f}x [{speedup['ci'][0]:.2f}, {speedup['ci'][1]:.2f}]" if speedup else "-"
    ttft = f"{s['ttft_ms']:.1f}" if s["ttft_ms"] is not None else "-"
    tpot = f"{s['tpot_ms']:.2f}" if s["tpot_ms"] is not None else "-"
    stages = " ".join(f"{k}={v:.1f}" for k, v in s["stages_ms"].items())
    return (f"{row['pair']:<30} {row['backend']:<8} {row['batch_size']:>5} {row['system']:<4} "
            f"{s['latency_ms']['median'] / 1000:>8.3f} {row['ms_per_token']:>8.2f} {ttft:>8} {tpot:>7} "
            f"{s['cold_ms'] / 1000:>7.2f} {gain:<22} {stages}")


def table(result: dict) -> str:
    head = (f"{'pair':<30} {'backend':<8} {'batch':>5} {'sys':<4} {'median_s':>8} {'ms/tok':>8} {'ttft_ms':>8} "
            f"{'tpot_ms':>7} {'cold_s':>7} {'speedup vs llm [95% CI]':<22} stages_ms")
    device = result["provenance"]["device"]
    lines = [f"device: {device.get('name')} ({device.get('type')}), dtype {result['provenance']['dtype']}, "
             f"torch {result['provenance']['torch']}, transformers {result['provenance']['transformers']}", head]
    return "\n".join(lines + [format_row(r) for r in result["rows"]])


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BenchError(f"expected comma-separated integers, got '{text}'") from None


def cmd_speed(args: argparse.Namespace) -> None:
    import torch

    from l2s_bench.files import write_json

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    result = sweep(parse_pairs(args.pairs), _ints(args.batch_sizes), backends, args.prompt_tokens, args.new_tokens,
                   device, dtype, args.samples, args.min_runs, args.min_seconds, args.max_runs, args.warmup)
    print(table(result))
    if args.out:
        print(f"wrote {write_json(result, args.out)}")


def register(subparsers) -> None:
    p = subparsers.add_parser("speed", help="LLM vs SLM vs L2S generation speed on public shapes (random weights)")
    p.add_argument("--pairs", default=",".join(PAIRS),
                   help=f"LLM:SLM,... (default: the {len(PAIRS)} public pairs) of shapes {', '.join(SHAPES)}")
    p.add_argument("--batch-sizes", default="1", help="comma-separated, e.g. 1,16")
    p.add_argument("--backends", default="eager", help="comma-separated of: eager, compiled (CUDA only)")
    p.add_argument("--prompt-tokens", type=int, default=128, help="prompt length in tokens (default 128)")
    p.add_argument("--new-tokens", type=int, default=64, help="forced output length")
    p.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when available)")
    p.add_argument("--dtype", choices=["bfloat16", "float16", "float32"],
                   help="default: bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--samples", type=int, default=3, help="distinct random prompt batches (the paired keys)")
    p.add_argument("--min-runs", type=int, default=5, help="timed runs per point at least (default 5)")
    p.add_argument("--min-seconds", type=float, default=1.0,
                   help="keep timing a point until this many seconds have passed (default 1.0)")
    p.add_argument("--max-runs", type=int, help="cap on timed runs per measurement")
    p.add_argument("--warmup", type=int, default=1, help="discarded calls after the cold call")
    p.add_argument("--out", help="write the sweep as JSON here (atomically)")
    p.set_defaults(func=cmd_speed)
