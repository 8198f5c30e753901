"""The paper's setting on a tiny suite: a LoRA-tuned LLM (`llm-ft`) that L2S reads its features from
(`llm: llm-ft`), the SLM baseline and L2S learning from its labels (`teacher: llm-ft`), and prompt lookup
decoding on the LLM and on the tuned LLM. One `run` trains in rounds (the tuned LLM first, then what
reads it), every row says what it read and learned from, and the lossless rows take their target's quality."""

from __future__ import annotations

import json

import pytest
import yaml

from l2s_bench.cli import main
from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint, train
from l2s_bench.runner.results import entry, load
from l2s_bench.runner.suite import load_suite
import l2s_bench.runner.run
from conftest import tiny_training, write_tiny_task

pytestmark = pytest.mark.usefixtures("one_thread")

TEACHER = {"sequence": True, "kd_weight": 0.5, "temperature": 2.0, "batch_size": 8}


def write_suite(root, tiny, teacher: dict | None = TEACHER) -> tuple:
    task = write_tiny_task(root, max_new_tokens=6)
    config = root / "configs" / "tiny-kjv.yaml"  # one config for every trained role
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(tiny_training(tiny["llama"], task, steps=2)))
    small = {"train": str(config), "teacher": "llm-ft", "overrides": {"teacher": teacher} if teacher else {}}
    suite = root / "levers.yaml"
    suite.write_text(yaml.safe_dump({
        "suite": "levers", "device": "cpu", "threads": 1, "tasks": [str(task)],
        "systems": {"llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": tiny["llama"]}},
                    "llm-ft": {"role": "llm-ft", "train": str(config), "overrides": {"train": {"lr": 1e-2}}},
                    "slm": {"role": "slm", **small},
                    "l2s": {"role": "l2s", **small, "llm": "llm-ft"},
                    "lookup": {"role": "assisted", "target": "llm", "lookup": 3},
                    "lookup-ft": {"role": "assisted", "target": "llm-ft", "lookup": 3}},
        "quality": {"limit": 4, "batch_size": 2, "n_bootstrap": 20},
        "speed": {"n": 2, "max_new_tokens": 4, "warmup": 0, "min_runs": 1, "min_seconds": 0, "n_bootstrap": 20}}))
    return suite, task


def test_l2s_reads_the_tuned_llm_and_both_small_systems_learn_its_labels(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("L2S_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    suite_path, _ = write_suite(tmp_path, tiny)
    suite = load_suite(suite_path)
    # before the tuned LLM exists, only it can train; what reads it waits for the next round
    assert [name for name, _ in l2s_bench.runner.run.pending_trainings(suite, "tiny-kjv")] == ["llm-ft"]
    with pytest.raises(BenchError, match="reads llm 'llm-ft', which is not trained"):
        l2s_bench.runner.run.for_training(suite, "tiny-kjv")

    assert main(["run", str(suite_path), "--results-dir", str(tmp_path / "results"), "--run-id", "r"]) == 0
    data = load(tmp_path / "results" / "r")
    rows = {e["system"]: e for e in data["results"]}
    tuned_source = rows["l2s"]["trained"]["features_llm"]
    assert tuned_source.startswith("tuned:")
    labels = f"teacher outputs + teacher logits (w 0.5, T 2) of {tuned_source}"
    assert rows["slm"]["trained"] == {"features_llm": None, "labels": labels, "layers": 1}
    assert rows["l2s"]["trained"]["labels"] == labels
    assert rows["llm-ft"]["trained"]["labels"] == "references"
    # the L2S checkpoint read the tuned LLM's features; its meta and the tuned LLM's weights agree
    final = train.finished(tmp_path / "configs" / "tiny-kjv.yaml", overrides=l2s_bench.runner.run.for_training(
        suite, "tiny-kjv")["l2s"].overrides)
    meta = checkpoint.read_meta(final)
    assert meta["llm"]["source"] == tuned_source and meta["trainer"]["labels"] == labels
    # lossless rows: the quality of the model each speeds up, and their own speed
    for lossless, target in (("lookup", "llm"), ("lookup-ft", "llm-ft")):
        assert {m: q["value"] for m, q in entry(data, "tiny-kjv", lossless)["quality"].items()} == \
            {m: q["value"] for m, q in entry(data, "tiny-kjv", target)["quality"].items()}
    assert sample_predictions(tmp_path, "llm-ft") != sample_predictions(tmp_path, "llm")  # two models, tuned
    assert all(entry(data, "tiny-kjv", s).get("speed") for s in ("lookup", "lookup-ft"))
    # what reads or speeds up the tuned LLM also states its speedup against it; the rest only against the LLM
    for system in ("l2s", "lookup-ft"):
        own = entry(data, "tiny-kjv", system)["speedup_vs_own_llm"]
        assert own["system"] == "llm-ft" and own["ci"][0] <= own["value"] <= own["ci"][1]
        assert own["value"] != entry(data, "tiny-kjv", system)["speedup_vs_llm"]["value"]  # another denominator
    assert all("speedup_vs_own_llm" not in entry(data, "tiny-kjv", s) for s in ("slm", "lookup", "llm-ft"))


def sample_predictions(root, system: str) -> list[str]:
    path = root / "results" / "r" / "samples" / "tiny-kjv" / f"{system}.jsonl"
    return [json.loads(line)["prediction"] for line in path.read_text().splitlines()]


def test_a_teacher_named_where_the_config_uses_no_labels_is_refused(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("L2S_BENCH_CACHE", str(tmp_path / "cache"))
    suite_path, _ = write_suite(tmp_path, tiny, teacher=None)
    suite = load_suite(suite_path)
    monkeypatch.setattr(l2s_bench.runner.run, "_source_of", lambda d: "tuned:0123456789abcdef")  # as if trained
    with pytest.raises(BenchError, match="names teacher 'llm-ft', but its config uses no teacher labels"):
        l2s_bench.runner.run.for_training(suite, "tiny-kjv")
