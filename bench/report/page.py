"""`leaderboard.html`: the Markdown report's content as one self-contained page (inline CSS, a few
lines of JS to sort a table by a column, plots as data URIs).

Model outputs are untrusted text: everything read from a results file goes through `html.escape`,
and the plots are embedded as `<img>` (an SVG there cannot run scripts), never inline markup.
"""

from __future__ import annotations

import base64
import html

from bench.report import rows as R

CSS = """
body { font: 13px/1.45 system-ui, sans-serif; margin: 1.5em; color: #1d1d1f; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .8em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d6d6d6; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f2f4f7; cursor: pointer; user-select: none; text-align: center; }
th:hover { background: #e3e8ef; }
td.text { text-align: left; }
tr.below-trivial td { background: #fdecec; }
span.flag { color: #b00020; font-weight: 600; }
p.note { color: #555; max-width: 1100px; }
img.pareto { max-width: 720px; border: 1px solid #eee; }
img.curve { max-width: 1100px; border: 1px solid #eee; }
ul.examples li { margin: .3em 0; }
code, .sig { font-family: ui-monospace, monospace; font-size: 12px; }
"""

# Click a header to sort its table by that column; numeric cells carry their value in data-v.
JS = """
document.querySelectorAll("table.sortable th").forEach((th, i) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const dir = th.dataset.dir = th.dataset.dir === "asc" ? "desc" : "asc";
  const key = row => { const c = row.cells[i]; if (c.dataset.v === undefined) return c.textContent;
                       const v = parseFloat(c.dataset.v); return isNaN(v) ? -Infinity : v; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    const c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return dir === "asc" ? c : -c; }).forEach(row => body.appendChild(row));
}));
"""


def e(text: object) -> str:
    return html.escape(str(text))


def _table(header: list[str], body: list[list[str]], sortable: bool = False) -> str:
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{h}</th>" for h in header)
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def _body(r_rows: list[dict], cols: list[tuple[str, str]], primary: str) -> list[str]:
    """Table rows; one below the trivial bar is tinted and its verdict flagged."""
    body = []
    for r in r_rows:
        cells = []
        for name, kind in cols:
            if kind == "text":
                cells.append(f'<td class="text">{e(r[name])}</td>')
            elif kind == "verdict":
                text = R.verdict_text(r)
                inner = f'<span class="flag">{e(text)}</span>' if r["above_trivial"] is False else e(text)
                cells.append(f'<td class="text">{inner}</td>')
            else:
                text, key = R.cell(r, kind, primary)
                cells.append(f'<td data-v="{"" if key is None else key}">{e(text)}</td>')
        cls = ' class="below-trivial"' if r["above_trivial"] is False else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return body


def _src(svg: str | None, file: str) -> str:
    """An embedded plot (data URI) when its SVG text is given, else a link to the file beside the page."""
    return f"data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}" if svg else file


def task_section(runs: list[dict], task: str, figure_svg: str | None, curve_svg: str | None = None) -> str:
    primary, direction, cols, table_rows = R.task_table(runs, task)
    info = R.task_info(runs, task)
    src = _src(figure_svg, f"pareto_{R.slug(task)}.svg")
    parts = [f"<h2>{e(task)}</h2>",
             f'<p class="note">Split {e(info.get("split", R.MISSING))}, n={e(info.get("n", R.MISSING))}; primary metric '
             f"<b>{e(primary)}</b> ({direction} is better). p: paired bootstrap vs the LLM / vs the SLM baseline. "
             "Latency, TTFT and TPOT in ms (median over timed runs); speedup = LLM latency / system latency. "
             f'{e(R.VERDICT_NOTE)} Bar: {e(", ".join(R.bars(runs, task)))}; '
             '<span class="flag">flagged</span> rows are below it. Click a column header to sort.</p>',
             _table([e(name) for name, _ in cols], _body(table_rows, cols, primary), sortable=True)]
    if R.slice_names(runs, task):
        sliced = R.columns(runs, task, sliced=True)
        parts += [f'<p class="note">Per slice ({e(info.get("slice_field", "slice"))}): every slice scored on its own '
                  "items, with its own trivial bar.</p>",
                  _table([e(name) for name, _ in sliced], _body(R.slice_rows(runs, task), sliced, primary),
                         sortable=True)]
    parts.append(f'<p><img class="pareto" alt="Pareto plot: {e(task)}" src="{e(src)}"></p>')
    if R.curves(runs, task):
        notes = "".join(f"<li>{e(note)}</li>" for note in R.curve_notes(runs, task))
        parts += [f'<p class="note">Learning curves: where each trained system\'s curve clears the trivial bar '
                  f'(same rule as the table).</p><ul class="examples">{notes}</ul>',
                  f'<p><img class="curve" alt="Learning curves: {e(task)}" '
                  f'src="{e(_src(curve_svg, f"curve_{R.slug(task)}.svg"))}"></p>']
    shown = R.examples(runs, task)
    if shown:
        items = "".join(f"<li>{e(run)} / {e(system)} <code>{e(x.get('id', R.MISSING))}</code>: "
                        f"{e(x.get('prediction', ''))} <i>(reference: {e(x.get('reference', ''))})</i></li>"
                        for run, system, x in shown)
        parts.append(f'<p>Example outputs:</p><ul class="examples">{items}</ul>')
    return "\n".join(parts)


def html_page(runs: list[dict], figures: dict[str, str] | None = None, curves: dict[str, str] | None = None) -> str:
    """The page; `figures` maps a task to its Pareto plot's SVG text (else the page links pareto_<task>.svg),
    `curves` to its learning curves' (else curve_<task>.svg, for tasks with curves)."""
    figures, curves = figures or {}, curves or {}
    meta = [R.metadata(run) for run in runs]
    meta_rows = ["<tr>" + "".join(f'<td class="text">{e(v)}</td>' for v in m.values()) + "</tr>" for m in meta]
    sig_rows = ["<tr>" + "".join(f'<td class="text sig">{e(c)}</td>' for c in s) + "</tr>" for s in R.signatures(runs)]
    title = "l2s-bench leaderboard: " + ", ".join(run["run_id"] for run in runs)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(title)}</title>",
        f"<style>{CSS}</style></head><body>", f"<h1>{e(title)}</h1>",
        *(task_section(runs, task, figures.get(task), curves.get(task)) for task in R.task_names(runs)),
        "<h2>Runs</h2>", _table([e(k) for k in meta[0]], meta_rows),
        "<h2>Metric signatures</h2>", _table(["task", "metric", "signature", "runs"], sig_rows),
        f"<script>{JS}</script>", "</body></html>", ""])
