"""One flat row per (run, task, system): the single reading of `results.json` that the Markdown,
HTML, CSV and plots all format, so the four views cannot disagree about a number."""

from __future__ import annotations

import re
from typing import Any

MISSING = "—"
TRIVIAL_LABELS = {"copy_source": "trivial (copy source)", "first_sentence": "trivial (first sentence)",
                  "empty": "trivial (empty output)"}


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


def trivial_label(runs: list[dict], task: str) -> str:
    return TRIVIAL_LABELS.get(task_info(runs, task).get("trivial"), "trivial")


def slug(name: str) -> str:
    """A task name as a file-name part (`pareto_<slug>.png`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "task"


def learned(run: dict, entry: dict) -> bool | None:
    """Does the system beat the trivial baseline on the task's primary metric?

    A trained system's own verdict (`learned`) wins; other systems are compared here, so an LLM that
    loses to copying the source is flagged too. None for the trivial system itself, or without one.
    """
    if entry.get("learned") is not None:
        return bool(entry["learned"])
    info = run["tasks"][entry["task"]]
    trivial = next((e for e in entries(run, entry["task"]) if e["role"] == "trivial"), None)
    if entry["role"] == "trivial" or trivial is None:
        return None
    metric = info["primary_metric"]
    mine, floor = (entry["quality"].get(metric) or {}).get("value"), (trivial["quality"].get(metric) or {}).get("value")
    if mine is None or floor is None:
        return None
    return mine > floor if info.get("higher_is_better", True) else mine < floor


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


def row(run: dict, entry: dict, metrics: list[str]) -> dict[str, Any]:
    """The flat record: identity, every metric (value, CI, p-values), speed, speedup; None = not measured."""
    speed = entry.get("speed") or {}
    up = entry.get("speedup_vs_llm") or {}
    r: dict[str, Any] = {"run": run["run_id"], "device": device(run), "backend": speed.get("backend"),
                         "task": entry["task"], "system": entry["system"], "role": entry["role"], "n": entry.get("n")}
    for m in metrics:
        q = entry["quality"].get(m)
        low, high = _ci(q)
        r.update({f"{m}_value": (q or {}).get("value"), f"{m}_ci_low": low, f"{m}_ci_high": high,
                  f"{m}_p_vs_llm": (q or {}).get("p_vs_llm"), f"{m}_p_vs_slm": (q or {}).get("p_vs_slm")})
    mem, kind = peak_mem(speed)
    low, high = _ci(up)
    r.update({"learned": learned(run, entry), "latency_ms_median": (speed.get("latency_ms") or {}).get("median"),
              "ttft_ms": speed.get("ttft_ms"), "tpot_ms": speed.get("tpot_ms"),
              "tokens_per_s": speed.get("tokens_per_s"), "peak_mem_mb": mem, "peak_mem_kind": kind,
              "speedup": up.get("value"), "speedup_ci_low": low, "speedup_ci_high": high})
    return r


def rows(runs: list[dict], task: str | None = None) -> list[dict[str, Any]]:
    """Rows for one task (its own metrics) or for all tasks (the union of metrics, None where absent)."""
    tasks = task_names(runs) if task is None else [task]
    metrics = metric_names(runs, task)
    return [row(run, e, metrics) for t in tasks for run in runs for e in entries(run, t)]


def frame(runs: list[dict]):
    """`rows(runs)` as a pandas DataFrame (what `leaderboard.csv` holds)."""
    import pandas as pd

    return pd.DataFrame(rows(runs))


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


def learned_text(r: dict) -> str:
    return {True: "yes", False: "not learned"}.get(r["learned"], "")


def columns(runs: list[dict], task: str) -> list[tuple[str, str]]:
    """(header, kind) of the per-task leaderboard columns both Markdown and HTML print."""
    metrics = metric_names(runs, task)
    primary = task_info(runs, task)["primary_metric"]
    cols = [("run", "text")] if len(runs) > 1 else []
    cols += [("system", "text"), ("role", "text")]
    cols += [(f"{m} [95% CI]", f"metric:{m}") for m in metrics]
    cols += [(f"p vs LLM / SLM ({primary})", "p"), ("learned", "learned"), ("latency ms (median)", "latency_ms_median"),
             ("TTFT ms", "ttft_ms"), ("TPOT ms", "tpot_ms"), ("tokens/s", "tokens_per_s"),
             ("speedup vs LLM [95% CI]", "speedup")]
    return cols


def cell(r: dict, kind: str, primary: str) -> tuple[str, float | None]:
    """(text, sort key) of one leaderboard cell; the key is None for text columns."""
    if kind == "text":
        raise ValueError("text columns are read from the row by name")
    if kind.startswith("metric:"):
        m = kind.split(":", 1)[1]
        return with_ci(r[f"{m}_value"], r[f"{m}_ci_low"], r[f"{m}_ci_high"]), r[f"{m}_value"]
    if kind == "p":
        return p_pair(r, primary), r[f"{primary}_p_vs_llm"]
    if kind == "learned":
        return learned_text(r), None
    if kind == "speedup":
        return with_ci(r["speedup"], r["speedup_ci_low"], r["speedup_ci_high"], unit="x"), r["speedup"]
    return num(r[kind], 1), r[kind]


def metadata(run: dict) -> dict[str, str]:
    """What a reader needs to trust or reproduce a run, as display strings."""
    prov = run["provenance"]
    git = prov.get("git") or {}
    dev = prov.get("device") or {}
    sha = (git.get("sha") or MISSING)[:12] + (" (dirty)" if git.get("dirty") else "")
    return {"suite": run["suite"], "run": run["run_id"], "git": sha,
            "device": " ".join(str(x) for x in (dev.get("type"), dev.get("name")) if x) or MISSING,
            "torch": str(prov.get("torch") or MISSING), "cuda": str(prov.get("cuda") or MISSING),
            "created": run.get("created") or MISSING,
            "n per task": ", ".join(f"{t}={info.get('n', MISSING)}" for t, info in run["tasks"].items())}


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
