"""What a depth cut and a width cut of SmolLM2-135M cost to decode, with random weights (speed only).

Depth pruning keeps a few whole layers; width pruning (Minitron) keeps all 30 layers and narrows heads and
MLPs to the same non-embedding parameter count. Decode at batch 1 is bound by kernel launches per layer on a
GPU and by bytes read per token on a CPU, so the two cuts can rank differently on the two. This times
greedy decoding (transformers `generate`, KV cache, fixed length) of each shape on the machine it runs on:

    .venv/bin/python scripts/prune_costs.py [--device cpu|cuda] [--dtype float32|bfloat16] [--new-tokens 32] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from l2s_bench import machine
from l2s_bench.runner import provenance

SMOLLM2 = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, head_dim=64, tie_word_embeddings=True,
               max_position_embeddings=2048)
SHAPES = {
    "LLM (30 layers)": {},
    "depth: first 3": {"num_hidden_layers": 3},
    "depth: first 4 (default SLM)": {"num_hidden_layers": 4},
    "depth: first 5": {"num_hidden_layers": 5},
    "depth: first 6": {"num_hidden_layers": 6},
    # 30 layers at about the first-4 cut's non-embedding parameters: 3 query heads, 1 KV head, MLP 96 wide
    "width: 30 layers, 3 heads, MLP 96": {"num_attention_heads": 3, "num_key_value_heads": 1, "intermediate_size": 96},
}


def non_embedding(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()


@torch.inference_mode()
def decode_ms(model, device: str, prompt: int, new_tokens: int, runs: int) -> float:
    ids = torch.randint(256, 49152, (1, prompt), generator=torch.Generator().manual_seed(0)).to(device)
    kwargs = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    model.generate(ids, **kwargs)  # warm-up
    times = []
    for _ in range(runs):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.generate(ids, **kwargs)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--prompt", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = p.parse_args()
    machine.set_threads(args.threads)
    torch.manual_seed(0)
    rows, base = [], None
    for name, change in SHAPES.items():
        model = LlamaForCausalLM(LlamaConfig(**{**SMOLLM2, **change}))
        model = model.eval().to(device=args.device, dtype=getattr(torch, args.dtype))
        ms = decode_ms(model, args.device, args.prompt, args.new_tokens, args.runs)
        base = base or ms
        rows.append({"shape": name, "layers": model.config.num_hidden_layers,
                     "non_embedding_M": round(non_embedding(model) / 1e6, 1), "ms_per_item": round(ms, 1),
                     "ms_per_token": round(ms / args.new_tokens, 2), "speedup_vs_llm": round(base / ms, 2)})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"device": provenance.device_info(args.device), "capability": machine.capability(args.device),
                      "prompt_tokens": args.prompt, "new_tokens": args.new_tokens, "runs": args.runs,
                      "dtype": args.dtype, "timer": "median of runs after one warm-up"}))


if __name__ == "__main__":
    main()
