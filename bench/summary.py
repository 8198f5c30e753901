"""The plain-text table `run` and `score` print: quality and speed side by side, per task."""

from __future__ import annotations


def _num(value, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _ci(block: dict | None, fmt: str = "{:.2f}") -> str:
    if not block or block.get("value") is None:
        return "-"
    ci = block.get("ci")
    return fmt.format(block["value"]) + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci else "")


def console_table(results: dict) -> str:
    lines = [f"suite {results['suite']}, run {results['run_id']} "
             f"({results['provenance']['device'].get('name')}); p: paired bootstrap; speed: first backend"]
    for task, info in results["tasks"].items():
        primary = info["primary_metric"]
        lines += ["", f"{task} [{info['split']}] n={info['n']}, primary metric {primary}",
                  f"{'system':<10}{'role':<9}{primary + ' [95% CI]':>24}{'p vs LLM':>9}{'p vs SLM':>9}  "
                  f"{'learned':<8}{'ms/sample':>10}{'TTFT ms':>9}{'TPOT ms':>9}{'tok/s':>8}  speedup vs LLM [95% CI]"]
        for e in (e for e in results["results"] if e["task"] == task):
            q = (e.get("quality") or {}).get(primary)
            speed = e.get("speed") or {}
            learned = {True: "yes", False: "NO"}.get(e.get("learned"), "")
            if e.get("incomplete"):
                learned = f"({e['incomplete']} done)"
            lines.append(
                f"{e['system']:<10}{e['role']:<9}{_ci(q):>24}{_num((q or {}).get('p_vs_llm'), '{:.3f}'):>9}"
                f"{_num((q or {}).get('p_vs_slm'), '{:.3f}'):>9}  {learned:<8}"
                f"{_num((speed.get('latency_ms') or {}).get('median'), '{:.1f}'):>10}"
                f"{_num(speed.get('ttft_ms'), '{:.1f}'):>9}{_num(speed.get('tpot_ms'), '{:.2f}'):>9}"
                f"{_num(speed.get('tokens_per_s'), '{:.1f}'):>8}  {_ci(e.get('speedup_vs_llm'))}")
    not_learned = [f"{e['task']}/{e['system']}" for e in results["results"] if e.get("learned") is False]
    if not_learned:
        lines += ["", "NOT LEARNED (below the trivial baseline; not results): " + ", ".join(not_learned)]
    return "\n".join(lines)
