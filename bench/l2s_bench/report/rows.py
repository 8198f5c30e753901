"""One flat row per (run, task, system), and per slice of a sliced task: the single reading of
`results.json` that the Markdown, HTML, CSV and plots all format, so the four views cannot disagree
about a number. The verdict against the trivial bar is read as stored (`l2s_bench.runner.verdict`), never redone."""

from __future__ import annotations

import re
from typing import Any

from l2s_bench.runner import verdict as V
from l2s_bench.runner.sittings import describe_code

MISSING = "—"
TRIVIAL_LABELS = {"copy_source": "copy source", "first_sentence": "first sentence", "lead_words": "first {k} words",
                  "empty": "empty output"}
VERDICT_NOTE = ("vs trivial: against the bar, the strongest trivial baseline. Above = the 95% CI lies wholly "
                f"above the bar value, or better with p < {V.ALPHA:g} in the paired bootstrap test against the bar "
                "(the p shown); below = the same the other way; not distinguishable = neither. A trained system "
                "that is not above it has not learned the task.")


def task_names(runs: list[dict]) -> list[str]:
    """Every task of every run, in the order the runs list them."""
    return list(dict.fromkeys(t for run in runs for t in run["tasks"]))


def task_info(runs: list[dict], task: str) -> dict:
    """The task's header (metrics, primary metric, direction) from the first run that has it."""
    return next(run["tasks"][task] for run in runs if task in run["tasks"])


def task_table(runs: list[dict], task: str) -> tuple[str, str, list[tuple[str, str]], list[dict]]:
    """What both the Markdown and HTML tables of a task start from: the primary metric, its direction
    ("higher"/"lower"), the columns and the rows."""
    info = task_info(runs, task)
    direction = "higher" if info.get("higher_is_better", True) else "lower"
    return info["primary_metric"], direction, columns(runs, task), rows(runs, task)


def metric_names(runs: list[dict], task: str | None = None) -> list[str]:
    """A task's metrics, primary first as the runs list them; every task's metrics when `task` is None."""
    tasks = task_names(runs) if task is None else [task]
    return list(dict.fromkeys(m for t in tasks for run in runs if t in run["tasks"] for m in run["tasks"][t]["metrics"]))


def entries(run: dict, task: str) -> list[dict]:
    return [e for e in run["results"] if e["task"] == task]


def trivial_label(run: dict, entry: dict) -> str:
    """A trivial system's name and rule, e.g. "trivial-lead_words (first 7 words)". Older files record
    the rule only per task (`tasks[t].trivial`)."""
    given = run["tasks"][entry["task"]].get("trivial")
    rule = entry.get("trivial_rule") or ({"rule": given} if isinstance(given, str) else {})
    text = TRIVIAL_LABELS.get(rule.get("rule"), "").format(k=rule.get("k"))
    return f"{entry['system']} ({text})" if text else entry["system"]


def bars(runs: list[dict], task: str) -> list[str]:
    """The trivial systems the task's verdicts were judged against, as labels (the bar is per run, and
    per slice; the overall one is listed). Older files without `vs_trivial`: every trivial system."""
    names = [e["vs_trivial"]["bar"] for run in runs for e in entries(run, task) if e.get("vs_trivial")]
    trivial = {e["system"]: (run, e) for run in runs for e in entries(run, task) if e["role"] == "trivial"}
    chosen = list(dict.fromkeys(names)) or list(trivial)
    return [trivial_label(*trivial[n]) if n in trivial else n for n in chosen]


def slug(name: str) -> str:
    """A task name as a file-name part (`pareto_<slug>.png`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "task"


def device(run: dict) -> str:
    d = run["provenance"].get("device") or {}
    return str(d.get("type") or MISSING)


def peak_mem(speed: dict | None) -> tuple[float | None, str | None]:
    """(MB, kind): resident memory on CPU, allocated accelerator memory on GPU."""
    mem = (speed or {}).get("peak_mem_mb") or {}
    for kind in ("allocated", "rss"):
        if mem.get(kind) is not None:
            return mem[kind], kind
    return None, None


def _ci(block: dict | None) -> tuple[float | None, float | None]:
    ci = (block or {}).get("ci") or [None, None]
    return ci[0], ci[1]


def row(run: dict, entry: dict, metrics: list[str], slice_value: str | None = None) -> dict[str, Any]:
    """The flat record: identity, every metric (value, CI, p-values), the verdict against the trivial
    bar, speed, speedup; None = not measured. A slice row has its slice's scores and verdict, no speed."""
    part = entry if slice_value is None else entry["slices"][slice_value]
    speed = (entry.get("speed") or {}) if slice_value is None else {}
    up = (entry.get("speedup_vs_llm") or {}) if slice_value is None else {}
    r: dict[str, Any] = {"run": run["run_id"], "device": device(run), "backend": speed.get("backend"),
                         "dtype": speed.get("dtype"), "batch_size": speed.get("batch_size"),
                         "speed_n": speed.get("n_samples"), "speed_mode": speed.get("mode"),
                         "task": entry["task"], "slice": slice_value, "system": entry["system"], "role": entry["role"],
                         "trivial": trivial_label(run, entry) if entry["role"] == "trivial" else None, "n": part.get("n")}
    for m in metrics:
        q = (part.get("quality") or {}).get(m)
        low, high = _ci(q)
        r.update({f"{m}_value": (q or {}).get("value"), f"{m}_ci_low": low, f"{m}_ci_high": high,
                  f"{m}_p_vs_llm": (q or {}).get("p_vs_llm"), f"{m}_p_vs_slm": (q or {}).get("p_vs_slm")})
    agree = entry.get("agreement_with_llm") or {}
    source = "LLM" if entry.get("quality_from") in (None, "llm") else entry["quality_from"]
    r["lossless"] = (f"= {source} (lossless; {agree['same']}/{agree['n']} timed items identical)" if agree
                     else f"= {source} (lossless)") if entry.get("quality_from") else None
    trained = entry.get("trained") or {}
    r.update({"features_llm": trained.get("features_llm"), "labels": trained.get("labels"),
              "layers": trained.get("layers"), "baseline": entry.get("baseline")})
    r["trained_on"] = _trained_on(trained, entry.get("baseline")) if trained else None
    vs = part.get("vs_trivial") or {}
    verdict = V.verdict_of(part)
    r.update({"verdict": verdict, "above_trivial": V.passed(verdict), "learned": part.get("learned"),
              "bar": vs.get("bar"), "bar_value": vs.get("bar_value"), "p_vs_trivial": vs.get("p_vs_trivial")})
    mem, kind = peak_mem(speed)
    low, high = _ci(up)
    r.update({"latency_ms_median": (speed.get("latency_ms") or {}).get("median"),
              "ttft_ms": speed.get("ttft_ms"), "tpot_ms": speed.get("tpot_ms"),
              "tokens_per_s": speed.get("tokens_per_s"), "peak_mem_mb": mem, "peak_mem_kind": kind,
              "speedup": up.get("value"), "speedup_ci_low": low, "speedup_ci_high": high})
    own = (entry.get("speedup_vs_own_llm") or {}) if slice_value is None else {}
    r.update({"speedup_own": own.get("value"), "speedup_own_of": own.get("system")})
    return r


def _trained_on(trained: dict, baseline: str | None = None) -> str:
    """What a trained system read and learned from, in one cell: its labels, the LLM whose features it
    reads (L2S), the depth of the model that generates, and (L2S) the SLM baseline its p vs SLM is against."""
    parts = [trained.get("labels") or "references"]
    if trained.get("features_llm"):
        parts.append(f"features of {trained['features_llm']}")
    if trained.get("layers"):
        parts.append(f"{trained['layers']} layers")
    if baseline:
        parts.append(f"p vs {baseline}")
    return "; ".join(parts)


def rows(runs: list[dict], task: str | None = None) -> list[dict[str, Any]]:
    """Rows for one task (its own metrics) or for all tasks (the union of metrics, None where absent)."""
    tasks = task_names(runs) if task is None else [task]
    metrics = metric_names(runs, task)
    return [row(run, e, metrics) for t in tasks for run in runs for e in entries(run, t)]


def slice_names(runs: list[dict], task: str) -> list[str]:
    """The slice values of a sliced task (tasks[task]["slices"]), over every run; [] when not sliced."""
    return list(dict.fromkeys(v for run in runs for v in run["tasks"].get(task, {}).get("slices") or []))


def slice_rows(runs: list[dict], task: str | None = None) -> list[dict[str, Any]]:
    """One row per (slice, run, system) of the sliced tasks, slice by slice."""
    out = []
    for t in task_names(runs) if task is None else [task]:
        metrics = metric_names(runs, None if task is None else t)
        out += [row(run, e, metrics, value) for value in slice_names(runs, t) for run in runs
                for e in entries(run, t) if value in (e.get("slices") or {})]
    return out


def frame(runs: list[dict]):
    """`rows(runs)` and then `slice_rows(runs)` as a pandas DataFrame (what `leaderboard.csv` holds);
    the `slice` column is empty on the overall rows."""
    import pandas as pd

    return pd.DataFrame(rows(runs) + slice_rows(runs))


# ---------------------------------------------------------------- fixed-decimal formatting (stable goldens)

def num(x: float | None, decimals: int = 2) -> str:
    return MISSING if x is None else f"{x:.{decimals}f}"


def with_ci(value: float | None, low: float | None, high: float | None, decimals: int = 2, unit: str = "") -> str:
    if value is None:
        return MISSING
    text = f"{value:.{decimals}f}{unit}"
    return text if low is None or high is None else f"{text} [{low:.{decimals}f}, {high:.{decimals}f}]"


def p_pair(r: dict, metric: str) -> str:
    """The primary metric's paired p-values "vs LLM / vs SLM"."""
    return " / ".join(num(r[f"{metric}_{k}"], 3) for k in ("p_vs_llm", "p_vs_slm"))


def verdict_text(r: dict) -> str:
    """The verdict, with the paired p-value against the bar when stored: "not distinguishable (p=0.210)"."""
    if r["verdict"] is None:
        return ""
    return r["verdict"] + (f" (p={r['p_vs_trivial']:.3f})" if r["p_vs_trivial"] is not None else "")


def columns(runs: list[dict], task: str, sliced: bool = False) -> list[tuple[str, str]]:
    """(header, kind) of the per-task leaderboard columns both Markdown and HTML print, the headline first
    (primary metric, speedup, verdict) so that it shows without scrolling; a per-slice table (`sliced`)
    has the slice and n first and no speed columns. The role column only where a name differs from it."""
    metrics = metric_names(runs, task)
    primary = task_info(runs, task)["primary_metric"]
    cols = [("slice", "text")] if sliced else []
    cols += [("run", "text")] if len(runs) > 1 else []
    cols += [("system", "text")]
    if any(e["system"] != e["role"] for run in runs for e in entries(run, task)):
        cols += [("role", "text")]
    cols += [("n", "n")] if sliced else []
    cols += [(f"{primary} [95% CI]", f"metric:{primary}")]
    cols += [] if sliced else [("speedup vs LLM [95% CI]", "speedup")]
    cols += [("vs trivial", "verdict"), (f"p vs LLM / SLM ({primary})", "p")]
    cols += [(f"{m} [95% CI]", f"metric:{m}") for m in metrics if m != primary]
    if any(e.get("trained") for run in runs for e in entries(run, task)):  # results that record it
        cols += [("trained on", "trained")]
    if not sliced:
        cols += [("latency ms (median)", "latency_ms_median"), ("TTFT ms", "ttft_ms"), ("TPOT ms", "tpot_ms"),
                 ("tokens/s", "tokens_per_s")]
    return cols


def cell(r: dict, kind: str, primary: str) -> tuple[str, float | None]:
    """(text, sort key) of one leaderboard cell; the key is None for text columns."""
    if kind == "text":
        raise ValueError("text columns are read from the row by name")
    if kind.startswith("metric:"):
        m = kind.split(":", 1)[1]
        if r.get("lossless"):  # speculative decoding: the LLM's outputs, not a measurement of its own
            return (r["lossless"] if m == primary else r["lossless"].split(" (")[0]), r[f"{m}_value"]
        return with_ci(r[f"{m}_value"], r[f"{m}_ci_low"], r[f"{m}_ci_high"]), r[f"{m}_value"]
    if kind == "p":
        return p_pair(r, primary), r[f"{primary}_p_vs_llm"]
    if kind == "verdict":
        return verdict_text(r), None
    if kind == "trained":
        return r.get("trained_on") or MISSING, None
    if kind == "n":
        return MISSING if r["n"] is None else str(r["n"]), r["n"]
    if kind == "speedup":
        text = with_ci(r["speedup"], r["speedup_ci_low"], r["speedup_ci_high"], unit="x")
        if r.get("speedup_own") is not None:  # it reads or speeds up the tuned LLM: against that one too
            text += f" ({num(r['speedup_own'])}x vs {r['speedup_own_of']})"
        return text, r["speedup"]
    return num(r[kind], 1), r[kind]


def metadata(run: dict) -> dict[str, str]:
    """What a reader needs to trust or reproduce a run, as display strings."""
    prov = run["provenance"]
    git = prov.get("git") or {}
    dev = prov.get("device") or {}
    sha = _sha(git)
    scored = prov.get("scored_with") or {}
    if scored.get("sha") and _sha(scored) != sha:  # the run started at one commit and was scored at another
        sha += f"; scored at {_sha(scored)}"
    cap = prov.get("capability") or {}
    return {"suite": run["suite"], "run": run["run_id"], "git": sha, "code": describe_code(prov.get("code")),
            "device": " ".join(str(x) for x in (dev.get("type"), dev.get("name")) if x) or MISSING,
            "cpu": ", ".join(x for x in (cap.get("cpu_capability"), "native bf16" if cap.get("bf16_native") else
                                         ("no native bf16" if cap else None),
                                         f"{dev['threads']} threads" if dev.get("threads") else None) if x) or MISSING,
            "torch": str(prov.get("torch") or MISSING), "cuda": str(prov.get("cuda") or MISSING),
            "created": run.get("created") or MISSING,
            "n per task": ", ".join(f"{t}={info.get('n', MISSING)}" for t, info in run["tasks"].items())}


def _sha(git: dict) -> str:
    return (git.get("sha") or MISSING)[:12] + (" (dirty)" if git.get("dirty") else "")


def signatures(runs: list[dict]) -> list[tuple[str, str, str, str]]:
    """(task, metric, signature, runs) for every distinct signature: differing ones mean incomparable numbers."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    for run in runs:
        for e in run["results"]:
            for m, q in e["quality"].items():
                runs_of = seen.setdefault((e["task"], m, q.get("signature") or MISSING), [])
                if run["run_id"] not in runs_of:
                    runs_of.append(run["run_id"])
    return [(t, m, s, ", ".join(r)) for (t, m, s), r in seen.items()]


def examples(runs: list[dict], task: str) -> list[tuple[str, str, dict]]:
    """(run, system, example) for the example outputs a run kept."""
    return [(run["run_id"], e["system"], x) for run in runs for e in entries(run, task) for x in e.get("examples") or []]


def timed(runs: list[dict], task: str) -> bool:
    """Whether any system of the task has a measured speedup: a Pareto plot needs one (`long` times nothing)."""
    return any(r["speedup"] is not None for r in rows(runs, task))


# ---------------------------------------------------------------- learning curves (`results["curves"]`)

def curves(runs: list[dict], task: str) -> list[tuple[dict, dict]]:
    """(run, its curve entry) for every run that took learning curves on the task."""
    return [(run, run["curves"][task]) for run in runs if task in (run.get("curves") or {})]


def curve_bar(run: dict, curve: dict) -> str | None:
    """The curve's trivial bar as a label with its value on the curve items, e.g. "trivial (copy source) 55.20"."""
    bar = curve.get("trivial")
    if not bar:
        return None
    found = next((e for e in run["results"] if e["system"] == bar["system"] and e["role"] == "trivial"), None)
    return f"{trivial_label(run, found) if found else bar['system']} {num(bar['value'])}"


def crossing(system: dict) -> str:
    """Where a curve crosses the trivial bar, in words: the step (and tokens), or how far it got without."""
    points = system["points"]
    if not points:
        return f"no curve: {system.get('missing', 'no points')}"
    at = system["crosses_trivial_at"]
    if at is None:
        return f"not above the bar up to step {points[-1]['step']}"
    tokens = next(p["tokens"] for p in points if p["step"] == at)
    return f"above the bar from step {at} ({tokens:,} training tokens)"


def curve_notes(runs: list[dict], task: str) -> list[str]:
    """One line per run with curves (items, metric, bar, LLM), then one per trained system (`crossing`)."""
    found = curves(runs, task)
    lines = []
    for run, curve in found:
        tag = f"{run['run_id']}: " if len(found) > 1 else ""
        llm = curve.get("llm")
        lines.append(f"{tag}{curve['metric']} on {curve['split']} (n={curve['n']}) at each step; bar: "
                     f"{curve_bar(run, curve) or MISSING}; LLM: {num(llm['value']) if llm else MISSING}")
        lines += [f"{tag}{name}: {crossing(system)}" for name, system in curve["systems"].items()]
    return lines
