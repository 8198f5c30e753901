"""`bench.assemble` on a hand-made run folder (no model): several trivial systems with the stronger as
the bar, per-slice scores from the slice values stored in the manifest, and verdicts for every role."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import bench.report as report
from bench.assemble import assemble
from bench.results import entry, write_json
from bench.samples import SampleStore, sample_key
from bench.summary import console_table
from bench.tasks import load_task_file

FIXTURES = Path(__file__).parent / "fixtures"


def _task(tmp_path: Path) -> Path:
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump({
        "task": "mix", "family": "instruction", "dataset": {"path": str(FIXTURES / "instruct-mix")},
        "fields": {"source": "instruction", "reference": "response", "id": "id"},
        "prompts": {"decoder": "{instruction}"}, "metrics": [{"name": "rougeL"}, {"name": "chrf"}],
        "trivial": ["copy_source", "lead_words"], "slices": "kind"}))
    return path


def _run(tmp_path: Path, slices: bool = True) -> Path:
    """A run folder as `l2s-bench run` leaves it, with made-up predictions: the LLM and the fine-tuned LLM
    answer with the reference, the SLM copies the instruction (exactly what trivial-copy_source does)."""
    task_file = _task(tmp_path)
    task = load_task_file(task_file)
    samples = task.samples("test")
    run = tmp_path / "run"
    write_json({"suite": {"suite": "t", "tasks": [str(task_file)], "quality": {"n_bootstrap": 50},
                          "speed": {"enabled": False},
                          "systems": {"llm": {"role": "llm", "adapter": "hf-causal"}}},
                "run_id": "run", "provenance": {"device": {"name": "cpu"}}}, run / "suite.json")
    refs = [s["reference"] for s in samples]
    sources = [s["source"] for s in samples]
    systems = {"trivial-copy_source": ("trivial", {"rule": "copy_source"}, sources),
               "trivial-lead_words": ("trivial", {"rule": "lead_words", "k": 2, "k_from": "made up"},
                                      [" ".join(s.split()[:2]) for s in sources]),
               "llm": ("llm", {}, refs), "ft": ("llm-ft", {}, refs), "slm": ("slm", {}, sources),
               "assisted": ("assisted", {}, None)}
    manifest = {"task": "mix", "split": "test", "data_dir": None, "data_sha256": "0" * 64,
                "ids": [s["id"] for s in samples], **(task.item_notes(samples, "test") if slices else {}),
                "systems": {}}
    for name, (role, args, preds) in systems.items():
        manifest["systems"][name] = {"role": role, "adapter": role, "args": args, "hash": f"h-{name}", "weights": None}
        if preds is not None:
            SampleStore(run / "samples" / "mix" / f"{name}.jsonl").append(
                [{"key": sample_key("mix", s["id"], f"h-{name}"), "prediction": p, "reference": s["reference"]}
                 for s, p in zip(samples, preds)])
    write_json(manifest, run / "samples" / "mix" / "_manifest.json")
    return run


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    return assemble(_run(tmp_path_factory.mktemp("assemble")))


def test_every_system_gets_its_verdict_against_the_stronger_trivial_bar(results):
    copy, lead = entry(results, "mix", "trivial-copy_source"), entry(results, "mix", "trivial-lead_words")
    stronger = max((copy, lead), key=lambda e: e["quality"]["rougeL"]["value"])["system"]
    assert lead["trivial_rule"] == {"rule": "lead_words", "k": 2, "k_from": "made up"}
    assert "vs_trivial" not in copy and "learned" not in lead
    llm, ft, slm, assisted = (entry(results, "mix", s) for s in ("llm", "ft", "slm", "assisted"))
    assert llm["vs_trivial"]["verdict"] == "above trivial" and llm["learned"] is None
    assert ft["vs_trivial"]["verdict"] == "learned" and ft["learned"] is True
    assert "p_vs_llm" in ft["quality"]["rougeL"]  # llm-ft is compared with the LLM like any other system
    assert slm["vs_trivial"]["verdict"] == "not learned" and slm["learned"] is False
    assert assisted["vs_trivial"] == llm["vs_trivial"] and assisted["learned"] is None  # lossless: the LLM's
    assert {e["vs_trivial"]["bar"] for e in (llm, ft, slm)} == {stronger}


def test_each_slice_is_scored_with_its_own_bar(results):
    assert results["tasks"]["mix"]["slices"] == ["answer", "define", "modernize", "summarize"]
    assert results["tasks"]["mix"]["slice_field"] == "kind" and results["tasks"]["mix"]["trivial"] == ["copy_source", "lead_words"]
    slm = entry(results, "mix", "slm")
    assert sum(part["n"] for part in slm["slices"].values()) == slm["n"] == 40
    for kind, part in slm["slices"].items():
        assert set(part) == {"n", "quality", "learned", "vs_trivial"}
        assert part["quality"]["rougeL"]["ci"] and "p_vs_llm" in part["quality"]["chrf"]
        assert part["vs_trivial"]["verdict"] == "not learned", kind
    assert entry(results, "mix", "assisted")["slices"]["define"]["vs_trivial"] == \
        entry(results, "mix", "llm")["slices"]["define"]["vs_trivial"]
    assert set(entry(results, "mix", "trivial-copy_source")["slices"]["define"]) == {"n", "quality"}


def test_slices_show_in_the_console_table_and_the_reports(results):
    text = console_table(results)
    assert "  slice kind=modernize, n=10" in text and "NOT LEARNED (not above the trivial bar; not results): mix/slm" in text
    assert "BELOW TRIVIAL" not in text
    md = report.markdown([results])
    assert "Per slice (kind)" in md and "| modernize | slm | slm | 10 |" in md
    assert "slice" in report.frame([results]).columns


def test_an_older_run_without_stored_slice_values_is_scored_without_slices(tmp_path, caplog):
    results = assemble(_run(tmp_path, slices=False))
    assert "slices" not in results["tasks"]["mix"] and "slices" not in entry(results, "mix", "slm")
    assert "stored no slice values" in caplog.text
