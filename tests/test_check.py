"""`l2s-bench check`: the regression gate, on copies of the synthetic CPU fixture run."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from l2s_bench.check import compare, load_baseline, make_baseline
from l2s_bench.cli import main
from l2s_bench.errors import BenchError
from l2s_bench.files import write_json
from l2s_bench.runner.results import entry, load

RUN = Path(__file__).parent / "fixtures" / "results" / "cpu-run"


@pytest.fixture
def run() -> dict:
    return load(RUN)


@pytest.fixture
def baseline(run, tmp_path) -> Path:
    path = tmp_path / "baselines" / "cpu.json"
    assert main(["check", str(RUN), "--baseline", str(path), "--update-baseline"]) == 0
    return path


def _save(run: dict, tmp_path: Path) -> str:
    return str(write_json(run, tmp_path / "current" / "results.json").parent)


def _check(run_dir: str, baseline: Path, *extra: str) -> int:
    try:
        return main(["check", run_dir, "--baseline", str(baseline), *extra])
    except SystemExit as e:  # a failed gate exits 1 from inside the handler
        return e.code


def test_identical_run_passes(baseline, capsys):
    assert _check(str(RUN), baseline) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "PASS" in out and "skipped" in out  # trivial has no speedup


def test_quality_drop_beyond_tolerance_fails(run, baseline, tmp_path, capsys):
    # l2s chrf CI [51.19, 54.05]: half-width 1.43 > tolerance 1.0, so 1.43 is the allowed drop
    entry(run, "kjv-web", "l2s")["quality"]["chrf"]["value"] -= 1.5
    assert _check(_save(run, tmp_path), baseline) == 1
    lines = capsys.readouterr().out.splitlines()
    failed = [l for l in lines if l.startswith("FAIL")]
    assert len(failed) == 1 and "l2s" in failed[0] and "chrf" in failed[0] and "1.43" in failed[0]


def test_quality_drop_within_ci_half_width_passes(run, baseline, tmp_path):
    entry(run, "kjv-web", "l2s")["quality"]["chrf"]["value"] -= 1.4
    assert _check(_save(run, tmp_path), baseline) == 0


def test_tolerance_option_widens_the_allowed_drop(run, baseline, tmp_path):
    entry(run, "kjv-web", "l2s")["quality"]["chrf"]["value"] -= 1.5
    assert _check(_save(run, tmp_path), baseline, "--tolerance", "2") == 0


def test_speedup_collapse_fails(run, baseline, tmp_path, capsys):
    entry(run, "debian-sum", "l2s")["speedup_vs_llm"]["value"] = 1.2  # floor: 3.72 x 0.75 = 2.79
    assert _check(_save(run, tmp_path), baseline) == 1
    failed = [l for l in capsys.readouterr().out.splitlines() if l.startswith("FAIL")]
    assert len(failed) == 1 and "speedup" in failed[0] and ">= 2.79" in failed[0]


def test_improvements_pass(run, baseline, tmp_path):
    entry(run, "kjv-web", "l2s")["quality"]["chrf"]["value"] += 5
    entry(run, "kjv-web", "l2s")["speedup_vs_llm"]["value"] = 9.0
    assert _check(_save(run, tmp_path), baseline) == 0


def test_null_speedup_is_skipped(run):
    base = make_baseline(run)
    current = copy.deepcopy(run)
    entry(current, "kjv-web", "l2s")["speedup_vs_llm"] = None
    check = next(c for c in compare(current, base) if (c.task, c.system, c.what) == ("kjv-web", "l2s", "speedup"))
    assert check.status == "SKIP" and "skipped" in check.note


def test_missing_system_fails(run):
    base = make_baseline(run)
    current = copy.deepcopy(run)
    current["results"] = [e for e in current["results"] if e["system"] != "assisted"]
    failed = [c for c in compare(current, base) if c.failed]
    assert {(c.task, c.system, c.what) for c in failed} == {("kjv-web", "assisted", "present"),
                                                            ("debian-sum", "assisted", "present")}


def test_lower_is_better_metrics_fail_on_a_rise(run):
    run = copy.deepcopy(run)
    run["tasks"]["kjv-web"]["higher_is_better"] = False
    base = make_baseline(run)
    entry(run, "kjv-web", "llm")["quality"]["bleu"]["value"] += 3
    failed = [c for c in compare(run, base) if c.failed]
    assert [(c.system, c.what) for c in failed] == [("llm", "bleu")]


def test_update_baseline_round_trip(run, baseline):
    data = json.loads(baseline.read_text())
    assert data["kind"] == "baseline" and data["schema_version"] == 1 and data["source_run"] == "default-cpu"
    assert data["tolerances"] == {"quality_points": 1.0, "speed_margin": 0.25}
    assert len(data["entries"]) == len(run["results"]) == 10
    l2s = next(e for e in data["entries"] if (e["task"], e["system"]) == ("kjv-web", "l2s"))
    assert l2s["quality"]["chrf"] == {"value": 52.64, "ci": [51.19, 54.05]}
    assert l2s["speedup_vs_llm"] == {"value": 3.9, "ci": [3.72, 4.08]}
    assert next(e for e in data["entries"] if e["system"] == "trivial")["speedup_vs_llm"] is None
    assert load_baseline(baseline)["entries"] == make_baseline(run)["entries"]
    assert not [c for c in compare(run, load_baseline(baseline)) if c.failed]


def test_an_update_keeps_the_tolerances_the_old_baseline_stored(baseline, capsys):
    assert main(["check", str(RUN), "--baseline", str(baseline), "--update-baseline", "--speed-margin", "0.5"]) == 0
    assert json.loads(baseline.read_text())["tolerances"] == {"quality_points": 1.0, "speed_margin": 0.5}
    assert main(["check", str(RUN), "--baseline", str(baseline), "--update-baseline"]) == 0  # regenerated
    assert json.loads(baseline.read_text())["tolerances"] == {"quality_points": 1.0, "speed_margin": 0.5}
    assert "speed margin 0.5" in capsys.readouterr().out


def test_missing_baseline_says_how_to_create_one(tmp_path, capsys):
    missing = tmp_path / "baselines" / "none.json"
    assert main(["check", str(RUN), "--baseline", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"no baseline at {missing}" in err and "--update-baseline" in err
    with pytest.raises(BenchError, match="--update-baseline"):
        load_baseline(missing)


def test_a_results_file_is_not_a_baseline(tmp_path):
    with pytest.raises(BenchError, match="not an l2s-bench baseline"):
        load_baseline(RUN / "results.json")


def test_losing_the_verdict_fails(run, baseline, tmp_path, capsys):
    vs = entry(run, "kjv-web", "l2s")["vs_trivial"]
    vs.update(verdict="not learned", p_vs_trivial=0.3)  # as scoring would store it; check never recomputes
    entry(run, "kjv-web", "l2s")["learned"] = False
    assert _check(_save(run, tmp_path), baseline) == 1
    failed = [l for l in capsys.readouterr().out.splitlines() if l.startswith("FAIL")]
    assert len(failed) == 1 and "verdict" in failed[0] and "learned -> not learned" in failed[0]


def test_verdicts_are_stored_in_the_baseline_and_gained_ones_pass(run):
    base = make_baseline(run)
    verdicts = {(e["task"], e["system"]): e["verdict"] for e in base["entries"]}
    assert verdicts[("kjv-web", "slm")] == "not learned" and verdicts[("kjv-web", "llm")] == "above trivial"
    assert verdicts[("kjv-web", "trivial")] is None
    entry(run, "kjv-web", "slm")["vs_trivial"]["verdict"] = "learned"
    checks = [c for c in compare(run, base) if c.what == "verdict"]
    assert len(checks) == 8 and not [c for c in checks if c.failed]


def test_a_baseline_without_verdicts_gets_no_verdict_check(run):
    base = make_baseline(run)
    for e in base["entries"]:
        del e["verdict"]
    assert not [c for c in compare(run, base) if c.what == "verdict"]


def test_a_system_new_in_the_run_fails_and_is_named(run):
    base = make_baseline(run)
    base["entries"] = [b for b in base["entries"] if b["task"] != "debian-sum"]  # a task the baseline never saw
    failed = [c for c in compare(run, base) if c.failed]
    assert {(c.task, c.what) for c in failed} == {("debian-sum", "present")} and len(failed) == 5
    assert all("new in run" in c.note for c in failed)


def test_a_baseline_of_another_suite_is_refused_unless_allowed(run, baseline, tmp_path, capsys):
    other = copy.deepcopy(run)
    other["suite"] = "smoke"
    run_dir = _save(other, tmp_path)
    assert _check(run_dir, baseline) == 2
    assert "baseline of suite 'default'" in capsys.readouterr().err
    assert _check(run_dir, baseline, "--allow-other-suite") == 0


def test_a_lossless_row_is_allowed_what_the_system_it_reproduces_is_allowed(run):
    for e in run["results"]:
        if e["system"] == "assisted":  # as the runner writes it: the target's values, no CI of its own
            e["quality_from"] = "llm"
            for q in e["quality"].values():
                q["ci"] = None
    base = make_baseline(run)
    current = copy.deepcopy(run)
    for system in ("llm", "assisted"):  # llm chrf CI [53.7, 56.49]: half-width 1.395 > tolerance 1.0
        entry(current, "kjv-web", system)["quality"]["chrf"]["value"] -= 1.3
    assert not [c for c in compare(current, base) if c.failed]
    entry(current, "kjv-web", "assisted")["quality"]["chrf"]["value"] -= 0.2
    assert [(c.system, c.what, c.allowed) for c in compare(current, base) if c.failed] == [("assisted", "chrf", "1.39")]
