"""`instances.html`: every item of a run, for reading the outputs (as HELM's and lm-eval's instance views):
per task the item id, its slice, the source, the reference and each system's output with its per-item
score of the primary metric, as one table that filters by slice and sorts by any column.

It reads the run folder's samples (`samples/<task>/<system>.jsonl`, the outputs the scores were computed
from), never the data. The source is the one the samples stored; samples written before they stored it
show it only where a trivial `copy_source` system printed it. Per-item scores come from the metric's
`item_scores` (sentence-level chrF, ROUGE's segment scores; BLEU has none); the corpus score in the
leaderboard is not their mean. Lossless systems have no samples of their own: their outputs are their
target's.
"""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
from markupsafe import Markup

from l2s_bench.data import read_jsonl
from l2s_bench.report import rows as R

JS = """
const filter = (sel) => { const t = document.getElementById(sel.dataset.table);
  [...t.tBodies[0].rows].forEach(r => { r.hidden = sel.value !== "" && r.dataset.slice !== sel.value; }); };
document.querySelectorAll("select.slice").forEach(sel => sel.addEventListener("change", () => filter(sel)));
"""

TEMPLATE = """\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ css }}
td.out { text-align: left; white-space: normal; min-width: 14em; max-width: 28em; }</style></head><body>
<h1>{{ title }}</h1>
<p class="note">Every item of the run: source, reference and each system's output, with its per-item
{{ "score" }} of the task's primary metric where the metric has one (the leaderboard's corpus score is not
their mean). Click a column header to sort; choose a slice to filter. Back to the
<a href="leaderboard.html">leaderboard</a>.</p>
{% for t in tasks %}
<h2>{{ t.task }}</h2>
<p class="note">{{ t.note }}</p>
{% if t.slices %}<p>Slice: <select class="slice" data-table="items-{{ loop.index }}"><option value="">all</option>
{% for s in t.slices %}<option>{{ s }}</option>{% endfor %}</select></p>{% endif %}
<table class="sortable" id="items-{{ loop.index }}"><thead><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in t.rows %}<tr data-slice="{{ row.slice }}">{% for c in row.cells %}<td class="{{ c.cls }}"\
{% if c.v is not none %} data-v="{{ c.v }}"{% endif %}>{{ c.text }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endfor %}
<script>{{ sort_js }}{{ js }}</script>
</body></html>
"""


def instances_page(runs: list[tuple[dict, Path]]) -> str | None:
    """The page for the runs whose folders hold samples (None when none does)."""
    from l2s_bench.report.page import CSS, JS as SORT_JS

    tasks = [t for run, folder in runs for t in _tasks(run, folder)]
    if not tasks:
        return None
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    title = "l2s-bench instances: " + ", ".join(run["run_id"] for run, _ in runs)
    return env.from_string(TEMPLATE).render(title=title, css=Markup(CSS), sort_js=Markup(SORT_JS), js=Markup(JS),
                                            tasks=tasks)  # the page's own CSS and JS: the only text not escaped


def _tasks(run: dict, folder: Path) -> list[dict]:
    out = []
    for task, info in run["tasks"].items():
        manifest_path = folder / "samples" / task / "_manifest.json"
        if not manifest_path.is_file():
            continue
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        entries = [e for e in run["results"] if e["task"] == task]
        outputs = {e["system"]: _by_id(folder / "samples" / task / f"{e['system']}.jsonl") for e in entries}
        outputs = {s: rows for s, rows in outputs.items() if rows}
        if outputs:  # a run folder whose systems wrote nothing yet has no items to show
            out.append(_table(run, task, info, manifest, entries, outputs))
    return out


def _by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(path)} if path.is_file() else {}


def _table(run: dict, task: str, info: dict, manifest: dict, entries: list[dict], outputs: dict) -> dict:
    primary = info["primary_metric"]
    ids = [i for i in manifest["ids"] if any(i in rows for rows in outputs.values())]
    slices = dict(zip(manifest["ids"], (manifest.get("slices") or {}).get("values") or []))
    copy = next((e["system"] for e in entries if (e.get("trivial_rule") or {}).get("rule") == "copy_source"), None)
    first = next(iter(outputs.values()))
    refs = [first[i]["reference"] for i in ids]
    scores, scored_with = {}, _metric(task, primary)
    for system, rows in outputs.items():
        hyps = [rows[i]["prediction"] if i in rows else "" for i in ids]
        scores[system] = scored_with.item_scores(hyps, refs) if scored_with else None  # None: BLEU has none
    header = ["id"] + (["slice"] if slices else []) + ["source", "reference"]
    for system in outputs:
        header += [system] + ([f"{system} {primary}"] if scores[system] is not None else [])
    def source(item: str) -> str:  # as stored with the samples; older samples: what copy_source printed
        stored = next((by_id[item]["source"] for by_id in outputs.values() if by_id.get(item, {}).get("source")), None)
        return stored or (outputs[copy][item]["prediction"] if copy and item in outputs[copy] else R.MISSING)

    rows = []
    for k, item in enumerate(ids):
        cells = [_cell(item, "text")] + ([_cell(slices.get(item, ""), "text")] if slices else [])
        cells += [_cell(source(item), "out"), _cell(first[item]["reference"] if item in first else R.MISSING, "out")]
        for system, by_id in outputs.items():
            cells.append(_cell(by_id[item]["prediction"] if item in by_id else R.MISSING, "out"))
            if scores[system] is not None:
                value = scores[system][k]
                cells.append({"text": f"{value:.1f}", "cls": "num", "v": value})
        rows.append({"slice": slices.get(item, ""), "cells": cells})
    lossless = [e["system"] for e in entries if e.get("quality_from")]
    note = (f"{run['run_id']}, split {info['split']}, {len(ids)} items; per-item {primary}"
            + ("" if any(v is not None for v in scores.values())
               else " not available (the task file is not at hand, or the metric has no per-item score)")
            + (f"; {', '.join(lossless)}: lossless, outputs = their target's" if lossless else ""))
    return {"task": task, "header": header, "rows": rows, "slices": sorted(set(slices.values())), "note": note}


def _cell(text: str, cls: str) -> dict:
    return {"text": str(text), "cls": cls, "v": None}


def _metric(task: str, name: str):
    """The task's primary metric, with its options, if the task file is at hand (None otherwise)."""
    from l2s_bench.errors import BenchError
    from l2s_bench.metrics import get_metric
    from l2s_bench.tasks import get_task

    try:
        spec = next(m for m in get_task(task).metrics if m.name == name)
    except (BenchError, StopIteration):
        return None
    return get_metric(spec.name, **spec.options)
