"""The quality pass: systems generate on the same items and are scored together, predictions kept."""

import json

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.evaluate import SystemSpec, evaluate, table
from bench.tasks import load_task_file


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


def test_evaluate_scores_every_system_against_the_baselines(tiny, task):
    systems = [SystemSpec.parse(f"llm=hf-causal:source={tiny['llama']}"),
               SystemSpec.parse(f"small@slm=hf-seq2seq:source={tiny['t5_slm']}")]
    result = evaluate(load_task_file(task), systems, n_bootstrap=50)
    assert result["n"] == 8 and set(result["scores"]) == {"trivial", "llm", "small"}
    assert result["scores"]["small"]["role"] == "slm"
    chrf = result["scores"]["small"]["quality"]["chrf"]
    assert {"value", "ci", "signature", "p_vs_llm"} <= set(chrf)
    assert result["scores"]["trivial"]["quality"]["chrf"]["value"] > 0  # copying the source overlaps
    small = result["scores"]["small"]
    assert small["vs_trivial"]["bar"] == "trivial" and small["learned"] is (small["vs_trivial"]["verdict"] == "learned")
    assert result["scores"]["llm"]["vs_trivial"]["verdict"] in ("above trivial", "below trivial")
    assert result["scores"]["llm"]["learned"] is None and result["slices"] is None
    assert [p["id"] for p in result["predictions"]] == [f"p{i}" for i in range(32, 40)]
    assert set(result["predictions"][0]) == {"id", "reference", "trivial", "llm", "small"}
    assert f"{small['vs_trivial']['verdict']} (bar trivial, p=" in table(result)


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
    result = evaluate(load_task_file(path), [SystemSpec.parse(f"llm=hf-causal:source={tiny['llama']}")], n_bootstrap=30)
    assert result["trivial"]["trivial-lead_words"]["k"] == 7 and "no train split" in result["trivial"]["trivial-lead_words"]["k_from"]
    assert set(result["scores"]) == {"trivial-copy_source", "trivial-lead_words", "llm"}
    bar = result["scores"]["llm"]["vs_trivial"]["bar"]
    values = {s: result["scores"][s]["quality"]["chrf"]["value"] for s in ("trivial-copy_source", "trivial-lead_words")}
    assert bar == max(values, key=values.get)
    assert set(result["slices"]) == {"a", "b"} and result["slices"]["a"]["llm"]["n"] == 4
    assert "vs_trivial" in result["slices"]["b"]["llm"]
    assert "slice a, n=4" in table(result) and "trivial-lead_words" in table(result)


def test_cli_evaluate_writes_json(tiny, task, tmp_path, capsys):
    out = tmp_path / "res" / "r.json"
    assert main(["evaluate", str(task), "--system", f"llm=hf-causal:source={tiny['llama']}",
                 "--n-bootstrap", "20", "--limit", "4", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["n"] == 4 and "llm" in data["scores"]
    assert "tiny-task [test], n=4" in capsys.readouterr().out


@pytest.mark.parametrize("text,message", [
    ("llm", "NAME\\[@ROLE\\]=ADAPTER"),
    ("mine=hf-causal", "role 'mine' is not one of"),
    ("x@teacher=hf-causal", "role 'teacher'"),
])
def test_bad_system_specs(text, message):
    with pytest.raises(BenchError, match=message):
        SystemSpec.parse(text)


def test_duplicate_system_name_is_refused(tiny, task):
    spec = SystemSpec.parse(f"llm=hf-causal:source={tiny['llama']}")
    with pytest.raises(BenchError, match="used twice"):
        evaluate(load_task_file(task), [spec, spec], n_bootstrap=20)
