"""Building the SLM: truncation, the fitted lens, frozen embeddings and the other init modes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from l2s_bench.errors import BenchError
from l2s_bench.method import pretrained, slm
from l2s_bench.method.l2s import FrozenLLM
from l2s_bench.method.slm import LensNorm, SLMSpec
from conftest import CORPUS

TEXTS = CORPUS


def storages(model: nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in model.state_dict().values()}


@pytest.mark.parametrize("layers", [1, 3])
def test_truncate_keeps_first_layers_and_shares_no_storage(tiny, layers):
    llm = pretrained.load(tiny["llama"])
    small = slm.truncate(llm.model, layers)
    assert len(small.base_model.layers) == layers
    assert small.config.num_hidden_layers == layers
    # the LLM itself is untouched
    assert len(llm.model.base_model.layers) == 4 and llm.model.config.num_hidden_layers == 4
    assert pretrained.weights_hash(llm.model) == llm.hash
    assert not storages(small) & storages(llm.model)
    for i in range(layers):
        for (na, a), (nb, b) in zip(small.base_model.layers[i].state_dict().items(),
                                    llm.model.base_model.layers[i].state_dict().items()):
            assert na == nb and torch.equal(a, b)
    assert torch.equal(small.get_input_embeddings().weight, llm.model.get_input_embeddings().weight)
    # writing to the copy does not write to the LLM
    with torch.no_grad():
        small.get_input_embeddings().weight.add_(1.0)
        small.base_model.layers[0].mlp.up_proj.weight.zero_()
    assert pretrained.weights_hash(llm.model) == llm.hash
    # the truncated model runs and gives logits over the full vocabulary
    ids = llm.tokenizer(TEXTS[0], return_tensors="pt").input_ids
    assert small(input_ids=ids).logits.shape == (1, ids.shape[1], len(llm.tokenizer))


@pytest.mark.parametrize("layers", [0, 4, 9])
def test_truncate_rejects_bad_layer_counts(tiny, layers):
    llm = pretrained.load(tiny["llama"])
    with pytest.raises(BenchError, match="slm.layers"):
        slm.truncate(llm.model, layers)


def test_truncate_rejects_encoder_decoder(tiny):
    with pytest.raises(BenchError, match="truncate"):
        slm.truncate(pretrained.load(tiny["t5"]).model, 1)


def _distance_to_full(small, full, tokenizer) -> float:
    """Squared distance between the SLM's final (lens-)normed states and the full model's, past position 0."""
    total = 0.0
    for text in TEXTS:
        ids = tokenizer(text, return_tensors="pt").input_ids
        with torch.no_grad():
            x = small.base_model(input_ids=ids).last_hidden_state[0, 1:]
            y = full.base_model(input_ids=ids).last_hidden_state[0, 1:]
        total += float(((x - y) ** 2).sum())
    return total


@pytest.mark.parametrize("layers", [1, 2])
def test_fitted_lens_maps_layer_k_closer_to_the_full_models_output(tiny, layers):
    # On random tiny weights the LM loss sits at ln(vocab) with or without a lens, so test what the
    # fit minimises: lens(norm(h_k)) must be closer to the full model's norm(h_L) than norm(h_k) is.
    llm = pretrained.load(tiny["llama"])
    plain, _ = slm.build(SLMSpec(init="truncate", layers=layers, lens=False), llm, TEXTS * 3)
    lensed, _ = slm.build(SLMSpec(init="truncate", layers=layers, lens=True), llm, TEXTS * 3)
    assert not isinstance(plain.base_model.norm, LensNorm)
    assert isinstance(lensed.base_model.norm, LensNorm)
    lens = lensed.base_model.norm.lens
    assert not torch.allclose(lens.weight, torch.eye(lens.weight.shape[0]))
    before = _distance_to_full(plain, llm.model, llm.tokenizer)
    after = _distance_to_full(lensed, llm.model, llm.tokenizer)
    assert after < 0.8 * before, (before, after)
    assert pretrained.weights_hash(llm.model) == llm.hash
    # the lens is part of the SLM and is trained with it
    names = [n for n, p in lensed.named_parameters() if p.requires_grad]
    assert "model.norm.lens.weight" in names and "model.norm.lens.bias" in names


def test_installed_lens_starts_as_identity(tiny):
    llm = pretrained.load(tiny["llama"])
    small = slm.truncate(llm.model, 2)
    ids = llm.tokenizer(TEXTS[1], return_tensors="pt").input_ids
    with torch.no_grad():
        before = small(input_ids=ids).logits
        slm.install_lens(small)
        after = small(input_ids=ids).logits
    torch.testing.assert_close(after, before, atol=1e-6, rtol=1e-6)


def test_install_lens_twice_raises(tiny):
    llm = pretrained.load(tiny["llama"])
    small = slm.truncate(llm.model, 1)
    slm.install_lens(small)
    with pytest.raises(BenchError, match="lens"):
        slm.install_lens(small)
    gpt2 = pretrained.load(tiny["gpt2"]).model  # final norm is `ln_f`, not `norm`
    with pytest.raises(BenchError, match="lens"):
        slm.install_lens(gpt2)


def test_fit_lens_needs_enough_tokens(tiny):
    llm = pretrained.load(tiny["llama"])
    small = slm.truncate(llm.model, 1)
    with pytest.raises(BenchError, match="tokens"):
        slm.fit_lens(small, llm.model, llm.tokenizer, ["short text"])


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_embeddings(tiny, freeze):
    llm = pretrained.load(tiny["llama"])
    small, tok = slm.build(SLMSpec(init="truncate", layers=1, freeze_embeddings=freeze), llm, TEXTS * 3)
    assert small.training
    emb = small.get_input_embeddings().weight
    assert emb.requires_grad is not freeze
    ids = tok(TEXTS[2], return_tensors="pt").input_ids
    small(input_ids=ids, labels=ids).loss.backward()
    if freeze:
        assert emb.grad is None
    else:
        assert emb.grad is not None and emb.grad.abs().sum() > 0
    layer = small.base_model.layers[0].mlp.down_proj.weight
    assert layer.grad is not None and layer.grad.abs().sum() > 0


def test_truncating_an_llm_that_is_already_frozen_gives_a_trainable_slm(tiny):
    """The LLM is frozen (requires_grad False) as soon as a FrozenLLM wraps it; a SLM truncated from it
    afterwards (e.g. a second `train(..., llm=same_llm)`) must still be trainable."""
    llm = pretrained.load(tiny["llama"])
    FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, 2)
    assert not any(p.requires_grad for p in llm.model.parameters())
    small, _ = slm.build(SLMSpec(init="truncate", layers=1), llm, TEXTS * 3)
    trainable = [n for n, p in small.named_parameters() if p.requires_grad]
    assert any(".layers.0." in n for n in trainable), f"no trainable SLM layer; trainable: {trainable}"
    assert small.get_input_embeddings().weight.requires_grad is False  # frozen on purpose


def test_pretrained_init_loads_the_source(tiny):
    llm = pretrained.load(tiny["t5"])
    small, tok = slm.build(SLMSpec(init="pretrained", source=tiny["gpt2"]), llm, [])
    reference = pretrained.load(tiny["gpt2"])
    assert type(small) is type(reference.model)
    assert tok.get_vocab() == reference.tokenizer.get_vocab()
    assert not small.get_input_embeddings().weight.requires_grad
    with pytest.raises(BenchError, match="slm.source"):
        slm.build(SLMSpec(init="pretrained"), llm, [])


def test_config_init_is_seeded_and_uses_the_llm_tokenizer(tiny):
    llm = pretrained.load(tiny["llama"])
    cfg = {"model_type": "llama", "vocab_size": len(llm.tokenizer), "hidden_size": 16, "intermediate_size": 32,
           "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1}
    a, tok = slm.build(SLMSpec(init="config", config=cfg, seed=5), llm, [])
    b, _ = slm.build(SLMSpec(init="config", config=cfg, seed=5), llm, [])
    c, _ = slm.build(SLMSpec(init="config", config=cfg, seed=6), llm, [])
    assert tok is llm.tokenizer
    assert a.config.hidden_size == 16 and len(a.base_model.layers) == 1
    assert pretrained.weights_hash(a) == pretrained.weights_hash(b) != pretrained.weights_hash(c)
    with pytest.raises(BenchError, match="model_type"):
        slm.build(SLMSpec(init="config", config={"hidden_size": 8}), llm, [])


def test_adding_lora_shows_the_user_no_library_deprecation_warning(tiny, recwarn):
    from transformers import AutoModelForCausalLM

    from l2s_bench.method.slm import add_lora

    add_lora(AutoModelForCausalLM.from_pretrained(tiny["llama"]), r=2, alpha=4)
    assert not [w for w in recwarn if "is_gradient_checkpointing" in str(w.message)]
