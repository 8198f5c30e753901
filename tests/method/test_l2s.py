"""LLMToSLM core: shapes, frozen LLM, gradient flow, feature placement, zero-init equivalence, batching,
different tokenizers, FrozenLLM features, FeatureNorm and the `replace` ablation.

Three pairs cover the layouts: Llama -> truncated Llama (shared vocabulary, decoder-only SLM),
T5 -> small T5 (shared vocabulary, encoder-decoder SLM), T5 -> GPT-2 (different vocabularies: the
prompt side reads LLM token ids through the LLM's embedding and a trained Linear).
"""

from __future__ import annotations

import pytest
import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import pretrained, slm
from l2s_bench.method.l2s import FeatureNorm, FrozenLLM, L2SConfig, LLMToSLM, Projector, positions
from l2s_bench.models.base import strip_generated
from l2s_bench.tokens import left_pad, pad_id, right_pad
from conftest import CORPUS

PAIRS = ["llama", "t5", "t5_gpt2"]
PROMPTS = [
    "And God said, Let there be light: and there was light.",
    "Define the word river.",
    "The quick brown fox jumps over the lazy dog and the earth was without form.",
]
RESPONSES = ["And there was light.", "A large natural stream of water.", "You shall not steal."]
FIT_TEXTS = CORPUS * 3


def build_pair(tiny, pair: str, **cfg) -> tuple[LLMToSLM, pretrained.Pretrained]:
    """(model, llm) for one of PAIRS; `cfg` overrides L2SConfig fields."""
    torch.manual_seed(0)
    if pair == "llama":
        llm = pretrained.load(tiny["llama"])
        small, tok = slm.build(slm.SLMSpec(init="truncate", layers=1), llm, FIT_TEXTS)
        layer = cfg.pop("llm_layer", 2)
    else:
        llm = pretrained.load(tiny["t5"])
        source = tiny["t5_slm"] if pair == "t5" else tiny["gpt2"]
        small, tok = slm.build(slm.SLMSpec(init="pretrained", source=source), llm, [])
        layer = cfg.pop("llm_layer", None)
    config = L2SConfig(llm_layer=layer, **cfg)
    frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, layer)
    return LLMToSLM(config, small, tok, frozen), llm


def prompt_batch(model: LLMToSLM, prompts=PROMPTS) -> tuple[torch.Tensor, torch.Tensor, list[list[int]]]:
    tok = model.prompt_tokenizer
    seqs = tok(list(prompts)).input_ids
    ids, mask = left_pad(seqs, pad_id(tok))
    return ids, mask, seqs


def response_batch(model: LLMToSLM, responses=RESPONSES) -> tuple[torch.Tensor, torch.Tensor]:
    tok = model.slm_tokenizer
    seqs = [s + [tok.eos_token_id] for s in tok(list(responses), add_special_tokens=False).input_ids]
    return right_pad(seqs, pad_id(tok))


def randomize_projector(model: LLMToSLM, scale: float = 0.5, seed: int = 1) -> None:
    """Give the zero-initialised last projector layer non-zero weights, so features visibly change embeddings."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.projector[2].parameters():
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def loss_on_batch(model: LLMToSLM) -> torch.Tensor:
    ids, mask, _ = prompt_batch(model)
    rids, rmask = response_batch(model)
    return model(ids, mask, rids, rmask)[1]


def plain_prompt_embeds(model: LLMToSLM, ids: torch.Tensor) -> torch.Tensor:
    """The prompt embedding without any LLM feature (SLM table, or LLM table + prompt_proj)."""
    with torch.no_grad():
        if model.prompt_proj is not None:
            return model.prompt_proj(model.llm.model.get_input_embeddings()(ids))
        return model.slm.get_input_embeddings()(ids)


# --------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("pair", PAIRS)
def test_forward_encode_generate_shapes(tiny, pair):
    model, llm = build_pair(tiny, pair)
    ids, mask, seqs = prompt_batch(model)
    rids, rmask = response_batch(model)
    logits, loss = model(ids, mask, rids, rmask)
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert loss.item() > 0
    vocab = model.slm.get_output_embeddings().out_features
    assert logits.shape == (int(rmask.sum()), vocab) and logits.dtype == torch.float32  # labelled positions only
    with torch.no_grad():
        every, none = model(ids, mask, rids, rmask, labels=False)
    assert none is None and every.shape == (*rids.shape, vocab)
    torch.testing.assert_close(every[rmask.bool()], logits.detach(), atol=1e-5, rtol=1e-5)

    encoded = model.encode(ids, mask)
    d_slm = model.slm.get_input_embeddings().embedding_dim
    # m is the prompt length in *LLM* tokens (the prompt tokenizer is the LLM's whenever features are used)
    assert model.prompt_tokenizer is llm.tokenizer
    assert encoded["inputs_embeds"].shape == (len(PROMPTS), max(map(len, seqs)), d_slm)
    assert torch.equal(encoded["attention_mask"], mask)
    assert torch.isfinite(encoded["inputs_embeds"]).all()

    out = model.generate(encoded, max_new_tokens=5, do_sample=False)
    assert out.dim() == 2 and out.shape[0] == len(PROMPTS) and 1 <= out.shape[1] <= 5
    assert out.dtype == torch.long
    assert int(out.min()) >= 0 and int(out.max()) < len(model.slm_tokenizer)


@pytest.mark.parametrize("pair", PAIRS)
def test_loss_counts_response_tokens_only(tiny, pair):
    """Changing a padded response position (masked) must not change the loss; changing a real one must."""
    model, _ = build_pair(tiny, pair)
    randomize_projector(model)
    model.eval()
    ids, mask, _ = prompt_batch(model)
    rids, rmask = response_batch(model)
    base = model(ids, mask, rids, rmask)[1]
    row, col = [(r, int(rmask[r].sum())) for r in range(len(rmask)) if rmask[r].sum() < rmask.shape[1]][0]
    altered = rids.clone()
    altered[row, col] = 5  # a padded (masked) response position
    assert torch.equal(model(ids, mask, altered, rmask)[1], base)
    altered[0, 0] = (int(rids[0, 0]) + 7) % len(model.slm_tokenizer)  # a real label
    assert not torch.equal(model(ids, mask, altered, rmask)[1], base)


@pytest.mark.parametrize("pair", ["llama", "t5_gpt2"])
def test_decoder_only_loss_equals_transformers_shifted_loss(tiny, pair):
    """Position t predicts token t+1: the last prompt position predicts the first response token. Compare
    with transformers' own causal-LM loss over the same embeddings, labels -100 on prompt and padding."""
    model, _ = build_pair(tiny, pair)
    randomize_projector(model, scale=0.2)
    model.eval()
    ids, mask, _ = prompt_batch(model)
    rids, rmask = response_batch(model)
    with torch.no_grad():
        prompt = model.encode(ids, mask)["inputs_embeds"]
        embeds = torch.cat([prompt, model.slm.get_input_embeddings()(rids)], 1)
        att = torch.cat([mask, rmask], 1)
        labels = torch.cat([torch.full_like(ids, -100), rids.masked_fill(rmask == 0, -100)], 1)
        ref = model.slm(inputs_embeds=embeds, attention_mask=att, position_ids=positions(att), labels=labels).loss
        got = model(ids, mask, rids, rmask)[1]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_seq2seq_loss_equals_transformers_loss(tiny):
    model, _ = build_pair(tiny, "t5")
    randomize_projector(model, scale=0.2)
    model.eval()
    ids, mask, _ = prompt_batch(model)
    rids, rmask = response_batch(model)
    with torch.no_grad():
        prompt = model.encode(ids, mask)["inputs_embeds"]
        ref = model.slm(inputs_embeds=prompt, attention_mask=mask, labels=rids.masked_fill(rmask == 0, -100)).loss
        got = model(ids, mask, rids, rmask)[1]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def old_loss(model: LLMToSLM, ids, mask, rids, rmask, features=None) -> torch.Tensor:
    """`LLMToSLM.forward` as it was before it returned (logits, loss): the reference for identity."""
    if model.uses_llm and features is None:
        features = model.llm_features(ids, mask)
    prompt = model.prompt_embeds(ids, mask, features)
    labels = rids.masked_fill(~rmask.bool(), -100)
    if model.is_seq2seq:
        return model.slm(inputs_embeds=prompt, attention_mask=mask, labels=labels).loss
    response = model.slm.get_input_embeddings()(rids)
    att = torch.cat([mask, rmask], 1)
    hidden = model.slm.base_model(inputs_embeds=torch.cat([prompt, response], 1), attention_mask=att,
                                  position_ids=positions(att), use_cache=False).last_hidden_state
    predictors = hidden[:, ids.shape[1] - 1:-1][rmask.bool()]
    logits = model.slm.get_output_embeddings()(predictors).float()
    return torch.nn.functional.cross_entropy(logits, rids[rmask.bool()])


@torch.no_grad()
def old_response_logits(model: LLMToSLM, ids, mask, rids, rmask) -> torch.Tensor:
    """The former `LLMToSLM.response_logits`, copied: the reference for `forward(..., labels=False)`."""
    features = model.llm_features(ids, mask) if model.uses_llm else None
    prompt = model.prompt_embeds(ids, mask, features)
    if model.is_seq2seq:
        labels = rids.masked_fill(~rmask.bool(), -100)
        return model.slm(inputs_embeds=prompt, attention_mask=mask, labels=labels).logits.float()
    response = model.slm.get_input_embeddings()(rids)
    att = torch.cat([mask, rmask], 1)
    hidden = model.slm.base_model(inputs_embeds=torch.cat([prompt, response], 1), attention_mask=att,
                                  position_ids=positions(att), use_cache=False).last_hidden_state
    return model.slm.get_output_embeddings()(hidden[:, ids.shape[1] - 1:-1]).float()


@pytest.mark.parametrize("conditioning", ["add", "replace", "none"])
@pytest.mark.parametrize("pair", PAIRS)
def test_forward_is_bitwise_the_former_loss_and_logits(tiny, pair, conditioning):
    """One forward for training and scoring changes no number: the loss (and its gradients, with live
    or cached features, fp32 or under bf16 autocast) and the scoring logits equal the former code's."""
    model, _ = build_pair(tiny, pair, conditioning=conditioning)
    if model.uses_llm:
        randomize_projector(model, scale=0.2)
    ids, mask, _ = prompt_batch(model)
    rids, rmask = response_batch(model)
    model.train()
    features = model.llm_features(ids, mask) if model.uses_llm else None
    for feats in (None, features):
        for dtype in (torch.float32, torch.bfloat16):
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                ref = old_loss(model, ids, mask, rids, rmask, feats)
            ref_grads = torch.autograd.grad(ref, [p for p in model.parameters() if p.requires_grad])
            with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
                _, got = model(ids, mask, rids, rmask, feats)
            grads = torch.autograd.grad(got, [p for p in model.parameters() if p.requires_grad])
            assert torch.equal(got, ref), (feats is None, dtype)
            assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))
    model.eval()
    with torch.no_grad():
        logits, loss = model(ids, mask, rids, rmask, labels=False)
    assert loss is None and torch.equal(logits, old_response_logits(model, ids, mask, rids, rmask))


@pytest.mark.parametrize("pair", PAIRS)
def test_prompt_marks_its_stages_and_encode_is_prompt(tiny, pair):
    """The one prompt side: `encode` (inference, what the llm2slm adapter and `l2s-bench speed` time) is
    `prompt`, which marks the LLM encode and the projector as they end."""
    model, _ = build_pair(tiny, pair)
    randomize_projector(model)
    model.eval()
    ids, mask, _ = prompt_batch(model)
    marks = []
    encoded = model.encode(ids, mask, marks.append)
    assert marks == ["llm_encode", "projector"]
    with torch.no_grad():
        assert torch.equal(encoded["inputs_embeds"], model.prompt(ids, mask))
        assert torch.equal(encoded["inputs_embeds"], model.prompt(ids, mask, model.llm_features(ids, mask)))
    assert torch.equal(encoded["attention_mask"], mask)
    if pair != "t5_gpt2":  # the SLM baseline reads these ids only where the vocabulary is shared
        marks.clear()
        LLMToSLM(L2SConfig(conditioning="none"), model.slm, model.slm_tokenizer, None).encode(ids, mask, marks.append)
        assert marks == ["embed"]


def test_built_without_tokenizers_it_needs_shared_vocab(tiny):
    """`l2s-bench speed` builds LLMToSLM from random models without tokenizers: `shared_vocab` decides
    the prompt side, as the tokenizers' vocabularies otherwise do."""
    llm = pretrained.load(tiny["t5"])
    small = pretrained.load(tiny["gpt2"])
    frozen = FrozenLLM(llm.model, None, "random", "random", None)
    with pytest.raises(BenchError, match="shared_vocab"):
        LLMToSLM(L2SConfig(), small.model, None, frozen)
    assert LLMToSLM(L2SConfig(), small.model, None, frozen, shared_vocab=False).prompt_side == "llm"
    with pytest.raises(BenchError, match="vocabulary"):
        LLMToSLM(L2SConfig(prompt_embedding="slm"), small.model, None, frozen, shared_vocab=False)
    llama = pretrained.load(tiny["llama"])
    same = LLMToSLM(L2SConfig(), llama.model, None, FrozenLLM(llama.model, None, "r", "r", 1), shared_vocab=True)
    assert same.prompt_side == "slm" and same.prompt_proj is None


@pytest.mark.parametrize("pair", ["llama", "t5_gpt2"])
def test_a_model_cast_to_bfloat16_encodes_and_generates(tiny, pair):
    """The adapter casts a checkpoint to the suite's dtype (bf16 on GPUs): the fp32 normalized features
    must meet a bf16 projector in its dtype."""
    model, _ = build_pair(tiny, pair)
    randomize_projector(model)
    model = model.to(torch.bfloat16).eval()
    ids, mask, _ = prompt_batch(model)
    encoded = model.encode(ids, mask)
    assert encoded["inputs_embeds"].dtype == torch.bfloat16
    out = model.generate(encoded, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape == (len(PROMPTS), 3)


# --------------------------------------------------------------------------------------- frozen LLM


@pytest.mark.parametrize("pair", PAIRS)
def test_llm_is_frozen_and_not_owned(tiny, pair):
    model, llm = build_pair(tiny, pair)
    before = pretrained.weights_hash(llm.model)
    assert before == llm.hash
    llm_ids = {id(p) for p in llm.model.parameters()}
    llm_ptrs = {p.data_ptr() for p in llm.model.parameters()}
    assert not any(id(p) in llm_ids for p in model.parameters())
    # no state-dict tensor is (a view of) an LLM tensor, and no key names the LLM
    assert not any(k.startswith("llm") for k in model.state_dict())
    assert not any(t.data_ptr() in llm_ptrs for t in model.state_dict().values())
    assert all(not p.requires_grad for p in llm.model.parameters())

    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(4):
        loss = loss_on_batch(model)  # live LLM features, computed inside forward
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert not llm.model.training, "the frozen LLM must stay in eval mode when the L2S model trains"
    assert pretrained.weights_hash(llm.model) == before
    assert all(p.grad is None for p in llm.model.parameters())


@pytest.mark.parametrize("pair", PAIRS)
def test_gradients_reach_only_projector_slm_and_prompt_proj(tiny, pair):
    model, llm = build_pair(tiny, pair)
    model.train()
    trainable = dict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    assert all(n.startswith(("slm.", "projector.", "prompt_proj.")) for n in trainable), sorted(trainable)
    assert any(n.startswith("projector.") for n in trainable)
    opt = torch.optim.AdamW(list(trainable.values()), lr=1e-2)

    loss_on_batch(model).backward()
    # zero-initialised last layer: it gets gradient, the first layer (behind it) cannot yet
    assert model.projector[2].weight.grad is not None and model.projector[2].weight.grad.abs().sum() > 0
    assert model.projector[0].weight.grad is None or model.projector[0].weight.grad.abs().sum() == 0
    if pair == "t5_gpt2":
        assert model.prompt_proj.weight.grad is not None and model.prompt_proj.weight.grad.abs().sum() > 0
    else:
        assert model.prompt_proj is None
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in trainable.items() if n.startswith("slm."))
    assert all(p.grad is None for p in llm.model.parameters())
    opt.step()
    opt.zero_grad()

    loss_on_batch(model).backward()
    for name in ("projector.0.weight", "projector.0.bias", "projector.2.weight", "projector.2.bias"):
        grad = trainable[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    if pair == "t5_gpt2":
        assert model.prompt_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in llm.model.parameters())
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert p.grad is None, n


# --------------------------------------------------------------------------------------- feature placement


@pytest.mark.parametrize("pair", PAIRS)
def test_features_added_only_at_real_prompt_positions(tiny, pair):
    model, _ = build_pair(tiny, pair)
    randomize_projector(model)
    model.eval()
    ids, mask, seqs = prompt_batch(model)
    assert (mask == 0).any(), "the batch must be left-padded"
    plain = plain_prompt_embeds(model, ids)
    encoded = model.encode(ids, mask)["inputs_embeds"]
    pad = mask == 0
    assert torch.equal(encoded[pad], plain[pad]), "pad positions must hold the plain embedding"
    assert not torch.allclose(encoded[~pad], plain[~pad]), "real positions must carry projected features"
    # every real position differs (the projector output is non-zero there)
    assert ((encoded - plain).abs().sum(-1)[~pad] > 0).all()
    # also with features passed explicitly, as the cached training path does
    feats = model.llm_features(ids, mask)
    with torch.no_grad():
        assert torch.equal(model.prompt_embeds(ids, mask, feats), encoded)
        # garbage in the features at pad positions must not leak into the embeddings
        junk = feats.clone()
        junk[pad] = 1e4
        assert torch.equal(model.prompt_embeds(ids, mask, junk)[pad], plain[pad])


@pytest.mark.parametrize("pair", ["llama", "t5_gpt2"])
def test_decoder_only_response_positions_are_untouched(tiny, pair):
    """Capture what the decoder-only SLM actually receives in the training forward."""
    model, _ = build_pair(tiny, pair)
    randomize_projector(model)
    model.eval()
    ids, mask, _ = prompt_batch(model)
    rids, rmask = response_batch(model)
    seen = {}

    def grab(module, args, kwargs):
        seen["embeds"] = kwargs["inputs_embeds"].detach().clone()
        seen["mask"] = kwargs["attention_mask"].detach().clone()

    handle = model.slm.base_model.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            model(ids, mask, rids, rmask)
    finally:
        handle.remove()
    m = ids.shape[1]
    embeds = seen["embeds"]
    assert embeds.shape[1] == m + rids.shape[1]
    assert torch.equal(seen["mask"], torch.cat([mask, rmask], 1))
    with torch.no_grad():
        assert torch.equal(embeds[:, m:], model.slm.get_input_embeddings()(rids))
        assert torch.equal(embeds[:, :m], model.encode(ids, mask)["inputs_embeds"])
    plain = plain_prompt_embeds(model, ids)
    assert torch.equal(embeds[:, :m][mask == 0], plain[mask == 0])
    assert not torch.allclose(embeds[:, :m][mask == 1], plain[mask == 1])


# --------------------------------------------------------------------------------------- zero init, batching


@pytest.mark.parametrize("pair", ["llama", "t5"])
def test_untrained_l2s_generates_exactly_like_its_bare_slm(tiny, pair):
    model, _ = build_pair(tiny, pair)
    model.eval()
    bare = LLMToSLM(L2SConfig(conditioning="none"), model.slm, model.slm_tokenizer, None).eval()
    assert bare.prompt_tokenizer.get_vocab() == model.prompt_tokenizer.get_vocab()
    ids, mask, _ = prompt_batch(model)
    enc_l2s, enc_bare = model.encode(ids, mask), bare.encode(ids, mask)
    assert torch.equal(enc_l2s["inputs_embeds"], enc_bare["inputs_embeds"])
    gen = dict(max_new_tokens=8, min_new_tokens=8, do_sample=False)
    assert torch.equal(model.generate(enc_l2s, **gen), bare.generate(enc_bare, **gen))
    # the same holds after the projector's first layer and the feature norm changed: only the last layer matters
    with torch.no_grad():
        model.projector[0].weight.normal_()
        model.norm.mean.normal_()
    assert torch.equal(model.generate(model.encode(ids, mask), **gen), bare.generate(enc_bare, **gen))


@pytest.mark.parametrize("pair", PAIRS)
def test_batched_greedy_matches_batch_of_one(tiny, pair):
    model, _ = build_pair(tiny, pair)
    randomize_projector(model, scale=0.2)
    model.eval()
    ids, mask, seqs = prompt_batch(model)
    assert len(set(map(len, seqs))) == len(seqs), "prompts must have different lengths"
    gen = dict(max_new_tokens=8, do_sample=False)
    batched = strip_generated(model.generate(model.encode(ids, mask), **gen), model.slm_tokenizer)
    pad = model.prompt_tokenizer.pad_token_id
    for row, seq in enumerate(seqs):
        one_ids, one_mask = left_pad([seq], pad)
        single = strip_generated(model.generate(model.encode(one_ids, one_mask), **gen), model.slm_tokenizer)[0]
        assert batched[row] == single, f"row {row}: batched {batched[row]} vs alone {single}"


@pytest.mark.parametrize("pair", PAIRS)
def test_batched_loss_matches_per_example_loss(tiny, pair):
    """Left-padding the prompt batch must not change any example's loss (token-weighted mean)."""
    model, _ = build_pair(tiny, pair)
    randomize_projector(model, scale=0.2)
    model.eval()
    ids, mask, seqs = prompt_batch(model)
    rids, rmask = response_batch(model)
    with torch.no_grad():
        batched = model(ids, mask, rids, rmask)[1]
        total, count = 0.0, 0
        pad = model.prompt_tokenizer.pad_token_id
        for row, seq in enumerate(seqs):
            n = int(rmask[row].sum())
            one_ids, one_mask = left_pad([seq], pad)
            total += float(model(one_ids, one_mask, rids[row:row + 1, :n], rmask[row:row + 1, :n])[1]) * n
            count += n
    assert abs(float(batched) - total / count) < 1e-4


# --------------------------------------------------------------------------------------- different tokenizers


def test_different_vocabularies_use_the_llm_prompt_side(tiny):
    model, llm = build_pair(tiny, "t5_gpt2")
    assert model.prompt_side == "llm"
    assert model.prompt_proj is not None
    assert model.prompt_proj.in_features == llm.model.get_input_embeddings().embedding_dim
    assert model.prompt_proj.out_features == model.slm.get_input_embeddings().embedding_dim
    assert model.prompt_tokenizer is llm.tokenizer
    text = "Rewrite this verse in modern English: Thou shalt not steal."
    llm_ids = llm.tokenizer(text).input_ids
    slm_ids = model.slm_tokenizer(text).input_ids
    assert len(llm_ids) != len(slm_ids), "the test needs tokenizations of different lengths"
    ids, mask = left_pad([llm_ids], llm.tokenizer.pad_token_id)
    embeds = model.encode(ids, mask)["inputs_embeds"]
    assert embeds.shape[1] == len(llm_ids)
    assert model.llm_features(ids, mask).shape[1] == len(llm_ids)
    # prompt_proj state travels with the model, LLM embedding does not
    assert "prompt_proj.weight" in model.state_dict()


def test_slm_prompt_embedding_with_different_vocabularies_is_refused(tiny):
    llm = pretrained.load(tiny["t5"])
    small = pretrained.load(tiny["gpt2"])
    frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, None)
    with pytest.raises(ValueError, match="vocabulary"):
        LLMToSLM(L2SConfig(prompt_embedding="slm"), small.model, small.tokenizer, frozen)
    with pytest.raises(BenchError):
        LLMToSLM(L2SConfig(prompt_embedding="slm"), small.model, small.tokenizer, frozen)


def test_shared_vocabulary_defaults_to_slm_side_and_llm_side_can_be_forced(tiny):
    model, _ = build_pair(tiny, "llama")
    assert model.prompt_side == "slm" and model.prompt_proj is None
    forced, _ = build_pair(tiny, "llama", prompt_embedding="llm")
    assert forced.prompt_side == "llm" and forced.prompt_proj is not None
    assert torch.isfinite(loss_on_batch(forced))


def test_conditioning_needs_an_llm(tiny):
    llm = pretrained.load(tiny["llama"])
    with pytest.raises(ValueError):
        LLMToSLM(L2SConfig(conditioning="add"), llm.model, llm.tokenizer, None)
    baseline = LLMToSLM(L2SConfig(conditioning="none"), llm.model, llm.tokenizer, None)
    assert not baseline.uses_llm
    assert not hasattr(baseline, "projector") and not hasattr(baseline, "norm")
    assert baseline.prompt_tokenizer is llm.tokenizer


# --------------------------------------------------------------------------------------- FrozenLLM


def test_frozen_llm_features_equal_hidden_states(tiny):
    llm = pretrained.load(tiny["llama"])
    n_layers = llm.model.config.num_hidden_layers
    seqs = llm.tokenizer(PROMPTS).input_ids
    for k in range(1, n_layers):
        frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, k)
        for seq in seqs:
            ids = torch.tensor([seq])
            mask = torch.ones_like(ids)
            with torch.no_grad():
                ref = llm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[k]
            got = frozen.features(ids, mask)
            assert got.dtype == torch.float32
            assert got.shape == (1, len(seq), llm.model.config.hidden_size)
            torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
        ids, mask = left_pad(seqs, llm.tokenizer.pad_token_id)
        batched = frozen.features(ids, mask)
        for row, seq in enumerate(seqs):
            alone = frozen.features(torch.tensor([seq]), torch.ones(1, len(seq), dtype=torch.long))[0]
            torch.testing.assert_close(batched[row, ids.shape[1] - len(seq):], alone, atol=1e-5, rtol=1e-5)


def test_frozen_llm_stops_at_its_layer(tiny):
    llm = pretrained.load(tiny["llama"])
    frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, 2)
    ran = []
    hooks = [layer.register_forward_hook(lambda m, a, o, i=i: ran.append(i))
             for i, layer in enumerate(llm.model.model.layers)]
    try:
        frozen.features(torch.tensor([[5, 6, 7]]), torch.ones(1, 3, dtype=torch.long))
    finally:
        for h in hooks:
            h.remove()
    assert ran == [0, 1]
    # the stop hook is removed afterwards
    assert not llm.model.model.layers[1]._forward_hooks
    default = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, None)
    assert default.layer == llm.model.config.num_hidden_layers


@pytest.mark.parametrize("layer", [0, 5, -1])
def test_frozen_llm_rejects_layers_out_of_range(tiny, layer):
    llm = pretrained.load(tiny["llama"])
    with pytest.raises(BenchError, match="llm_layer"):
        FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, layer)


def test_frozen_seq2seq_llm_features_are_encoder_states(tiny):
    llm = pretrained.load(tiny["t5"])
    frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, None)
    assert frozen.is_seq2seq and frozen.dim == llm.model.config.d_model
    seqs = llm.tokenizer(PROMPTS).input_ids
    ids, mask = left_pad(seqs, llm.tokenizer.pad_token_id)
    batched = frozen.features(ids, mask)
    for row, seq in enumerate(seqs):
        one = torch.tensor([seq])
        with torch.no_grad():
            ref = llm.model.get_encoder()(input_ids=one).last_hidden_state[0]
        torch.testing.assert_close(batched[row, ids.shape[1] - len(seq):], ref, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------------------- FeatureNorm, replace


def test_feature_norm_standardizes_and_clamps():
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([1.0, 10.0, 0.1, 1000.0])
    offset = torch.tensor([5.0, -3.0, 0.0, 200.0])
    features = [torch.randn(n, 4, generator=g) * scale + offset for n in (7, 12, 9, 20)]
    for f in features:
        f[0] = 1e5  # position 0: a "massive activation" that skip_first leaves out
    norm = FeatureNorm(4, clamp=3.0)
    norm.fit(features, skip_first=True)
    rows = torch.cat([f[1:] for f in features])
    z = norm(rows)
    assert z.dtype == torch.float32
    # clamping at 3 sigma barely moves a Gaussian sample's moments
    torch.testing.assert_close(((rows - norm.mean) / norm.std).mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(((rows - norm.mean) / norm.std).std(0), torch.ones(4), atol=1e-5, rtol=0)
    assert z.abs().max() <= 3.0
    assert z.mean(0).abs().max() < 0.1 and (z.std(0) - 1).abs().max() < 0.1
    # the outlier at position 0 is clamped, not propagated
    assert torch.equal(norm(features[0][:1]), torch.full((1, 4), 3.0))
    torch.testing.assert_close(norm.mean, offset, atol=0.5 * scale.max().item(), rtol=0)

    without_skip = FeatureNorm(4, clamp=3.0)
    without_skip.fit(features, skip_first=False)
    assert (without_skip.mean > norm.mean + 100).all(), "skip_first=False must include position 0"
    # statistics are buffers, so they are in the state dict
    assert set(norm.state_dict()) == {"mean", "std"}


def test_feature_norm_constant_dimension_does_not_divide_by_zero():
    features = [torch.cat([torch.randn(6, 2), torch.full((6, 1), 4.0)], 1) for _ in range(3)]
    norm = FeatureNorm(3, clamp=10.0)
    norm.fit(features, skip_first=False)
    z = norm(torch.cat(features))
    assert torch.isfinite(z).all()
    assert torch.equal(z[:, 2], torch.zeros(len(z)))


def test_projector_is_zero_initialised_mlp():
    proj = Projector(6, 5, 4)
    assert isinstance(proj[0], torch.nn.Linear) and isinstance(proj[1], torch.nn.ReLU)
    assert (proj[0].in_features, proj[0].out_features, proj[2].out_features) == (6, 5, 4)
    assert proj[0].weight.abs().sum() > 0
    assert torch.equal(proj(torch.randn(3, 6)), torch.zeros(3, 4))


@pytest.mark.parametrize("pair", ["llama", "t5_gpt2"])
def test_replace_conditioning_replaces_real_positions(tiny, pair):
    model, _ = build_pair(tiny, pair, conditioning="replace")
    randomize_projector(model)
    model.eval()
    ids, mask, _ = prompt_batch(model)
    feats = model.llm_features(ids, mask)
    with torch.no_grad():
        projected = model.projector(model.norm(feats))
    embeds = model.encode(ids, mask)["inputs_embeds"]
    plain = plain_prompt_embeds(model, ids)
    real = mask == 1
    assert torch.equal(embeds[real], projected[real])
    assert torch.equal(embeds[~real], plain[~real])
    assert torch.isfinite(loss_on_batch(model))


def test_llm_layer_changes_the_features_used(tiny):
    a, _ = build_pair(tiny, "llama", llm_layer=1)
    b, _ = build_pair(tiny, "llama", llm_layer=3)
    ids, mask, _ = prompt_batch(a)
    assert a.llm.layer == 1 and b.llm.layer == 3
    assert not torch.allclose(a.llm_features(ids, mask), b.llm_features(ids, mask))


# --------------------------------------------------------------------------------------- fused layers


def test_fused_layers_are_the_single_layers_stacked_and_stop_at_the_last(tiny):
    llm = pretrained.load(tiny["llama"])
    seqs = llm.tokenizer(PROMPTS).input_ids
    ids, mask = left_pad(seqs, llm.tokenizer.pad_token_id)
    fused = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, [1, 3])
    got = fused.features(ids, mask)
    assert got.shape == (len(seqs), ids.shape[1], 2, llm.model.config.hidden_size)
    for j, k in enumerate([1, 3]):
        single = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, k).features(ids, mask)
        torch.testing.assert_close(got[:, :, j], single, atol=1e-6, rtol=1e-6)
    assert not any(layer._forward_hooks for layer in llm.model.model.layers)  # every hook removed


@pytest.mark.parametrize("layers", [[2], [3, 1], [2, 2], [1, 9]])
def test_bad_fused_layer_lists_are_refused(tiny, layers):
    llm = pretrained.load(tiny["llama"])
    with pytest.raises(BenchError, match="llm_layer"):
        FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, layers)


def test_fused_l2s_starts_as_its_slm_learns_its_mix_and_round_trips(tiny, tmp_path):
    from l2s_bench.method import checkpoint

    model, llm = build_pair(tiny, "llama", llm_layer=[1, 2, 3])
    ids, mask, _ = prompt_batch(model)
    features = model.llm_features(ids, mask)
    model.norm.fit([f[m.bool()] for f, m in zip(features, mask)], skip_first=True)
    assert model.norm.mean.shape == (3, llm.model.config.hidden_size)
    # zero-initialised projector: before training the fused L2S reads exactly as its bare SLM
    torch.testing.assert_close(model.prompt_embeds(ids, mask, features), plain_prompt_embeds(model, ids))
    randomize_projector(model)
    loss = loss_on_batch(model)
    loss.backward()
    assert model.mix.logits.grad is not None and model.mix.logits.grad.abs().sum() > 0
    torch.testing.assert_close(model.mix.logits.softmax(0), torch.full((3,), 1 / 3))  # equal weights to start
    with torch.no_grad():
        model.mix.logits.copy_(torch.tensor([2.0, -1.0, 0.5]))
    checkpoint.save(model, tmp_path / "fused")
    loaded = checkpoint.load(tmp_path / "fused")
    assert loaded.llm.layer == [1, 2, 3] and torch.equal(loaded.mix.logits, model.mix.logits)
    torch.testing.assert_close(loaded.prompt_embeds(ids, mask, features), model.prompt_embeds(ids, mask, features))
