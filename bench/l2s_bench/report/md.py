"""`leaderboard.md`: one table per task, then where the numbers come from (runs, metric signatures).

Every string from a results file is HTML-escaped (Markdown renderers pass raw HTML through) and its
pipes escaped; numbers have fixed decimals, so the same results always give the same bytes.
"""

from __future__ import annotations

import html

from l2s_bench.report import rows as R


def esc(text: object) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(cells) + " |" for cells in body)]


def _body(r_rows: list[dict], cols: list[tuple[str, str]], primary: str) -> list[list[str]]:
    """Table cells; a verdict not above the trivial bar is bold."""
    body = []
    for r in r_rows:
        cells = []
        for name, kind in cols:
            text = esc(r[name]) if kind == "text" else R.cell(r, kind, primary)[0]
            cells.append(f"**{text}**" if kind == "verdict" and r["above_trivial"] is False else text)
        body.append(cells)
    return body


def task_section(runs: list[dict], task: str) -> list[str]:
    primary, direction, cols, table_rows = R.task_table(runs, task)
    info = R.task_info(runs, task)
    lines = [f"## {esc(task)}", "",
             f"Split {esc(info.get('split', R.MISSING))}, n={info.get('n', R.MISSING)}; primary metric {esc(primary)} "
             f"({direction} is better). p: paired bootstrap vs the LLM / vs the SLM baseline. "
             "Latency, TTFT and TPOT in ms (median over timed runs); speedup = LLM latency / system latency. "
             f"{esc(R.VERDICT_NOTE)} Bar: {esc(', '.join(R.bars(runs, task)))}.", "",
             *_table([esc(name) for name, _ in cols], _body(table_rows, cols, primary)), ""]
    if R.slice_names(runs, task):
        sliced = R.columns(runs, task, sliced=True)
        lines += [f"Per slice ({esc(info.get('slice_field', 'slice'))}): every slice scored on its own items, "
                  "with its own trivial bar.", "",
                  *_table([esc(name) for name, _ in sliced], _body(R.slice_rows(runs, task), sliced, primary)), ""]
    if R.timed(runs, task):
        lines += [f"![Pareto: {esc(task)}](pareto_{R.slug(task)}.png)", ""]
    if R.curves(runs, task):
        notes = R.curve_notes(runs, task)
        lines += [f"Learning curves ([curve_{R.slug(task)}.png](curve_{R.slug(task)}.png)): "
                  "where each trained system's curve clears the trivial bar (same rule as the table).", "",
                  *(f"- {esc(note)}" for note in notes), "",
                  f"![Learning curves: {esc(task)}](curve_{R.slug(task)}.png)", ""]
    shown = R.examples(runs, task)
    if shown:
        lines += ["Example outputs:", ""]
        lines += [f"- {esc(run)} / {esc(system)}, {esc(x.get('id', R.MISSING))}: {esc(x.get('prediction', ''))} "
                  f"(reference: {esc(x.get('reference', ''))})" for run, system, x in shown]
        lines.append("")
    return lines


def markdown(runs: list[dict]) -> str:
    """The whole Markdown leaderboard for one or more runs."""
    ids = ", ".join(esc(run["run_id"]) for run in runs)
    lines = ["# l2s-bench leaderboard", "", f"Runs: {ids}.", ""]
    for task in R.task_names(runs):
        lines += task_section(runs, task)
    meta = [R.metadata(run) for run in runs]
    lines += ["## Runs", "", *_table(list(meta[0]), [[esc(v) for v in m.values()] for m in meta]), ""]
    lines += ["## Metric signatures", "",
              *_table(["task", "metric", "signature", "runs"], [[esc(c) for c in s] for s in R.signatures(runs)]), ""]
    return "\n".join(lines)
