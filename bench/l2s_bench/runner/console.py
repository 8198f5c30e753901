"""The plain-text table `run` and `score` print: quality and speed side by side, per task, then the
per-slice scores of a sliced task. Verdicts against the trivial bar are read as stored (`l2s_bench.runner.verdict`)."""

from __future__ import annotations

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


def _quality(part: dict, primary: str) -> str:
    """The primary metric [CI], its p-values and the verdict, of an entry or one slice of it."""
    q = (part.get("quality") or {}).get(primary)
    verdict = f"({part['incomplete']} done)" if part.get("incomplete") else verdict_of(part) or ""
    return (f" {_ci(q):>24} {_num((q or {}).get('p_vs_llm'), '{:.3f}'):>8}"
            f" {_num((q or {}).get('p_vs_slm'), '{:.3f}'):>8}  {verdict:<14}")


def console_table(results: dict) -> str:
    lines = [f"suite {results['suite']}, run {results['run_id']} "
             f"({results['provenance']['device'].get('name')}); p: paired bootstrap; speed: first backend; "
             f"vs trivial: against the strongest trivial baseline (CI, or paired p < {ALPHA:g})"]
    for task, info in results["tasks"].items():
        primary = info["primary_metric"]
        here = [e for e in results["results"] if e["task"] == task]
        lines += ["", f"{task} [{info['split']}] n={info['n']}, primary metric {primary}",
                  f"{'system':<22}{'role':<9} {primary + ' [95% CI]':>24} {'p vs LLM':>8} {'p vs SLM':>8}  "
                  f"{'vs trivial':<14} {'ms/sample':>9} {'TTFT ms':>8} {'TPOT ms':>8} {'tok/s':>7}  speedup vs LLM [95% CI]"]
        for e in here:
            speed = e.get("speed") or {}
            lines.append(
                f"{e['system']:<22}{e['role']:<9}{_quality(e, primary)}"
                f" {_num((speed.get('latency_ms') or {}).get('median'), '{:.1f}'):>9}"
                f" {_num(speed.get('ttft_ms'), '{:.1f}'):>8} {_num(speed.get('tpot_ms'), '{:.2f}'):>8}"
                f" {_num(speed.get('tokens_per_s'), '{:.1f}'):>7}  {_ci(e.get('speedup_vs_llm'))}")
        for value in info.get("slices") or []:
            parts = [(e, e["slices"][value]) for e in here if value in (e.get("slices") or {})]
            lines.append(f"  slice {info.get('slice_field', 'slice')}={value}, n={parts[0][1]['n'] if parts else '-'}")
            lines += [f"  {e['system']:<20}{e['role']:<9}{_quality(part, primary)}".rstrip() for e, part in parts]
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
