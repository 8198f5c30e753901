"""System roles, and the one rule that says whether a system beat the trivial baselines.

A system that does not beat copying the source (or the first sentence, or the first k words) has not
learned the task, whatever its score. "Beat" is decided on statistics, not on the bare difference of
two corpus scores, because a difference inside the bootstrap noise is not one: a system is above the
trivial bar when its primary metric's 95% CI lies wholly above the bar's value, or when the paired
bootstrap test against the bar system (same items) gives p < 0.05 and its value is the better one
(p as `bench.runner.score_task` computes every p: the suite's paired test, over the task's clusters; `paired_test`
names the test). The bar is the strongest of the task's trivial systems. Scoring (`bench.runner.score_task`) applies the rule and
`bench.runner.collect` stores it; reports, the console table and the regression gate only read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ROLES = ("llm", "llm-ft", "slm", "l2s", "assisted", "trivial")
TRAINED = ("llm-ft", "slm", "l2s")  # trained here on the task: below the bar means "not learned"
ALPHA = 0.05  # the paired test's significance level
PASSED = ("learned", "above trivial")  # the verdicts that clear the bar


@dataclass(frozen=True)
class VsTrivial:
    """A system against the trivial bar; stored per results entry as `vs_trivial`."""

    verdict: str  # trained roles: "learned" | "not learned"; the LLM and assisted: "above trivial" | "below trivial"
    bar: str  # the trivial system that is the bar (the strongest on the primary metric)
    bar_value: float
    p_vs_trivial: float | None  # paired bootstrap p of the system vs the bar (None without a bootstrap)
    ci_low: float | None  # the system's primary-metric CI
    ci_high: float | None
    paired_test: str | None = None  # the statistic p_vs_trivial was computed with (bench.metrics.base.PAIRED_TESTS)

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


def judge(role: str, value: float, ci: list[float] | tuple[float, float] | None, bar_name: str, bar_value: float,
          p: float | None, higher_is_better: bool = True, paired_test: str | None = None) -> VsTrivial:
    """The rule: clear of the bar by the CI, or significantly better than it in the paired test."""
    low, high = (ci[0], ci[1]) if ci else (None, None)
    if higher_is_better:
        better, ci_clear = value > bar_value, low is not None and low > bar_value
    else:
        better, ci_clear = value < bar_value, high is not None and high < bar_value
    passed = ci_clear or (better and p is not None and p < ALPHA)
    words = ("learned", "not learned") if role in TRAINED else ("above trivial", "below trivial")
    return VsTrivial(words[0] if passed else words[1], bar_name, bar_value, p, low, high,
                     paired_test if p is not None else None)


def learned(role: str, vs_trivial: VsTrivial) -> bool | None:
    """The `learned` flag kept beside `vs_trivial` for older readers: trained roles only, else None."""
    return vs_trivial.passed if role in TRAINED else None


def verdict_of(entry: dict) -> str | None:
    """The verdict of a results entry (or of one slice of it). Files written before `vs_trivial`
    existed carry only `learned`, which becomes "learned"/"not learned"; None when there is no verdict."""
    if entry.get("vs_trivial"):
        return entry["vs_trivial"]["verdict"]
    if entry.get("learned") is None:
        return None
    return "learned" if entry["learned"] else "not learned"


def passed(verdict: str | None) -> bool | None:
    """Whether a verdict text clears the bar; None for no verdict."""
    return None if verdict is None else verdict in PASSED
