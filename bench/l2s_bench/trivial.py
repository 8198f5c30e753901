"""The trivial baselines' rules: copy the source, its first sentence, its first k words, or nothing. The
floor every system is judged against (`l2s_bench.runner.verdict`); tasks name their rules (`trivial:`),
the runner scores them as systems (`l2s_bench.runner.score_task.trivial_systems`)."""

from __future__ import annotations

from l2s_bench.errors import BenchError, did_you_mean


def _copy_source(source: str, k: int | None) -> str:
    return source


def _first_sentence(source: str, k: int | None) -> str:
    from l2s_bench.metrics.rouge import regex_sentences  # lazily: validating a task's rules loads no metric

    return (regex_sentences(source.strip().split("\n")[0]) or [""])[0]


def _lead_words(source: str, k: int | None) -> str:
    return " ".join(source.split()[:k])


def _empty(source: str, k: int | None) -> str:
    return ""


TRIVIAL_RULES = {"copy_source": _copy_source, "first_sentence": _first_sentence, "lead_words": _lead_words,
                 "empty": _empty}


def trivial_predictions(samples: list[dict], rule: str, k: int | None = None) -> list[str]:
    """One trivial rule's outputs: copy the source, its first sentence, its first k words, or nothing."""
    if rule not in TRIVIAL_RULES:
        raise BenchError(f"unknown trivial rule '{rule}'{did_you_mean(rule, TRIVIAL_RULES)}")
    if rule == "lead_words" and not k:
        raise BenchError("trivial rule 'lead_words' needs k (see `trivial_systems`)")
    return [TRIVIAL_RULES[rule](str(s["source"]), k) for s in samples]
