"""Scoring systems of one task: every number has a CI and signature; paired p-values vs the baselines."""

import pytest

from bench.errors import BenchError
from bench.scoring import score_task, trivial_predictions
from bench.tasks import get_task

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


def test_trivial_baselines():
    samples = [{"source": "First one. Second one.\nMore text."}, {"source": "no end"}]
    assert trivial_predictions(get_task("debian-sum"), samples) == ["First one.", "no end"]
    assert trivial_predictions(get_task("kjv-web"), samples) == [s["source"] for s in samples]
