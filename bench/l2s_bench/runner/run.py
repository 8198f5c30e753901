"""`l2s-bench run SUITE`: every system of a suite on every task, quality and speed, resumable.

Per task: prepare the data if missing, train the systems that are missing (`train:`; a finished run
of the same config is reused), then for each system one quality pass (batched generation over the
test items, written to per-sample JSONL as it goes) and one speed pass per backend (batch-size-1 by
default, fixed output length, the same items for every system, timed by `l2s_bench.speed.tracker`).
Scoring reads only what the passes stored (`l2s_bench.runner.collect`), so `l2s-bench score RUN` can re-score
without inference and `--resume` skips every finished sample and speed measurement. A suite with
`curve.every` trains in this process and takes learning-curve points on the way (`l2s_bench.runner.curves`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

from l2s_bench import data, folder_lock, machine, parallel
from l2s_bench.config import config_hash, deep_merge
from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint, train, tuned
from l2s_bench.models import (FOR_ASSISTED, FOR_LOOKUP, FOR_TRAINED, MODELS, GenSettings, ModelAdapter, adapter_args,
                          adapter_class, constructor_args, get_adapter)
from l2s_bench.models.base import Encoded
from l2s_bench.paths import cache_path
from l2s_bench.runner import provenance
from l2s_bench.runner.collect import collect_results
from l2s_bench.files import write_json
from l2s_bench.runner.results import check_not_newer
from l2s_bench.runner.samples import SampleStore, merge_shards, prompt_hash, sample_key, shard_stores
from l2s_bench.runner.score_task import trivial_systems
from l2s_bench.trivial import trivial_predictions
from l2s_bench.runner.suite import SpeedSpec, Suite, SystemDef, slm_baselines
from l2s_bench.speed.tracker import Tracker, cpu_contention, gpu_sharing, peak_memory, summarize
from l2s_bench.tasks import Task, get_task

log = logging.getLogger(__name__)


@dataclass
class Resolved:
    """A suite system made concrete for one task: which adapter, with which arguments."""

    name: str
    role: str
    adapter: str
    args: dict
    hash: str  # system config hash: the per-sample resume key uses it
    weights: str | None = None  # sha256 of the checkpoint's weights, for provenance
    target: str | None = None  # a lossless system: the system whose outputs it reproduces
    trained: dict | None = None  # a trained system: what it read and learned from (features, labels, SLM size)
    baseline: str | None = None  # an L2S: its SLM baseline (`l2s_bench.runner.suite.slm_baselines`)
    reads: str | None = None  # an L2S on the tuned LLM's features: that system (its speedup is stated against it too)

    def describe(self) -> dict:
        extra = {k: v for k, v in (("target", self.target), ("trained", self.trained), ("baseline", self.baseline),
                                   ("reads", self.reads)) if v is not None}
        return {"role": self.role, "adapter": self.adapter, "args": self.args, "hash": self.hash,
                "weights": self.weights, **extra}


def run_suite(suite: Suite, run_dir: str | Path, resume: bool = False) -> dict:
    """Run (or continue) a suite into `run_dir`; returns the results dict also written to results.json."""
    run_dir = Path(run_dir)
    state = run_dir / "suite.json"
    check_not_newer(run_dir / "results.json")
    check_adapters(suite)
    tasks = [get_task(name) for name in suite.tasks]  # a suite may name a task by its YAML path; a bad one
    for task in tasks:  # ... or bad data at hand (encoding, JSON, fields, templates) fails before the run folder
        task.check_data(suite.task_data_dir(task.task), splits=(suite.quality.split,))  # exists and any model loads
    parallel.setup(suite.device)  # one of several ranks (l2s_bench.parallel)
    lock = folder_lock.hold(run_dir, "a suite run") if parallel.is_main() else None
    try:
        return _run_locked(suite, tasks, run_dir, state, resume)
    finally:
        if lock is not None:
            lock.close()


def _run_locked(suite: Suite, tasks: list[Task], run_dir: Path, state: Path, resume: bool) -> dict:
    """`run_suite` under its run folder's lock."""
    if state.exists() and not resume:  # checked under the lock: two runs started together cannot both pass
        raise BenchError(f"{run_dir} already holds a run; pass --resume to continue it or --run-id for a new one")
    machine.set_threads(suite.threads or max(1, machine.available_cores() // parallel.world()))
    started = time.perf_counter()
    sittings = json.loads(state.read_text()).get("sittings", []) if state.exists() else []
    prov = provenance.collect(suite.device)
    sittings.append({"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "resume": resume,
                     "wall_seconds": None, "host": prov["host"], "device": prov["device"]["name"],
                     "processes": parallel.world(), "git": prov["git"], "packages": prov["packages"]})
    record = {"suite": suite.to_dict(), "run_id": run_dir.name, "provenance": prov, "sittings": sittings}
    parallel.barrier()  # every rank has checked the folder before rank 0 writes to it
    if parallel.is_main():
        write_json(record, state)
        for task in tasks:
            ensure_data(task, suite.task_data_dir(task.task))
    parallel.barrier()
    if suite.curve.every > 0:
        from l2s_bench.runner.curves import run_curves  # lazily: l2s_bench.runner.curves builds on this module's passes

        for task in tasks:
            run_curves(suite, task, run_dir)
    else:
        train_missing(suite, tasks, run_dir / "logs")
    for task in tasks:
        run_task(suite, task, run_dir)
    if not parallel.is_main():
        parallel.barrier()
        return {}
    results = collect_results(run_dir)
    sittings[-1]["wall_seconds"] = round(time.perf_counter() - started, 1)  # scoring included
    record["sittings"] = results["sittings"] = _with_sitting(state, sittings[-1])
    write_json(record, state)
    write_json(results, run_dir / "results.json")
    parallel.barrier()  # the ranks end together
    return results


def _with_sitting(state: Path, mine: dict) -> list[dict]:
    """The run's sittings as stored now, with this one's entry finished: sittings on other tasks of the
    same folder may have started or ended since this one began, and keep their entries."""
    stored = json.loads(state.read_text()).get("sittings", [])
    same = [i for i, s in enumerate(stored) if (s["started"], s["host"]) == (mine["started"], mine["host"])]
    if same:
        stored[same[-1]] = mine
    else:
        stored.append(mine)
    return stored


def check_adapters(suite: Suite) -> None:
    """The named systems' adapters and arguments, before a run folder or any work exists: a misspelt
    adapter or argument is one message, not a half-started run that then demands --resume."""
    for d in suite.systems.values():
        if d.adapter is not None:
            adapter_args(d.adapter, MODELS.get(d.adapter), d.args)


def ensure_data(task: Task, data_dir: str | None) -> None:
    """Build a task's offline data set on first use (needs root for apt, as `data prepare` does)."""
    builder = task.dataset.builder
    if builder and data_dir is None and not (cache_path("data", builder) / "test.jsonl").exists():
        log.info("task %s: preparing data set %s (first use)", task.task, builder)
        data.prepare(builder)


def for_training(suite: Suite, task: str, ready_only: bool = False) -> dict[str, SystemDef]:
    """The task's systems, each `train:` system's overrides carrying what its training config leaves to
    the suite: `system` from its role and `out` as `runs/<task>/<name>` where the config names neither
    (`train.role_defaults`), `train.device` from the suite's device and `data.data_dir` from its data_dir
    where the config differs, and the source of the tuned LLM that an `llm:` or `teacher:` system names
    (`l2s.llm_source`, `teacher.source`). A system's own overrides win. Where config and suite agree
    nothing is added, so the config hash is unchanged.

    A system whose `llm:` or `teacher:` is not trained yet is left out with `ready_only` (training goes
    in rounds, `train_missing`), else it is an error."""
    defs = suite.for_task(task)
    data_dir = suite.task_data_dir(task)
    for name, d in sorted(defs.items(), key=lambda kv: bool(kv[1].llm or kv[1].teacher)):  # their sources first
        if not d.train:
            continue
        settings = train.role_defaults(d.train, d.role, name, d.overrides, task)
        for key, field in (("llm", ("l2s", "llm_source")), ("teacher", ("teacher", "source"))):
            if getattr(d, key) is None:
                continue
            source = _source_of(defs[getattr(d, key)])
            if source is None:
                if ready_only:
                    break
                raise BenchError(f"system '{name}' of task {task} reads {key} '{getattr(d, key)}', which is not "
                                 "trained; rerun with --resume to train it")
            settings.setdefault(field[0], {})[field[1]] = source
        else:
            cfg, _ = train.load_config(d.train, deep_merge(settings, d.overrides))
            if d.teacher and not cfg.teacher.used:
                raise BenchError(f"system '{name}' of task {task} names teacher '{d.teacher}', but its config uses no "
                                 "teacher labels: set teacher.sequence and/or teacher.kd_weight")
            if cfg.train.device != suite.device:
                settings["train"] = {"device": suite.device}
            if data_dir is not None and cfg.data.data_dir != data_dir:
                settings["data"] = {"data_dir": data_dir}
            defs[name] = replace(d, overrides=deep_merge(settings, d.overrides))
            continue
        del defs[name]  # ready_only: its source is not trained yet
    return defs


def _source_of(d: SystemDef) -> str | None:
    """The model source a system offers as an LLM or a teacher: a trained llm-ft's tuned LLM (exported
    once, `l2s_bench.method.tuned`; None while untrained), or an llm system's adapter source."""
    if d.train is None:
        return d.args["source"]
    final = train.finished(d.train, overrides=d.overrides)
    return tuned.export(final) if final is not None else None


def train_missing(suite: Suite, tasks: list[Task], log_dir: Path) -> None:
    """Train every system the suite needs and lacks. With `train_jobs` > 1 they run side by side as
    `l2s-bench train` subprocesses with the cores split between them (on 2 CPU cores, fp32: two 1-thread
    trainings 1.5x the throughput of one 2-thread training; with bf16 autocast no faster)."""
    while jobs := [(f"{task.task}-{name}", d) for task in tasks for name, d in pending_trainings(suite, task.task)]:
        parallel.barrier()  # every rank listed the same missing trainings before any finishes one
        _train_jobs(suite, jobs, log_dir)  # a round: what the next round's systems read (a tuned LLM) comes first


def pending_trainings(suite: Suite, task: str) -> list[tuple[str, SystemDef]]:
    """The task's systems still to train whose `llm:` and `teacher:` are trained (`for_training`'s
    ready_only); train them and call again until it is empty."""
    return [(name, d) for name, d in for_training(suite, task, ready_only=True).items()
            if d.train and not train.finished(d.train, overrides=d.overrides)]


def _train_jobs(suite: Suite, jobs: list[tuple[str, SystemDef]], log_dir: Path) -> None:
    if suite.train_jobs <= 1 or len(jobs) == 1 or parallel.state():  # several ranks: each training DDP
        for label, d in jobs:
            log.info("training %s from %s", label, d.train)
            train.train(d.train, resume=True, overrides=d.overrides)
        return
    threads = max(1, (os.cpu_count() or 1) // suite.train_jobs)
    log_dir.mkdir(parents=True, exist_ok=True)
    failed = threading.Event()

    def job(label: str, d) -> str | None:
        if failed.is_set():  # start nothing new after a failure; the running trainings finish
            return None
        cmd = [sys.executable, "-m", "l2s_bench.cli", "train", d.train, "--resume", "--samples", "0",
               "--set", json.dumps(d.overrides)]
        path = log_dir / f"train-{label}.log"
        log.info("training %s from %s (%d threads; log: %s)", label, d.train, threads, path)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        with open(path, "w") as logfile:
            code = subprocess.run(cmd, stdout=logfile, stderr=subprocess.STDOUT, env=env).returncode
        if code == 0:
            log.info("trained %s", label)
            return None
        failed.set()
        tail = "".join(path.read_text().splitlines(keepends=True)[-15:])
        return f"training {label} failed (exit {code}); log tail ({path}):\n{tail}"

    with ThreadPoolExecutor(max_workers=suite.train_jobs) as pool:
        failures = [f for f in pool.map(lambda j: job(*j), jobs) if f]
    if failures:
        for f in failures:
            log.error("%s", f)
        raise BenchError("\n".join(failures) + "\nfinished trainings and checkpoints are kept; fix the cause and rerun "
                         "with --resume")


def run_task(suite: Suite, task: Task, run_dir: Path) -> None:
    name = task.task
    data_dir = suite.task_data_dir(name)
    samples = task.samples(suite.quality.split, suite.quality.limit, data_dir)
    systems = resolve_systems(suite, task)
    folder = run_dir / "samples" / name
    trivials = trivial_baselines(task, samples, data_dir)
    if clash := sorted({t.name for t in trivials} & set(systems)):
        raise BenchError(f"suite system name {', '.join(clash)} is a trivial baseline's name; choose another")
    if parallel.is_main():
        for trivial in trivials:
            store_trivial(task, samples, SampleStore(folder / f"{trivial.name}.jsonl"), trivial)
        manifest = {"task": name, "task_file": task.file, "split": suite.quality.split, "data_dir": data_dir,
                    "data_sha256": items_sha(samples), "ids": [str(s["id"]) for s in samples],
                    **task.item_notes(samples, suite.quality.split)}
        described = {s.name: s.describe() for s in [*trivials, *systems.values()]}
        write_json({**manifest, "systems": with_earlier_systems(folder, manifest, described)},
                   folder / "_manifest.json")
    for system in systems.values():
        store = SampleStore(folder / f"{system.name}.jsonl")
        shards = shard_stores(folder, system.name)
        todo = [] if MODELS.get(system.adapter).lossless else [
            (i, s) for i, s in enumerate(samples) if not any(sample_key(name, str(s["id"]), system.hash) in x
                                                            for x in (store, *shards))]
        speed_files = {b: run_dir / "speed" / name / f"{system.name}.{b}.json" for b in suite.speed.backends}
        speed_todo = [b for b, f in speed_files.items() if suite.speed.enabled and not _fresh(f, system.hash, suite.speed)]
        parallel.barrier()  # every rank read the same stored state before any rank adds to it
        if not parallel.is_main():
            speed_todo = []  # timed on rank 0 alone, the others idle
        if not todo and not speed_todo:
            if not any(len(x) for x in shards):
                log.info("%s/%s: finished earlier; reusing it", name, system.name)
            if parallel.is_main():
                merge_shards(store, shards)
            continue
        adapter = get_adapter(system.adapter, **system.args)
        if todo:
            mine = shards[parallel.rank()] if parallel.state() else store
            quality_pass(adapter, task, todo, len(samples), mine, system, suite.quality.batch_size)
            parallel.barrier()
            if parallel.is_main():
                merge_shards(store, shard_stores(folder, system.name))
        speed_items = samples[:suite.speed.n]
        for backend in speed_todo:
            write_json(speed_pass(adapter, task, speed_items, suite.speed, backend, suite.device, system),
                       speed_files[backend])
        del adapter
        gc.collect()
        if suite.device.startswith("cuda"):
            torch.cuda.empty_cache()


def with_earlier_systems(folder: Path, manifest: dict, now: dict) -> dict:
    """This sitting's systems plus those an earlier sitting of the run recorded for the same items and
    this one does not run (`--systems` picks a subset), in the earlier order: their stored samples are
    still scored. A kept system needs its samples, or an adapter that is lossless (its quality is its
    target's)."""
    path = folder / "_manifest.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if (old.get("data_sha256"), old.get("ids")) != (manifest["data_sha256"], manifest["ids"]):
        return now

    def kept(name: str, desc: dict) -> bool:
        cls = adapter_class(desc.get("adapter", ""))
        return desc.get("role") != "trivial" and ((folder / f"{name}.jsonl").exists() or bool(cls and cls.lossless))

    merged = {name: now.get(name, desc) for name, desc in old.get("systems", {}).items() if name in now or kept(name, desc)}
    return {**merged, **now}


def resolve_systems(suite: Suite, task: Task) -> dict[str, Resolved]:
    """Turn every system into an adapter + arguments, once its training is done (trained systems become
    `FOR_TRAINED` on their final checkpoint; an assisted system becomes `FOR_ASSISTED`, pairing its target's
    arguments with its assistant's checkpoint). What each adapter declares (`ModelAdapter`) decides the rest:
    whether `chat` defaults to the task's, and which arguments name checkpoints whose weights are hashed."""
    defs = for_training(suite, task.task)
    gen = _quality_gen(task)
    common = {"device": suite.device, "dtype": suite.dtype, "reserve_new_tokens": reserve_tokens(suite, task)}
    resolved: dict[str, Resolved] = {}
    for name, d in sorted(defs.items(), key=lambda kv: kv[1].paired):  # paired systems need the others
        if d.train:
            final = train.finished(d.train, overrides=d.overrides)
            if final is None:  # `train_missing` (or `l2s_bench.runner.curves`) trains; resolving never does
                raise BenchError(f"system '{name}' of task {task.task} is not trained ({d.train}); "
                                 "rerun with --resume to train it")
            adapter = FOR_TRAINED
            args = {MODELS.get(adapter).checkpoint_arg: str(final), **d.args}
        elif d.paired:
            target = resolved[d.target]
            if target.adapter == FOR_TRAINED:  # the tuned LLM, as a plain model source
                args = {"source": tuned.export(target.args[MODELS.get(FOR_TRAINED).checkpoint_arg])}
            else:
                args = {k: v for k, v in target.args.items() if k not in common}
            if d.lookup is not None:
                adapter, args = FOR_LOOKUP, {**args, "lookup_tokens": d.lookup}
            else:
                draft = resolved[d.assistant]
                adapter = FOR_ASSISTED
                args[MODELS.get(adapter).draft_arg] = draft.args[MODELS.get(draft.adapter).checkpoint_arg]
        else:
            adapter, args = d.adapter, dict(d.args)
        cls = MODELS.get(adapter)
        accepted = constructor_args(cls)
        if cls.chat_from_task and (accepted is None or "chat" in accepted):  # supplied only where it is taken
            args.setdefault("chat", task.chat)
        args = {**common, **args}
        adapter_args(adapter, cls, args)  # an argument the adapter does not take fails here, before any work
        weights = {k: checkpoint.read_meta(args[k])["weights_sha256"]
                   for k in (cls.checkpoint_arg, cls.draft_arg) if k is not None and k in args}
        resolved[name] = Resolved(name, d.role, adapter, args, _system_hash(task, adapter, args, weights, gen),
                                  weights.get(cls.checkpoint_arg) if cls.checkpoint_arg is not None else None,
                                  target=d.target if d.paired else None, reads=d.llm,
                                  trained=_trained(args[cls.checkpoint_arg]) if d.train else None)
    for name, base in slm_baselines(defs).items():
        resolved[name].baseline = base
        layers = [(resolved[n].trained or {}).get("layers") for n in (name, base)]
        if None not in layers and layers[0] != layers[1]:
            raise BenchError(f"task {task.task}: L2S '{name}' has a {layers[0]}-layer SLM but its baseline '{base}' "
                             f"{layers[1]} layers; compare each L2S with the SLM of its own size (baseline:)")
    return resolved


def _trained(final: str) -> dict:
    """What a trained system read and learned from, from its checkpoint: the LLM whose features it
    reads (None: the SLM baseline and the tuned LLM read none), its labels, and the depth of the model
    that generates (the SLM's layers; the tuned LLM's own)."""
    meta = checkpoint.read_meta(final)
    layers = json.loads((Path(final) / "slm" / "config.json").read_text()).get("num_hidden_layers")
    return {"features_llm": (meta.get("llm") or {}).get("source"),
            "labels": meta.get("trainer", {}).get("labels", "references"), "layers": layers}


def reserve_tokens(suite: Suite, task: Task) -> int:
    """The new tokens a system must leave room for after its prompt: the longer of quality and speed."""
    return max(task.generation.max_new_tokens, suite.speed.max_new_tokens or 0)


def _system_hash(task: Task, adapter: str, args: dict, weights: dict[str, str], gen: GenSettings) -> str:
    """What decides a prediction: adapter, arguments, weights (by sha256, not path), prompt, settings."""
    return config_hash({"task": task.task, "adapter": adapter, "args": {**args, **weights},
                        "prompts": dict(task.prompts), "gen": [gen.max_new_tokens, gen.num_beams]})


def _quality_gen(task: Task) -> GenSettings:
    return GenSettings(max_new_tokens=task.generation.max_new_tokens, num_beams=task.generation.num_beams)


def items_sha(samples: list[dict]) -> str:
    return hashlib.sha256(json.dumps(samples, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _fresh(path: Path, system_hash: str, spec: SpeedSpec) -> bool:
    """A stored speed measurement is reused only for the same system and the same speed settings."""
    if not path.exists():
        return False
    stored = json.loads(path.read_text())
    return stored.get("system_hash") == system_hash and stored.get("settings") == _speed_settings(spec) \
        and "error" not in stored


def _speed_settings(spec: SpeedSpec) -> dict:
    """What a stored speed pass must match to be reused: the settings, and the machine it ran on
    (a run resumed elsewhere, e.g. a fresh clone of committed results, measures its own speed)."""
    settings = {k: v for k, v in asdict(spec).items() if k not in ("enabled", "backends", "n_bootstrap")}
    return {**settings, "machine": provenance.machine()}


def trivial_baselines(task: Task, samples: list[dict], data_dir: str | None) -> list[Resolved]:
    """The task's trivial rules as systems (`l2s_bench.runner.score_task.trivial_systems`), with their hashes."""
    return [Resolved(n, "trivial", "trivial", args, _trivial_hash(args))
            for n, args in trivial_systems(task, samples, data_dir).items()]


def _trivial_hash(args: dict) -> str:
    """What decides a trivial prediction: the rule, and lead_words' k (not where k came from). A rule
    without k hashes as it did before there were several, so older runs resume."""
    return config_hash({"trivial": args["rule"], **({"k": args["k"]} if "k" in args else {})})


def store_trivial(task: Task, samples: list[dict], store: SampleStore, system: Resolved) -> None:
    preds = trivial_predictions(samples, system.args["rule"], system.args.get("k"))
    store.append([_row(task.task, i, s, system, p, "", None, 0.0, 1) for i, (s, p) in enumerate(zip(samples, preds))])


def _row(task: str, index: int, sample: dict, system: Resolved, prediction: str, prompt: str,
         new_tokens: int | None, batch_seconds: float, batch_size: int) -> dict:
    return {"key": sample_key(task, str(sample["id"]), system.hash), "task": task, "id": str(sample["id"]),
            "index": index, "system": system.name, "prompt_sha": prompt_hash(prompt), "prediction": prediction,
            "source": str(sample["source"]), "reference": str(sample["reference"]), "new_tokens": new_tokens,
            "batch_ms": round(batch_seconds * 1000, 2), "batch_size": batch_size}


def quality_pass(adapter: ModelAdapter, task: Task, todo: list[tuple[int, dict]], total: int, store: SampleStore,
                 system: Resolved, batch_size: int) -> None:
    """Batched generation over the items not yet stored; each batch is appended (and fsynced) at once.
    Each row also records what the adapter's `encode` says about its prompt (`prompt_notes`). With
    several ranks, each generates its share of the same batches (batch k: rank k mod N)."""
    gen = _quality_gen(task)
    bar = tqdm(total=total, initial=total - len(todo), desc=f"{task.task}/{system.name}", unit="item",
               disable=not parallel.is_main())
    for k, start in enumerate(range(0, len(todo), batch_size)):
        batch = todo[start:start + batch_size]
        if not parallel.mine(k):
            bar.update(len(batch))
            continue
        prompts = [task.prompt(s, adapter.prompt_family) for _, s in batch]
        began = time.perf_counter()
        encoded, ids = adapter.generate_batch(prompts, gen)
        seconds = time.perf_counter() - began
        store.append([{**_row(task.task, i, s, system, text, prompt, len(seq), seconds, len(batch)), **notes}
                      for (i, s), prompt, seq, text, notes in zip(batch, prompts, ids, adapter.text(ids),
                                                                  prompt_notes(encoded, len(batch)))])
        bar.update(len(batch))
    bar.close()


def prompt_notes(encoded: Encoded, n: int) -> list[dict]:
    """Per item of a batch of n: `prompt_tokens` (the tokens its model read) and `prompt_truncated`
    (cut from the left to fit the model's positions), each where the adapter reports it for every item.
    Not part of the sample key: rows stored before these fields existed stay valid."""
    notes: list[dict] = [{} for _ in range(n)]
    for field, values in (("prompt_tokens", encoded.prompt_tokens), ("prompt_truncated", encoded.truncated)):
        if values is not None and len(values) == n:
            for note, value in zip(notes, values):
                note[field] = int(value) if field == "prompt_tokens" else bool(value)
    return notes


def speed_pass(adapter: ModelAdapter, task: Task, items: list[dict], spec: SpeedSpec, backend: str, device: str,
               system: Resolved) -> dict:
    """Time full generations and one-token prefills of the same items with one tracker. A failing backend
    (e.g. a compile error) is recorded as the measurement's `error`, not raised: other results survive."""
    new_tokens = spec.max_new_tokens or task.generation.max_new_tokens
    full_gen = GenSettings(max_new_tokens=new_tokens, min_new_tokens=new_tokens if spec.mode == "fixed" else 0,
                           backend=backend)
    prefill_gen = GenSettings(max_new_tokens=1, min_new_tokens=1, backend=backend)
    batches = [items[i:i + spec.batch_size] for i in range(0, len(items), spec.batch_size)]
    outputs: dict[str, list[list[int]]] = {}

    def call(batch: list[dict], gen: GenSettings, keep: bool):
        prompts = [task.prompt(s, adapter.prompt_family) for s in batch]

        def timed(mark) -> int:
            ids = adapter.generate_ids(prompts, gen, mark)
            if keep:
                outputs[_batch_key(batch)] = ids
            return sum(len(seq) for seq in ids)
        return timed

    tracker = Tracker(device, spec.warmup, spec.min_runs, spec.min_seconds, spec.max_runs)
    sharing = gpu_sharing(device)
    if sharing:
        log.warning("other processes use the GPU during the speed pass: %s", sharing)
    record = {"system_hash": system.hash, "settings": _speed_settings(spec), "system": system.name,
              "task": task.task, "backend": backend}
    try:
        with torch.inference_mode(), peak_memory(device) as memory, \
                cpu_contention(f"{task.task}/{system.name} ({backend})") as contention:
            counters = adapter.counters
            if counters is not None:
                counters.update(dict.fromkeys(counters, 0))
            full = tracker.measure([(_batch_key(b), call(b, full_gen, True)) for b in batches], batch=spec.batch_size)
            counted = dict(counters) if counters is not None else None
            prefill = tracker.measure([(_batch_key(b), call(b, prefill_gen, False)) for b in batches],
                                      batch=spec.batch_size)
    except Exception as e:  # noqa: BLE001  (recorded with the run, see the docstring)
        log.warning("%s/%s: the %s speed pass failed: %s: %s", task.task, system.name, backend, type(e).__name__, e)
        return {**record, "error": f"{type(e).__name__}: {e}"}
    summary = summarize(full, prefill)
    if counted:  # adapter counters over the full-length runs (assisted: tokens per LLM forward)
        if counted.get("llm_forwards"):
            counted["tokens_per_llm_forward"] = round(counted["generated_tokens"] / counted["llm_forwards"], 3)
        summary["counters"] = counted
    summary.update(backend=backend, device=device, dtype=system.args.get("dtype"), mode=spec.mode,
                   batch_size=spec.batch_size, new_tokens=new_tokens, peak_mem_mb=memory,
                   gpu_shared=bool(sharing), **contention, timer="cuda-synchronize+perf_counter" if device.startswith("cuda")
                   else "perf_counter")
    seconds = full.per_key()
    tokens = full.tokens_per_key()
    return {**record, "summary": summary,
            "per_sample": {k: {"seconds": seconds[k], "tokens": tokens[k]} for k in seconds},
            "outputs": {k: adapter.text(v) for k, v in outputs.items()}}


def _batch_key(batch: list[dict]) -> str:
    return "+".join(str(s["id"]) for s in batch)
