"""The on-disk cache of frozen-LLM features, and the left-padded batch layout."""

from __future__ import annotations

import pytest
import torch

from l2s_bench.method import features, pretrained, slm
from l2s_bench.method.features import cache_key, cached_features
from l2s_bench.method.l2s import FrozenLLM, L2SConfig, LLMToSLM
from l2s_bench.paths import cache_dir

TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And God said, Let there be light: and there was light.",
    "Define the word river.",
    "The quick brown fox jumps over the lazy dog.",
    "Thou shalt not steal.",
    "You shall not steal. You shall not murder. Honor your father and your mother.",
    "Light.",
]


def build(tiny, pair: str = "llama", layer: int | None = 2) -> LLMToSLM:
    torch.manual_seed(0)
    if pair == "llama":
        llm = pretrained.load(tiny["llama"])
        small, tok = slm.build(slm.SLMSpec(init="truncate", layers=1, lens=False), llm, [])
    else:
        llm = pretrained.load(tiny["t5"])
        small, tok = slm.build(slm.SLMSpec(init="pretrained", source=tiny["t5_slm"]), llm, [])
        layer = None
    frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, layer)
    return LLMToSLM(L2SConfig(llm_layer=layer), small, tok, frozen)


def prompt_ids(model: LLMToSLM, texts=TEXTS) -> list[list[int]]:
    return model.prompt_tokenizer(list(texts)).input_ids


@pytest.mark.parametrize("pair", ["llama", "t5"])
def test_cached_features_match_live_features(tiny, pair):
    model = build(tiny, pair)
    prompts = prompt_ids(model)
    assert len(set(map(len, prompts))) > 3, "prompts of several lengths exercise the padding"
    cached = cached_features(model, prompts, batch_size=3)
    assert len(cached) == len(prompts)
    for seq, feat in zip(prompts, cached):
        assert feat.dtype == torch.float16
        assert feat.shape == (len(seq), model.llm.dim)
        live = model.llm_features(torch.tensor([seq]), torch.ones(1, len(seq), dtype=torch.long))[0]
        torch.testing.assert_close(feat.float(), live, atol=2e-3, rtol=2e-3)
        # fp16 rounding of the live value, not merely close to it
        assert (feat.float() - live.half().float()).abs().max() <= 1e-3


def test_second_call_reads_the_cache(tiny, monkeypatch):
    model = build(tiny)
    prompts = prompt_ids(model)
    first = cached_features(model, prompts)
    folder = cache_dir("features", cache_key(model, prompts))
    assert list(folder.glob("shard-*.safetensors")) and not list(folder.glob("*.tmp"))

    def boom(*args, **kwargs):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(features, "_compute", boom)
    second = cached_features(model, prompts)
    assert len(second) == len(first)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


def test_cache_key_covers_layer_prompts_and_llm(tiny, monkeypatch):
    a = build(tiny, layer=2)
    b = build(tiny, layer=3)
    prompts = prompt_ids(a)
    assert cache_key(a, prompts) == cache_key(build(tiny, layer=2), prompts)
    assert cache_key(a, prompts) != cache_key(b, prompts)
    assert cache_key(a, prompts) != cache_key(a, prompts[:-1])
    assert cache_key(a, prompts) != cache_key(a, [p[::-1] for p in prompts])
    autocast = build(tiny, layer=2)
    autocast.cfg.llm_autocast = "bfloat16"
    assert cache_key(a, prompts) != cache_key(autocast, prompts)
    other_hash = build(tiny, layer=2)
    other_hash.llm.hash = "0" * 64
    assert cache_key(a, prompts) != cache_key(other_hash, prompts)
    # a different layer really gets its own (different) features, not the cached ones of layer 2
    fa, fb = cached_features(a, prompts), cached_features(b, prompts)
    assert not all(torch.equal(x, y) for x, y in zip(fa, fb))


def test_shards_keep_order_and_survive_an_interruption(tiny, monkeypatch):
    model = build(tiny)
    prompts = prompt_ids(model) * 2  # 14 prompts
    monkeypatch.setattr(features, "SHARD", 4)  # 4 shards: 4 + 4 + 4 + 2
    expected = [model.llm_features(torch.tensor([p]), torch.ones(1, len(p), dtype=torch.long))[0] for p in prompts]

    original = features._compute
    calls = []

    def failing_third(model, chunk, batch_size):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(model, chunk, batch_size)

    monkeypatch.setattr(features, "_compute", failing_third)
    with pytest.raises(KeyboardInterrupt):
        cached_features(model, prompts, batch_size=3)
    folder = cache_dir("features", cache_key(model, prompts))
    assert sorted(p.name for p in folder.iterdir()) == ["shard-00000.safetensors", "shard-00001.safetensors"]

    calls.clear()
    monkeypatch.setattr(features, "_compute", lambda m, c, b: calls.append(len(c)) or original(m, c, b))
    out = cached_features(model, prompts, batch_size=3)
    assert calls == [4, 2], "only the missing shards are computed"
    assert len(out) == len(prompts)
    for seq, feat, live in zip(prompts, out, expected):
        assert feat.shape[0] == len(seq)
        torch.testing.assert_close(feat.float(), live, atol=2e-3, rtol=2e-3)

