"""`l2s_bench.runner.collect` on a hand-made run folder (no model): several trivial systems with the stronger as
the bar, per-slice scores from the slice values stored in the manifest, and verdicts for every role."""

from __future__ import annotations

from pathlib import Path

import json

import pytest
import yaml

from l2s_bench.metrics.base import METRICS, MeanOfSegments
import l2s_bench.report as report
from l2s_bench.runner.collect import collect_results
from l2s_bench.runner.console import console_table
from l2s_bench.files import write_json
from l2s_bench.runner.results import entry
from l2s_bench.runner.samples import SampleStore, sample_key
from l2s_bench.tasks import load_task_file

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _task(tmp_path: Path, clusters: bool = False, metrics: tuple[str, ...] = ("rougeL", "chrf")) -> Path:
    """The instruct-mix fixture as task `mix`; with `clusters`, its items in 13 made-up groups (`group`)."""
    path, data = tmp_path / "mix.yaml", FIXTURES / "instruct-mix"
    extra = {}
    if clusters:
        data = tmp_path / "data"
        data.mkdir()
        rows = [json.loads(line) for line in (FIXTURES / "instruct-mix" / "test.jsonl").read_text().splitlines()]
        (data / "test.jsonl").write_text("".join(json.dumps({**r, "group": f"g{i % 13}"}) + "\n"
                                                 for i, r in enumerate(rows)))
        extra = {"clusters": "group"}
    path.write_text(yaml.safe_dump({
        "task": "mix", "family": "instruction", "dataset": {"path": str(data)},
        "fields": {"source": "instruction", "reference": "response", "id": "id"},
        "prompts": {"decoder": "{instruction}"}, "metrics": [{"name": m} for m in metrics],
        "trivial": ["copy_source", "lead_words"], "slices": "kind", **extra}))
    return path


def _run(tmp_path: Path, slices: bool = True, clusters: bool = False, metrics: tuple[str, ...] = ("rougeL", "chrf"),
         prompts: dict[str, list[dict]] | None = None) -> Path:
    """A run folder as `l2s-bench run` leaves it, with made-up predictions: the LLM and the fine-tuned LLM
    answer with the reference, the SLM copies the instruction (exactly what trivial-copy_source does).
    `prompts`: per system, what the quality pass recorded about each item's prompt (rows without it
    are rows of older runs)."""
    task_file = _task(tmp_path, clusters, metrics)
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
                [{"key": sample_key("mix", s["id"], f"h-{name}"), "prediction": p, "reference": s["reference"],
                  **note} for s, p, note in zip(samples, preds, (prompts or {}).get(name, [{}] * len(samples)))])
    write_json(manifest, run / "samples" / "mix" / "_manifest.json")
    return run


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict:
    return collect_results(_run(tmp_path_factory.mktemp("assemble")))


def test_every_system_gets_its_verdict_against_the_stronger_trivial_bar(results):
    copy, lead = entry(results, "mix", "trivial-copy_source"), entry(results, "mix", "trivial-lead_words")
    stronger = max((copy, lead), key=lambda e: e["quality"]["rougeL"]["value"])["system"]
    assert lead["trivial_rule"] == {"rule": "lead_words", "k": 2, "k_from": "made up"}
    assert "vs_trivial" not in copy and "learned" not in lead
    llm, ft, slm, assisted = (entry(results, "mix", s) for s in ("llm", "ft", "slm", "assisted"))
    assert llm["vs_trivial"]["verdict"] == "above trivial" and llm["learned"] is None
    assert ft["vs_trivial"]["verdict"] == "above trivial" and ft["learned"] is True
    assert "p_vs_llm" in ft["quality"]["rougeL"]  # llm-ft is compared with the LLM like any other system
    assert slm["vs_trivial"]["verdict"] == "not distinguishable" and slm["learned"] is False
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
        assert part["vs_trivial"]["verdict"] != "above trivial" and part["learned"] is False, kind
    assert entry(results, "mix", "assisted")["slices"]["define"]["vs_trivial"] == \
        entry(results, "mix", "llm")["slices"]["define"]["vs_trivial"]
    assert set(entry(results, "mix", "trivial-copy_source")["slices"]["define"]) == {"n", "quality"}


def test_slices_show_in_the_console_table_and_the_reports(results):
    text = console_table(results)
    assert "slice kind=modernize, n=10" in text and "NOT LEARNED (trained here, not above the trivial bar): mix/slm" in text
    assert "BELOW TRIVIAL" not in text
    md = report.markdown([results])
    assert "Per slice (kind)" in md and "| modernize | slm | slm | 10 |" in md
    assert "slice" in report.frame([results]).columns


def test_an_older_run_without_stored_slice_values_is_scored_without_slices(tmp_path, caplog):
    results = collect_results(_run(tmp_path, slices=False))
    assert "slices" not in results["tasks"]["mix"] and "slices" not in entry(results, "mix", "slm")
    assert "stored no slice values" in caplog.text


def test_statistics_are_in_the_provenance_and_unclustered_signatures_say_nothing(results):
    assert results["provenance"]["statistics"] == {"n_bootstrap": 50, "seed": 12345, "paired_test": "sacrebleu",
                                                   "clusters": {"mix": None}}
    assert results["provenance"]["seeds"] == {"bootstrap": 12345, "generation": 0}
    slm = entry(results, "mix", "slm")
    assert all("cluster" not in q["signature"] for q in slm["quality"].values())
    assert slm["quality"]["chrf"]["paired_test"] == "sacrebleu" and slm["vs_trivial"]["paired_test"] == "sacrebleu"
    assert "paired_test" not in entry(results, "mix", "assisted")["quality"]["chrf"]  # no p of its own


def test_stored_clusters_and_the_suites_paired_test_reach_every_score(tmp_path, caplog):
    run = _run(tmp_path, clusters=True)
    state = json.loads((run / "suite.json").read_text())
    state["suite"]["quality"]["paired"] = "centred"
    write_json(state, run / "suite.json")
    manifest = json.loads((run / "samples" / "mix" / "_manifest.json").read_text())
    assert manifest["clusters"]["field"] == "group" and len(manifest["clusters"]["values"]) == 40
    results = collect_results(run)
    assert results["provenance"]["statistics"] == {"n_bootstrap": 50, "seed": 12345, "paired_test": "centred",
                                                   "clusters": {"mix": "group"}}
    slm = entry(results, "mix", "slm")
    assert "|bs:50|cluster:group|seed:12345|" in slm["quality"]["chrf"]["signature"]
    assert "|bs:50|cluster:group|seed:12345|" in slm["slices"]["define"]["quality"]["rougeL"]["signature"]
    assert slm["quality"]["chrf"]["paired_test"] == "centred" and slm["vs_trivial"]["paired_test"] == "centred"

    del manifest["clusters"]  # a run stored before clusters existed: scored item by item, with a warning
    write_json(manifest, run / "samples" / "mix" / "_manifest.json")
    older = collect_results(run)
    assert "stored no cluster values" in caplog.text and older["provenance"]["statistics"]["clusters"] == {"mix": None}
    assert "cluster" not in entry(older, "mix", "slm")["quality"]["chrf"]["signature"]


def test_prompts_truncated_per_entry_from_what_the_quality_pass_stored(tmp_path):
    notes = [{"prompt_tokens": 10 + i, "prompt_truncated": i % 8 == 0} for i in range(40)]
    older = [{"prompt_tokens": 12}] * 39 + [{}]  # one row stored before the fields existed
    results = collect_results(_run(tmp_path, prompts={"llm": notes, "slm": older}))
    llm, slm = entry(results, "mix", "llm"), entry(results, "mix", "slm")
    assert llm["prompts_truncated"] == 5 and llm["prompt_tokens"] == {"max": 49, "mean": 29.5}
    assert slm["prompts_truncated"] is None and slm["prompt_tokens"] is None  # unknown, not 0
    assert entry(results, "mix", "ft")["prompts_truncated"] is None  # an older run's rows: unknown
    assert entry(results, "mix", "assisted")["prompts_truncated"] is None  # no quality pass of its own
    assert "prompts_truncated" not in entry(results, "mix", "trivial-copy_source")  # reads no prompt


class WordCountError(MeanOfSegments):
    """A lower-is-better metric for the test: |words(hyp) - words(ref)| per segment."""

    name = "test_word_count_error"
    higher_is_better = False

    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        return [float(abs(len(h.split()) - len(r.split()))) for h, r in zip(hyps, refs)]

    def signature_fields(self) -> list[tuple[str, str]]:
        return [("test", "word_count_error")]


@pytest.fixture
def lower_is_better():
    METRICS.register(WordCountError.name)(WordCountError)
    yield WordCountError.name
    METRICS._items.pop(WordCountError.name, None)


def test_the_direction_comes_from_the_primary_metric(tmp_path, lower_is_better):
    """lm-eval's MetricSpec shape: a metric declares `higher_is_better`; the task info takes it from the
    primary metric, and the bar, verdicts and reports follow it."""
    assert all(METRICS.get(m).higher_is_better for m in ("bleu", "chrf", "rougeL", "exact_match", "content_f1"))
    results = collect_results(_run(tmp_path, slices=False, metrics=(lower_is_better, "chrf")))
    info = results["tasks"]["mix"]
    assert info["primary_metric"] == lower_is_better and info["higher_is_better"] is False
    trivials = {s: entry(results, "mix", s)["quality"][lower_is_better]["value"]
                for s in ("trivial-copy_source", "trivial-lead_words")}
    llm = entry(results, "mix", "llm")
    assert llm["quality"][lower_is_better]["value"] == 0.0  # the reference itself: no error
    assert llm["vs_trivial"]["bar"] == min(trivials, key=trivials.get)  # the bar is the *lowest* error
    assert llm["vs_trivial"]["verdict"] == "above trivial"
    assert "(lower is better)" in report.markdown([results])
    (tmp_path / "b").mkdir()
    assert collect_results(_run(tmp_path / "b", slices=False))["tasks"]["mix"]["higher_is_better"] is True
