"""The plain-text tables `run`, `score` and `evaluate` print (drawn by rich): quality and speed side by
side, per task, then the per-slice scores of a sliced task. Verdicts against the trivial bar are read as stored (`l2s_bench.runner.verdict`)."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from l2s_bench.runner.verdict import ALPHA, BELOW, TIED, TRAINED, passed, verdict_of


def _num(value, fmt: str = "{:.2f}") -> str:
    """A number as the column shows it; a value that rounds to zero prints without a sign ("-0.00")."""
    if value is None:
        return "-"
    text = fmt.format(value)
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def _ci(block: dict | None, fmt: str = "{:.2f}") -> str:
    if not block or block.get("value") is None:
        return "-"
    ci = block.get("ci")
    return _num(block["value"], fmt) + (f" [{_num(ci[0], fmt)}, {_num(ci[1], fmt)}]" if ci else "")


def _quality(part: dict, primary: str) -> list[str]:
    """The primary metric [CI], its p-values and the verdict, of an entry or one slice of it."""
    q = (part.get("quality") or {}).get(primary)
    verdict = f"({part['incomplete']} done)" if part.get("incomplete") else verdict_of(part) or ""
    return [_ci(q), _num((q or {}).get("p_vs_llm"), "{:.3f}"), _num((q or {}).get("p_vs_slm"), "{:.3f}"), verdict]


def _render(table: Table) -> str:
    """A rich table as plain text (no colour, no wrapping): the same string on a terminal, in a log, in a test."""
    out = Console(width=400, color_system=None, force_terminal=False, record=True, file=io.StringIO())
    out.print(table)
    return "\n".join(line.rstrip() for line in out.export_text().splitlines())


def _table(title: str, headers: list[str]) -> Table:
    table = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, header in enumerate(headers):
        table.add_column(escape(header), justify="left" if i < 2 or header == "vs trivial" else "right", no_wrap=True)
    return table


def _row(table: Table, *cells: str) -> None:
    """Cells as text, never as rich markup ("[test]", "[1.00, 1.02]" are values)."""
    table.add_row(*(escape(c) for c in cells))


def console_table(results: dict) -> str:
    """Per task a table of every system (quality, verdict, speed), a table per slice where the task has
    slices, then the systems not above the trivial bar, by kind."""
    lines = [f"suite {results['suite']}, run {results['run_id']} "
             f"({results['provenance']['device'].get('name')}); p: paired bootstrap; speed: first backend; "
             f"vs trivial: against the strongest trivial baseline (CI, or paired p < {ALPHA:g})"]
    for task, info in results["tasks"].items():
        primary = info["primary_metric"]
        here = [e for e in results["results"] if e["task"] == task]
        quality = [f"{primary} [95% CI]", "p vs LLM", "p vs SLM", "vs trivial"]
        table = _table(f"{task} [{info['split']}] n={info['n']}, primary metric {primary}",
                       ["system", "role", *quality, "ms/sample", "TTFT ms", "TPOT ms", "tok/s", "speedup vs LLM [95% CI]"])
        for e in here:
            speed = e.get("speed") or {}
            _row(table, e["system"], e["role"], *_quality(e, primary),
                 _num((speed.get("latency_ms") or {}).get("median"), "{:.1f}"), _num(speed.get("ttft_ms"), "{:.1f}"),
                 _num(speed.get("tpot_ms"), "{:.2f}"), _num(speed.get("tokens_per_s"), "{:.1f}"),
                 _ci(e.get("speedup_vs_llm")))
        lines += ["", _render(table)]
        for value in info.get("slices") or []:
            parts = [(e, e["slices"][value]) for e in here if value in (e.get("slices") or {})]
            sliced = _table(f"slice {info.get('slice_field', 'slice')}={value}, n={parts[0][1]['n'] if parts else '-'}",
                            ["system", "role", *quality])
            for e, part in parts:
                _row(sliced, e["system"], e["role"], *_quality(part, primary))
            lines += ["", _render(sliced)]
    groups = {"NOT LEARNED (trained here, not above the trivial bar)":
              lambda e, v: e["role"] in TRAINED and passed(v) is False,
              f"{BELOW.upper()} (the LLM or a lossless system)": lambda e, v: e["role"] not in TRAINED and v == BELOW,
              f"{TIED.upper()} FROM TRIVIAL (the LLM or a lossless system)":
              lambda e, v: e["role"] not in TRAINED and v == TIED}
    for title, member in groups.items():
        names = [f"{e['task']}/{e['system']}" for e in results["results"] if member(e, verdict_of(e))]
        if names:
            lines += ["", f"{title}: " + ", ".join(names)]
    return "\n".join(lines)
