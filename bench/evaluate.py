"""Evaluate systems on one task: generate on the same test items, then score them together.

This is the quality pass alone: no timing, no resume. The suite runner builds on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from bench.errors import BenchError
from bench.models import MODELS, GenSettings, get_adapter, parse_model_args
from bench.scoring import score_slices, score_task, trivial_predictions, trivial_systems
from bench.tasks import Task
from bench.verdict import ROLES, verdict_of


@dataclass
class SystemSpec:
    name: str
    role: str
    adapter: str
    args: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SystemSpec:
        """`NAME[@ROLE]=ADAPTER[:k=v,...]`, e.g. `l2s=llm2slm:checkpoint=runs/x/final`; ROLE defaults to NAME."""
        head, sep, body = text.partition("=")
        if not sep or not body:
            raise BenchError(f"--system expects NAME[@ROLE]=ADAPTER[:k=v,...], got {text!r}")
        name, _, role = head.partition("@")
        role = role or name
        if role not in ROLES:
            raise BenchError(f"system '{name}': role '{role}' is not one of {', '.join(ROLES)} (write NAME@ROLE=...)")
        adapter, _, args = body.partition(":")
        return cls(name, role, adapter, parse_model_args(args))


def evaluate(task: Task, systems: list[SystemSpec], split: str = "test", limit: int | None = None,
             batch_size: int = 16, data_dir: str | Path | None = None, n_bootstrap: int = 1000) -> dict:
    """Scores (with CIs, signatures and paired p-values) plus every prediction, as one JSON-able dict."""
    samples = task.samples(split, limit, data_dir)
    refs = [str(s["reference"]) for s in samples]
    gen = GenSettings(max_new_tokens=task.generation.max_new_tokens, num_beams=task.generation.num_beams)
    trivials = trivial_systems(task, samples, data_dir)
    outputs = {name: trivial_predictions(samples, args["rule"], args.get("k")) for name, args in trivials.items()}
    roles = dict.fromkeys(trivials, "trivial")
    seconds: dict[str, float] = {}
    for spec in systems:
        if spec.name in outputs:
            raise BenchError(f"system name '{spec.name}' is used twice")
        args = dict(spec.args)
        if MODELS.get(spec.adapter).chat_from_task:
            args.setdefault("chat", task.chat)
        args.setdefault("reserve_new_tokens", gen.max_new_tokens)
        adapter = get_adapter(spec.adapter, **args)
        prompts = [task.prompt(s, adapter.prompt_family) for s in samples]
        started = time.perf_counter()
        preds: list[str] = []
        for i in tqdm(range(0, len(prompts), batch_size), desc=spec.name, unit="batch"):
            preds += adapter.generate(prompts[i:i + batch_size], gen)
        seconds[spec.name] = round(time.perf_counter() - started, 2)
        outputs[spec.name], roles[spec.name] = preds, spec.role
        del adapter
    clusters = task.item_clusters(samples)
    scores = score_task(task, refs, outputs, roles, n_bootstrap=n_bootstrap, clusters=clusters)
    for system, entry in scores.items():
        entry["generation_seconds"] = seconds.get(system)
    values = task.slice_values(samples)
    return {
        "task": task.task, "split": split, "n": len(samples), "primary_metric": task.metrics[0].name,
        "generation": {"max_new_tokens": gen.max_new_tokens, "num_beams": gen.num_beams, "batch_size": batch_size},
        "systems": {s.name: {"role": s.role, "adapter": s.adapter, "args": s.args} for s in systems},
        "trivial": trivials,
        "scores": scores,
        "slices": score_slices(task, refs, outputs, roles, values, n_bootstrap, clusters=clusters) if values else None,
        "predictions": [{"id": s["id"], "reference": r, **{k: v[i] for k, v in outputs.items()}}
                        for i, (s, r) in enumerate(zip(samples, refs))],
    }


def table(result: dict) -> str:
    """A plain-text table: each metric's value [CI], the p-values against the baselines and the verdict
    against the trivial bar; then the same per slice, when the task has slices."""
    lines = [f"{result['task']} [{result['split']}], n={result['n']}; p: paired bootstrap vs LLM / vs SLM",
             *_rows(result["scores"])]
    for value, scores in (result.get("slices") or {}).items():
        lines += [f"slice {value}, n={next(iter(scores.values()))['n']}", *_rows(scores)]
    return "\n".join(lines)


def _rows(scores: dict) -> list[str]:
    metrics = list(next(iter(scores.values()))["quality"])
    lines = [f"{'system':<24}{'role':<9}" + "".join(f"{m:>30}" for m in metrics) + "  vs trivial"]
    for system, entry in scores.items():
        cells = []
        for m in metrics:
            q = entry["quality"][m]
            ci = f"[{q['ci'][0]:.1f},{q['ci'][1]:.1f}]" if q["ci"] else ""
            p = "/".join(f"{q[k]:.3f}" for k in ("p_vs_llm", "p_vs_slm") if k in q)
            cells.append(f"{q['value']:.2f} {ci} {p}".rjust(30))
        vs = entry.get("vs_trivial")
        p = "" if not vs or vs["p_vs_trivial"] is None else f", p={vs['p_vs_trivial']:.3f}"
        verdict = f"{verdict_of(entry)} (bar {vs['bar']}{p})" if vs else ""
        lines.append(f"{system:<24}{entry['role']:<9}" + "".join(cells) + "  " + verdict)
    return lines
