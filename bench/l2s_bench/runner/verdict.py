"""System roles, and the one rule that says where a system stands against the trivial baselines.

A system that does not beat copying the source (or the first sentence, or the first k words) has not
learned the task, whatever its score. "Beat" is decided on statistics, not on the bare difference of
two corpus scores, because a difference inside the bootstrap noise is not one. Against the bar (the
strongest of the task's trivial systems) a system is one of three (`VERDICTS`):

* "above trivial": its primary metric's 95% CI lies wholly above the bar's value, or the paired
  bootstrap test against the bar system (same items) gives p < 0.05 and its value is the better one;
* "below trivial": the same, the other way round (CI wholly below, or significantly worse);
* "not distinguishable": neither; the data cannot tell the system from the bar.

p is as `l2s_bench.runner.score_task` computes every p (the suite's paired test, over the task's
clusters; `paired_test` names it). A trained system (`TRAINED`) has *learned* the task only when it is
above trivial. Scoring (`l2s_bench.runner.score_task`) applies the rule and `l2s_bench.runner.collect`
stores it; reports, the console table and the regression gate only read it, with these words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ROLES = ("llm", "llm-ft", "slm", "l2s", "assisted", "trivial")
TRAINED = ("llm-ft", "slm", "l2s")  # trained here on the task: below the bar means "not learned"
ALPHA = 0.05  # the paired test's significance level
ABOVE, TIED, BELOW = VERDICTS = ("above trivial", "not distinguishable", "below trivial")
PASSED = (ABOVE, "learned")  # the verdicts that clear the bar ("learned": results written before three verdicts)


@dataclass(frozen=True)
class VsTrivial:
    """A system against the trivial bar; stored per results entry as `vs_trivial`."""

    verdict: str  # one of VERDICTS
    bar: str  # the trivial system that is the bar (the strongest on the primary metric)
    bar_value: float
    p_vs_trivial: float | None  # paired bootstrap p of the system vs the bar (None without a bootstrap)
    ci_low: float | None  # the system's primary-metric CI
    ci_high: float | None
    paired_test: str | None = None  # the statistic p_vs_trivial was computed with (l2s_bench.metrics.base.PAIRED_TESTS)

    @property
    def passed(self) -> bool:
        return self.verdict in PASSED

    def to_dict(self) -> dict:
        return asdict(self)


def bar(values: dict[str, float], higher_is_better: bool = True) -> str | None:
    """The trivial system to beat, given each one's primary-metric value: the strongest (None without any)."""
    if not values:
        return None
    pick = max if higher_is_better else min
    return pick(values, key=lambda name: values[name])


def judge(value: float, ci: list[float] | tuple[float, float] | None, bar_name: str, bar_value: float,
          p: float | None, higher_is_better: bool = True, paired_test: str | None = None) -> VsTrivial:
    """The rule: clear of the bar by the CI, or significantly different from it in the paired test; the
    side is the one the value is on."""
    low, high = (ci[0], ci[1]) if ci else (None, None)
    wholly_above = low is not None and low > bar_value
    wholly_below = high is not None and high < bar_value
    sign = 1 if higher_is_better else -1
    better, worse = sign * (value - bar_value) > 0, sign * (value - bar_value) < 0
    if not higher_is_better:
        wholly_above, wholly_below = wholly_below, wholly_above
    significant = p is not None and p < ALPHA
    if wholly_above or (better and significant):
        words = ABOVE
    elif wholly_below or (worse and significant):
        words = BELOW
    else:
        words = TIED
    return VsTrivial(words, bar_name, bar_value, p, low, high, paired_test if p is not None else None)


def learned(role: str, vs_trivial: VsTrivial) -> bool | None:
    """The `learned` flag kept beside `vs_trivial` for older readers: trained roles only, else None."""
    return vs_trivial.passed if role in TRAINED else None


def verdict_of(entry: dict) -> str | None:
    """The verdict of a results entry (or of one slice of it). Files written before `vs_trivial`
    existed carry only `learned`, which becomes "learned"/"not learned" (their own words, kept: which of
    the two lower verdicts "not learned" was is not recorded); None when there is no verdict."""
    if entry.get("vs_trivial"):
        return entry["vs_trivial"]["verdict"]
    if entry.get("learned") is None:
        return None
    return "learned" if entry["learned"] else "not learned"


def passed(verdict: str | None) -> bool | None:
    """Whether a verdict text clears the bar; None for no verdict."""
    return None if verdict is None else verdict in PASSED
