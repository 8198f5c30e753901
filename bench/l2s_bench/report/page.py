"""`leaderboard.html`: the Markdown report's content as one self-contained page (inline CSS, a few
lines of JS to sort a table by a column, plots as data URIs).

The page is one Jinja2 template (`TEMPLATE`) rendered with autoescaping on: model outputs are
untrusted text, and every value read from a results file reaches the page escaped unless the template
marks it otherwise (only the page's own CSS and JS are). The plots are embedded as `<img>` (an SVG
there cannot run scripts), never inline markup. Python here only gathers what the template shows
(`l2s_bench.report.rows` reads the results); the template only lays it out.
"""

from __future__ import annotations

import base64
import functools

import jinja2
from markupsafe import Markup

from l2s_bench.report import rows as R

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

# A cell is {"text", "cls" (class, or None), "v" (data-v of a sortable number, or None), "flag"}; a row
# is {"cells", "below" (below the trivial bar: tinted)}.
TEMPLATE = """\
{%- macro cell(c) -%}
<td{% if c.cls %} class="{{ c.cls }}"{% endif %}{% if c.v is not none %} data-v="{{ c.v }}"{% endif %}>
{%- if c.flag %}<span class="flag">{{ c.text }}</span>{% else %}{{ c.text }}{% endif %}</td>
{%- endmacro -%}
{%- macro table(header, rows, sortable=false) -%}
<table{% if sortable %} class="sortable"{% endif %}><thead><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr{% if row.below %} class="below-trivial"{% endif %}>{% for c in row.cells %}{{ cell(c) }}{% endfor %}</tr>
{% endfor %}</tbody></table>
{%- endmacro -%}
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ css }}</style></head><body>
<h1>{{ title }}</h1>
{% if instances %}<p><a href="instances.html">Browse every item: source, reference and each system's output</a></p>{% endif %}
{% for s in sections %}
<h2>{{ s.task }}</h2>
<p class="note">Split {{ s.split }}, n={{ s.n }}; primary metric <b>{{ s.primary }}</b> ({{ s.direction }} is better). \
p: paired bootstrap vs the LLM / vs the SLM baseline. Latency, TTFT and TPOT in ms (median over timed runs); \
speedup = LLM latency / system latency. {{ verdict_note }} Bar: {{ s.bars }}; <span class="flag">flagged</span> \
rows are not above it. Click a column header to sort.</p>
{{ table(s.header, s.rows, sortable=true) }}
{% if s.sliced %}
<p class="note">Per slice ({{ s.slice_field }}): every slice scored on its own items, with its own trivial bar.</p>
{{ table(s.sliced.header, s.sliced.rows, sortable=true) }}
{% endif %}
{% if s.pareto %}<p><img class="pareto" alt="Pareto plot: {{ s.task }}" src="{{ s.pareto }}"></p>{% endif %}
{% if s.curve %}
<p class="note">Learning curves: where each trained system's curve clears the trivial bar (same rule as the table).</p>\
<ul class="examples">{% for note in s.curve.notes %}<li>{{ note }}</li>{% endfor %}</ul>
<p><img class="curve" alt="Learning curves: {{ s.task }}" src="{{ s.curve.src }}"></p>
{% endif %}
{% if s.examples %}
<p>Example outputs:</p><ul class="examples">{% for x in s.examples -%}
<li>{{ x.run }} / {{ x.system }} <code>{{ x.id }}</code>: {{ x.prediction }} <i>(reference: {{ x.reference }})</i></li>
{%- endfor %}</ul>
{% endif %}
{% endfor %}
<h2>Runs</h2>
{{ table(meta_header, meta_rows) }}
<h2>Metric signatures</h2>
{{ table(["task", "metric", "signature", "runs"], sig_rows) }}
<script>{{ js }}</script>
</body></html>
"""


@functools.cache
def template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE)


def _text(value: object, cls: str | None = "text", flag: bool = False) -> dict:
    return {"text": str(value), "cls": cls, "v": None, "flag": flag}


def _rows(r_rows: list[dict], cols: list[tuple[str, str]], primary: str) -> list[dict]:
    """Table rows; one not above the trivial bar is tinted and its verdict flagged."""
    out = []
    for r in r_rows:
        cells = []
        for name, kind in cols:
            if kind == "text":
                cells.append(_text(r[name]))
            elif kind == "verdict":
                cells.append(_text(R.verdict_text(r), flag=r["above_trivial"] is False))
            elif kind == "trained":
                cells.append(_text(R.cell(r, kind, primary)[0]))
            else:
                text, key = R.cell(r, kind, primary)
                cells.append({"text": str(text), "cls": None, "v": "" if key is None else key, "flag": False})
        out.append({"cells": cells, "below": r["above_trivial"] is False})
    return out


def _src(svg: str | None, file: str) -> str:
    """An embedded plot (data URI) when its SVG text is given, else a link to the file beside the page."""
    return f"data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()}" if svg else file


def _section(runs: list[dict], task: str, figure_svg: str | None, curve_svg: str | None) -> dict:
    """What the template shows for one task."""
    primary, direction, cols, table_rows = R.task_table(runs, task)
    info = R.task_info(runs, task)
    section = {"task": task, "split": info.get("split", R.MISSING), "n": info.get("n", R.MISSING),
               "primary": primary, "direction": direction, "bars": ", ".join(R.bars(runs, task)),
               "header": [name for name, _ in cols], "rows": _rows(table_rows, cols, primary), "sliced": None,
               "pareto": _src(figure_svg, f"pareto_{R.slug(task)}.svg") if R.timed(runs, task) else None, "curve": None,
               "examples": [{"run": run, "system": system, "id": x.get("id", R.MISSING),
                             "prediction": x.get("prediction", ""), "reference": x.get("reference", "")}
                            for run, system, x in R.examples(runs, task)]}
    if R.slice_names(runs, task):
        sliced = R.columns(runs, task, sliced=True)
        section["sliced"] = {"header": [name for name, _ in sliced],
                             "rows": _rows(R.slice_rows(runs, task), sliced, primary)}
    section["slice_field"] = info.get("slice_field", "slice")
    if R.curves(runs, task):
        section["curve"] = {"notes": R.curve_notes(runs, task),
                            "src": _src(curve_svg, f"curve_{R.slug(task)}.svg")}
    return section


def html_page(runs: list[dict], figures: dict[str, str] | None = None, curves: dict[str, str] | None = None,
              instances: bool = False) -> str:
    """The page; `figures` maps a task to its Pareto plot's SVG text (else the page links pareto_<task>.svg),
    `curves` to its learning curves' (else curve_<task>.svg, for tasks with curves); `instances`: link
    instances.html (`l2s_bench.report.instances`)."""
    figures, curves = figures or {}, curves or {}
    meta = [R.metadata(run) for run in runs]
    return template().render(
        title="l2s-bench leaderboard: " + ", ".join(run["run_id"] for run in runs), instances=instances,
        css=Markup(CSS), js=Markup(JS),  # the page's own code: the only text not escaped
        verdict_note=R.VERDICT_NOTE,
        sections=[_section(runs, task, figures.get(task), curves.get(task)) for task in R.task_names(runs)],
        meta_header=list(meta[0]),
        meta_rows=[{"cells": [_text(v) for v in m.values()], "below": False} for m in meta],
        sig_rows=[{"cells": [_text(c, "text sig") for c in s], "below": False} for s in R.signatures(runs)])
