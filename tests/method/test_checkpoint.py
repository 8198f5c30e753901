"""Checkpoints: exact round trip, the LLM hash check, corruption checks, and no LLM weights on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint, pretrained, slm
from l2s_bench.method.l2s import FrozenLLM, L2SConfig, LLMToSLM
from l2s_bench.method.slm import LensNorm
from l2s_bench.tokens import left_pad, pad_id

PROMPTS = ["And God said, Let there be light.", "Define the word river.", "Thou shalt not steal, and the earth was void."]
FIT_TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "The quick brown fox jumps over the lazy dog.",
    "Define the word river: a large natural stream of water flowing in a channel.",
    "You shall not steal. You shall not murder. Honor your father and your mother.",
] * 3


def build(tiny, pair: str, conditioning: str = "add") -> tuple[LLMToSLM, pretrained.Pretrained]:
    """A model whose every saved part differs from its fresh-init value (projector, norm statistics)."""
    torch.manual_seed(0)
    if pair == "llama":
        llm = pretrained.load(tiny["llama"])
        small, tok = slm.build(slm.SLMSpec(init="truncate", layers=1), llm, FIT_TEXTS)
        layer = 2
    else:
        llm = pretrained.load(tiny["t5"])
        small, tok = slm.build(slm.SLMSpec(init="pretrained", source=tiny[pair]), llm, [])
        layer = None
    frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, layer)
    model = LLMToSLM(L2SConfig(conditioning=conditioning, llm_layer=layer), small, tok, frozen)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        if model.uses_llm:
            ids, mask, seqs = prompts(model)
            feats = model.llm_features(ids, mask)
            model.norm.fit([feats[i, ids.shape[1] - len(s):] for i, s in enumerate(seqs)], skip_first=True)
            for p in model.projector[2].parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for p in model.slm.parameters():  # move the SLM away from its source weights too
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.01)
    return model.eval(), llm


def prompts(model: LLMToSLM):
    tok = model.prompt_tokenizer
    seqs = tok(PROMPTS).input_ids
    ids, mask = left_pad(seqs, pad_id(tok))
    return ids, mask, seqs


def greedy(model: LLMToSLM) -> torch.Tensor:
    ids, mask, _ = prompts(model)
    return model.generate(model.encode(ids, mask), max_new_tokens=10, min_new_tokens=10, do_sample=False)


def assert_same_state(a: LLMToSLM, b: LLMToSLM) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def perturbed_llama(tiny, tmp_path) -> str:
    """Same architecture and tokenizer as tiny llama, one weight changed."""
    other = pretrained.load(tiny["llama"])
    with torch.no_grad():
        other.model.model.layers[0].mlp.up_proj.weight[0, 0] += 1.0
    path = tmp_path / "other-llama"
    other.model.save_pretrained(path)
    other.tokenizer.save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("pair", ["llama", "t5_slm", "gpt2"])
def test_l2s_roundtrip_gives_identical_greedy_outputs(tiny, tmp_path, pair):
    model, llm = build(tiny, pair)
    expected = greedy(model)
    path = checkpoint.save(model, tmp_path / "ckpt")
    assert path == tmp_path / "ckpt"
    assert not (tmp_path / "ckpt.partial").exists()
    for loaded in (checkpoint.load(path, llm=llm), checkpoint.load(path)):  # given LLM, and LLM from source
        assert not loaded.training
        assert loaded.uses_llm and loaded.cfg == model.cfg
        assert loaded.llm.hash == llm.hash and loaded.llm.layer == model.llm.layer
        assert (loaded.prompt_proj is None) == (model.prompt_proj is None)
        assert_same_state(model, loaded)
        assert torch.equal(greedy(loaded), expected)


def test_slm_baseline_roundtrip(tiny, tmp_path):
    model, _ = build(tiny, "llama", conditioning="none")
    model.llm = None  # the baseline does not need an LLM at all
    expected = greedy(model)
    path = checkpoint.save(model, tmp_path / "baseline")
    meta = checkpoint.read_meta(path)
    assert meta["llm"] is None and meta["l2s"]["conditioning"] == "none"
    loaded = checkpoint.load(path)
    assert not loaded.uses_llm and loaded.llm is None
    assert_same_state(model, loaded)
    assert torch.equal(greedy(loaded), expected)


def test_meta_records_llm_lens_and_extra(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "c", {"trainer": {"steps": 7}})
    meta = json.loads((path / "l2s.json").read_text())
    assert meta["llm"] == {"source": llm.source, "sha256": llm.hash, "layer": 2}
    assert meta["slm"]["lens"] is True
    assert meta["trainer"] == {"steps": 7}
    assert meta["weights_sha256"] == checkpoint.file_sha256(path / "model.safetensors")
    assert isinstance(checkpoint.load(path, llm=llm).slm.base_model.norm, LensNorm)
    # saving again over the same folder replaces it cleanly
    checkpoint.save(model, path)
    assert checkpoint.read_meta(path).get("trainer") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_loading_with_a_different_llm_is_refused(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    other = pretrained.load(perturbed_llama(tiny, tmp_path))
    assert other.hash != llm.hash
    with pytest.raises(BenchError) as info:
        checkpoint.load(path, llm=other)
    assert llm.hash[:16] in str(info.value) and other.hash[:16] in str(info.value)
    # the same when the recorded source now holds other weights
    meta = json.loads((path / "l2s.json").read_text())
    meta["llm"]["source"] = other.source
    (path / "l2s.json").write_text(json.dumps(meta))
    with pytest.raises(BenchError) as info:
        checkpoint.load(path)
    assert llm.hash[:16] in str(info.value) and other.hash[:16] in str(info.value)


def test_loading_with_an_llm_of_another_architecture_is_refused(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    t5 = pretrained.load(tiny["t5"])
    with pytest.raises(BenchError) as info:
        checkpoint.load(path, llm=t5)
    assert llm.hash[:16] in str(info.value) and t5.hash[:16] in str(info.value)


def test_flipped_byte_is_refused(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    weights = path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BenchError, match="corrupt"):
        checkpoint.load(path, llm=llm)


def test_truncated_or_missing_weights_are_refused(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(BenchError, match="corrupt"):
        checkpoint.load(path, llm=llm)
    weights.unlink()
    with pytest.raises(BenchError, match="corrupt"):
        checkpoint.load(path, llm=llm)


def test_a_truncated_header_whose_recorded_sha256_matches_is_refused_cleanly(tiny, tmp_path):
    """The sha256 check passes (the record was rewritten with the damage), so safetensors itself meets
    the broken header: its SafetensorError must become the same one clear message."""
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20])
    meta = json.loads((path / "l2s.json").read_text())
    meta["weights_sha256"] = checkpoint.file_sha256(weights)
    (path / "l2s.json").write_text(json.dumps(meta))
    with pytest.raises(BenchError, match="corrupt checkpoint"):
        checkpoint.load(path, llm=llm)


def test_folder_without_meta_is_refused(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    (path / "l2s.json").unlink()
    with pytest.raises(BenchError, match="l2s.json"):
        checkpoint.load(path, llm=llm)
    with pytest.raises(BenchError, match="l2s.json"):
        checkpoint.load(tmp_path / "nowhere", llm=llm)


def test_bad_meta_is_refused(tiny, tmp_path):
    model, llm = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "ckpt")
    (path / "l2s.json").write_text("{not json")
    with pytest.raises(BenchError, match="corrupt"):
        checkpoint.load(path, llm=llm)
    (path / "l2s.json").write_text(json.dumps({"format": "something-else", "version": 1}))
    with pytest.raises(BenchError, match="unsupported"):
        checkpoint.load(path, llm=llm)


@pytest.mark.parametrize("pair", ["llama", "t5_slm", "gpt2"])
def test_checkpoint_holds_no_llm_weights(tiny, tmp_path, pair):
    model, llm = build(tiny, pair)
    path = checkpoint.save(model, tmp_path / "ckpt")
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        keys = list(f.keys())
        assert keys and not any(k.startswith("llm") for k in keys)
        assert all(k.startswith(("slm.", "projector.", "norm.", "prompt_proj.")) for k in keys), keys
    # the file holds the model's own tensors (shared ones once) plus a header, and no room for the LLM's
    own = {t.data_ptr(): t.numel() * t.element_size() for t in model.state_dict().values()}
    llm_bytes = sum(t.numel() * t.element_size() for t in llm.model.state_dict().values())
    size = (path / "model.safetensors").stat().st_size
    assert llm_bytes > 64 * 1024
    assert sum(own.values()) <= size < sum(own.values()) + 32 * 1024
    if pair == "llama":
        on_disk = sum(p.stat().st_size for p in Path(tiny["llama"]).glob("*.safetensors"))
        assert size < on_disk
        # the checkpoint's SLM has one layer; the LLM's other layers are nowhere in it
        assert not any(f".layers.{i}." in k for k in keys for i in (1, 2, 3))


def test_checkpoint_files_all_get_the_umask_mode(tiny, tmp_path):
    import os
    import stat

    model, _ = build(tiny, "llama")
    old = os.umask(0o022)
    try:
        path = checkpoint.save(model, tmp_path / "ckpt")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o644}, modes  # safetensors alone writes model.safetensors 0600


def test_a_crash_between_the_renames_of_a_replacing_save_loses_no_checkpoint(tiny, tmp_path, monkeypatch):
    model, _ = build(tiny, "llama")
    path = checkpoint.save(model, tmp_path / "final", {"which": "old"})
    real_rename = Path.rename

    def crash_on_the_second(self, target):  # the old copy moved aside, then the process dies
        if self.name.endswith(".partial"):
            raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(model, path, {"which": "new"})
    monkeypatch.setattr(Path, "rename", real_rename)
    assert not path.exists() and path.with_name("final.old").exists()  # the window the old save had
    assert checkpoint.read_meta(path)["which"] == "new"  # recovered: the complete new copy put in place
    assert not path.with_name("final.old").exists() and not path.with_name("final.partial").exists()
    assert torch.equal(greedy(checkpoint.load(path)), greedy(model))
