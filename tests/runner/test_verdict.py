"""`bench.runner.verdict`: the one rule for "above the trivial bar", decided on the CI or the paired test."""

import pytest

from bench.runner.verdict import ROLES, TRAINED, bar, judge, learned, passed, verdict_of


def test_roles_include_the_fine_tuned_llm_as_a_trained_system():
    assert "llm-ft" in ROLES and set(TRAINED) == {"llm-ft", "slm", "l2s"}
    assert "llm" not in TRAINED and "assisted" not in TRAINED


def test_the_bar_is_the_strongest_trivial_system():
    assert bar({"trivial-first_sentence": 21.0, "trivial-lead_words": 27.5}) == "trivial-lead_words"
    assert bar({"a": 21.0, "b": 27.5}, higher_is_better=False) == "a"
    assert bar({}) is None


@pytest.mark.parametrize("value,ci,p,expected", [
    (30.0, [28.0, 32.0], 0.50, "learned"),       # the CI clears the bar: no test needed
    (30.0, [24.0, 36.0], 0.01, "learned"),       # the CI overlaps, the paired test separates
    (26.0, [24.0, 28.0], 0.20, "not learned"),   # above by a hair, but noise: the old rule said learned
    (24.0, [22.0, 26.0], 0.01, "not learned"),   # significantly *worse*
    (30.0, None, None, "not learned"),           # nothing to decide on
])
def test_judge_decides_on_statistics(value, ci, p, expected):
    v = judge("l2s", value, ci, "trivial", 25.0, p, paired_test="centred")
    assert v.verdict == expected and v.passed is (expected == "learned")
    assert v.to_dict() == {"verdict": expected, "bar": "trivial", "bar_value": 25.0, "p_vs_trivial": p,
                           "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
                           "paired_test": "centred" if p is not None else None}  # which test gave p


@pytest.mark.parametrize("role", ["llm", "assisted"])
def test_the_llm_is_above_or_below_trivial_never_not_learned(role):
    assert judge(role, 20.0, [18.0, 22.0], "trivial", 25.0, 0.001).verdict == "below trivial"
    above = judge(role, 30.0, [28.0, 32.0], "trivial", 25.0, 0.001)
    assert above.verdict == "above trivial" and learned(role, above) is None
    assert learned("llm-ft", judge("llm-ft", 30.0, [28.0, 32.0], "trivial", 25.0, 0.001)) is True


def test_lower_is_better_is_judged_the_other_way():
    assert judge("slm", 10.0, [8.0, 12.0], "trivial", 15.0, 0.5, higher_is_better=False).verdict == "learned"
    assert judge("slm", 14.0, [12.0, 16.0], "trivial", 15.0, 0.3, higher_is_better=False).verdict == "not learned"


def test_verdict_of_reads_new_and_old_entries():
    assert verdict_of({"learned": None, "vs_trivial": {"verdict": "below trivial"}}) == "below trivial"
    assert verdict_of({"learned": False}) == "not learned"  # written before vs_trivial existed
    assert verdict_of({"learned": True}) == "learned"
    assert verdict_of({"role": "llm"}) is None
    assert passed("above trivial") is True and passed("not learned") is False and passed(None) is None
