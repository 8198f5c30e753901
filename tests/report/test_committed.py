"""The committed reports are what `l2s-bench report` makes of the committed results, byte for byte (the
PNG rasters aside, which depend on the machine's font rendering)."""

from pathlib import Path

import pytest

from l2s_bench import report
from l2s_bench.runner.results import load

REPO = Path(__file__).resolve().parents[2]
COMMITTED = [("results/default-cpu", "reports/default-cpu"), ("results/long-cpu", "reports/long-cpu")]


@pytest.mark.parametrize("run,folder", COMMITTED, ids=[f for _, f in COMMITTED])
def test_the_committed_report_is_the_regenerated_one(run, folder, tmp_path):
    written = report.build([load(REPO / run)], tmp_path, [REPO / run])
    compared = [p for p in written if p.suffix in (".md", ".csv", ".html", ".svg")]
    assert len(compared) >= 5 and tmp_path / "instances.html" in compared
    differ = [p.name for p in compared if p.read_bytes() != (REPO / folder / p.name).read_bytes()]
    assert differ == [], f"regenerate with: l2s-bench report {run} --out {folder}"
