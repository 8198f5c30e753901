"""`l2s-bench evaluate`: a one-off suite run (quality only) through the one runner, so its results.json is
what `run` writes and `report` reads; the systems are parsed from `NAME[@ROLE]=ADAPTER[:k=v,...]`."""

import json

import pytest

from l2s_bench.cli import main
from l2s_bench.data import read_jsonl
from l2s_bench.errors import BenchError
from l2s_bench.runner.suite import one_task, parse_system
from l2s_bench.runner.verdict import VERDICTS


@pytest.fixture
def task(tmp_path, pairs_jsonl):
    path = tmp_path / "tiny-task.yaml"
    path.write_text(f"""task: tiny-task
family: translation
dataset: {{path: {pairs_jsonl}, splits: {{test: valid}}}}
prompts: {{decoder: "Rewrite: {{source}}", t5: "rewrite: {{source}}"}}
metrics: [{{name: chrf}}, {{name: bleu}}]
generation: {{max_new_tokens: 6}}
chat: false
""")
    return path


def entries(run_dir) -> dict:
    return {e["system"]: e for e in json.loads((run_dir / "results.json").read_text())["results"]}


def test_evaluate_scores_every_system_against_the_baselines(tiny, task, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["evaluate", str(task), "--system", f"llm=hf-causal:source={tiny['llama']}",
                 "--system", f"small@slm=hf-seq2seq:source={tiny['t5_slm']}", "--n-bootstrap", "50",
                 "--results-dir", str(out)]) == 0
    run = out / "evaluate-tiny-task"
    got = entries(run)
    assert set(got) == {"trivial", "llm", "small"} and all(e["n"] == 8 for e in got.values())
    small, llm = got["small"], got["llm"]
    assert small["role"] == "slm" and small["speedup_vs_llm"] is None  # no speed pass
    assert {"value", "ci", "signature", "p_vs_llm"} <= set(small["quality"]["chrf"])
    assert got["trivial"]["quality"]["chrf"]["value"] > 0  # copying the source overlaps
    assert small["vs_trivial"]["bar"] == "trivial" and small["learned"] is (small["vs_trivial"]["verdict"] == "above trivial")
    assert llm["vs_trivial"]["verdict"] in VERDICTS and llm["learned"] is None
    rows = read_jsonl(run / "samples" / "tiny-task" / "small.jsonl")
    assert sorted(r["id"] for r in rows) == [f"p{i}" for i in range(32, 40)]
    printed = capsys.readouterr().out
    assert "small" in printed and small["vs_trivial"]["verdict"] in printed
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 0  # the report reads it as any run
    assert (tmp_path / "rep" / "leaderboard.md").exists()


def test_evaluate_resumes_and_refuses_to_overwrite(tiny, task, tmp_path, capsys):
    args = ["evaluate", str(task), "--system", f"llm=hf-causal:source={tiny['llama']}", "--limit", "4",
            "--n-bootstrap", "20", "--results-dir", str(tmp_path), "--run-id", "mine"]
    assert main(args) == 0
    first = (tmp_path / "mine" / "samples" / "tiny-task" / "llm.jsonl").read_text()
    assert main(args) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert (tmp_path / "mine" / "samples" / "tiny-task" / "llm.jsonl").read_text() == first  # nothing redone
    assert entries(tmp_path / "mine")["llm"]["n"] == 4


def test_evaluate_scores_each_trivial_rule_and_each_slice(tiny, tmp_path):
    rows = [{"id": f"q{i}", "kind": "ab"[i % 2], "source": f"And he said unto them, go {i} ways now.",
             "target": f"He said to them, go {i} ways."} for i in range(8)]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))  # no train split
    path = tmp_path / "sliced.yaml"
    path.write_text(f"""task: sliced
family: translation
dataset: {{path: {tmp_path}}}
prompts: {{decoder: "Rewrite: {{source}}"}}
metrics: [{{name: chrf}}]
generation: {{max_new_tokens: 4}}
trivial: [copy_source, lead_words]
slices: kind
chat: false
""")
    assert main(["evaluate", str(path), "--system", f"llm=hf-causal:source={tiny['llama']}", "--n-bootstrap", "30",
                 "--results-dir", str(tmp_path / "res")]) == 0
    got = entries(tmp_path / "res" / "evaluate-sliced")
    assert set(got) == {"trivial-copy_source", "trivial-lead_words", "llm"}
    assert got["trivial-lead_words"]["trivial_rule"]["k"] == 7
    assert "no train split" in got["trivial-lead_words"]["trivial_rule"]["k_from"]
    values = {s: got[s]["quality"]["chrf"]["value"] for s in ("trivial-copy_source", "trivial-lead_words")}
    assert got["llm"]["vs_trivial"]["bar"] == max(values, key=values.get)
    assert set(got["llm"]["slices"]) == {"a", "b"} and got["llm"]["slices"]["a"]["n"] == 4
    assert "vs_trivial" in got["llm"]["slices"]["b"]


@pytest.mark.parametrize("text,message", [
    ("llm", "NAME\\[@ROLE\\]=ADAPTER"),
    ("mine=hf-causal", "role 'mine' is not one of"),
    ("x@teacher=hf-causal", "role 'teacher'"),
    ("x@slmm=hf-causal", "did you mean 'slm'"),
    ("x@assisted=hf-causal", "role 'assisted' is not one of"),
])
def test_bad_system_specs(text, message):
    with pytest.raises(BenchError, match=message):
        parse_system(text)


def test_parsed_system_keeps_role_adapter_and_args():
    name, system = parse_system("small@slm=llm2slm:checkpoint=runs/x/final,chat=false")
    assert (name, system.role, system.adapter) == ("small", "slm", "llm2slm")
    assert system.args == {"checkpoint": "runs/x/final", "chat": False}


def test_duplicate_system_name_is_refused():
    with pytest.raises(BenchError, match="used twice"):
        one_task("kjv-web", ["llm=hf-causal:source=a", "llm=hf-causal:source=b"])


def test_an_unknown_adapter_argument_fails_before_any_work(tiny, task, tmp_path, capsys):
    assert main(["evaluate", str(task), "--system", f"llm=hf-causal:sorce={tiny['llama']}",
                 "--results-dir", str(tmp_path)]) == 2
    assert "did you mean 'source'" in capsys.readouterr().err
    assert not (tmp_path / "evaluate-tiny-task").exists()  # a run that never started leaves no folder


def test_the_python_api_is_the_same_run_as_the_command(tiny, task, tmp_path):
    """`l2s_bench.evaluate` (the API docs/python-api.md shows) returns what `l2s-bench evaluate` writes."""
    import l2s_bench

    system = f"llm=hf-causal:source={tiny['llama']}"
    results = l2s_bench.evaluate(str(task), [system], limit=4, n_bootstrap=20, results_dir=tmp_path / "api")
    assert main(["evaluate", str(task), "--system", system, "--limit", "4", "--n-bootstrap", "20",
                 "--results-dir", str(tmp_path / "cli")]) == 0
    from_cli = json.loads((tmp_path / "cli" / "evaluate-tiny-task" / "results.json").read_text())
    assert results == json.loads((tmp_path / "api" / "evaluate-tiny-task" / "results.json").read_text())
    quality = lambda r: [(e["system"], e["quality"]) for e in r["results"]]  # noqa: E731
    assert quality(results) == quality(from_cli) and [e["n"] for e in results["results"]] == [4, 4]


def test_evaluate_takes_the_compute_flags_run_takes(tiny, task, tmp_path):
    assert main(["evaluate", str(task), "--system", f"llm=hf-causal:source={tiny['llama']}", "--limit", "2",
                 "--n-bootstrap", "10", "--threads", "1", "--dtype", "float32", "--results-dir", str(tmp_path)]) == 0
    state = json.loads((tmp_path / "evaluate-tiny-task" / "suite.json").read_text())
    assert state["suite"]["threads"] == 1 and state["suite"]["dtype"] == "float32"


def test_a_second_run_into_a_run_folder_in_use_is_refused_naming_the_holder(tiny, task, tmp_path, capsys):
    import subprocess
    import sys

    folder = tmp_path / "res" / "busy"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from l2s_bench.folder_lock import hold; h = hold(Path(sys.argv[1]), 'a suite run'); "
                               "print('held', flush=True); time.sleep(60)", str(folder)], stdout=subprocess.PIPE, text=True)
    args = ["evaluate", str(task), "--system", f"llm=hf-causal:source={tiny['llama']}", "--limit", "2",
            "--n-bootstrap", "10", "--results-dir", str(tmp_path / "res"), "--run-id", "busy"]
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(args) == 2
        assert f"in use by another process (pid {holder.pid}): a suite run" in capsys.readouterr().err
        assert not (folder / "suite.json").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main(args) == 0  # the lock dies with its process
