"""Task YAML: discovery, validation messages, field mapping, and loading every task from its fixture."""

import json
from importlib import metadata
from pathlib import Path

import pytest

from bench import tasks
from bench.cli import main
from bench.errors import BenchError

FIXTURES = Path(__file__).parent / "fixtures"
EMBEDDED = ["kjv-web", "debian-sum", "instruct-mix", "bible-en-es", "ddtp-en-de"]
PAPER = {"wmt14-en-de": "wmt14-de-en", "wmt14-en-fr": "wmt14-fr-en", "wmt16-en-ro": "wmt16-ro-en",
         "cnn-dailymail": "cnn_dailymail", "xsum": "xsum"}


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """task: mine
family: translation
dataset: {path: DATA}
prompts: {decoder: "Translate: {source}"}
metrics: [{name: chrf}]
"""


def test_every_shipped_task_validates_and_is_listed(capsys):
    files = tasks.task_files()
    assert set(EMBEDDED) | set(PAPER) | {"alpaca"} <= set(files)
    assert not any(p.name.startswith("_") for p in files.values())  # include-only defaults are not tasks
    for path in files.values():
        assert tasks.load_task_file(path).metrics
    assert main(["list", "tasks"]) == 0
    out = capsys.readouterr().out
    assert "kjv-web" in out and "builder:kjv-web" in out and "hf:wmt14" in out


def test_includes_share_defaults():
    task = tasks.get_task("bible-en-es")
    assert task.family == "translation" and [m.name for m in task.metrics] == ["chrf", "bleu"]
    assert tasks.get_task("kjv-web").generation.max_new_tokens == 64  # the task overrides the default


def test_embedded_task_loads_its_fixture_without_leakage():
    task = tasks.get_task("kjv-web")
    data = FIXTURES / "kjv-web"
    splits = {s: task.samples(s, data_dir=data, limit=None) for s in ("train", "valid", "test")}
    assert {s: len(v) for s, v in splits.items()} == {"train": 400, "valid": 40, "test": 80}
    ids = [{r["id"] for r in rows} for rows in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    first = splits["test"][0]
    assert task.prompt(first).endswith(first["source"]) and first["reference"] == first["target"]


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_task_parses_its_fixture(name):
    task = tasks.get_task(name)
    samples = task.samples("test", data_dir=FIXTURES / "paper" / PAPER[name])
    assert samples and all(s["source"] and s["reference"] for s in samples)
    assert len({s["id"] for s in samples}) == len(samples)
    if name == "wmt14-en-de":
        assert samples[0]["source"] == "The house is small." and samples[0]["reference"] == "Das Haus ist klein."
        assert task.prompt(samples[0], "t5") == "translate English to German: The house is small."
    if name == "cnn-dailymail":
        assert "\n" in samples[0]["reference"] and task.prompt(samples[0], "t5").startswith("summarize: ")


def test_alpaca_holds_out_valid_and_test_from_train(tmp_path):
    path = write(tmp_path, """task: alp
family: instruction
dataset: {path: DATA, holdout: {valid: 2, test: 3}}
fields: {source: instruction, reference: output, id: null}
prompts: {decoder: "{instruction} {input}"}
metrics: [{name: rougeL}]
""".replace("DATA", str(FIXTURES / "paper/alpaca")))
    task = tasks.load_task_file(path)
    rows = {s: [r["instruction"] for r in task.samples(s)] for s in ("train", "valid", "test")}
    assert [len(rows[s]) for s in ("train", "valid", "test")] == [7, 2, 3]
    assert len(set(sum(rows.values(), []))) == 12
    assert tasks.get_task("alpaca").samples("test", data_dir=FIXTURES / "paper/alpaca")  # the shipped YAML too


def test_hub_task_offline_says_how_to_run_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(BenchError, match="--data-dir"):
        tasks.get_task("xsum").samples("test")


@pytest.mark.parametrize("text,message", [
    ("task: x\nfamily: a: b\n", r"t\.yaml:2: invalid YAML"),
    (GOOD.replace("family: translation\n", ""), "missing required key 'family'"),
    (GOOD.replace("name: chrf", "name: chrff"), r"metrics\[0\]\.name: unknown metric 'chrff'; did you mean 'chrf'"),
    (GOOD.replace("prompts:", "promts:"), "did you mean 'prompts'"),
    (GOOD.replace("family: translation", "family: translate"), "did you mean 'translation'"),
    (GOOD.replace("{path: DATA}", "{path: DATA, hf: wmt14}"), "exactly one of builder, path, hf"),
    (GOOD.replace('"Translate: {source}"', '"Translate"'), r"prompts\.decoder uses no record field"),
    (GOOD.replace("[{name: chrf}]", "[{name: chrf, options: {wordorder: 2}}]"), r"metrics\[0\]\.options"),
])
def test_validation_errors_name_file_and_key(tmp_path, text, message, capsys):
    path = write(tmp_path, text)
    with pytest.raises(BenchError, match=message) as err:
        tasks.load_task_file(path)
    assert str(path) in str(err.value)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_missing_field_and_template_field_are_named(tmp_path):
    data = write(tmp_path, json.dumps({"id": "1", "text": "hello", "target": "hola"}) + "\n", "test.jsonl")
    task = tasks.load_task_file(write(tmp_path, GOOD.replace("DATA", str(data))))
    with pytest.raises(BenchError, match="field 'source' missing from record 0"):
        task.samples("test")
    task.fields.source = "text"
    sample = task.samples("test")[0]
    task.prompts["decoder"] = "{source} {nope}"
    with pytest.raises(BenchError, match="names field 'nope'"):
        task.prompt(sample)
    with pytest.raises(BenchError, match="no prompt for model family 't5'"):
        task.prompt(sample, "t5")


def test_unknown_task_did_you_mean():
    with pytest.raises(BenchError, match="did you mean 'kjv-web'"):
        tasks.get_task("kjv-wbe")


def test_a_new_task_is_one_yaml_in_a_plugin_folder(tmp_path, monkeypatch):
    folder = tmp_path / "plugin_tasks"
    folder.mkdir()
    data = write(tmp_path, json.dumps({"id": "1", "source": "a", "target": "b"}) + "\n", "test.jsonl")
    write(folder, GOOD.replace("DATA", str(data)), "mine.yaml")
    ep = metadata.EntryPoint(name="mine", value="plugin_folder:FOLDER", group=tasks.ENTRY_POINT_GROUP)
    monkeypatch.setattr(ep.__class__, "load", lambda self: str(folder))
    monkeypatch.setattr(tasks.metadata, "entry_points", lambda group: [ep] if group == tasks.ENTRY_POINT_GROUP else [])
    assert "mine" in tasks.task_files()
    assert tasks.get_task("mine").samples("test")[0]["reference"] == "b"
