"""Leaderboards from one or more `results.json` files: Markdown, HTML, CSV, a Pareto plot per task and,
for runs that took them, learning curves per task.

    runs = [l2s_bench.runner.results.load("results/default-cpu"), l2s_bench.runner.results.load("results/default-gpu")]
    l2s_bench.report.build(runs, Path("reports/latest"))     # every file below; returns their paths
    l2s_bench.report.markdown(runs); l2s_bench.report.html(runs); l2s_bench.report.frame(runs); l2s_bench.report.pareto(runs, "kjv-web")

`rows.py` reads the results once into flat rows; `md.py` (Markdown), `page.py` (HTML) and `plot.py`
(Pareto, learning curves) only format them. The report never recomputes a score: it shows what the run measured, `null` as a dash.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from l2s_bench.report.instances import instances_page
from l2s_bench.report.md import markdown
from l2s_bench.report.page import html_page as html
from l2s_bench.report.plot import frontier, learning_curves, pareto
from l2s_bench.report.rows import curves, frame, slug, task_names, timed
from l2s_bench.files import write_atomic

__all__ = ["build", "frame", "frontier", "html", "learning_curves", "markdown", "pareto", "register"]


def build(runs: list[dict], out: Path, folders: list[Path] | None = None) -> list[Path]:
    """Write leaderboard.{md,html,csv}, pareto_<task>.{png,svg} for tasks with a measured speedup and, for tasks with learning curves,
    curve_<task>.{png,svg} into `out`, and instances.html where the runs' `folders` (one per run) hold
    samples; the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, svgs, curve_svgs = [], {}, {}
    for task in task_names(runs):
        if timed(runs, task):
            svgs[task] = _save(pareto(runs, task), out / f"pareto_{slug(task)}", written)
        if curves(runs, task):
            curve_svgs[task] = _save(learning_curves(runs, task), out / f"curve_{slug(task)}", written)
    page = instances_page(list(zip(runs, folders))) if folders else None
    if page is not None:
        written.append(write_atomic(out / "instances.html", page))
    written.append(write_atomic(out / "leaderboard.md", markdown(runs)))
    written.append(write_atomic(out / "leaderboard.html", html(runs, svgs, curve_svgs, instances=page is not None)))
    written.append(write_atomic(out / "leaderboard.csv", frame(runs).to_csv(index=False)))
    return written


def _save(fig, stem: Path, written: list[Path]) -> str:
    """`stem`.png and .svg (appended to `written`); returns the SVG text for the HTML page."""
    import matplotlib

    fig.savefig(stem.with_suffix(".png"))
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "l2s-bench"}):  # element ids from a fixed salt, not random
        fig.savefig(buf, format="svg", metadata={"Date": None})  # and no timestamp: same runs, same bytes
    written += [stem.with_suffix(".png"), write_atomic(stem.with_suffix(".svg"), buf.getvalue())]
    return buf.getvalue()


def cmd_report(args: argparse.Namespace) -> None:
    from l2s_bench.runner.results import load

    runs = [load(path) for path in args.runs]
    folders = [Path(p) if Path(p).is_dir() else Path(p).parent for p in args.runs]
    out = Path(args.out) if args.out else Path("reports") / "+".join(run["run_id"] for run in runs)
    for path in build(runs, out, folders):
        print(f"wrote {path}")


def register(subparsers: argparse._SubParsersAction) -> None:
    r = subparsers.add_parser("report", help="leaderboards (md, html, csv), Pareto plots and learning curves from suite runs")
    r.add_argument("runs", nargs="+", metavar="RUN", help="a run folder (results/<run-id>) or its results.json")
    r.add_argument("--out", help="report folder (default: reports/RUN-ID, several runs joined by '+')")
    r.set_defaults(func=cmd_report)
