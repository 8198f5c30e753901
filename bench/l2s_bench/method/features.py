"""On-disk cache of frozen-LLM features over training prompts.

The LLM is frozen, so its features over a training prompt never change: they are computed once, in
shards (an interrupted run keeps the finished shards; with several ranks each computes its share of
them, `l2s_bench.parallel`), and reused by every epoch, by `--resume` and by
later runs. The key covers everything that changes a feature: LLM weights hash, layer, encode dtype
and the exact prompt token ids (which cover data, template and tokenizer).
"""

from __future__ import annotations

import hashlib
import json

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from l2s_bench import parallel
from l2s_bench.method.l2s import LLMToSLM
from l2s_bench.paths import cache_dir, umask_mode
from l2s_bench.files import replacing
from l2s_bench.tokens import left_pad, pad_id

SHARD = 256


def cache_key(model: LLMToSLM, prompts: list[list[int]]) -> str:
    llm = model.llm
    spec = {"llm": llm.hash, "layer": llm.layer, "autocast": model.llm_dtype, "prompts": prompts}
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:24]


def cached_features(model: LLMToSLM, prompts: list[list[int]], batch_size: int = 16) -> list[torch.Tensor]:
    """fp16 features (m_i, d_llm) for each prompt, in order; computed only where not cached yet."""
    folder = cache_dir("features", cache_key(model, prompts))
    shards = range(0, len(prompts), SHARD)
    paths = [folder / f"shard-{start // SHARD:05d}.safetensors" for start in shards]
    missing = [k for k, path in enumerate(paths) if not path.exists()]
    parallel.barrier()  # with several ranks: each computes the missing shards k with k mod N = its rank
    for k in tqdm(missing, desc="LLM features", unit="shard", disable=len(missing) < 2 or not parallel.is_main()):
        if parallel.mine(k):
            tensors = {str(i): f for i, f in enumerate(_compute(model, prompts[shards[k]:shards[k] + SHARD], batch_size))}
            with replacing(paths[k]) as tmp:
                save_file(tensors, str(tmp))
                umask_mode(tmp)
    parallel.barrier()
    out: list[torch.Tensor] = []
    for start, path in zip(shards, paths):
        loaded = load_file(str(path))
        out.extend(loaded[str(i)] for i in range(min(SHARD, len(prompts) - start)))
    return out


@torch.no_grad()
def _compute(model: LLMToSLM, prompts: list[list[int]], batch_size: int) -> list[torch.Tensor]:
    pad = pad_id(model.prompt_tokenizer, default=0)  # masked positions: any valid id does
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # similar lengths pad less
    result: list[torch.Tensor | None] = [None] * len(prompts)
    device = next(model.llm.model.parameters()).device
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        ids, mask = left_pad([prompts[i] for i in idx], pad)
        feats = model.llm_features(ids.to(device), mask.to(device)).cpu()
        for row, i in enumerate(idx):
            result[i] = feats[row, ids.shape[1] - len(prompts[i]):].half().contiguous()
    return result

