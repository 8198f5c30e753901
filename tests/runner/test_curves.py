"""Learning curves: the trainer's curve hook (steps, cumulative tokens across a resume, no effect on the
weights trained), a tiny suite with `curve.every` end to end (points, reference lines, verdicts, the plot,
a resume that infers nothing, a reused training measured once at its final step) and the suite's train_jobs guard."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoTokenizer, LlamaForCausalLM

from l2s_bench.cli import main
from l2s_bench.errors import BenchError
from l2s_bench.method import train
from l2s_bench.method.l2s import LLMToSLM
from l2s_bench.method.train import Examples
import l2s_bench.models
from l2s_bench.models import GenSettings, get_adapter
from l2s_bench.models.llm2slm import LLM2SLMAdapter
import l2s_bench.runner.curves
from l2s_bench.runner.results import load
import l2s_bench.runner.run
from l2s_bench.runner.samples import SampleStore
from l2s_bench.runner.suite import load_suite
from l2s_bench.runner.verdict import VERDICTS
from l2s_bench.tasks import get_task
from conftest import tiny_training, write_tiny_task

TRAINED = ("llm-ft", "slm", "l2s")

pytestmark = pytest.mark.usefixtures("one_thread")


def write_config(tmp_path: Path, llm: str, data: Path, name: str, system: str = "l2s", steps: int = 6) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "system": system, "out": str(tmp_path / name), "llm": llm, "slm": {"init": "truncate", "layers": 1},
        "l2s": {"llm_layer": 2}, "data": {"source": str(data), "chat": True},
        "train": {"steps": steps, "batch_size": 4, "save_every": 3, "warmup_steps": 2, "max_response_tokens": 24}}))
    return path


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def dropout_llm(tiny, tmp_path_factory) -> str:
    """The tiny llama with attention dropout, so training draws from torch's RNG and depends on the
    train/eval mode: what a curve callback must leave as it found it."""
    path = tmp_path_factory.mktemp("dropout") / "llama"
    model = LlamaForCausalLM.from_pretrained(tiny["llama"])
    model.config.attention_dropout = 0.3
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny["llama"]).save_pretrained(path)
    return str(path)


# --------------------------------------------------------------------------------------- the trainer's hook


PROMPTS = ["Let there be light.", "Thou shalt not steal."]
FORCED = GenSettings(max_new_tokens=5, min_new_tokens=5)  # no early EOS: five tokens to compare


def test_callback_sees_step_zero_every_kth_step_and_cumulative_tokens(tiny, pairs_jsonl, tmp_path):
    calls, generated = [], []

    def callback(step, tokens_seen, model):
        calls.append((step, tokens_seen, isinstance(model, LLMToSLM), torch.is_grad_enabled()))
        generated.append(LLM2SLMAdapter.wrap(model, chat=True, reserve_new_tokens=8).generate_ids(PROMPTS, FORCED))

    final = train.train(write_config(tmp_path, tiny["llama"], pairs_jsonl, "run"), curve=(2, callback))
    # the last point's in-memory model is the final checkpoint: the same tokens from disk
    assert get_adapter("llm2slm", checkpoint=str(final), reserve_new_tokens=8).generate_ids(PROMPTS, FORCED) == generated[-1]
    assert generated[0] != generated[-1]
    log = read_log(tmp_path / "run")
    seen = {0: 0, **{r["step"]: r["tokens_seen"] for r in log}}
    assert [c[0] for c in calls] == [0, 2, 4, 6]
    assert [c[1] for c in calls] == [seen[s] for s in (0, 2, 4, 6)]
    assert all(c[2] and not c[3] for c in calls)  # the in-memory model, gradients off
    steps = [r["tokens_seen"] for r in log]
    assert steps[0] > 0 and all(b > a for a, b in zip(steps, steps[1:]))
    train_meta = json.loads((final / "l2s.json").read_text())["trainer"]["train"]
    assert train_meta["tokens_seen"] == train_meta["tokens"] == steps[-1] and "curve_seconds" in train_meta


def test_a_callback_changes_nothing_that_is_trained(dropout_llm, pairs_jsonl, tmp_path):
    plain = train.train(write_config(tmp_path, dropout_llm, pairs_jsonl, "plain"))
    outputs = []

    def meddle(step, tokens_seen, model):  # draws from the RNG, switches to eval mode, generates with sampling
        torch.rand(100)
        adapter = LLM2SLMAdapter.wrap(model, chat=True, reserve_new_tokens=4)
        outputs.append(adapter.generate(["Let there be light."], GenSettings(max_new_tokens=4, do_sample=True, seed=7)))
        assert not model.training

    config = write_config(tmp_path, dropout_llm, pairs_jsonl, "curved")
    curved = train.train(config, curve=(2, meddle))
    assert len(outputs) == 4
    a, b = load_file(str(plain / "model.safetensors")), load_file(str(curved / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [r["loss"] for r in read_log(tmp_path / "plain")] == [r["loss"] for r in read_log(tmp_path / "curved")]
    assert train.finished(config) == curved  # the hook is no part of the config: the run is reused as is


class Interrupted(Exception):
    pass


def test_resume_calls_back_at_the_resumed_step_and_keeps_counting_tokens(tiny, pairs_jsonl, tmp_path, monkeypatch):
    uninterrupted = []
    train.train(write_config(tmp_path, tiny["llama"], pairs_jsonl, "whole"),
                curve=(3, lambda step, tokens, model: uninterrupted.append((step, tokens))))
    cfg, first, resumed = write_config(tmp_path, tiny["llama"], pairs_jsonl, "cut"), [], []
    original, fetched = Examples.batch, []

    def batch(self, indices):  # dies when it fetches the batch of step 5 (4 steps done, checkpoint-3 kept)
        fetched.append(1)
        if len(fetched) == 5:
            raise Interrupted
        return original(self, indices)

    with monkeypatch.context() as patch:
        patch.setattr(Examples, "batch", batch)
        with pytest.raises(Interrupted):
            train.train(cfg, curve=(3, lambda step, tokens, model: first.append((step, tokens))))
    assert first == uninterrupted[:2]
    assert torch.load(tmp_path / "cut" / "checkpoint-3" / "trainer.pt", weights_only=True)["tokens_seen"] == first[1][1]
    train.train(cfg, resume=True, curve=(3, lambda step, tokens, model: resumed.append((step, tokens))))
    assert resumed == uninterrupted[1:]  # step 3 again first (idempotent callbacks), then 6
    assert [r["tokens_seen"] for r in read_log(tmp_path / "cut")] == [r["tokens_seen"] for r in read_log(tmp_path / "whole")]


# --------------------------------------------------------------------------------------- a suite with curves


@pytest.fixture(scope="module")
def curve_suite(tiny, tmp_path_factory) -> Path:
    """A tiny suite: the tiny llama as LLM, its LoRA-tuned self, its 1-layer SLM and L2S, 4 steps with a
    curve point every 2 on 4 validation items of the committed kjv-web fixture."""
    root = tmp_path_factory.mktemp("curves")
    task = write_tiny_task(root, max_new_tokens=6)
    for name, system in (("llm-ft", "llm-lora"), ("slm", "slm"), ("l2s", "l2s")):
        (root / f"{name}.yaml").write_text(yaml.safe_dump(tiny_training(
            tiny["llama"], task, steps=4, system=system, out=str(root / "runs" / name))))
    suite = root / "curves.yaml"
    suite.write_text(yaml.safe_dump({
        "suite": "curves", "device": "cpu", "threads": 1, "tasks": [str(task)],
        "systems": {"llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": tiny["llama"]}},
                    **{name: {"role": name, "train": str(root / f"{name}.yaml")} for name in TRAINED}},
        "quality": {"limit": 4, "batch_size": 4, "n_bootstrap": 20}, "speed": {"enabled": False},
        "curve": {"every": 2, "limit": 4, "batch_size": 2, "n_bootstrap": 20}}))
    return suite


@pytest.fixture(scope="module")
def curve_run(curve_suite) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("L2S_BENCH_CACHE", str(curve_suite.parent / "cache"))
        assert main(["run", str(curve_suite), "--results-dir", str(curve_suite.parent / "results"),
                     "--run-id", "c"]) == 0
    return curve_suite.parent / "results" / "c"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_suite_with_curves_scores_points_against_the_bar_and_the_llm(curve_suite, curve_run, monkeypatch):
    monkeypatch.setenv("L2S_BENCH_CACHE", str(curve_suite.parent / "cache"))
    curve = load(curve_run)["curves"]["tiny-kjv"]
    assert (curve["split"], curve["n"], curve["metric"]) == ("valid", 4, "chrf")
    assert curve["trivial"]["system"] == "trivial" and len(curve["trivial"]["ci"]) == 2
    assert curve["llm"]["ci"][0] <= curve["llm"]["value"] <= curve["llm"]["ci"][1]
    assert sorted(curve["systems"]) == sorted(TRAINED)
    folder = curve_run / "samples" / "tiny-kjv" / "curve"
    for name, system in curve["systems"].items():
        assert system["role"] == name and "missing" not in system
        points = system["points"]
        assert [p["step"] for p in points] == [0, 2, 4]
        log = {r["step"]: r["tokens_seen"] for r in read_log(curve_suite.parent / "runs" / name)}
        assert [p["tokens"] for p in points] == [0, log[2], log[4]]
        for p in points:
            assert p["ci"][0] <= p["value"] <= p["ci"][1] and p["verdict"] in VERDICTS
            assert 0 < p["p_vs_trivial"] <= 1
        passed = [p["step"] for p in points if p["verdict"] == "above trivial"]
        assert system["crosses_trivial_at"] == (passed[0] if passed else None)
        assert all(len(rows(folder / name / f"step-{s:06d}.jsonl")) == 4 for s in (0, 2, 4))
    ids = json.loads((folder / "_points.json").read_text())["ids"]
    assert [r["id"] for r in rows(folder / "llm.jsonl")] == [r["id"] for r in rows(folder / "trivial.jsonl")] == ids
    # before any step the projector is zero: L2S says exactly what its SLM says
    assert [r["prediction"] for r in rows(folder / "l2s" / "step-000000.jsonl")] == \
           [r["prediction"] for r in rows(folder / "slm" / "step-000000.jsonl")]
    task = get_task(str(curve_suite.parent / "tiny-kjv.yaml"))
    assert ids == [s["id"] for s in task.samples("valid", 4)]  # the seeded subset of the curve split


def test_report_draws_the_curves_and_names_the_crossing(curve_run, tmp_path):
    out = tmp_path / "report"
    assert main(["report", str(curve_run), "--out", str(out)]) == 0
    assert (out / "curve_tiny-kjv.png").stat().st_size > 10_000 and (out / "curve_tiny-kjv.svg").exists()
    md = (out / "leaderboard.md").read_text()
    assert "![Learning curves: tiny-kjv](curve_tiny-kjv.png)" in md
    assert "chrf on valid (n=4) at each step; bar: trivial (copy source)" in md
    for name in TRAINED:
        assert f"- {name}: above the bar from step" in md or f"- {name}: not above the bar up to step 4" in md
    assert "Learning curves" in (out / "leaderboard.html").read_text()


def test_resuming_a_finished_curve_run_infers_nothing(curve_suite, curve_run, tmp_path, monkeypatch):
    run = tmp_path / "results" / "c"
    shutil.copytree(curve_run, run)
    monkeypatch.setenv("L2S_BENCH_CACHE", str(curve_suite.parent / "cache"))

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may be loaded or trained here")

    for module in (l2s_bench.runner.run, l2s_bench.runner.curves, l2s_bench.models):
        monkeypatch.setattr(module, "get_adapter", refuse)
    monkeypatch.setattr(train, "train", refuse)
    monkeypatch.setattr(LLM2SLMAdapter, "wrap", refuse)
    assert main(["run", str(curve_suite), "--results-dir", str(run.parent), "--run-id", "c", "--resume"]) == 0
    assert load(run)["curves"] == load(curve_run)["curves"]


def test_a_training_finished_before_the_run_gets_one_point_its_final_checkpoint(curve_suite, curve_run, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("L2S_BENCH_CACHE", str(curve_suite.parent / "cache"))
    monkeypatch.setattr(train, "train", lambda *a, **k: pytest.fail("the trainings are finished"))
    assert main(["run", str(curve_suite), "--results-dir", str(tmp_path), "--run-id", "again"]) == 0
    curve = load(tmp_path / "again")["curves"]["tiny-kjv"]
    first = load(curve_run)["curves"]["tiny-kjv"]
    assert curve["llm"] == first["llm"]  # same items, same LLM: same line
    for name in TRAINED:
        (point,) = curve["systems"][name]["points"]  # no curve can be invented: the final checkpoint only
        last = first["systems"][name]["points"][-1]
        assert (point["step"], point["tokens"]) == (last["step"], last["tokens"])
        assert point["value"] == last["value"]  # the in-memory model at the last step is the saved one
        assert "missing" not in curve["systems"][name]
    assert not (tmp_path / "again" / "samples" / "tiny-kjv" / "curve" / "l2s" / "step-000000.jsonl").exists()


# --------------------------------------------------------------------------------------- the suite setting


def test_curves_need_in_process_training(tmp_path):
    path = tmp_path / "s.yaml"
    raw = {"suite": "s", "tasks": ["kjv-web"], "train_jobs": 2,
           "systems": {"llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": "x"}},
                       "slm": {"role": "slm", "train": "configs/{task}/slm.yaml"}}}
    path.write_text(yaml.safe_dump(raw))
    assert load_suite(path).curve.every == 0  # off by default: parallel trainings are fine
    path.write_text(yaml.safe_dump({**raw, "curve": {"every": 50}}))
    with pytest.raises(BenchError, match="curve.every needs train_jobs: 1"):
        load_suite(path)
    path.write_text(yaml.safe_dump({**raw, "train_jobs": 1, "curve": {"every": 50}}))
    assert load_suite(path).curve.every == 50 and load_suite("long").curve.every == 100
