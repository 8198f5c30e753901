"""Learning curves: where each trained system crosses the trivial bar, and whether L2S learns faster
than its SLM baseline (the method's claim), without a checkpoint on disk per point.

With a suite's `curve.every` > 0, `run_curves` trains each `train:` system that still needs training
in this process with `l2s_bench.method.train`'s curve hook: at step 0 and every `every` steps the in-memory model
is wrapped in the trained-system adapter (`FOR_TRAINED`) and the runner's own quality pass generates for a fixed seeded
subset of `curve.split` (checkpoints are 170-540 MB; a curve needs 20+ points). The LLM and the
trivial baselines run once on the same items, for the reference lines. Files, under
`results/<run>/samples/<task>/curve/`::

    _points.json                the items, each system's points (step, tokens_seen, file), the references
    <system>/step-000100.jsonl  one line per item, keyed by (task, id, curve hash + step) as in run.py
    llm.jsonl, trivial*.jsonl   the reference lines' predictions

A resumed run skips finished items (the keys), and the trainer calls the hook again at the step it
resumes from, so a point cut short is completed. A training that had finished before (a reused
checkpoint) has one point, its final checkpoint at its final step, measured on the same items; a
system with no point at all is reported missing, never an invented one.
`score_curves` (called by `l2s_bench.runner.collect`) turns the stored predictions into `results["curves"]`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from l2s_bench.config import config_hash
from l2s_bench.method import checkpoint, train
from l2s_bench.metrics import get_metric
from l2s_bench.models import FOR_TRAINED, get_adapter
from l2s_bench.models.llm2slm import LLM2SLMAdapter
from l2s_bench.runner import verdict
from l2s_bench.files import write_json
from l2s_bench.runner.run import (Resolved, items_sha, pending_trainings, quality_pass, reserve_tokens, resolve_systems,
                              store_trivial, trivial_baselines)
from l2s_bench.runner.samples import SampleStore, sample_key
from l2s_bench.runner.suite import Suite
from l2s_bench.tasks import Task

log = logging.getLogger(__name__)
POINTS = "_points.json"
WRAP_ARGS = ("chat", "max_prompt_tokens", "reserve_new_tokens")  # the llm2slm arguments a curve point uses


class Points:
    """`_points.json` of one task: read once, rewritten atomically after every change. Stored points
    taken on other items (the curve split or limit changed) are dropped: they are not comparable."""

    def __init__(self, folder: Path, task: Task, split: str, items: list[dict]):
        self.folder, self.path = folder, folder / POINTS
        ids = [str(s["id"]) for s in items]
        stored = json.loads(self.path.read_text()) if self.path.exists() else {}
        if stored and (stored.get("split"), stored.get("ids")) != (split, ids):
            log.warning("%s: the curve items changed; earlier curve points are dropped", self.path)
            stored = {}
        self.data = stored or {"task": task.task, "split": split, "ids": ids, "data_sha256": items_sha(items),
                               "references": {}, "systems": {}}
        self.save()

    def save(self) -> None:
        write_json(self.data, self.path)

    def add_point(self, name: str, role: str, curve_hash: str, point: dict) -> None:
        """Record (or re-record: the hook is called again on resume) one point. A system whose
        training config changed starts a new curve."""
        system = self.data["systems"].get(name)
        if system is None or system["hash"] != curve_hash:
            system = self.data["systems"][name] = {"role": role, "hash": curve_hash, "points": []}
        system["points"] = sorted([p for p in system["points"] if p["step"] != point["step"]] + [point],
                                  key=lambda p: p["step"])
        self.save()

    def set_reference(self, system: Resolved, file: str) -> None:
        self.data["references"][system.name] = {"role": system.role, "hash": system.hash, "file": file}
        self.save()


def run_curves(suite: Suite, task: Task, run_dir: Path) -> None:
    """Train the task's missing systems with curve points, then run the reference lines."""
    spec = suite.curve
    items = task.samples(spec.split, spec.limit, suite.task_data_dir(task.task))
    points = Points(run_dir / "samples" / task.task / "curve", task, spec.split, items)
    while todo := pending_trainings(suite, task.task):  # in rounds: a tuned LLM before the systems reading it
        for name, d in todo:
            cfg, raw = train.load_config(d.train, d.overrides)
            args = {"chat": cfg.data.chat, "reserve_new_tokens": reserve_tokens(suite, task),
                    **{k: v for k, v in d.args.items() if k in WRAP_ARGS}}
            # What decides a point's predictions besides its step: the training config (not the weights:
            # there is no file), the adapter's arguments, the prompts and the generation settings.
            curve_hash = config_hash({"task": task.task, "train": config_hash(raw), "adapter": FOR_TRAINED, "args": args,
                                      "prompts": dict(task.prompts),
                                      "gen": [task.generation.max_new_tokens, task.generation.num_beams]})
            system = Resolved(name, d.role, FOR_TRAINED, args, curve_hash)
            log.info("training %s-%s from %s, a curve point every %d steps", task.task, name, d.train, spec.every)
            train.train(d.train, resume=True, overrides=d.overrides,
                        curve=(spec.every, _recorder(suite, task, items, points, system)))
    _references(suite, task, items, points)


def _recorder(suite: Suite, task: Task, items: list[dict], points: Points, system: Resolved):
    """The trainer's curve callback for one system: generate for the items not yet stored at this step."""

    def record(step: int, tokens_seen: int, model) -> None:
        at = Resolved(system.name, system.role, system.adapter, system.args, f"{system.hash}@{step}")
        file = f"{system.name}/step-{step:06d}.jsonl"
        store = SampleStore(points.folder / file)
        todo = [(i, s) for i, s in enumerate(items) if sample_key(task.task, str(s["id"]), at.hash) not in store]
        if todo:
            log.info("%s/%s: curve point at step %d (%d tokens seen)", task.task, system.name, step, tokens_seen)
            device = str(next(model.parameters()).device)
            adapter = LLM2SLMAdapter.wrap(model, device=device, **system.args)
            quality_pass(adapter, task, todo, len(items), store, at, suite.curve.batch_size)
        points.add_point(system.name, system.role, system.hash, {"step": step, "tokens_seen": tokens_seen, "file": file})

    return record


def _references(suite: Suite, task: Task, items: list[dict], points: Points) -> None:
    """The trivial baselines and the LLM on the curve items: the lines a curve is read against. A
    trained system whose checkpoint was reused (trained before this run, e.g. by `default`) gets the one
    point that can be measured honestly: its final checkpoint, at its final step."""
    for trivial in trivial_baselines(task, items, suite.task_data_dir(task.task)):
        store_trivial(task, items, SampleStore(points.folder / f"{trivial.name}.jsonl"), trivial)
        points.set_reference(trivial, f"{trivial.name}.jsonl")
    resolved = resolve_systems(suite, task).values()
    llm = next((s for s in resolved if s.role == "llm"), None)
    if llm is not None:
        _generate(suite, task, items, points, llm, f"{llm.name}.jsonl", llm.hash)
        points.set_reference(llm, f"{llm.name}.jsonl")
    for system in resolved:
        stored = points.data["systems"].get(system.name)
        if system.role not in verdict.TRAINED or (stored and stored["hash"] != system.hash and stored["points"]):
            continue  # not trained, or trained in this run with its own points
        meta = checkpoint.read_meta(system.args["checkpoint"]).get("trainer", {})
        step = int(meta.get("train", {}).get("steps") or meta.get("config", {}).get("train", {}).get("steps", 0))
        file = f"{system.name}/final-step-{step:06d}.jsonl"
        _generate(suite, task, items, points, system, file, f"{system.hash}@{step}")
        points.add_point(system.name, system.role, system.hash,
                         {"step": step, "tokens_seen": meta.get("train", {}).get("tokens_seen"), "file": file,
                          "final_checkpoint": system.args["checkpoint"]})


def _generate(suite: Suite, task: Task, items: list[dict], points: Points, system: Resolved, file: str,
              key_hash: str) -> None:
    """A stored system's predictions on the curve items (only those not stored yet)."""
    at = Resolved(system.name, system.role, system.adapter, system.args, key_hash)
    store = SampleStore(points.folder / file)
    todo = [(i, s) for i, s in enumerate(items) if sample_key(task.task, str(s["id"]), key_hash) not in store]
    if todo:
        adapter = get_adapter(system.adapter, **system.args)
        quality_pass(adapter, task, todo, len(items), store, at, suite.curve.batch_size)


# ---------------------------------------------------------------- scoring (l2s_bench.runner.collect)

def score_curves(run_dir: Path, suite: Suite, task: Task, trained: dict[str, str]) -> dict | None:
    """`results["curves"][task]` from the stored predictions (None when the run took no curve for the
    task): the primary metric with its CI at every point, the verdict against the trivial bar (the
    strongest trivial system on these items, `l2s_bench.runner.verdict`), and the first step that passes it.
    `trained` = {system: role} of the run's trained systems; one without points is reported missing."""
    folder = run_dir / "samples" / task.task / "curve"
    if not (folder / POINTS).exists():
        return None
    stored = json.loads((folder / POINTS).read_text())
    ids, n_boot, seed = stored["ids"], suite.curve.n_bootstrap, suite.quality.seed
    metric = get_metric(task.metrics[0].name, **task.metrics[0].options)

    def predictions(file: str, system_hash: str) -> list[dict] | None:
        rows = SampleStore(folder / file).rows
        found = [rows.get(sample_key(task.task, i, system_hash)) for i in ids]
        return None if None in found else found

    refs, refs_of = None, {}  # the references; {reference line: (role, predictions)}
    for name, ref in stored["references"].items():
        rows = predictions(ref["file"], ref["hash"])
        if rows is None:
            log.warning("%s: curve reference %s is incomplete; left out", task.task, name)
            continue
        refs_of[name] = (ref["role"], [r["prediction"] for r in rows])
        refs = [r["reference"] for r in rows]
    if refs is None:
        log.warning("%s: the curve has no complete reference line (rerun with --resume); not scored", task.task)
        return None

    def score(hyps: list[str]) -> dict:
        s = metric.score(hyps, refs, n_boot, seed)
        return {"value": s.value, "ci": list(s.ci) if s.ci else None}

    trivials = {name: hyps for name, (role, hyps) in refs_of.items() if role == "trivial"}
    trivial_scores = {name: score(hyps) for name, hyps in trivials.items()}
    bar = verdict.bar({name: s["value"] for name, s in trivial_scores.items()})
    llm = next((score(hyps) for role, hyps in refs_of.values() if role == "llm"), None)
    systems = {}
    for name, role in trained.items():
        entry = stored["systems"].get(name)
        if not entry or not entry["points"]:
            systems[name] = {"role": role, "points": [], "crosses_trivial_at": None,
                             "missing": "its checkpoint was trained before this run, without curve points"}
            continue
        curve = []
        for point in entry["points"]:
            rows = predictions(point["file"], f"{entry['hash']}@{point['step']}")
            if rows is None:
                log.warning("%s/%s: curve point at step %d is incomplete; left out", task.task, name, point["step"])
                continue
            hyps = [r["prediction"] for r in rows]
            scored = {"step": point["step"], "tokens": point["tokens_seen"], **score(hyps), "verdict": None,
                      "p_vs_trivial": None}
            if bar is not None:
                p = metric.paired_p(trivials[bar], hyps, refs, n_boot, seed) if n_boot else None
                vs = verdict.judge(scored["value"], scored["ci"], bar, trivial_scores[bar]["value"], p)
                scored.update(verdict=vs.verdict, p_vs_trivial=p)
            curve.append(scored)
        systems[name] = {"role": role, "points": curve,
                         "crosses_trivial_at": next((p["step"] for p in curve if verdict.passed(p["verdict"])), None)}
    return {"split": stored["split"], "n": len(ids), "metric": metric.name,
            "trivial": {"system": bar, **trivial_scores[bar]} if bar else None, "llm": llm, "systems": systems}
