"""`l2s_bench.method.tuned`: a trained llm-lora checkpoint exported as a plain `tuned:<sha>` model source, and
L2S reading that tuned LLM's features (`l2s.llm_source`) while its SLM is still cut from the base LLM."""

from __future__ import annotations

import json

import pytest
import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint, pretrained, train, tuned
from l2s_bench.method.pretrained import tuned_dir
from tests.method.test_train import write_config


@pytest.fixture
def tuned_final(tiny, pairs_jsonl, tmp_path, one_thread):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system="llm-lora", name="ft", steps=3, train_extra={"lr": 1e-2})
    return train.train(cfg)


def test_export_gives_the_merged_model_as_a_content_addressed_source(tuned_final):
    source = tuned.export(tuned_final)
    sha = checkpoint.read_meta(tuned_final)["weights_sha256"]
    assert source == f"tuned:{sha[:16]}"
    exported = pretrained.load(source)
    merged = checkpoint.load(tuned_final).slm
    for name, tensor in merged.state_dict().items():
        assert torch.equal(exported.model.state_dict()[name], tensor), name
    ids = exported.tokenizer("And God said", return_tensors="pt").input_ids
    assert torch.equal(exported.model.generate(ids, max_new_tokens=5, do_sample=False),
                       merged.generate(ids, max_new_tokens=5, do_sample=False))
    stamp = (tuned_dir(source) / "config.json").stat().st_mtime_ns
    assert tuned.export(tuned_final) == source  # once: a second export reuses the folder
    assert (tuned_dir(source) / "config.json").stat().st_mtime_ns == stamp


def test_only_an_llm_lora_checkpoint_exports(tiny, pairs_jsonl, tmp_path, one_thread):
    slm_final = train.train(write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="slm", steps=1))
    with pytest.raises(BenchError, match="'slm' checkpoint"):
        tuned.export(slm_final)


def test_a_tuned_source_missing_from_the_cache_is_one_clear_error():
    with pytest.raises(BenchError, match="not in this machine's model cache"):
        pretrained.load("tuned:0123456789abcdef")


def test_l2s_reads_the_tuned_llms_features_and_keeps_the_base_llms_slm(tiny, pairs_jsonl, tmp_path, tuned_final):
    source = tuned.export(tuned_final)
    base = write_config(tmp_path, tiny, pairs_jsonl, name="base", steps=2)
    on_tuned = write_config(tmp_path, tiny, pairs_jsonl, name="on-tuned", steps=2,
                            extra={"l2s": {"llm_layer": 2, "llm_source": source}})
    a, b = train.train(base), train.train(on_tuned)
    meta = checkpoint.read_meta(b)
    assert meta["llm"]["source"] == source and meta["trainer"]["features_llm"] == source
    assert meta["llm"]["sha256"] == pretrained.load(source).hash != checkpoint.read_meta(a)["llm"]["sha256"]
    assert meta["trainer"]["slm_build"] == checkpoint.read_meta(a)["trainer"]["slm_build"]  # same SLM construction
    model = checkpoint.load(b)  # re-attaches the tuned LLM from its source
    assert model.llm.source == source
    stats_a = checkpoint.load(a).norm.mean
    assert not torch.equal(model.norm.mean, stats_a)  # fitted on another LLM's features
    assert json.loads((b / "l2s.json").read_text())["l2s"]["llm_source"] == source
