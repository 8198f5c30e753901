"""Results from what a run stored: per-sample JSONL + speed measurements -> `results.json`.

Used at the end of `l2s-bench run` and alone by `l2s-bench score RUN`, which re-scores without
re-inference (new metric code, another bootstrap seed). Nothing here generates or times. A run that
took learning curves also gets `curves` (scored by `l2s_bench.runner.curves.score_curves`).

The item notes the run stored in each task's manifest (`Task.item_notes`) are what scoring uses:
slice values, and cluster values (whole clusters are resampled). How the numbers were computed
(resamples, seed, paired test, each task's cluster field) goes into `provenance.statistics`.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from l2s_bench.config import from_dict
from l2s_bench.errors import BenchError
from l2s_bench.metrics.base import METRICS, Clusters
from l2s_bench.models import adapter_class
from l2s_bench.runner import provenance, sittings, verdict
from l2s_bench.runner.results import SCHEMA_VERSION
from l2s_bench.runner.samples import SampleStore, sample_key
from l2s_bench.runner.score_task import score_slices, score_task
from l2s_bench.runner.suite import Suite
from l2s_bench.speed.speedup import paired_speedup
from l2s_bench.tasks import get_task

log = logging.getLogger(__name__)
VERDICT_KEYS = ("learned", "vs_trivial")  # `l2s_bench.runner.score_task` decides them; here they are only stored


def collect_results(run_dir: str | Path, n_bootstrap: int | None = None) -> dict:
    run_dir = Path(run_dir)
    state_file = run_dir / "suite.json"
    if not state_file.exists():
        raise BenchError(f"{run_dir} is not a run folder (no suite.json)")
    state = json.loads(state_file.read_text())
    suite = from_dict(Suite, state["suite"], str(state_file))
    n_boot = n_bootstrap or suite.quality.n_bootstrap
    prov = {**state["provenance"], "scored_with": provenance.git_state(),
            "seeds": {"bootstrap": suite.quality.seed, "generation": 0},
            "statistics": {"n_bootstrap": n_boot, "seed": suite.quality.seed, "paired_test": suite.quality.paired,
                           "clusters": {}},
            "config_hash": suite.hash(), "suite_config": state["suite"], "data": {}, "models": {},
            "code": sittings.code_versions(state.get("sittings", []))}
    from l2s_bench.runner.curves import score_curves  # lazily: l2s_bench.runner.curves imports the runner, which imports this module

    tasks, entries, curves = {}, [], {}
    for task in _run_tasks(run_dir, suite):
        name = task.task
        manifest_file = run_dir / "samples" / name / "_manifest.json"
        if not manifest_file.exists():
            log.warning("task %s has not started in this run; left out", name)
            continue
        manifest = json.loads(manifest_file.read_text())
        prov["data"][name] = manifest["data_sha256"]
        clusters = _stored_clusters(task, manifest)
        prov["statistics"]["clusters"][name] = clusters.field if clusters is not None else None
        task_entries, info = _task_entries(run_dir, suite, task, manifest, n_boot, clusters)
        tasks[name] = info
        entries += task_entries
        prov["models"].update({f"{name}/{system}": desc["weights"] for system, desc in manifest["systems"].items()
                               if desc.get("weights")})
        trained = {system: desc["role"] for system, desc in manifest["systems"].items() if desc["role"] in verdict.TRAINED}
        if (curve := score_curves(run_dir, suite, task, trained)) is not None:
            curves[name] = curve
    results = {"schema_version": SCHEMA_VERSION, "suite": suite.suite, "run_id": state["run_id"],
               "created": _created(state, state_file), "sittings": state.get("sittings", []),
               "provenance": prov, "tasks": tasks, "results": entries}
    if curves:
        results["curves"] = curves
    return results


def _run_tasks(run_dir: Path, suite: Suite) -> list:
    """The suite's tasks, then those an earlier sitting of the run stored (a sitting with `--tasks` runs a
    subset; what the others measured is still scored). The suite may name a task by its YAML path; the
    run keys it by its name."""
    tasks = [get_task(given) for given in suite.tasks]
    names = {t.task for t in tasks}
    folder = run_dir / "samples"
    for earlier in sorted(folder.iterdir()) if folder.is_dir() else []:
        if earlier.name in names or not (earlier / "_manifest.json").exists():
            continue
        file = json.loads((earlier / "_manifest.json").read_text()).get("task_file")
        for spec in filter(None, (earlier.name, file)):  # a registered task by name, else its YAML file
            try:
                tasks.append(get_task(spec))
                break
            except BenchError as e:
                why = e
        else:
            log.warning("task %s of an earlier sitting is left out: %s", earlier.name, why)
    return tasks


def _created(state: dict, path: Path) -> str:
    """When the run's first sitting started (older runs: when suite.json was last written)."""
    if state.get("sittings"):
        return state["sittings"][0]["started"]
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")


def _task_entries(run_dir: Path, suite: Suite, task, manifest: dict, n_boot: int,
                  clusters: Clusters | None) -> tuple[list[dict], dict]:
    name, ids = task.task, manifest["ids"]
    outputs, roles, refs, complete, prompts = {}, {}, None, {}, {}
    for system, desc in manifest["systems"].items():
        if _lossless(desc):  # no quality pass of its own
            continue
        store = SampleStore(run_dir / "samples" / name / f"{system}.jsonl")
        rows = [store.rows.get(sample_key(name, i, desc["hash"])) for i in ids]
        done = sum(r is not None for r in rows)
        complete[system] = done
        if done < len(ids):
            log.warning("%s/%s: %d of %d samples done; not scored (rerun with --resume)", name, system, done, len(ids))
            continue
        outputs[system], roles[system] = [r["prediction"] for r in rows], desc["role"]
        refs = [r["reference"] for r in rows]
        prompts[system] = _prompt_fields(rows)
    if refs is None:
        raise BenchError(f"{run_dir}: task {name} has no complete system to score")
    stats = {"n_bootstrap": n_boot, "seed": suite.quality.seed, "clusters": clusters, "paired": suite.quality.paired,
             "baselines": _baselines(manifest)}
    scores = score_task(task, refs, outputs, roles, **stats)
    slices = _slice_scores(task, manifest, refs, outputs, roles, stats)
    primary = task.metrics[0].name
    speeds = _speeds(run_dir, suite, manifest)
    llm = _llm(manifest)
    entries = []
    for system, desc in manifest["systems"].items():
        entry = {"task": name, "system": system, "role": desc["role"], "adapter": desc["adapter"],
                 "config_hash": desc["hash"], "n": len(ids)}
        if desc["role"] == "trivial":
            entry["trivial_rule"] = desc["args"]
        else:
            if desc.get("trained"):
                entry["trained"] = desc["trained"]
            if desc.get("baseline"):
                entry["baseline"] = desc["baseline"]  # the SLM baseline its p_vs_slm is against
            entry.update(prompts.get(system, {"prompts_truncated": None, "prompt_tokens": None}))
        if system in scores:
            entry.update(empty_predictions=scores[system]["empty_predictions"], quality=scores[system]["quality"],
                         **_verdict(scores[system]))
            if slices:
                entry["slices"] = {v: _slice_entry(s[system]) for v, s in slices.items()}
        elif _lossless(desc) and (target := desc.get("target") or llm) in scores:
            entry.update(_assisted_quality(scores[target], speeds, system, target))
            if slices:
                entry["slices"] = {v: _slice_entry(s[target], lossless=True) for v, s in slices.items()}
        else:
            entry.update(quality=None, incomplete=f"{complete.get(system, 0)}/{len(ids)}")
        entry.update(_speed_fields(speeds, system, llm, suite))
        own = desc.get("reads") or (desc.get("target") if _lossless(desc) else None)
        if own and own != llm:  # it reads or speeds up the tuned LLM: its speedup against that LLM too
            against = _speed_fields(speeds, system, own, suite)["speedup_vs_llm"]
            entry["speedup_vs_own_llm"] = {"system": own, **against} if against else None
        entries.append(entry)
    info = {"split": manifest["split"], "n": len(ids), "primary_metric": primary,
            "metrics": [m.name for m in task.metrics], "higher_is_better": METRICS.get(primary).higher_is_better,
            "trivial": task.trivial,
            "data_dir": manifest.get("data_dir")}
    if slices:
        info.update(slice_field=manifest["slices"]["field"], slices=list(slices))
    if "max_words" in manifest:
        info["max_words"] = manifest["max_words"]
    return entries, info


def _baselines(manifest: dict) -> dict[str, str] | None:
    """{L2S: its SLM baseline} as the run recorded it; None for a run from before several SLM sizes
    (each L2S then has the task's one slm system)."""
    found = {name: d["baseline"] for name, d in manifest["systems"].items() if d.get("baseline")}
    return found or None


def _slice_scores(task, manifest: dict, refs: list[str], outputs: dict, roles: dict,
                  stats: dict) -> dict[str, dict[str, dict]] | None:
    """Per-slice scores from the slice values the run stored with its items (None without slices);
    `stats`: `score_task`'s statistics arguments."""
    stored = manifest.get("slices")
    if not stored:
        if task.slices:
            log.warning("task %s: the run stored no slice values (older run); scored without slices", task.task)
        return None
    return score_slices(task, refs, outputs, roles, stored["values"], **stats)


def _stored_clusters(task, manifest: dict) -> Clusters | None:
    """The items' clusters as the run stored them (None without)."""
    stored = manifest.get("clusters")
    if not stored:
        if task.clusters:
            log.warning("task %s: the run stored no cluster values (older run); items resampled one by one",
                        task.task)
        return None
    return Clusters(stored["field"], tuple(stored["values"]))


def _prompt_fields(rows: list[dict]) -> dict:
    """`prompts_truncated` (how many of the scored prompts lost their start to fit the model) and
    `prompt_tokens` ({max, mean} of the tokens read), from what the quality pass stored per row; null
    where a row lacks it (rows stored before it was recorded, or an adapter that does not report it)."""
    cut = [r.get("prompt_truncated") for r in rows]
    lengths = [r.get("prompt_tokens") for r in rows]
    return {"prompts_truncated": None if None in cut else sum(cut),
            "prompt_tokens": None if None in lengths or not lengths else
            {"max": max(lengths), "mean": round(sum(lengths) / len(lengths), 1)}}


def _verdict(scored: dict) -> dict:
    return {k: scored[k] for k in VERDICT_KEYS if k in scored}


def _slice_entry(scored: dict, lossless: bool = False) -> dict:
    """One slice of an entry: n, quality and the slice's own verdict (`lossless`: assisted, from the LLM's)."""
    return {"n": scored["n"], "quality": _unpaired(scored["quality"]) if lossless else scored["quality"],
            **_verdict(scored)}


def _unpaired(quality: dict) -> dict:
    """The LLM's scores as the assisted system's, `same_as_llm`: without the LLM's CI and p-values,
    which describe the LLM's items, not a measurement of this system's own."""
    return {m: {**{k: v for k, v in q.items() if k not in ("p_vs_llm", "p_vs_slm", "paired_test")}, "ci": None,
                "same_as_llm": True}
            for m, q in quality.items()}


def _lossless(desc: dict) -> bool:
    """Whether a stored system's adapter declares its outputs the LLM's (`ModelAdapter.lossless`)."""
    cls = adapter_class(desc["adapter"])
    return cls is not None and cls.lossless


def _llm(manifest: dict) -> str | None:
    return next((s for s, d in manifest["systems"].items() if d["role"] == "llm"), None)


def _speeds(run_dir: Path, suite: Suite, manifest: dict) -> dict[str, dict[str, dict]]:
    """{system: {backend: stored measurement}}, only those taken with the system's current config."""
    found: dict[str, dict[str, dict]] = {}
    for system, desc in manifest["systems"].items():
        for backend in suite.speed.backends:
            path = run_dir / "speed" / manifest["task"] / f"{system}.{backend}.json"
            if path.exists():
                stored = json.loads(path.read_text())
                if stored.get("system_hash") == desc["hash"]:
                    found.setdefault(system, {})[backend] = stored
    return found


def _assisted_quality(llm_scores: dict, speeds: dict, system: str, llm: str) -> dict:
    """Speculative decoding and prompt lookup are lossless under greedy decoding: their quality (and so
    their verdict against the trivial bar) is their target's (`llm`: the LLM, or the tuned LLM). The speed
    pass's outputs of both (same items, same settings) show whether that held here
    (`agreement_with_llm`: with that target)."""
    quality = _unpaired(llm_scores["quality"])
    agree = None
    mine, theirs = speeds.get(system, {}), speeds.get(llm, {})
    for backend in mine:
        if backend in theirs and "outputs" in mine[backend] and "outputs" in theirs[backend]:
            a, b = mine[backend]["outputs"], theirs[backend]["outputs"]
            keys = sorted(set(a) & set(b))
            agree = {"same": sum(a[k] == b[k] for k in keys), "n": len(keys), "backend": backend}
            break
    return {"quality": quality, "quality_from": llm, "empty_predictions": llm_scores["empty_predictions"],
            **_verdict(llm_scores), "agreement_with_llm": agree}


def _speed_fields(speeds: dict, system: str, llm: str | None, suite: Suite) -> dict:
    backends = {}
    for backend, stored in speeds.get(system, {}).items():
        if "error" in stored:
            backends[backend] = {"speed": None, "speedup_vs_llm": None, "error": stored["error"]}
            continue
        speedup = None
        base = speeds.get(llm, {}).get(backend) if llm else None
        if base and "per_sample" in base:
            speedup = paired_speedup({k: v["seconds"] for k, v in base["per_sample"].items()},
                                     {k: v["seconds"] for k, v in stored["per_sample"].items()},
                                     n_bootstrap=suite.speed.n_bootstrap, seed=suite.quality.seed,
                                     base_tokens={k: v["tokens"] for k, v in base["per_sample"].items()},
                                     other_tokens={k: v["tokens"] for k, v in stored["per_sample"].items()})
        backends[backend] = {"speed": stored["summary"], "speedup_vs_llm": speedup}
    first = next((backends[b] for b in suite.speed.backends if b in backends), None)
    return {"speed": first["speed"] if first else None,
            "speedup_vs_llm": first["speedup_vs_llm"] if first else None,
            "backends": backends}
