"""Score every system of one task on the same items, with paired tests against the baselines.

Every system is compared with the LLM (`p_vs_llm`: does it lose quality?) and L2S also with the
SLM baseline (`p_vs_slm`: the method's own claim, that the LLM's features help). Paired tests use
the same items, so adjacent systems that an unpaired CI cannot separate often can be.
"""

from __future__ import annotations

from typing import Literal

from bench.errors import BenchError
from bench.metrics import get_metric
from bench.metrics.rouge import regex_sentences
from bench.tasks import Task

Role = Literal["llm", "slm", "l2s", "assisted", "trivial"]


def score_task(task: Task, refs: list[str], outputs: dict[str, list[str]], roles: dict[str, Role],
               n_bootstrap: int = 1000, seed: int = 12345) -> dict[str, dict]:
    """{system: {"role", "n", "empty_predictions", "quality": {metric: {value, ci, signature, p_vs_llm?,
    p_vs_slm?}}}}. The LLM and SLM baselines are the systems whose role says so."""
    if not refs:
        raise BenchError(f"task '{task.task}': no references to score")
    for system, hyps in outputs.items():
        if len(hyps) != len(refs):
            raise BenchError(f"task '{task.task}': system '{system}' has {len(hyps)} predictions for {len(refs)} references")
        if system not in roles:
            raise BenchError(f"task '{task.task}': system '{system}' has no role")
    llm = _the(roles, "llm")
    slm = _the(roles, "slm")
    metrics = [get_metric(spec.name, **spec.options) for spec in task.metrics]
    results = {}
    for system, hyps in outputs.items():
        quality = {}
        for metric in metrics:
            entry = metric.score(hyps, refs, n_bootstrap, seed).to_dict()
            if llm and system != llm:
                entry["p_vs_llm"] = metric.paired_p(outputs[llm], hyps, refs, n_bootstrap, seed)
            if slm and roles[system] == "l2s":
                entry["p_vs_slm"] = metric.paired_p(outputs[slm], hyps, refs, n_bootstrap, seed)
            quality[metric.name] = entry
        results[system] = {"role": roles[system], "n": len(refs),
                           "empty_predictions": sum(not h.strip() for h in hyps), "quality": quality}
    return results


def _the(roles: dict[str, Role], role: Role) -> str | None:
    holders = [s for s, r in roles.items() if r == role]
    if len(holders) > 1:
        raise BenchError(f"more than one system has role '{role}': {', '.join(holders)}")
    return holders[0] if holders else None


def trivial_predictions(task: Task, samples: list[dict]) -> list[str]:
    """The floor a trained system must beat: copy the source, or its first sentence."""
    if task.trivial == "empty":
        return ["" for _ in samples]
    if task.trivial == "copy_source":
        return [s["source"] for s in samples]
    return [(regex_sentences(s["source"].strip().split("\n")[0]) or [""])[0] for s in samples]
