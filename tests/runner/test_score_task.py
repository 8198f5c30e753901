"""Scoring systems of one task: every number has a CI and signature; paired p-values vs the baselines."""

import shutil
import statistics
from pathlib import Path

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.metrics import get_metric
from l2s_bench.metrics.base import Clusters
from l2s_bench.runner.score_task import score_slices, score_task, trivial_systems
from l2s_bench.tasks import get_task

FIXTURES = Path(__file__).parents[1] / "fixtures"

REFS = [f"the cat number {i} sat on the mat and looked at the dog" for i in range(30)]
GOOD = list(REFS)
MID = [r.replace("looked at", "saw") for r in REFS]
BAD = [f"a bird {i} flew" for i in range(30)]


def test_l2s_is_compared_with_llm_and_slm(monkeypatch):
    task = get_task("kjv-web")
    out = score_task(task, REFS, {"llm": MID, "slm": BAD, "l2s": GOOD},
                     {"llm": "llm", "slm": "slm", "l2s": "l2s"}, n_bootstrap=200)
    chrf = out["l2s"]["quality"]["chrf"]
    assert chrf["value"] == pytest.approx(100.0)
    assert chrf["ci"][0] <= chrf["value"] <= chrf["ci"][1] + 1e-9
    assert "nrefs:1" in chrf["signature"] and "bs:200" in chrf["signature"]
    assert chrf["p_vs_llm"] < 0.05 and chrf["p_vs_slm"] < 0.05
    assert "p_vs_llm" not in out["llm"]["quality"]["chrf"]  # the LLM is the baseline itself
    assert "p_vs_slm" not in out["slm"]["quality"]["chrf"] and "p_vs_llm" in out["slm"]["quality"]["bleu"]
    again = score_task(task, REFS, {"llm": MID, "slm": BAD, "l2s": GOOD},
                       {"llm": "llm", "slm": "slm", "l2s": "l2s"}, n_bootstrap=200)
    assert again == out  # seeded: same inputs, same CIs and p-values


def test_each_l2s_is_compared_with_its_own_slm_baseline():
    task = get_task("kjv-web")
    outputs = {"llm": GOOD, "slm": BAD, "l2s": MID, "slm-8": MID, "l2s-8": MID}
    roles = {"llm": "llm", "slm": "slm", "l2s": "l2s", "slm-8": "slm", "l2s-8": "l2s"}
    out = score_task(task, REFS, outputs, roles, n_bootstrap=200, baselines={"l2s": "slm", "l2s-8": "slm-8"})
    chrf = {s: out[s]["quality"]["chrf"] for s in out}
    assert chrf["l2s"]["p_vs_slm"] < 0.05  # MID beats BAD
    assert chrf["l2s-8"]["p_vs_slm"] > 0.5  # the same outputs as its own size's SLM, not compared with the weaker one
    assert "p_vs_slm" not in chrf["slm-8"]
    one = score_task(task, REFS, {"llm": GOOD, "slm": BAD, "l2s": MID}, {"llm": "llm", "slm": "slm", "l2s": "l2s"},
                     n_bootstrap=200)  # an older run: no baselines recorded, the one slm is the baseline
    assert one["l2s"]["quality"]["chrf"]["p_vs_slm"] == chrf["l2s"]["p_vs_slm"]


def test_empty_predictions_are_counted_not_fatal():
    task = get_task("debian-sum")
    out = score_task(task, REFS[:4], {"slm": ["", "", REFS[2], " "]}, {"slm": "slm"}, n_bootstrap=50)
    assert out["slm"]["empty_predictions"] == 3
    assert 0 < out["slm"]["quality"]["rougeL"]["value"] < 100


def test_bad_inputs_are_refused():
    task = get_task("kjv-web")
    with pytest.raises(BenchError, match="2 predictions for 3 references"):
        score_task(task, REFS[:3], {"llm": MID[:2]}, {"llm": "llm"})
    with pytest.raises(BenchError, match="no references"):
        score_task(task, [], {}, {})
    with pytest.raises(BenchError, match="more than one system has role 'llm'"):
        score_task(task, REFS[:2], {"a": MID[:2], "b": MID[:2]}, {"a": "llm", "b": "llm"})


def test_debian_sum_gets_two_trivial_systems_with_k_fitted_on_train():
    task = get_task("debian-sum")
    data = FIXTURES / "debian-sum"
    test = task.samples("test", data_dir=data)
    systems = trivial_systems(task, test, data)
    assert list(systems) == ["trivial-first_sentence", "trivial-lead_words"]
    train_refs = [len(s["reference"].split()) for s in task.samples("train", data_dir=data)]
    assert systems["trivial-lead_words"] == {"rule": "lead_words", "k": statistics.median_low(train_refs),
                                             "k_from": "median words of 200 train references"}
    assert systems["trivial-first_sentence"] == {"rule": "first_sentence"}
    assert trivial_systems(get_task("kjv-web"), test) == {"trivial": {"rule": "copy_source"}}  # one rule: as before


def test_lead_words_without_a_train_split_falls_back_to_the_scored_references(tmp_path):
    shutil.copy(FIXTURES / "debian-sum" / "test.jsonl", tmp_path / "test.jsonl")
    task = get_task("debian-sum")
    test = task.samples("test", data_dir=tmp_path)
    args = trivial_systems(task, test, tmp_path)["trivial-lead_words"]
    assert args["k"] == statistics.median_low(len(s["reference"].split()) for s in test)
    assert "no train split" in args["k_from"] and "40 scored references" in args["k_from"]


def test_every_system_is_judged_against_the_stronger_trivial_bar():
    task = get_task("kjv-web")
    refs = REFS[:20]
    weak = BAD[:20]
    strong = MID[:20]  # the bar: the stronger trivial system
    barely = list(strong)
    barely[0] = refs[0]  # one item better than the bar: above it by a hair, within the noise
    out = score_task(task, refs, {"trivial-a": weak, "trivial-b": strong, "llm": weak, "slm": barely, "l2s": refs,
                                  "ft": refs},
                     {"trivial-a": "trivial", "trivial-b": "trivial", "llm": "llm", "slm": "slm", "l2s": "l2s",
                      "ft": "llm-ft"}, n_bootstrap=200)
    assert out["slm"]["quality"]["chrf"]["value"] > out["trivial-b"]["quality"]["chrf"]["value"]
    slm = out["slm"]["vs_trivial"]
    assert slm["bar"] == "trivial-b" and slm["verdict"] == "not distinguishable" and slm["p_vs_trivial"] >= 0.05
    assert out["slm"]["learned"] is False  # the old rule (value > trivial value) said True
    assert out["l2s"]["vs_trivial"]["verdict"] == "above trivial" and out["l2s"]["learned"] is True
    assert out["llm"]["vs_trivial"]["verdict"] == "below trivial" and out["llm"]["learned"] is None
    assert out["ft"]["learned"] is True and "p_vs_llm" in out["ft"]["quality"]["chrf"]  # llm-ft: a trained system
    assert "vs_trivial" not in out["trivial-a"] and "learned" not in out["trivial-b"]


def test_unknown_role_is_refused():
    with pytest.raises(BenchError, match="unknown role 'l2'; did you mean 'l2s'"):
        score_task(get_task("kjv-web"), REFS[:2], {"a": MID[:2]}, {"a": "l2"})


def test_each_slice_is_scored_on_its_own_with_its_own_bar():
    task = get_task("instruct-mix")
    refs = REFS[:20]
    kinds = ["modernize"] * 10 + ["define"] * 10
    copy = refs[:10] + BAD[:10]  # the baseline wins on "modernize" alone
    system = MID[:20]
    out = score_slices(task, refs, {"trivial": copy, "slm": system}, {"trivial": "trivial", "slm": "slm"}, kinds,
                       n_bootstrap=100)
    assert list(out) == ["define", "modernize"]
    assert out["define"]["slm"]["n"] == 10 and out["define"]["slm"]["vs_trivial"]["verdict"] == "above trivial"
    assert out["modernize"]["slm"]["vs_trivial"]["verdict"] == "below trivial"
    whole = score_task(task, refs, {"trivial": copy, "slm": system}, {"trivial": "trivial", "slm": "slm"},
                       n_bootstrap=100)
    assert out["define"]["slm"]["quality"] != whole["slm"]["quality"]


def _clustered(n_clusters: int = 8) -> tuple[list[str], dict[str, list[str]], dict[str, str], Clusters]:
    """debian-sum-like items: clusters of 1-5 items repeating one text (binary packages of one source)."""
    sizes = [1 + (3 * k) % 5 for k in range(n_clusters)]
    keep = [k for k, size in enumerate(sizes) for _ in range(size)]
    systems = {"trivial": [BAD[k] for k in keep], "llm": [MID[k] if k % 2 else REFS[k] for k in keep],
               "slm": [MID[k] if k % 3 else BAD[k] for k in keep], "l2s": [MID[k] for k in keep]}
    roles = {"trivial": "trivial", "llm": "llm", "slm": "slm", "l2s": "l2s"}
    return [REFS[k] for k in keep], systems, roles, Clusters("family", tuple(f"src{k}" for k in keep))


def test_clusters_reach_every_ci_and_p_and_the_verdict():
    task = get_task("debian-sum")
    refs, outputs, roles, clusters = _clustered()
    plain = score_task(task, refs, outputs, roles, n_bootstrap=200)
    out = score_task(task, refs, outputs, roles, n_bootstrap=200, clusters=clusters)
    for system, result in out.items():
        for name, q in result["quality"].items():
            assert "|bs:200|cluster:family|seed:12345|" in q["signature"], (system, name)
            assert "cluster" not in plain[system]["quality"][name]["signature"]
            assert q["value"] == plain[system]["quality"][name]["value"]
            assert q.get("paired_test") == ("sacrebleu" if system != "llm" else None)
    rouge1 = get_metric("rouge1")
    q = out["slm"]["quality"]["rouge1"]
    unclustered = plain["slm"]["quality"]["rouge1"]["ci"]
    assert q["ci"][1] - q["ci"][0] > unclustered[1] - unclustered[0]
    assert q["p_vs_llm"] == rouge1.paired_p(outputs["llm"], outputs["slm"], refs, 200, 12345, clusters)
    assert out["l2s"]["quality"]["rouge1"]["p_vs_slm"] == rouge1.paired_p(outputs["slm"], outputs["l2s"], refs, 200,
                                                                          12345, clusters)
    vs = out["slm"]["vs_trivial"]  # the verdict decides on the same p, the primary metric's vs the bar
    assert vs["p_vs_trivial"] == rouge1.paired_p(outputs["trivial"], outputs["slm"], refs, 200, 12345, clusters)
    assert vs["paired_test"] == "sacrebleu" and vs["ci_low"] == q["ci"][0]


def test_the_paired_test_is_chosen_and_named():
    task = get_task("debian-sum")
    refs, outputs, roles, clusters = _clustered()
    sacre = score_task(task, refs, outputs, roles, n_bootstrap=200, clusters=clusters)
    centred = score_task(task, refs, outputs, roles, n_bootstrap=200, clusters=clusters, paired="centred")
    q = centred["l2s"]["quality"]["rouge2"]
    assert q["paired_test"] == "centred" and centred["l2s"]["vs_trivial"]["paired_test"] == "centred"
    assert q["p_vs_llm"] == get_metric("rouge2").paired_p(outputs["llm"], outputs["l2s"], refs, 200, 12345, clusters,
                                                          "centred")
    assert q["p_vs_llm"] > sacre["l2s"]["quality"]["rouge2"]["p_vs_llm"]
    assert q["ci"] == sacre["l2s"]["quality"]["rouge2"]["ci"]  # the test changes p only
    with pytest.raises(BenchError, match="unknown paired test 'moses'"):
        score_task(task, refs, outputs, roles, paired="moses")


def test_each_slice_resamples_its_own_items_clusters():
    task = get_task("debian-sum")
    refs, outputs, roles, clusters = _clustered()
    kinds = ["a" if i % 3 else "b" for i in range(len(refs))]  # a cluster may span slices
    out = score_slices(task, refs, outputs, roles, kinds, n_bootstrap=100, clusters=clusters, paired="centred")
    for value in ("a", "b"):
        keep = [i for i, k in enumerate(kinds) if k == value]
        alone = score_task(task, [refs[i] for i in keep], {s: [h[i] for i in keep] for s, h in outputs.items()},
                           roles, n_bootstrap=100, clusters=Clusters("family", tuple(clusters.labels[i] for i in keep)),
                           paired="centred")
        assert out[value] == alone
        assert "cluster:family" in out[value]["slm"]["quality"]["rougeL"]["signature"]
