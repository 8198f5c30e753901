"""`l2s_bench.report` on the synthetic fixture runs (tests/fixtures/results/{cpu,gpu}-run).

The Markdown report of the CPU run is compared byte for byte with a golden file. After an intended
change to the report, regenerate it and review the diff:

    L2S_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/report/test_report.py -k golden
"""

from __future__ import annotations

import json
import copy
import os
from pathlib import Path

import pytest

from l2s_bench.cli import main
import l2s_bench.report as report
from l2s_bench.report.rows import rows
from l2s_bench.runner.results import load

RESULTS = Path(__file__).parents[1] / "fixtures" / "results"
GOLDEN = RESULTS / "golden" / "leaderboard.md"


@pytest.fixture(scope="module")
def cpu() -> dict:
    return load(RESULTS / "cpu-run")


@pytest.fixture(scope="module")
def gpu() -> dict:
    return load(RESULTS / "gpu-run")


def test_markdown_matches_golden(cpu):
    text = report.markdown([cpu])
    if os.environ.get("L2S_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
        pytest.skip("golden file regenerated: review its diff; this run compared nothing")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_markdown_flags_systems_below_trivial(cpu):
    line = next(l for l in report.markdown([cpu]).splitlines() if l.startswith("| slm | 39.85"))
    assert "**not learned (p=0.046)**" in line
    learned = next(l for l in report.markdown([cpu]).splitlines() if l.startswith("| l2s | 52.64"))
    assert "not learned" not in learned and "| learned (p=0.001) |" in learned


def test_an_llm_below_trivial_says_below_trivial_never_not_learned(cpu):
    run = copy.deepcopy(cpu)
    llm = next(e for e in run["results"] if e["task"] == "kjv-web" and e["system"] == "llm")
    llm["vs_trivial"]["verdict"] = "below trivial"  # as scoring stores it; the report only reads it
    row = next(r for r in rows([run]) if r["task"] == "kjv-web" and r["system"] == "llm")
    assert row["verdict"] == "below trivial" and row["above_trivial"] is False and row["learned"] is None
    line = next(l for l in report.markdown([run]).splitlines() if l.startswith("| llm | "))
    assert "**below trivial (p=0.001)**" in line and "not learned" not in line
    assert '<tr class="below-trivial"><td class="text">llm</td>' in report.html([run])


def test_old_results_without_vs_trivial_still_render(gpu):
    assert not any("vs_trivial" in e for e in gpu["results"])
    by_system = {r["system"]: r for r in rows([gpu]) if r["task"] == "kjv-web"}
    assert by_system["slm"]["verdict"] == "not learned" and by_system["l2s"]["verdict"] == "learned"
    assert by_system["llm"]["verdict"] is None  # no verdict stored: the report does not redo the rule
    md = report.markdown([gpu])
    assert "**not learned**" in md and "Bar: trivial (copy source)." in md
    assert "trivial (copy source)" in {t.get_text() for t in report.pareto([gpu], "kjv-web").axes[0].texts}


def _sliced(run: dict) -> dict:
    """A copy whose kjv-web is sliced by `book` and scored by two trivial rules, as `l2s_bench.runner.collect` writes it."""
    run = copy.deepcopy(run)
    run["tasks"]["kjv-web"].update(trivial=["copy_source", "lead_words"], slice_field="book", slices=["Ruth", "Jonah"])
    here = [e for e in run["results"] if e["task"] == "kjv-web"]
    trivial = next(e for e in here if e["role"] == "trivial")
    lead = copy.deepcopy(trivial)
    trivial.update(system="trivial-copy_source")
    lead.update(system="trivial-lead_words", trivial_rule={"rule": "lead_words", "k": 12, "k_from": "..."})
    lead["quality"]["chrf"]["value"] = 45.0
    run["results"].insert(run["results"].index(trivial) + 1, lead)
    for e in [*here, lead]:
        if e.get("vs_trivial"):
            e["vs_trivial"].update(bar="trivial-lead_words", bar_value=45.0)
        e["slices"] = {}
        for book, shift, n in (("Ruth", 0.0, 120), ("Jonah", -10.0, 80)):
            part = {"n": n, "quality": {m: {**q, "value": q["value"] + shift, "ci": [c + shift for c in q["ci"]]}
                                        for m, q in e["quality"].items()}}
            if e.get("vs_trivial"):
                below = e["role"] == "slm" or (book == "Jonah" and e["role"] == "l2s")
                words = ("learned", "not learned") if e["role"] in ("slm", "l2s") else ("above trivial", "below trivial")
                part.update(learned=not below if e["role"] in ("slm", "l2s") else None,
                            vs_trivial={**e["vs_trivial"], "verdict": words[below], "p_vs_trivial": 0.2 if below else 0.01})
            e["slices"][book] = part
    return run


def test_slices_and_several_trivial_rules_in_every_view(cpu, tmp_path):
    run = _sliced(cpu)
    md = report.markdown([run])
    assert "Per slice (book): every slice scored on its own items" in md
    assert "Bar: trivial-lead_words (first 12 words)." in md
    assert "| slice | system | role | n | chrf [95% CI] |" in md
    assert "| Jonah | l2s | l2s | 80 | 42.64 [41.19, 44.05] |" in md
    assert "**not learned (p=0.200)**" in next(l for l in md.splitlines() if l.startswith("| Jonah | l2s"))
    assert "| Ruth | l2s | l2s | 120 | 52.64" in md and "learned (p=0.010)" in md
    assert "| trivial-lead_words | trivial | 45.00" in md
    page = report.html([run])
    assert "Per slice (book)" in page and page.count('class="sortable"') == 3  # kjv-web, its slices, debian-sum
    df = report.frame([run])
    assert len(df) == 11 + 12  # 11 overall rows, then 6 kjv-web systems x 2 slices
    jonah = df[(df["slice"] == "Jonah") & (df["system"] == "l2s")].iloc[0]
    assert jonah["n"] == 80 and jonah["verdict"] == "not learned" and jonah["bar"] == "trivial-lead_words"
    assert df[df["system"] == "trivial-lead_words"]["trivial"].iloc[0] == "trivial-lead_words (first 12 words)"
    texts = {t.get_text() for t in report.pareto([run], "kjv-web").axes[0].texts}
    assert {"trivial-lead_words (first 12 words) = the bar", "trivial-copy_source (copy source)"} <= texts


def test_html_escapes_model_output(cpu, gpu):
    page = report.html([cpu, gpu])
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Do not steal &amp; do not lie." in page
    assert page.count("<script>") == 1  # only the page's own sorting code
    assert 'class="sortable"' in page and "<style>" in page
    assert "not learned" in page


def test_html_escapes_names_and_metadata(cpu):
    run = copy.deepcopy(cpu)
    run["run_id"] = "<b>run</b>"
    run["results"][1]["system"] = '<img src=x onerror="alert(2)">'
    page = report.html([run])
    assert "<img src=x" not in page and "<b>run</b>" not in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page  # Jinja2's autoescape (markupsafe)



def test_html_is_one_autoescaped_jinja2_template(cpu):
    """The page is rendered by Jinja2 with autoescape on: untrusted text is escaped in attribute
    values (a task name in the plots' alt text) as in element text; only the page's CSS and JS are raw."""
    from l2s_bench.report import page as html_module

    assert html_module.template().environment.autoescape is True
    run = copy.deepcopy(cpu)
    evil = 'kjv" onmouseover="alert(3)'
    run["tasks"] = {evil if t == "kjv-web" else t: info for t, info in run["tasks"].items()}
    for e in run["results"]:
        e["task"] = evil if e["task"] == "kjv-web" else e["task"]
    page = report.html([run])
    assert 'onmouseover="alert(3)' not in page
    assert 'alt="Pareto plot: kjv&#34; onmouseover=&#34;alert(3)"' in page and "<h2>kjv&#34; onmouseover" in page
    assert page.count("<script>") == 1 and page.count('class="sortable"') == 2 and "<style>" in page
    assert html_module.CSS in page and html_module.JS in page  # the page's own code, unescaped

def test_frame_has_one_row_per_run_task_system(cpu, gpu):
    import pandas as pd

    df = report.frame([cpu, gpu])
    expected = {(r["run_id"], e["task"], e["system"]) for r in (cpu, gpu) for e in r["results"]}
    assert len(df) == len(expected) == 20
    assert set(map(tuple, df[["run", "task", "system"]].values)) == expected
    for col in ["run", "device", "backend", "task", "slice", "system", "role", "n", "chrf_value", "chrf_ci_low",
                "chrf_ci_high", "chrf_p_vs_llm", "chrf_p_vs_slm", "rougeL_value", "learned", "verdict", "above_trivial",
                "bar", "bar_value", "p_vs_trivial", "latency_ms_median", "ttft_ms", "tpot_ms",
                "tokens_per_s", "peak_mem_mb", "speedup", "speedup_ci_low", "speedup_ci_high"]:
        assert col in df.columns, col
    l2s = df.set_index(["run", "task", "system"]).loc[("default-gpu", "debian-sum", "l2s")]
    assert l2s["device"] == "cuda" and l2s["backend"] == "sdpa" and l2s["speedup"] == 3.01
    assert l2s["peak_mem_kind"] == "allocated"
    trivial = df.set_index(["run", "task", "system"]).loc[("default-cpu", "kjv-web", "trivial")]
    assert pd.isna(trivial["speedup"]) and pd.isna(trivial["latency_ms_median"])  # null stays missing, not 0


def _containers(fig):
    from matplotlib.container import ErrorbarContainer

    (ax,) = fig.axes
    return ax, [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


@pytest.mark.parametrize("task,metric", [("kjv-web", "chrf"), ("debian-sum", "rougeL")])
def test_pareto_one_point_per_run_and_system_with_both_whiskers(cpu, gpu, task, metric):
    runs = [cpu, gpu]
    fig = report.pareto(runs, task)
    ax, containers = _containers(fig)
    timed = {f"{r['run_id']}: {e['system']}": e for r in runs for e in r["results"]
             if e["task"] == task and e["speedup_vs_llm"] is not None}
    assert sorted(c.get_label() for c in containers) == sorted(timed) and len(timed) == 8
    for c in containers:
        assert c.has_xerr and c.has_yerr
        e = timed[c.get_label()]
        xs, ys = c.lines[0].get_data()
        assert list(xs) == [e["speedup_vs_llm"]["value"]] and list(ys) == [e["quality"][metric]["value"]]
        segments = [seg for col in c.lines[2] for seg in col.get_segments()]
        assert len(segments) == 2  # one horizontal (speedup CI), one vertical (metric CI)
        horizontal = next(s for s in segments if s[0][1] == s[1][1])
        vertical = next(s for s in segments if s[0][0] == s[1][0])
        assert sorted([horizontal[0][0], horizontal[1][0]]) == pytest.approx(e["speedup_vs_llm"]["ci"])
        assert sorted([vertical[0][1], vertical[1][1]]) == pytest.approx(e["quality"][metric]["ci"])
    trivial = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert len(trivial) == 2  # one floor per run
    assert any("trivial (" in t.get_text() for t in ax.texts)
    labels = {t.get_text() for t in ax.texts}
    assert {f"{s} ({run})" for s in ("llm", "slm", "l2s", "assisted") for run in ("default-cpu", "default-gpu")} <= labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == ["LLM", "SLM", "L2S", "lossless (assisted)"]  # colour and marker by role
    assert "eager" in ax.get_title() and "batch" in ax.get_title()  # what the speed was measured on
    colors = {c.get_label().split(": ")[1]: c.lines[0].get_color() for c in containers}
    assert len({colors["llm"], colors["slm"], colors["l2s"], colors["assisted"]}) == 4


def test_pareto_joins_the_slm_sizes_of_a_run_into_one_curve_per_method(cpu):
    run = copy.deepcopy(cpu)
    task = "kjv-web"
    for role in ("slm", "l2s"):
        small = next(e for e in run["results"] if e["task"] == task and e["role"] == role)
        big = copy.deepcopy(small)
        big["system"] = f"{role}-8"
        big["speedup_vs_llm"]["value"] = small["speedup_vs_llm"]["value"] / 2
        big["speedup_vs_llm"]["ci"] = [c / 2 for c in small["speedup_vs_llm"]["ci"]]
        big["quality"]["chrf"]["value"] = small["quality"]["chrf"]["value"] + 1
        big["quality"]["chrf"]["ci"] = [c + 1 for c in small["quality"]["chrf"]["ci"]]
        run["results"].append(big)
    ax, containers = _containers(report.pareto([run], task))
    assert {"default-cpu: slm-8", "default-cpu: l2s-8"} <= {c.get_label() for c in containers}
    solid = [l for l in ax.get_lines() if l.get_linestyle() == "-" and len(l.get_xdata()) == 2]
    curves = {l.get_color(): sorted(zip(map(float, l.get_xdata()), map(float, l.get_ydata()))) for l in solid}
    for role in ("slm", "l2s"):
        points = sorted((e["speedup_vs_llm"]["value"], e["quality"]["chrf"]["value"]) for e in run["results"]
                        if e["task"] == task and e["role"] == role)
        assert curves[report.plot.ROLE_STYLE[role][0]] == points
    assert not [l for l in _containers(report.pareto([cpu], task))[0].get_lines()
                if l.get_linestyle() == "-" and len(l.get_xdata()) == 2 and l.get_color() == report.plot.ROLE_STYLE["slm"][0]]


def test_frontier_keeps_only_undominated_points():
    points = [(1.0, 55.1), (1.6, 55.0), (3.9, 52.6), (6.0, 39.9), (3.0, 50.0), (1.2, 54.0)]
    assert report.frontier(points) == [(1.0, 55.1), (1.6, 55.0), (3.9, 52.6), (6.0, 39.9)]
    assert report.frontier([(1.0, 10.0), (2.0, 5.0)], higher_is_better=False) == [(2.0, 5.0)]


def test_build_writes_every_file(cpu, gpu, tmp_path):
    paths = report.build([cpu, gpu], tmp_path / "r")
    names = sorted(p.name for p in paths)
    assert names == sorted(["leaderboard.md", "leaderboard.html", "leaderboard.csv", "pareto_kjv-web.png",
                            "pareto_kjv-web.svg", "pareto_debian-sum.png", "pareto_debian-sum.svg"])
    assert all(p.stat().st_size > 0 for p in paths)
    md = (tmp_path / "r" / "leaderboard.md").read_text()
    assert "| run | system |" in md and "default-gpu" in md and "NVIDIA H100" in md
    assert (tmp_path / "r" / "leaderboard.png").exists() is False
    assert "<script>alert" not in (tmp_path / "r" / "leaderboard.html").read_text()


def test_a_run_without_speed_gets_no_pareto_plot(cpu, tmp_path):
    """A suite that times nothing (`long`) would draw empty axes: no plot, no link, no image on the page."""
    import copy

    untimed = copy.deepcopy(cpu)
    for entry in untimed["results"]:
        entry["speed"], entry["speedup_vs_llm"], entry["backends"] = None, None, {}
    names = {p.name for p in report.build([untimed], tmp_path / "r")}
    assert not any(name.startswith("pareto_") for name in names) and "leaderboard.html" in names
    assert "pareto_" not in (tmp_path / "r" / "leaderboard.md").read_text()
    assert "Pareto plot" not in (tmp_path / "r" / "leaderboard.html").read_text()
    timed = {p.name for p in report.build([cpu], tmp_path / "t")}
    assert "pareto_kjv-web.png" in timed


def test_cli_report_over_two_runs(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(RESULTS / "cpu-run"), str(RESULTS / "gpu-run" / "results.json"), "--out", str(out)]) == 0
    import pandas as pd

    df = pd.read_csv(out / "leaderboard.csv")
    assert len(df) == 20 and set(df["run"]) == {"default-cpu", "default-gpu"}
    assert "wrote" in capsys.readouterr().out


def test_cli_report_missing_run_is_a_usage_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "rep")]) == 2
    assert "no results at" in capsys.readouterr().err


def test_run_metadata_names_both_commits_and_the_cpu_capability(cpu):
    from l2s_bench.report.rows import metadata

    run = json.loads(json.dumps(cpu))
    run["provenance"]["git"] = {"sha": "7d2eb45aaaaaaaaa", "dirty": False}
    run["provenance"]["scored_with"] = {"sha": "e45a46cbbbbbbbbb", "dirty": False}
    run["provenance"]["capability"] = {"cpu_capability": "AVX2", "bf16_native": False}
    meta = metadata(run)
    assert meta["git"] == "7d2eb45aaaaa; scored at e45a46cbbbbb"  # the stale start sha alone misled
    assert meta["cpu"].startswith("AVX2, no native bf16")


def test_assisted_quality_reads_as_the_llms_with_its_agreement(cpu):
    from l2s_bench.report.rows import cell, row

    run = json.loads(json.dumps(cpu))
    entry = next(e for e in run["results"] if e["role"] == "assisted")
    entry["quality_from"] = "llm"
    entry["agreement_with_llm"] = {"same": 5, "n": 5, "backend": "eager"}
    primary = run["tasks"][entry["task"]]["primary_metric"]
    r = row(run, entry, [primary])
    assert cell(r, f"metric:{primary}", primary)[0] == "= LLM (lossless; 5/5 timed items identical)"


def test_rows_say_what_each_trained_system_learned_from_and_lookup_on_the_tuned_llm_reads_as_its_target(cpu):
    from l2s_bench.report.md import markdown
    from l2s_bench.report.rows import cell, columns, row

    run = json.loads(json.dumps(cpu))
    task = run["results"][0]["task"]
    assert ("trained on", "trained") not in columns([run], task)  # older results record nothing: no column
    l2s = next(e for e in run["results"] if e["role"] == "l2s" and e["task"] == task)
    l2s["trained"] = {"features_llm": "tuned:0123456789abcdef", "labels": "teacher outputs of tuned:0123456789abcdef",
                      "layers": 4}
    assert ("trained on", "trained") in columns([run], task)
    primary = run["tasks"][task]["primary_metric"]
    assert cell(row(run, l2s, [primary]), "trained", primary)[0] == (
        "teacher outputs of tuned:0123456789abcdef; features of tuned:0123456789abcdef; 4 layers")
    l2s["baseline"] = "slm-4"  # several SLM sizes: the one its p vs SLM is against
    assert cell(row(run, l2s, [primary]), "trained", primary)[0].endswith("; 4 layers; p vs slm-4")
    assert "teacher outputs of tuned:0123456789abcdef" in markdown([run])
    lookup = next(e for e in run["results"] if e["role"] == "assisted")
    lookup.update(quality_from="llm-ft", agreement_with_llm={"same": 3, "n": 4, "backend": "eager"})
    assert cell(row(run, lookup, [primary]), f"metric:{primary}", primary)[0] == (
        "= llm-ft (lossless; 3/4 timed items identical)")
