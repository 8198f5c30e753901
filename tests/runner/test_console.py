"""The console table: columns that never run together, no signed zeros."""

import json
import re
from pathlib import Path

from l2s_bench.runner.console import console_table

RUN = Path(__file__).parents[1] / "fixtures" / "results" / "cpu-run" / "results.json"


def test_wide_and_tiny_numbers_stay_in_their_own_columns():
    results = json.loads(RUN.read_text())
    entry = next(e for e in results["results"] if e["role"] == "l2s")
    primary = results["tasks"][entry["task"]]["primary_metric"]
    entry["quality"][primary].update(value=-0.0001, ci=[-0.004, 0.003], p_vs_llm=0.0011647, p_vs_slm=0.001)
    entry["speed"]["latency_ms"]["median"] = 1647254.4
    line = next(line for line in console_table(results).splitlines() if line.startswith(entry["system"] + " "))
    assert "-0.00" not in line and "0.00 [0.00, 0.00]" in line
    assert re.search(r"0\.001 +0\.001 ", line) and " 1647254.4 " in line
