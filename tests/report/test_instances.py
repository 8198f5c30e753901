"""instances.html: every item's source, reference and outputs with per-item scores, escaped, per task."""

import json
import shutil
from pathlib import Path

from l2s_bench import report
from l2s_bench.metrics import get_metric
from l2s_bench.runner.results import load

RUN = Path(__file__).resolve().parents[2] / "results" / "default-cpu"


def test_every_item_with_its_outputs_and_item_scores(tmp_path):
    run_dir = tmp_path / "default-cpu"
    shutil.copytree(RUN, run_dir)
    rows_path = run_dir / "samples" / "kjv-web" / "l2s.jsonl"
    rows = [json.loads(line) for line in rows_path.read_text().splitlines()]
    rows[0]["prediction"] = "<script>alert(1)</script>"  # model output is untrusted text
    rows_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    written = report.build([load(run_dir)], tmp_path / "out", [run_dir])
    page = (tmp_path / "out" / "instances.html").read_text()
    assert tmp_path / "out" / "instances.html" in written
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<tr data-slice=") == 199 + 200 + 200  # every item of every task
    assert "kjv-web/Ruth.1.3" in page and "llm-ft chrf" in page and "instruct-mix" in page
    second = rows[1]
    chrf = get_metric("chrf").item_scores([second["prediction"]], [second["reference"]])[0]
    assert f">{chrf:.1f}</td>" in page  # sentence-level chrF of that item
    assert "assisted: lossless, outputs = their target" in page
    assert 'href="instances.html"' in (tmp_path / "out" / "leaderboard.html").read_text()


def test_without_samples_there_is_no_instance_page(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(RUN / "results.json", run_dir / "results.json")
    report.build([load(run_dir)], tmp_path / "out", [run_dir])
    assert not (tmp_path / "out" / "instances.html").exists()
    assert 'href="instances.html"' not in (tmp_path / "out" / "leaderboard.html").read_text()


def test_a_task_whose_systems_wrote_nothing_yet_is_left_out(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "samples" / "kjv-web").mkdir(parents=True)
    shutil.copy(RUN / "results.json", run_dir / "results.json")
    shutil.copy(RUN / "samples" / "kjv-web" / "_manifest.json", run_dir / "samples" / "kjv-web" / "_manifest.json")
    report.build([load(run_dir)], tmp_path / "out", [run_dir])  # the manifest alone: no items to show
    assert not (tmp_path / "out" / "instances.html").exists()
