"""Score every system of one task on the same items, with paired tests against the baselines.

Every system is compared with the LLM (`p_vs_llm`: does it lose quality?) and each L2S also with its
SLM baseline (`p_vs_slm`: the method's own claim, that the LLM's features help; with several SLM sizes,
the baseline of the same size). Paired tests use
the same items, so adjacent systems that an unpaired CI cannot separate often can be. Every system
but the trivial ones also gets its verdict against the strongest trivial baseline (`l2s_bench.runner.verdict`).
A task with `slices:` is scored once more per slice, each slice on its own (its own trivial bar).

Given the items' `Clusters` (a task's `clusters:` field, stored with the run), every CI and paired
test resamples whole clusters; `paired` names the paired test statistic (`l2s_bench.metrics.base`), the
same for `p_vs_llm`, `p_vs_slm` and the verdict's `p_vs_trivial`, and each entry that holds a p-value
says which (`paired_test`).
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

from l2s_bench.errors import BenchError, did_you_mean
from l2s_bench.metrics import get_metric
from l2s_bench.metrics.base import PAIRED_TESTS, Clusters, check_paired_test
from l2s_bench.runner import verdict
from l2s_bench.tasks import Task

log = logging.getLogger(__name__)


def score_task(task: Task, refs: list[str], outputs: dict[str, list[str]], roles: dict[str, str],
               n_bootstrap: int = 1000, seed: int = 12345, higher_is_better: bool | None = None,
               clusters: Clusters | None = None, paired: str = PAIRED_TESTS[0],
               baselines: dict[str, str] | None = None) -> dict[str, dict]:
    """{system: {"role", "n", "empty_predictions", "quality": {metric: {value, ci, signature, p_vs_llm?,
    p_vs_slm?, paired_test?}}, "learned"?, "vs_trivial"?}}. The LLM is the system whose role says so;
    `baselines` maps each L2S to its SLM baseline (default: the one system with role slm); every
    non-trivial system gets `vs_trivial` (and `learned`) when a trivial system is scored too. `clusters`: the items' clusters, resampled whole; `paired`: the paired test;
    `higher_is_better`: the primary metric's direction, by default as the metric declares it."""
    check_paired_test(paired)
    if not refs:
        raise BenchError(f"task '{task.task}': no references to score")
    for system, hyps in outputs.items():
        if len(hyps) != len(refs):
            raise BenchError(f"task '{task.task}': system '{system}' has {len(hyps)} predictions for {len(refs)} references")
        if system not in roles:
            raise BenchError(f"task '{task.task}': system '{system}' has no role")
        if roles[system] not in verdict.ROLES:
            raise BenchError(f"task '{task.task}': system '{system}' has unknown role '{roles[system]}'"
                             f"{did_you_mean(roles[system], verdict.ROLES)} (roles: {', '.join(verdict.ROLES)})")
    llm = _the(roles, "llm")
    if baselines is None:  # the one SLM baseline, if there is exactly one
        slms = [s for s, r in roles.items() if r == "slm"]
        baselines = {s: slms[0] for s, r in roles.items() if r == "l2s" and len(slms) == 1}
    metrics = [get_metric(spec.name, **spec.options) for spec in task.metrics]
    results = {}
    for system, hyps in outputs.items():
        quality = {}
        for metric in metrics:
            entry = metric.score(hyps, refs, n_bootstrap, seed, clusters).to_dict()
            if llm and system != llm:
                entry["p_vs_llm"] = metric.paired_p(outputs[llm], hyps, refs, n_bootstrap, seed, clusters, paired)
            if baselines.get(system) in outputs:
                entry["p_vs_slm"] = metric.paired_p(outputs[baselines[system]], hyps, refs, n_bootstrap, seed,
                                                    clusters, paired)
            if "p_vs_llm" in entry or "p_vs_slm" in entry:
                entry["paired_test"] = paired
            quality[metric.name] = entry
        results[system] = {"role": roles[system], "n": len(refs),
                           "empty_predictions": sum(not h.strip() for h in hyps), "quality": quality}
    primary = metrics[0]
    if higher_is_better is None:
        higher_is_better = primary.higher_is_better
    bar = verdict.bar({s: r["quality"][primary.name]["value"] for s, r in results.items() if r["role"] == "trivial"},
                      higher_is_better)
    if bar is not None:
        for system, result in results.items():
            if result["role"] == "trivial":
                continue
            q = result["quality"][primary.name]
            p = primary.paired_p(outputs[bar], outputs[system], refs, n_bootstrap, seed, clusters,
                                 paired) if n_bootstrap else None
            vs = verdict.judge(q["value"], q["ci"], bar, results[bar]["quality"][primary.name]["value"],
                               p, higher_is_better, paired_test=paired)
            result.update(learned=verdict.learned(result["role"], vs), vs_trivial=vs.to_dict())
    return results


def score_slices(task: Task, refs: list[str], outputs: dict[str, list[str]], roles: dict[str, str],
                 values: list[str], n_bootstrap: int = 1000, seed: int = 12345, higher_is_better: bool | None = None,
                 clusters: Clusters | None = None, paired: str = PAIRED_TESTS[0],
                 baselines: dict[str, str] | None = None) -> dict[str, dict[str, dict]]:
    """{slice value: `score_task` over that slice's items alone (with those items' clusters)}: an overall
    score can hide a baseline that wins on one slice only (instruct-mix's copy-the-instruction scores on
    "modernize" alone)."""
    if len(values) != len(refs):
        raise BenchError(f"task '{task.task}': {len(values)} slice values for {len(refs)} items")
    out = {}
    for value in sorted(set(values)):
        keep = [i for i, v in enumerate(values) if v == value]
        out[value] = score_task(task, [refs[i] for i in keep], {s: [h[i] for i in keep] for s, h in outputs.items()},
                                roles, n_bootstrap, seed, higher_is_better,
                                clusters.subset(keep) if clusters is not None else None, paired, baselines)
    return out


def _the(roles: dict[str, str], role: str) -> str | None:
    holders = [s for s, r in roles.items() if r == role]
    if len(holders) > 1:
        raise BenchError(f"more than one system has role '{role}': {', '.join(holders)}")
    return holders[0] if holders else None


# ---------------------------------------------------------------- trivial baselines: the floor to beat

def trivial_systems(task: Task, samples: list[dict], data_dir: str | Path | None = None) -> dict[str, dict]:
    """The task's trivial rules as systems, {name: args}: one rule is named `trivial`, several
    `trivial-<rule>`. The args are what the manifest records: the rule, and for lead_words its k."""
    rules = task.trivial_rules
    systems = {}
    for rule in rules:
        args = {"rule": rule, **(lead_words_k(task, samples, data_dir) if rule == "lead_words" else {})}
        systems["trivial" if len(rules) == 1 else f"trivial-{rule}"] = args
    return systems


def lead_words_k(task: Task, samples: list[dict], data_dir: str | Path | None = None) -> dict:
    """{"k", "k_from"}: k is the median (low) word count of the task's train references, so the baseline
    is as long as a typical answer (debian-sum's first sentence averages 17 words against 6.7 in the
    references: a length handicap, not a fair floor). Without a train split (a folder of test items
    only) the scored items' own references are used instead, which if anything makes the bar stronger;
    `k_from` says which."""
    try:
        refs = [s["reference"] for s in task.samples("train", None, data_dir)]
        origin = f"median words of {len(refs)} train references"
    except BenchError as e:
        log.warning("task %s: no train split for lead_words' k (%s); using the scored references", task.task, e)
        refs = [s["reference"] for s in samples]
        origin = f"median words of the {len(refs)} scored references (no train split)"
    return {"k": max(1, statistics.median_low(len(str(r).split()) for r in refs)), "k_from": origin}
