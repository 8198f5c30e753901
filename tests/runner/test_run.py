"""`l2s-bench run` / `score` on a tiny suite: the tiny llama as the LLM, its 1-layer SLM and L2S trained
for a few steps, speculative decoding, on a task YAML over the committed kjv-web fixture. End to end, a
SIGKILL mid-quality-pass resumed to the same results, reruns, re-scoring and a failing speed backend."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from l2s_bench.cli import main
from l2s_bench.config import config_hash
from l2s_bench.errors import BenchError
from l2s_bench.method import train
from l2s_bench import folder_lock
import l2s_bench.models
import l2s_bench.runner.provenance
from l2s_bench.runner.results import entry, load
import l2s_bench.runner.run
from l2s_bench.runner.samples import SampleStore
from conftest import tiny_training, write_tiny_task

FIXTURES = Path(__file__).parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]
LIMIT = 8
SYSTEMS = ("trivial", "llm", "slm", "l2s", "assisted")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bench_root(tiny, tmp_path_factory):
    """A task YAML, two training configs and a suite YAML, with both systems trained once for the module."""
    root = tmp_path_factory.mktemp("bench")
    task = write_tiny_task(root, max_new_tokens=8)
    for system in ("slm", "l2s"):
        folder = root / "configs" / "tiny-kjv"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{system}.yaml").write_text(yaml.safe_dump(tiny_training(
            tiny["llama"], task, steps=2, system=system, out=str(root / "runs" / system))))
    suite = root / "tiny.yaml"
    suite.write_text(yaml.safe_dump({
        "suite": "tiny", "device": "cpu", "threads": 1, "tasks": [str(task)],
        "systems": {"llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": tiny["llama"]}},
                    "slm": {"role": "slm", "train": str(root / "configs" / "{task}" / "slm.yaml")},
                    "l2s": {"role": "l2s", "train": str(root / "configs" / "{task}" / "l2s.yaml")},
                    "assisted": {"role": "assisted", "target": "llm", "assistant": "slm"}},
        "quality": {"limit": LIMIT, "batch_size": 2, "n_bootstrap": 50},
        "speed": {"n": 2, "max_new_tokens": 4, "warmup": 0, "min_runs": 2, "min_seconds": 0, "n_bootstrap": 50}}))
    with pytest.MonkeyPatch.context() as patch:  # the module-scoped training must not touch the real cache
        patch.setenv("L2S_BENCH_CACHE", str(root / "cache"))
        for system in ("slm", "l2s"):
            train.train(root / "configs" / "tiny-kjv" / f"{system}.yaml")
    return root


@pytest.fixture(scope="module")
def reference(bench_root, tmp_path_factory):
    """One uninterrupted run through the CLI; tests copy it before changing it."""
    results = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("L2S_BENCH_CACHE", str(bench_root / "cache"))
        assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(results), "--run-id", "ref"]) == 0
    return results / "ref"


SAMPLE_FIELDS = ("key", "task", "id", "index", "system", "prompt_sha", "prediction", "reference", "new_tokens",
                 "batch_size")  # all but batch_ms, a wall time


def copy_run(reference: Path, tmp_path: Path) -> Path:
    run = tmp_path / "results" / reference.name
    shutil.copytree(reference, run)
    return run


def sample_rows(run: Path, system: str) -> list[dict]:
    path = run / "samples" / "tiny-kjv" / f"{system}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def quality(data: dict) -> dict:
    return {e["system"]: (e["quality"], e.get("empty_predictions"), e.get("learned"), e.get("vs_trivial"))
            for e in data["results"]}


def forbid_inference(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("no model may be loaded here")

    monkeypatch.setattr(l2s_bench.runner.run, "get_adapter", refuse)
    monkeypatch.setattr(l2s_bench.models, "get_adapter", refuse)
    monkeypatch.setattr(train, "train", refuse)


# --------------------------------------------------------------------------------------- end to end


def test_end_to_end(reference):
    data = load(reference)
    assert data["suite"] == "tiny" and data["run_id"] == "ref"
    assert data["tasks"] == {"tiny-kjv": {"split": "test", "n": LIMIT, "primary_metric": "chrf",
                                          "metrics": ["chrf", "bleu"], "higher_is_better": True,
                                          "trivial": "copy_source", "data_dir": None}}
    assert all(e["task"] == "tiny-kjv" for e in data["results"])
    assert sorted(e["system"] for e in data["results"]) == sorted(SYSTEMS)
    roles = {e["system"]: e["role"] for e in data["results"]}
    assert roles == {s: s for s in SYSTEMS}

    for e in data["results"]:
        assert e["n"] == LIMIT and e["config_hash"] and "model_hash" not in e
        for metric in ("chrf", "bleu"):
            q = e["quality"][metric]
            if e["role"] == "assisted":  # lossless: the LLM's value, no CI of its own
                llm_q = next(x for x in data["results"] if x["role"] == "llm")["quality"][metric]
                assert q["value"] == llm_q["value"] and q["ci"] is None and q["same_as_llm"]
            else:
                assert q["ci"][0] <= q["value"] <= q["ci"][1]
            assert q["signature"].startswith("nrefs:1|bs:50|seed:12345|")
            assert ("p_vs_llm" in q) is (e["role"] not in ("llm", "assisted"))
            assert ("p_vs_slm" in q) is (e["role"] == "l2s")
        assert ("vs_trivial" in e) is (e["role"] != "trivial")
        assert (e.get("learned") is not None) is (e["role"] in ("slm", "l2s"))  # the LLM: above/below trivial
        if e["role"] != "trivial":
            assert e["vs_trivial"]["bar"] == "trivial" and 0 < e["vs_trivial"]["p_vs_trivial"] <= 1
        if e["role"] == "trivial":
            assert e["speed"] is None and e["speedup_vs_llm"] is None and e["backends"] == {}
            continue
        speed = e["speed"]
        assert set(speed["latency_ms"]) >= {"median", "p90", "p99"}
        assert speed["latency_ms"]["median"] <= speed["latency_ms"]["p90"] <= speed["latency_ms"]["p99"]
        for key in ("ttft_ms", "tpot_ms", "tokens_per_s"):
            assert speed[key] > 0, key
        assert speed["peak_mem_mb"]["rss"] > 0
        assert speed["n_samples"] == 2 and speed["new_tokens"] == 4 and speed["backend"] == "eager"
        assert e["backends"]["eager"]["speed"] == speed
        assert e["speedup_vs_llm"]["value"] > 0
    llm, l2s = entry(data, "tiny-kjv", "llm"), entry(data, "tiny-kjv", "l2s")
    assert llm["speedup_vs_llm"]["value"] == 1.0 and llm["speedup_vs_llm"]["ci"] == [1.0, 1.0]
    assert {"llm_encode", "projector", "slm_decode"} <= set(l2s["speed"]["stages_ms"])
    assisted = entry(data, "tiny-kjv", "assisted")
    assert assisted["quality_from"] == "llm"
    assert assisted["agreement_with_llm"] == {"same": 2, "n": 2, "backend": "eager"}  # greedy: lossless
    counters = assisted["speed"]["counters"]
    assert counters["tokens_per_llm_forward"] == round(counters["generated_tokens"] / counters["llm_forwards"], 3) >= 1
    assert "counters" not in entry(data, "tiny-kjv", "llm")["speed"]

    prov = data["provenance"]
    assert {"sha", "dirty"} <= set(prov["git"]) and prov["torch"] == torch.__version__
    assert prov["device"]["type"] == "cpu" and prov["device"]["threads"] == 1
    assert len(prov["data"]["tiny-kjv"]) == 64
    assert set(prov["models"]) == {"tiny-kjv/slm", "tiny-kjv/l2s"} and all(len(h) == 64 for h in prov["models"].values())
    assert prov["seeds"] == {"bootstrap": 12345, "generation": 0} and prov["suite_config"]["suite"] == "tiny"
    assert prov["statistics"] == {"n_bootstrap": 50, "seed": 12345, "paired_test": "sacrebleu",
                                  "clusters": {"tiny-kjv": None}}

    # every stored sample is there once, in the manifest's order
    manifest = json.loads((reference / "samples" / "tiny-kjv" / "_manifest.json").read_text())
    assert len(manifest["ids"]) == LIMIT
    trivial = manifest["systems"]["trivial"]  # one rule: named and hashed as before there could be several
    assert trivial["args"] == {"rule": "copy_source"} and trivial["hash"] == config_hash({"trivial": "copy_source"})
    assert "slices" not in manifest and "max_words" not in manifest and "clusters" not in manifest
    for system in ("trivial", "llm", "slm", "l2s"):
        rows = sample_rows(reference, system)
        assert [r["id"] for r in rows] == manifest["ids"] and len({r["key"] for r in rows}) == LIMIT
    assert not (reference / "samples" / "tiny-kjv" / "assisted.jsonl").exists()  # its quality is the LLM's



def test_rows_record_each_prompt_and_results_count_the_truncated(reference):
    """The quality pass stores what `encode` says about each prompt (tokens read, cut or not) beside the
    sample, outside its key; results.json counts the truncated prompts per entry."""
    data = load(reference)
    for system in ("llm", "slm", "l2s"):
        rows = sample_rows(reference, system)
        assert all(isinstance(r["prompt_tokens"], int) and r["prompt_tokens"] > 0 for r in rows)
        assert all(isinstance(r["prompt_truncated"], bool) for r in rows)
        e = entry(data, "tiny-kjv", system)
        assert e["prompts_truncated"] == sum(r["prompt_truncated"] for r in rows)
        lengths = [r["prompt_tokens"] for r in rows]
        assert e["prompt_tokens"] == {"max": max(lengths), "mean": round(sum(lengths) / len(lengths), 1)}
    assert not any("prompt_tokens" in r for r in sample_rows(reference, "trivial"))  # reads no prompt
    assert "prompts_truncated" not in entry(data, "tiny-kjv", "trivial")
    assert entry(data, "tiny-kjv", "assisted")["prompts_truncated"] is None  # no quality pass of its own


def test_prompt_notes_record_only_what_an_adapter_reports():
    from l2s_bench.models.base import Encoded
    from l2s_bench.runner.run import prompt_notes

    assert prompt_notes(Encoded({}, [5, 9], [False, True]), 2) == [
        {"prompt_tokens": 5, "prompt_truncated": False}, {"prompt_tokens": 9, "prompt_truncated": True}]
    assert prompt_notes(Encoded({}, [5, 9]), 2) == [{"prompt_tokens": 5}, {"prompt_tokens": 9}]  # cut unknown
    assert prompt_notes(Encoded({}, []), 2) == [{}, {}]

# --------------------------------------------------------------------------------------- kill and resume

SLOW_RUN = """
import sys, time
from l2s_bench.runner import samples

append = samples.SampleStore.append


def slow(self, rows):  # a window between stored batches for the test to kill in
    append(self, rows)
    time.sleep(0.4)


samples.SampleStore.append = slow
from l2s_bench.cli import main

sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_mid_quality_pass_then_resume_equals_an_uninterrupted_run(bench_root, reference, tmp_path):
    results = tmp_path / "results"
    run = results / "killed"
    env = {**os.environ, "L2S_BENCH_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = tmp_path / "killed.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", SLOW_RUN, "run", str(bench_root / "tiny.yaml"),
                                 "--results-dir", str(results), "--run-id", "killed"],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 120
        try:
            while True:  # a model's quality pass has stored a batch and has more to do
                rows = [len(sample_rows(run, s)) for s in ("llm", "slm", "l2s")]
                if any(0 < n < LIMIT for n in rows):
                    break
                assert proc.poll() is None, f"the run ended before it could be killed: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "the run never stored a sample"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "results.json").exists()
    kept = {s: SampleStore(run / "samples" / "tiny-kjv" / f"{s}.jsonl").rows for s in ("llm", "slm", "l2s")}
    assert any(len(rows) < LIMIT for rows in kept.values()), {s: len(rows) for s, rows in kept.items()}

    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(results), "--run-id", "killed"]) == 2
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(results), "--run-id", "killed",
                 "--resume"]) == 0
    for system, rows in kept.items():  # what was stored before the kill was kept, not generated again
        assert all(r in sample_rows(run, system) for r in rows.values())
    for system in ("trivial", "llm", "slm", "l2s"):
        resumed, whole = sample_rows(run, system), sample_rows(reference, system)
        assert len(resumed) == len({r["key"] for r in resumed}) == LIMIT, f"{system}: duplicates or missing"
        by_key = {r["key"]: r for r in whole}
        assert set(by_key) == {r["key"] for r in resumed}
        for r in resumed:
            assert {f: r[f] for f in SAMPLE_FIELDS} == {f: by_key[r["key"]][f] for f in SAMPLE_FIELDS}
    a, b = load(run), load(reference)
    assert quality(a) == quality(b)
    assert all(e["speed"] is not None for e in a["results"] if e["role"] != "trivial")


# --------------------------------------------------------------------------------------- data parallel


def rank_env(bench_root: Path, cache: Path) -> dict:
    return {**os.environ, "L2S_BENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def assert_same_run(run: Path, reference: Path) -> None:
    """Every stored prediction, in the file's order, and every score equal the reference's."""
    for system in ("trivial", "llm", "slm", "l2s"):
        got, want = sample_rows(run, system), sample_rows(reference, system)
        assert [{f: r[f] for f in SAMPLE_FIELDS} for r in got] == [{f: r[f] for f in SAMPLE_FIELDS} for r in want], system
    assert quality(load(run)) == quality(load(reference))
    assert not (run / "samples" / "tiny-kjv" / "_shards").exists() or \
        not any((run / "samples" / "tiny-kjv" / "_shards").iterdir())


def test_two_processes_give_one_process_predictions_and_metrics(bench_root, reference, tmp_path, monkeypatch):
    """--processes 2 (torchrun, gloo): the quality pass's batches dealt out between the ranks, merged in
    manifest order; speed on rank 0; results.json once."""
    for key, value in rank_env(bench_root, bench_root / "cache").items():
        monkeypatch.setenv(key, value)
    results = tmp_path / "results"
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(results), "--run-id", "two",
                 "--processes", "2"]) == 0
    run = results / "two"
    assert_same_run(run, reference)
    data = load(run)
    assert data["sittings"][-1]["processes"] == 2
    assert all(e["speed"] is not None for e in data["results"] if e["role"] != "trivial")
    with pytest.raises(SystemExit) as exit_:  # argparse: a whole number >= 1
        main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(results), "--run-id", "two", "--processes", "0"])
    assert exit_.value.code == 2


def test_a_rank_killed_mid_pass_resumes_to_the_same_results(bench_root, reference, tmp_path):
    results, script = tmp_path / "results", tmp_path / "slow_run.py"
    run = results / "killed2"
    script.write_text(SLOW_RUN)
    argv = ["run", str(bench_root / "tiny.yaml"), "--results-dir", str(results), "--run-id", "killed2"]
    env = rank_env(bench_root, tmp_path / "cache")
    shards = run / "samples" / "tiny-kjv" / "_shards"
    log = tmp_path / "torchrun.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                                 str(script), *argv], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        try:
            while not any(len(SampleStore(p)) for p in (shards.glob("*.rank1.jsonl") if shards.exists() else [])):
                assert proc.poll() is None, f"the run ended before a rank could be killed: {log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "rank 1 never stored a sample"
                time.sleep(0.02)
            ranks = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            rank1 = [pid for pid in ranks if "--local-rank=1" in Path(f"/proc/{pid}/cmdline").read_text()
                     or Path(f"/proc/{pid}/environ").read_bytes().find(b"LOCAL_RANK=1\0") >= 0]
            assert rank1, ranks
            os.kill(int(rank1[0]), signal.SIGKILL)
            proc.wait(timeout=120)  # torchrun stops the other rank and fails
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and not (run / "results.json").exists()
    kept = {p.name: SampleStore(p).rows for p in shards.glob("*.jsonl")}
    assert kept, "the killed run left no samples shard"
    env_resume = {"L2S_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "l2s_bench.cli", *argv, "--resume", "--processes", "2"], cwd=tmp_path,
                          env={**env, **env_resume}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, rows in kept.items():  # what the killed ranks stored was kept, not generated again
        system = name.split(".rank")[0]
        assert all(r in sample_rows(run, system) for r in rows.values()), name
    assert_same_run(run, reference)


# --------------------------------------------------------------------------------------- rerun, resume, score


def test_rerun_needs_resume_and_resuming_a_finished_run_infers_nothing(bench_root, reference, tmp_path, monkeypatch,
                                                                        capsys, caplog):
    run = copy_run(reference, tmp_path)
    suite = str(bench_root / "tiny.yaml")
    before = {p.name: p.read_bytes() for p in (run / "samples" / "tiny-kjv").glob("*.jsonl")}
    assert main(["run", suite, "--results-dir", str(run.parent), "--run-id", "ref"]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "already holds a run" in err
    assert load(run) == load(reference), "a refused rerun must not touch the run"

    forbid_inference(monkeypatch)
    caplog.set_level(logging.INFO, logger="l2s_bench.runner.run")
    assert main(["run", suite, "--results-dir", str(run.parent), "--run-id", "ref", "--resume"]) == 0
    reused = [r.getMessage() for r in caplog.records if "finished earlier" in r.getMessage()]
    assert sorted(reused) == sorted(f"tiny-kjv/{s}: finished earlier; reusing it" for s in SYSTEMS[1:])
    after = {p.name: p.read_bytes() for p in (run / "samples" / "tiny-kjv").glob("*.jsonl")}
    assert after == before
    a, b = load(run), load(reference)
    assert quality(a) == quality(b)
    assert [e["speed"] for e in a["results"]] == [e["speed"] for e in b["results"]]  # reused, not re-measured


def test_a_sitting_with_a_subset_of_systems_keeps_the_others_scored(bench_root, reference, tmp_path, monkeypatch):
    run = copy_run(reference, tmp_path)
    forbid_inference(monkeypatch)
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(run.parent), "--run-id", "ref",
                 "--resume", "--systems", "llm,slm"]) == 0
    a, b = load(run), load(reference)
    assert [e["system"] for e in a["results"]] == [e["system"] for e in b["results"]]
    assert quality(a) == quality(b)  # l2s and assisted, not in this sitting, are still scored from their samples
    (run / "samples" / "tiny-kjv" / "l2s.jsonl").unlink()  # a kept system needs its samples
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(run.parent), "--run-id", "ref",
                 "--resume", "--systems", "llm,slm"]) == 0
    assert "l2s" not in {e["system"] for e in load(run)["results"]}


def test_each_sitting_records_its_code_and_report_and_gate_say_when_a_run_mixes_versions(
        bench_root, reference, tmp_path, monkeypatch, capsys):
    from l2s_bench.report.rows import metadata

    run = copy_run(reference, tmp_path)
    first = load(run)
    assert first["sittings"][0]["git"] == first["provenance"]["git"] and first["sittings"][0]["packages"]
    assert first["provenance"]["code"]["sittings"] == 1 and not first["provenance"]["code"]["mixed"]
    forbid_inference(monkeypatch)
    monkeypatch.setattr(l2s_bench.runner.provenance, "git_state", lambda: {"sha": "f" * 40, "dirty": True})
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(run.parent), "--run-id", "ref",
                 "--resume"]) == 0
    data = load(run)
    code = data["provenance"]["code"]
    assert [s["git"]["sha"] for s in data["sittings"]] == [first["provenance"]["git"]["sha"], "f" * 40]
    assert code["mixed"] and code["dirty"] >= 1 and code["shas"][-1] == "f" * 40
    assert "MIXED code: 2 commits" in metadata(data)["code"] and "from a DIRTY tree" in metadata(data)["code"]
    baseline = tmp_path / "base.json"
    assert main(["check", str(run), "--baseline", str(baseline), "--update-baseline"]) == 0
    capsys.readouterr()
    assert main(["check", str(run), "--baseline", str(baseline)]) == 0  # the numbers pass; the reader is told
    assert f"note: run ref: 2 sittings; MIXED code: 2 commits" in capsys.readouterr().out
    del data["provenance"]["code"]  # results from before sittings recorded their code
    assert metadata(data)["code"] == "not recorded per sitting (results from before 2026-12-08)"


def test_a_sitting_with_a_subset_of_tasks_keeps_the_others_scored(bench_root, reference, tmp_path, monkeypatch):
    run = copy_run(reference, tmp_path)
    other = tmp_path / "tiny-other.yaml"  # a second task given by its path, as the first was
    other.write_text((bench_root / "tiny-kjv.yaml").read_text().replace("task: tiny-kjv", "task: tiny-other"))
    suite = yaml.safe_load((bench_root / "tiny.yaml").read_text())
    suite["tasks"] = [str(other)]
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(suite))
    monkeypatch.setenv("L2S_BENCH_CACHE", str(bench_root / "cache"))
    assert main(["run", str(path), "--results-dir", str(run.parent), "--run-id", "ref", "--resume", "--systems",
                 "llm", "--no-speed"]) == 0
    a, b = load(run), load(reference)
    assert set(a["tasks"]) == {"tiny-other", "tiny-kjv"}
    assert quality({**a, "results": [e for e in a["results"] if e["task"] == "tiny-kjv"]}) == quality(b)
    assert {e["system"] for e in a["results"] if e["task"] == "tiny-other"} == {"trivial", "llm"}


def test_resumed_on_another_machine_reuses_samples_but_measures_its_own_speed(bench_root, reference, tmp_path,
                                                                               monkeypatch):
    run = copy_run(reference, tmp_path)
    before = {p.name: p.read_bytes() for p in (run / "samples" / "tiny-kjv").glob("*.jsonl")}
    real = l2s_bench.runner.provenance.machine
    monkeypatch.setattr(l2s_bench.runner.provenance, "machine", lambda: {**real(), "host": "elsewhere"})
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(run.parent), "--run-id", "ref",
                 "--resume"]) == 0
    after = {p.name: p.read_bytes() for p in (run / "samples" / "tiny-kjv").glob("*.jsonl")}
    assert after == before  # predictions are a function of system and item: reused
    for path in (run / "speed" / "tiny-kjv").glob("*.json"):
        assert json.loads(path.read_text())["settings"]["machine"]["host"] == "elsewhere"
    assert quality(load(run)) == quality(load(reference))


def test_unknown_system_subset_is_refused(bench_root, tmp_path, capsys):
    assert main(["run", str(bench_root / "tiny.yaml"), "--results-dir", str(tmp_path), "--systems", "llm,lm"]) == 2
    assert "--systems: lm not in suite tiny" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("change,message", [
    (("adapter", "hf-causl"), "did you mean 'hf-causal'"),
    (("args", {"sorce": "x"}), "unknown argument 'sorce' for hf-causal"),
])
def test_a_misnamed_adapter_or_argument_fails_before_a_run_folder_exists(bench_root, tmp_path, capsys, change,
                                                                         message):
    suite = yaml.safe_load((bench_root / "tiny.yaml").read_text())
    suite["systems"]["llm"][change[0]] = change[1]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_parallel_trainings_run_as_subprocesses_and_a_failure_names_its_log(bench_root, tmp_path, monkeypatch):
    from l2s_bench.runner.suite import load_suite
    from l2s_bench.tasks import get_task

    monkeypatch.setenv("L2S_BENCH_CACHE", str(bench_root / "cache"))
    raw = yaml.safe_load((bench_root / "tiny.yaml").read_text())
    raw["train_jobs"] = 2
    for name in ("slm", "l2s"):
        raw["systems"][name]["overrides"] = {"out": str(tmp_path / "runs" / name)}
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(raw))
    suite, task = load_suite(path), get_task(str(bench_root / "tiny-kjv.yaml"))
    l2s_bench.runner.run.train_missing(suite, [task], tmp_path / "logs")
    for name in ("slm", "l2s"):
        d = suite.for_task(task.task)[name]
        assert train.finished(d.train, overrides=d.overrides) == tmp_path / "runs" / name / "final"
        assert (tmp_path / "logs" / f"train-tiny-kjv-{name}.log").exists()
    raw["systems"]["slm"]["overrides"] = {"out": str(tmp_path / "runs" / "again")}  # two jobs: subprocesses
    raw["systems"]["l2s"]["overrides"] = {"out": str(tmp_path / "runs" / "busy")}
    path.write_text(yaml.safe_dump(raw))
    held = folder_lock.hold(tmp_path / "runs" / "busy", "training")  # another trains there: the subprocess fails
    with pytest.raises(BenchError, match=r"training tiny-kjv-l2s failed \(exit 2\); log tail") as err:
        l2s_bench.runner.run.train_missing(load_suite(path), [task], tmp_path / "logs")
    held.close()
    assert "is in use by another process" in str(err.value) and "rerun with --resume" in str(err.value)


def test_the_suite_device_and_data_dir_reach_training_where_the_config_differs(bench_root, tmp_path):
    from l2s_bench.runner.suite import load_suite

    raw = yaml.safe_load((bench_root / "tiny.yaml").read_text())
    same = load_suite(bench_root / "tiny.yaml")  # cpu, no data_dir: what the configs say already
    assert l2s_bench.runner.run.for_training(same, "tiny-kjv")["slm"].overrides == same.for_task("tiny-kjv")["slm"].overrides
    raw.update(device="cuda", data_dir="elsewhere/{task}")
    raw["systems"]["l2s"]["overrides"] = {"train": {"device": "cpu"}}  # a system's own override wins
    path = tmp_path / "gpu.yaml"
    path.write_text(yaml.safe_dump(raw))
    defs = l2s_bench.runner.run.for_training(load_suite(path), "tiny-kjv")
    assert defs["slm"].overrides == {"train": {"device": "cuda"}, "data": {"data_dir": "elsewhere/tiny-kjv"}}
    assert defs["l2s"].overrides == {"train": {"device": "cpu"}, "data": {"data_dir": "elsewhere/tiny-kjv"}}
    assert "overrides" not in raw["systems"]["llm"] and defs["llm"].overrides == {}


def test_one_training_config_serves_every_trained_role(bench_root, tmp_path, monkeypatch):
    """A task's config without `system` and `out`: the suite's roles fill them in, the result trains and
    hashes exactly as a per-role file would, and `train --role` does the same from the command line."""
    from l2s_bench.runner.suite import load_suite

    explicit = yaml.safe_load((bench_root / "configs" / "tiny-kjv" / "slm.yaml").read_text())
    shared = tmp_path / "tiny-kjv.yaml"
    shared.write_text(yaml.safe_dump({k: v for k, v in explicit.items() if k not in ("system", "out")}))
    raw = yaml.safe_load((bench_root / "tiny.yaml").read_text())
    raw["systems"] = {"llm": raw["systems"]["llm"], **{name: {"role": role, "train": str(shared)} for name, role in
                                                      (("slm", "slm"), ("l2s", "l2s"), ("ft", "llm-ft"))}}
    raw["systems"]["slm"]["overrides"] = {"out": explicit["out"]}
    path = tmp_path / "one-config.yaml"
    path.write_text(yaml.safe_dump(raw))
    defs = l2s_bench.runner.run.for_training(load_suite(path), "tiny-kjv")
    assert defs["slm"].overrides == {"system": "slm", "out": explicit["out"]}
    assert defs["l2s"].overrides == {"system": "l2s", "out": "runs/tiny-kjv/l2s"}
    assert defs["ft"].overrides == {"system": "llm-lora", "out": "runs/tiny-kjv/ft"}
    # the SLM is the module's, trained from the per-role file: found finished under the shared config
    monkeypatch.setenv("L2S_BENCH_CACHE", str(bench_root / "cache"))
    assert train.finished(shared, overrides=defs["slm"].overrides) == Path(explicit["out"]) / "final"
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(shared), "--samples", "0"]) == 2  # no role, no system: one message
    assert main(["train", str(shared), "--role", "slm", "--samples", "0", "--set",
                 json.dumps({"train": {"steps": 1, "save_every": 1}})]) == 0
    assert (tmp_path / "runs" / "tiny-kjv" / "slm" / "final" / "l2s.json").exists()


def test_two_slm_sizes_each_l2s_scored_against_its_own_size(bench_root, tmp_path, monkeypatch, capsys):
    """A suite with the 1-layer SLM and L2S and a 2-layer pair: each L2S's p vs SLM is against the SLM of
    its size, the manifest and results say which, and pairing an L2S with an SLM of another size fails."""
    monkeypatch.setenv("L2S_BENCH_CACHE", str(bench_root / "cache"))
    raw = yaml.safe_load((bench_root / "tiny.yaml").read_text())
    two = {"slm": {"layers": 2}, "out": str(tmp_path / "runs" / "{name}")}
    raw["systems"] = {"llm": raw["systems"]["llm"], "slm": raw["systems"]["slm"], "l2s": raw["systems"]["l2s"]}
    for role in ("slm", "l2s"):
        raw["systems"][f"{role}-2"] = {**raw["systems"][role], "overrides": {**two, "out": str(tmp_path / "runs" / role)}}
    raw["systems"]["l2s"]["baseline"] = "slm"
    raw["systems"]["l2s-2"]["baseline"] = "slm-2"
    path = tmp_path / "sizes.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results"), "--run-id", "sizes", "--no-speed",
                 "--limit", "4"]) == 0
    data = load(tmp_path / "results" / "sizes")
    by = {e["system"]: e for e in data["results"]}
    assert by["l2s"]["baseline"] == "slm" and by["l2s-2"]["baseline"] == "slm-2" and "baseline" not in by["slm-2"]
    assert by["slm-2"]["trained"]["layers"] == by["l2s-2"]["trained"]["layers"] == 2
    assert by["l2s"]["trained"]["layers"] == 1
    assert all("p_vs_slm" in by[s]["quality"]["chrf"] for s in ("l2s", "l2s-2"))
    raw["systems"]["l2s-2"]["baseline"] = "slm"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--results-dir", str(tmp_path / "results"), "--run-id", "mixed", "--no-speed",
                 "--limit", "4"]) == 2
    assert "L2S 'l2s-2' has a 2-layer SLM but its baseline 'slm' 1 layers" in capsys.readouterr().err
    assert not (tmp_path / "results" / "mixed" / "results.json").exists()


def test_score_rescores_from_stored_samples_alone(reference, tmp_path, monkeypatch, capsys):
    run = copy_run(reference, tmp_path)
    (run / "results.json").unlink()
    forbid_inference(monkeypatch)
    assert main(["score", str(run)]) == 0
    assert "tiny-kjv [test] n=8" in capsys.readouterr().out
    a, b = load(run), load(reference)
    assert quality(a) == quality(b)
    assert [e["speed"] for e in a["results"]] == [e["speed"] for e in b["results"]]
    assert a["provenance"]["scored_with"]["sha"] == b["provenance"]["git"]["sha"]

    assert main(["score", str(run), "--n-bootstrap", "20"]) == 0  # what changes a number is in its signature
    chrf = entry(load(run), "tiny-kjv", "l2s")["quality"]["chrf"]
    assert "|bs:20|" in chrf["signature"] and chrf["value"] == entry(b, "tiny-kjv", "l2s")["quality"]["chrf"]["value"]


def test_score_of_a_missing_run_folder_fails_cleanly(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nope")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_incomplete_system_is_reported_not_scored(reference, tmp_path, monkeypatch):
    run = copy_run(reference, tmp_path)
    path = run / "samples" / "tiny-kjv" / "slm.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines()[:3]))
    forbid_inference(monkeypatch)
    assert main(["score", str(run)]) == 0
    slm = entry(load(run), "tiny-kjv", "slm")
    assert slm["quality"] is None and slm["incomplete"] == f"3/{LIMIT}" and "learned" not in slm
    l2s = entry(load(run), "tiny-kjv", "l2s")
    assert "p_vs_slm" not in l2s["quality"]["chrf"] and "p_vs_llm" in l2s["quality"]["chrf"]


# --------------------------------------------------------------------------------------- failing speed backend


def test_a_failing_speed_backend_is_recorded_and_the_run_still_finishes(bench_root, tmp_path, monkeypatch):
    speed_pass = l2s_bench.runner.run.speed_pass

    def failing(adapter, task, items, spec, backend, device, system):
        if system.name == "l2s" and backend == "eager":
            def broken(*args, **kwargs):
                raise RuntimeError("kernel exploded")

            with monkeypatch.context() as patch:
                patch.setattr(adapter, "generate_ids", broken)
                return speed_pass(adapter, task, items, spec, backend, device, system)
        return speed_pass(adapter, task, items, spec, backend, device, system)

    suite, results = str(bench_root / "tiny.yaml"), str(tmp_path / "results")
    with monkeypatch.context() as patch:
        patch.setattr(l2s_bench.runner.run, "speed_pass", failing)
        assert main(["run", suite, "--results-dir", results, "--run-id", "r", "--systems", "llm,l2s",
                     "--backends", "eager,compiled"]) == 0
    run = tmp_path / "results" / "r"
    stored = json.loads((run / "speed" / "tiny-kjv" / "l2s.eager.json").read_text())
    assert stored["error"] == "RuntimeError: kernel exploded" and "summary" not in stored
    data = load(run)
    assert sorted(e["system"] for e in data["results"]) == ["l2s", "llm", "trivial"]
    l2s, llm = entry(data, "tiny-kjv", "l2s"), entry(data, "tiny-kjv", "llm")
    assert l2s["quality"]["chrf"]["value"] is not None  # quality is unaffected
    assert l2s["speed"] is None and l2s["speedup_vs_llm"] is None
    assert l2s["backends"]["eager"] == {"speed": None, "speedup_vs_llm": None, "error": "RuntimeError: kernel exploded"}
    assert "needs CUDA" in l2s["backends"]["compiled"]["error"]  # compiled on a CPU: refused, recorded
    assert llm["speed"]["latency_ms"]["median"] > 0 and llm["speedup_vs_llm"]["value"] == 1.0
    assert llm["backends"]["compiled"]["speed"] is None and "needs CUDA" in llm["backends"]["compiled"]["error"]

    # a failed measurement is not a finished one: --resume measures it again
    assert main(["run", suite, "--results-dir", results, "--run-id", "r", "--systems", "llm,l2s", "--resume"]) == 0
    l2s = entry(load(run), "tiny-kjv", "l2s")
    assert l2s["speed"]["latency_ms"]["median"] > 0 and l2s["speedup_vs_llm"]["value"] > 0
    assert "error" not in json.loads((run / "speed" / "tiny-kjv" / "l2s.eager.json").read_text())


# --------------------------------------------------------------------------------------- trivial rules, slices, budget


def test_several_trivial_rules_slices_and_max_words_reach_the_manifest_and_results(tiny, tmp_path):
    task = tmp_path / "tiny-mix.yaml"
    task.write_text(yaml.safe_dump({
        "task": "tiny-mix", "family": "instruction", "dataset": {"path": str(FIXTURES / "instruct-mix")},
        "fields": {"source": "instruction", "reference": "response", "id": "id"},
        "prompts": {"decoder": "{instruction}"}, "metrics": [{"name": "rougeL"}], "generation": {"max_new_tokens": 4},
        "trivial": ["copy_source", "lead_words"], "slices": "kind", "max_words": 30}))
    suite = tmp_path / "mix.yaml"
    suite.write_text(yaml.safe_dump({
        "suite": "mix", "device": "cpu", "threads": 1, "tasks": [str(task)],
        "systems": {"llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": tiny["llama"]}}},
        "quality": {"limit": 12, "batch_size": 4, "n_bootstrap": 30}, "speed": {"enabled": False}}))
    assert main(["run", str(suite), "--results-dir", str(tmp_path / "results"), "--run-id", "m"]) == 0
    run = tmp_path / "results" / "m"
    manifest = json.loads((run / "samples" / "tiny-mix" / "_manifest.json").read_text())
    train = [json.loads(line) for line in (FIXTURES / "instruct-mix" / "train.jsonl").read_text().splitlines()]
    kept = [len(r["response"].split()) for r in train
            if len(r["instruction"].split()) <= 30 and len(r["response"].split()) <= 30]
    lead = manifest["systems"]["trivial-lead_words"]
    assert lead["args"] == {"rule": "lead_words", "k": sorted(kept)[(len(kept) - 1) // 2],
                            "k_from": f"median words of {len(kept)} train references"}
    assert manifest["systems"]["trivial-copy_source"]["args"] == {"rule": "copy_source"}
    assert manifest["max_words"] == {"limit": 30, "dropped": 10}  # of the fixture's 40 test items
    items = {json.loads(line)["id"]: json.loads(line) for line in (FIXTURES / "instruct-mix" / "test.jsonl").read_text().splitlines()}
    assert manifest["slices"] == {"field": "kind", "values": [items[i]["kind"] for i in manifest["ids"]]}
    rows = sample_rows_of(run, "tiny-mix", "trivial-lead_words")
    assert [r["prediction"] for r in rows] == [" ".join(items[r["id"]]["instruction"].split()[:lead["args"]["k"]]) for r in rows]

    data = load(run)
    assert data["tasks"]["tiny-mix"]["slices"] == sorted(set(manifest["slices"]["values"]))
    assert data["tasks"]["tiny-mix"]["max_words"] == {"limit": 30, "dropped": 10}
    llm = entry(data, "tiny-mix", "llm")
    assert llm["vs_trivial"]["bar"] in ("trivial-copy_source", "trivial-lead_words")
    assert set(llm["slices"]) == set(data["tasks"]["tiny-mix"]["slices"])
    assert entry(data, "tiny-mix", "trivial-lead_words")["trivial_rule"] == lead["args"]


def sample_rows_of(run: Path, task: str, system: str) -> list[dict]:
    return [json.loads(line) for line in (run / "samples" / task / f"{system}.jsonl").read_text().splitlines()]


def test_a_sitting_ending_keeps_the_entries_of_sittings_that_began_after_it(tmp_path):
    """Two sittings on different tasks of one folder at once: the first to end must not drop the
    second's entry, nor the second (ending later) the first's wall time."""
    from l2s_bench.runner.run import _with_sitting

    state = tmp_path / "suite.json"
    a = {"started": "2026-12-04T20:40:00+00:00", "host": "vm", "wall_seconds": None}
    b = {"started": "2026-12-04T20:40:05+00:00", "host": "vm", "wall_seconds": None}
    state.write_text(json.dumps({"sittings": [a, b]}))
    ended_a = _with_sitting(state, {**a, "wall_seconds": 10.0})
    assert [s["wall_seconds"] for s in ended_a] == [10.0, None]
    state.write_text(json.dumps({"sittings": ended_a}))
    ended_b = _with_sitting(state, {**b, "wall_seconds": 20.0})
    assert [s["wall_seconds"] for s in ended_b] == [10.0, 20.0]
