"""`l2s_bench.runner.verdict`: the one rule for "above the trivial bar", decided on the CI or the paired test."""

import pytest

from l2s_bench.runner.verdict import ROLES, TRAINED, bar, judge, learned, passed, verdict_of


def test_roles_include_the_fine_tuned_llm_as_a_trained_system():
    assert "llm-ft" in ROLES and set(TRAINED) == {"llm-ft", "slm", "l2s"}
    assert "llm" not in TRAINED and "assisted" not in TRAINED


def test_the_bar_is_the_strongest_trivial_system():
    assert bar({"trivial-first_sentence": 21.0, "trivial-lead_words": 27.5}) == "trivial-lead_words"
    assert bar({"a": 21.0, "b": 27.5}, higher_is_better=False) == "a"
    assert bar({}) is None


@pytest.mark.parametrize("value,ci,p,expected", [
    (30.0, [28.0, 32.0], 0.50, "above trivial"),        # the CI clears the bar: no test needed
    (30.0, [24.0, 36.0], 0.01, "above trivial"),        # the CI overlaps, the paired test separates
    (26.0, [24.0, 28.0], 0.20, "not distinguishable"),  # above by a hair, but noise
    (24.0, [22.0, 26.0], 0.01, "below trivial"),        # significantly *worse*
    (20.0, [18.0, 22.0], 0.50, "below trivial"),        # the CI lies wholly below the bar
    (24.0, [22.0, 26.0], 0.30, "not distinguishable"),  # below by a hair: not "below" either
    (30.0, None, None, "not distinguishable"),          # nothing to decide on
])
def test_judge_gives_one_of_three_verdicts_on_statistics(value, ci, p, expected):
    v = judge(value, ci, "trivial", 25.0, p, paired_test="centred")
    assert v.verdict == expected and v.passed is (expected == "above trivial")
    assert v.to_dict() == {"verdict": expected, "bar": "trivial", "bar_value": 25.0, "p_vs_trivial": p,
                           "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
                           "paired_test": "centred" if p is not None else None}  # which test gave p


def test_learned_means_a_trained_system_above_trivial():
    above, tied = judge(30.0, [28.0, 32.0], "trivial", 25.0, 0.001), judge(26.0, [24.0, 28.0], "trivial", 25.0, 0.2)
    assert learned("llm", above) is None and learned("assisted", above) is None  # not trained here
    assert learned("llm-ft", above) is True and learned("l2s", tied) is False


def test_lower_is_better_is_judged_the_other_way():
    assert judge(10.0, [8.0, 12.0], "trivial", 15.0, 0.5, higher_is_better=False).verdict == "above trivial"
    assert judge(14.0, [12.0, 16.0], "trivial", 15.0, 0.3, higher_is_better=False).verdict == "not distinguishable"
    assert judge(20.0, [18.0, 22.0], "trivial", 15.0, 0.3, higher_is_better=False).verdict == "below trivial"


def test_verdict_of_reads_new_and_old_entries():
    assert verdict_of({"learned": None, "vs_trivial": {"verdict": "below trivial"}}) == "below trivial"
    assert verdict_of({"learned": False}) == "not learned"  # written before vs_trivial existed
    assert verdict_of({"learned": True}) == "learned"
    assert verdict_of({"role": "llm"}) is None
    assert passed("above trivial") is True and passed("not distinguishable") is False and passed(None) is None
    assert passed("learned") is True and passed("not learned") is False  # the words of older files
