"""`l2s-bench check`: a regression gate comparing a suite run with a stored baseline.

    l2s-bench check results/smoke --baseline results/baselines/smoke.json --update-baseline  # store
    l2s-bench check results/smoke --baseline results/baselines/smoke.json                    # gate

Exit 0 when every check passes or is skipped, 1 when one fails, 2 on a usage error (no baseline yet,
unreadable run, a baseline of another suite without `--allow-other-suite`). Improvements always pass.

* Quality: each metric may drop by at most max(tolerance, the baseline CI's half-width) points: a
  change inside the baseline's own sampling noise is not a regression. A lossless system (speculative
  decoding, prompt lookup: its quality is the system it reproduces, `quality_from`) is allowed what that
  system is allowed.
* Speed: only ratios (speedup vs the LLM on the same machine), never absolute times, which differ by
  machine and load. A speedup fails below `baseline CI low x (1 - speed_margin)`; a null speedup on
  either side (the trivial system, an unmeasured run) is skipped.
* Verdict: a system above the trivial bar in the baseline ("above trivial"; "learned" in older files) fails when the
  run has it below (`l2s_bench.runner.verdict`; read as stored, never recomputed). Baselines written before
  verdicts were stored have none, and get no such check.
* Coverage: a (task, system) on one side only fails, named: missing in the run, or new in the run and
  not in the baseline (update the baseline to accept it).

Baseline file (`kind: baseline`, written atomically by `--update-baseline`)::

    {"schema_version": 1, "kind": "baseline", "suite": "default", "created": "<ISO time>",
     "source_run": "default-cpu",
     "entries": [{"task": "kjv-web", "system": "l2s",
                  "quality": {"chrf": {"value": 52.64, "ci": [51.19, 54.05]}, ...},
                  "speedup_vs_llm": {"value": 3.9, "ci": [3.72, 4.08]} | null,
                  "verdict": "above trivial" | "not distinguishable" | "below trivial" | null}, ...],
     "tolerances": {"quality_points": 1.0, "speed_margin": 0.25}}

`tolerances` are the defaults for a later check; `--tolerance` / `--speed-margin` override them.
Lower-is-better metrics (the task's `higher_is_better: false`) are checked the other way round.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from l2s_bench.errors import BenchError
from l2s_bench.files import write_json
from l2s_bench.runner.results import SCHEMA_VERSION, entry
from l2s_bench.runner.sittings import describe_code
from l2s_bench.runner.verdict import passed, verdict_of

TOLERANCE = 1.0  # quality points (metrics are on a 0-100 scale)
SPEED_MARGIN = 0.25  # relative: CPU timings are noisy


@dataclass(frozen=True)
class Check:
    task: str
    system: str
    what: str  # a metric name, "speedup", "verdict" or "present"
    status: str  # PASS, FAIL or SKIP
    baseline: float | None = None
    current: float | None = None
    allowed: str = ""  # the allowed drop (quality) or the lowest passing value (speed)
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def make_baseline(run: dict, tolerance: float = TOLERANCE, speed_margin: float = SPEED_MARGIN) -> dict:
    """The baseline a later run of the same suite is checked against: each entry's values and CIs."""
    entries = []
    for e in run["results"]:
        up = e.get("speedup_vs_llm")
        entries.append({"task": e["task"], "system": e["system"],
                        "quality": {m: {"value": q.get("value"), "ci": q.get("ci")} for m, q in e["quality"].items()},
                        "speedup_vs_llm": None if up is None or up.get("value") is None
                        else {"value": up["value"], "ci": up.get("ci")}, "verdict": verdict_of(e)})
    return {"schema_version": SCHEMA_VERSION, "kind": "baseline", "suite": run["suite"],
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source_run": run["run_id"],
            "entries": entries, "tolerances": {"quality_points": tolerance, "speed_margin": speed_margin}}


def load_baseline(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"no baseline at {path}; create it from a run you trust with "
                         f"`l2s-bench check RUN --baseline {path} --update-baseline`") from None
    except json.JSONDecodeError as e:
        raise BenchError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or data.get("kind") != "baseline" or data.get("schema_version") != SCHEMA_VERSION:
        raise BenchError(f"{path} is not an l2s-bench baseline (schema_version {SCHEMA_VERSION}, kind 'baseline')")
    return data


def _quality(task: str, system: str, metric: str, base: dict, current: dict | None, tolerance: float,
             higher: bool) -> Check:
    ci = base.get("ci")
    allowed = max(tolerance, (ci[1] - ci[0]) / 2 if ci else 0.0)
    value = (current or {}).get("value")
    if base.get("value") is None:
        return Check(task, system, metric, "SKIP", None, value, note="skipped: no baseline value")
    if value is None:
        return Check(task, system, metric, "FAIL", base["value"], None, f"{allowed:.2f}", "missing in run")
    drop = base["value"] - value if higher else value - base["value"]
    return Check(task, system, metric, "FAIL" if drop > allowed else "PASS", base["value"], value, f"{allowed:.2f}",
                 f"{'drop' if drop > 0 else 'gain'} {abs(drop):.2f}")


def _speed(task: str, system: str, base: dict | None, current: dict | None, margin: float) -> Check:
    now = (current or {}).get("value")
    if base is None or base.get("value") is None or now is None:
        return Check(task, system, "speedup", "SKIP", (base or {}).get("value"), now, note="skipped: null speedup")
    low = (base.get("ci") or [base["value"]])[0]
    floor = low * (1 - margin)
    return Check(task, system, "speedup", "FAIL" if now < floor else "PASS", base["value"], now, f">= {floor:.2f}")


def _verdict(task: str, system: str, base: str | None, current: str | None) -> Check:
    if current is None:
        return Check(task, system, "verdict", "SKIP", note=f"skipped: no verdict in run (baseline: {base})")
    lost = passed(base) and not passed(current)
    return Check(task, system, "verdict", "FAIL" if lost else "PASS", note=f"{base} -> {current}")


def compare(run: dict, baseline: dict, tolerance: float = TOLERANCE, speed_margin: float = SPEED_MARGIN) -> list[Check]:
    """One check per baseline (task, system, metric), per baseline speedup and per baseline verdict, in
    baseline order; then one failed check per (task, system) of the run that the baseline lacks."""
    checks = []
    stored = {(b["task"], b["system"]): b for b in baseline["entries"]}
    for b in baseline["entries"]:
        task, system = b["task"], b["system"]
        current = entry(run, task, system)
        if current is None:
            checks.append(Check(task, system, "present", "FAIL", note=f"missing in run {run['run_id']}"))
            continue
        higher = run["tasks"].get(task, {}).get("higher_is_better", True)
        reproduced = stored.get((task, current.get("quality_from")), {}).get("quality", {})  # a lossless row's source
        for metric, base in b["quality"].items():
            if base.get("ci") is None and metric in reproduced:
                base = {**base, "ci": reproduced[metric].get("ci")}
            checks.append(_quality(task, system, metric, base, current["quality"].get(metric), tolerance, higher))
        checks.append(_speed(task, system, b.get("speedup_vs_llm"), current.get("speedup_vs_llm"), speed_margin))
        if b.get("verdict"):
            checks.append(_verdict(task, system, b["verdict"], verdict_of(current)))
    for e in run["results"]:
        if (e["task"], e["system"]) not in stored:
            checks.append(Check(e["task"], e["system"], "present", "FAIL",
                                note="new in run, not in the baseline (--update-baseline to accept it)"))
    return checks


def table(checks: list[Check]) -> str:
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    lines = [f"{'status':<7}{'task':<16}{'system':<14}{'check':<10}{'baseline':>10}{'current':>10}{'allowed':>10}  note"]
    lines += [f"{c.status:<7}{c.task:<16}{c.system:<14}{c.what:<10}{num(c.baseline):>10}{num(c.current):>10}"
              f"{c.allowed:>10}  {c.note}" for c in checks]
    failed = sum(c.failed for c in checks)
    lines.append(f"{len(checks)} checks: {failed} failed, {sum(c.status == 'SKIP' for c in checks)} skipped")
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> None:
    """Prints every check; a failed gate raises SystemExit(1), since `l2s_bench.cli.main` maps only
    BenchError (usage, exit 2) and returns 0 otherwise."""
    from l2s_bench.runner.results import load

    run = load(args.run)
    # the flags, else the tolerances the baseline stores (an update keeps the old file's), else the defaults
    try:
        stored = load_baseline(args.baseline).get("tolerances") or {}
    except BenchError:
        if not args.update_baseline:
            raise
        stored = {}  # no baseline yet, or an unreadable one that this update replaces
    tolerance = args.tolerance if args.tolerance is not None else stored.get("quality_points", TOLERANCE)
    margin = args.speed_margin if args.speed_margin is not None else stored.get("speed_margin", SPEED_MARGIN)
    if args.update_baseline:
        base = make_baseline(run, tolerance, margin)
        print(f"wrote baseline {write_json(base, args.baseline)} from run {run['run_id']} ({len(base['entries'])} "
              f"entries; quality tolerance {tolerance:g} points, speed margin {margin:g})")
        return
    base = load_baseline(args.baseline)
    if base.get("suite") != run["suite"]:
        if not args.allow_other_suite:
            raise BenchError(f"{args.baseline} is a baseline of suite '{base.get('suite')}', the run is of suite "
                             f"'{run['suite']}'; compare runs of one suite (or pass --allow-other-suite)")
        print(f"note: baseline suite '{base.get('suite')}' differs from the run's '{run['suite']}' (--allow-other-suite)")
    checks = compare(run, base, tolerance, margin)
    print(f"run {run['run_id']} vs baseline {args.baseline} (from {base.get('source_run')}); "
          f"quality tolerance {tolerance:g} points, speed margin {margin:g}")
    code = run.get("provenance", {}).get("code")
    if code and (code["mixed"] or code["dirty"]):  # the gate passes on numbers; the reader learns where they came from
        print(f"note: run {run['run_id']}: {describe_code(code)}")
    print(table(checks))
    if any(c.failed for c in checks):
        raise SystemExit(1)


def register(subparsers: argparse._SubParsersAction) -> None:
    c = subparsers.add_parser("check", help="regression gate: compare a suite run with a stored baseline")
    c.add_argument("run", metavar="RUN", help="a run folder (results/<run-id>) or its results.json")
    c.add_argument("--baseline", required=True, help="baseline JSON, e.g. results/baselines/smoke.json")
    c.add_argument("--allow-other-suite", action="store_true",
                   help="check against a baseline written from another suite (refused otherwise)")
    c.add_argument("--update-baseline", action="store_true", help="write the baseline from RUN and exit 0")
    c.add_argument("--tolerance", type=float, help=f"quality points a metric may drop (default: the baseline's, "
                                                   f"else {TOLERANCE}); the baseline CI half-width if larger")
    c.add_argument("--speed-margin", type=float, help="relative margin below the baseline speedup's CI low "
                                                      f"(default: the baseline's, else {SPEED_MARGIN})")
    c.set_defaults(func=cmd_check)
