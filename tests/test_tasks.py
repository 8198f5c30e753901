"""Task YAML: discovery, validation messages, field mapping, and loading every task from its fixture."""

import json
import re
import os
from importlib import metadata
from pathlib import Path

import pytest

from l2s_bench import tasks
from l2s_bench.cli import main
from l2s_bench.errors import BenchError

FIXTURES = Path(__file__).parent / "fixtures"
USER_CACHE = os.environ.get("L2S_BENCH_CACHE")  # read before conftest points each test at its own cache
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
    (GOOD + "trivial: [first_sentence, lead_word]\n", r"trivial\[1\]: unknown rule 'lead_word'; did you mean 'lead_words'"),
    (GOOD + "trivial: first_sentense\n", r"trivial: unknown rule 'first_sentense'; did you mean 'first_sentence'"),
    (GOOD + "trivial: []\n", "trivial is empty"),
    (GOOD + "trivial: [copy_source, copy_source]\n", "names a rule twice"),
    (GOOD + "max_words: 0\n", "max_words must be a positive"),
    (GOOD + "slice: kind\n", "did you mean 'slices'"),
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


def test_validate_checks_templates_against_a_record_when_the_data_is_at_hand(tmp_path, capsys):
    data = write(tmp_path, json.dumps({"id": "1", "source": "hello", "target": "hola"}) + "\n", "test.jsonl")
    good = write(tmp_path, GOOD.replace("DATA", str(data)))
    assert main(["validate", str(good)]) == 0
    assert "checked on every record (train 1, valid 1, test 1)" in capsys.readouterr().out
    bad = write(tmp_path, GOOD.replace("DATA", str(data)).replace("{source}", "{sourse}"), "bad.yaml")
    tasks.load_task_file(bad)  # the template alone is well formed
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "names field 'sourse'" in err and err.count("\n") == 1
    sliced = write(tmp_path, GOOD.replace("DATA", str(data)) + "slices: kind\n", "sliced.yaml")
    assert main(["validate", str(sliced)]) == 2
    assert "field 'kind' missing from record 0" in capsys.readouterr().err
    absent = write(tmp_path, GOOD.replace("DATA", str(tmp_path / "nowhere")), "absent.yaml")
    assert main(["validate", str(absent)]) == 0
    assert "no data at hand" in capsys.readouterr().out


@pytest.mark.parametrize("damage, message", [
    (b'{"id": "2", "source": "bad \xff byte", "target": "x"}\n', "not UTF-8"),
    (b'{"id": "2", "source": "torn\n', r"test.jsonl:2: not valid JSON"),
    (b'{"id": "2", "text": "no source field", "target": "x"}\n', "field 'source' missing from record 1"),
])
def test_validate_refuses_what_evaluate_refuses_with_the_same_message_and_evaluate_creates_nothing(
        tmp_path, capsys, damage, message):
    """A broken record in the middle of a split: `validate` exits 2 with evaluate's own message (file and
    line), and `evaluate` refuses it before any model loads or any run folder exists."""
    folder = tmp_path / "data"
    folder.mkdir()
    good = json.dumps({"id": "1", "source": "hello", "target": "hola"}).encode() + b"\n"
    (folder / "test.jsonl").write_bytes(good + damage + good.replace(b'"1"', b'"3"'))
    path = write(tmp_path, GOOD.replace("DATA", str(folder)))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1
    results = tmp_path / "results"
    assert main(["evaluate", str(path), "--system", "llm=hf-causal:source=smollm2-135m-instruct", "--results-dir",
                 str(results)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not results.exists()  # nothing created, no model loaded


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


def test_max_words_drops_long_items_in_every_split_and_counts_them(tmp_path):
    rows = [{"id": str(i), "source": "w " * (3 + i), "target": "t " * (2 + i)} for i in range(6)]
    for split in ("train", "test"):
        write(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), f"{split}.jsonl")
    task = tasks.load_task_file(write(tmp_path, GOOD.replace("DATA", str(tmp_path)) + "max_words: 5\n"))
    assert [s["id"] for s in task.samples("test")] == ["0", "1", "2"]  # sources of 3, 4, 5 words
    sampled = [s["id"] for s in task.samples("train", limit=2)]
    assert len(sampled) == 2 and set(sampled) <= {"0", "1", "2"}  # dropped before sampling
    assert task.dropped == {"test": 3, "train": 3}
    assert task.item_notes(task.samples("test"), "test") == {"max_words": {"limit": 5, "dropped": 3}}
    task.max_words = 1
    with pytest.raises(BenchError, match="no record within max_words=1"):
        task.samples("test")


def test_shipped_tasks_set_budgets_trivial_rules_and_slices():
    kjv = tasks.get_task("kjv-web")
    assert kjv.max_words == 30 and kjv.generation.max_new_tokens == 64
    assert tasks.get_task("debian-sum").trivial_rules == ["first_sentence", "lead_words"]
    assert tasks.get_task("kjv-web").trivial_rules == ["copy_source"]
    mix = tasks.get_task("instruct-mix")
    test = mix.samples("test", data_dir=FIXTURES / "instruct-mix")
    assert mix.slices == "kind" and set(mix.slice_values(test)) == {"define", "summarize", "modernize", "answer"}
    notes = mix.item_notes(test, "test")
    assert notes == {"slices": {"field": "kind", "values": [s["kind"] for s in test]}}


def test_debian_sum_clusters_items_by_source_package_and_stores_them_with_the_run():
    task = tasks.get_task("debian-sum")
    test = task.samples("test", data_dir=FIXTURES / "debian-sum")
    assert task.clusters == "family"  # the source package without packaging affixes (bench/l2s_bench/data/debian.py)
    notes = task.item_notes(test, "test")
    assert notes["clusters"] == {"field": "family", "values": [s["family"] for s in test]}
    assert len(set(notes["clusters"]["values"])) < len(test)  # qt6-speech has 3 binary packages in the fixture
    clusters = task.item_clusters(test)
    assert clusters.field == "family" and list(clusters.labels) == notes["clusters"]["values"]
    kjv = tasks.get_task("kjv-web")  # without `clusters:` nothing is stored and items are resampled alone
    kjv_test = kjv.samples("test", data_dir=FIXTURES / "kjv-web")
    assert kjv.clusters is None and kjv.item_clusters(kjv_test) is None
    assert "clusters" not in kjv.item_notes(kjv_test, "test")


def test_a_missing_cluster_field_is_named(tmp_path):
    data = write(tmp_path, json.dumps({"id": "1", "source": "a", "target": "b"}) + "\n", "test.jsonl")
    task = tasks.load_task_file(write(tmp_path, GOOD.replace("DATA", str(data)) + "clusters: package\n"))
    with pytest.raises(BenchError, match="field 'package' missing from record 0"):
        task.item_notes(task.samples("test"), "test")


def test_a_missing_slice_field_is_named(tmp_path):
    data = write(tmp_path, json.dumps({"id": "1", "source": "a", "target": "b"}) + "\n", "test.jsonl")
    task = tasks.load_task_file(write(tmp_path, GOOD.replace("DATA", str(data)) + "slices: kind\n"))
    with pytest.raises(BenchError, match="field 'kind' missing from record 0"):
        task.slice_values(task.samples("test"))


@pytest.mark.integration
@pytest.mark.parametrize("name", ["kjv-web", "debian-sum", "instruct-mix"])
def test_every_fixture_reference_fits_the_generation_budget(name, monkeypatch):
    """A reference longer than max_new_tokens (SmolLM2 tokens, plus the end-of-turn token) cannot be
    produced by any system; the task's max_words or max_new_tokens must leave room for every one."""
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    import l2s_bench.method.pretrained

    if USER_CACHE:
        monkeypatch.setenv("L2S_BENCH_CACHE", USER_CACHE)
    else:
        monkeypatch.delenv("L2S_BENCH_CACHE")  # the user cache: SmolLM2 is converted once per machine
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(l2s_bench.method.pretrained._embedded_dir("smollm2-135m-instruct")))
    except BenchError as e:
        pytest.skip(str(e))
    task = tasks.get_task(name)
    budget = task.generation.max_new_tokens
    for s in task.samples("test", data_dir=FIXTURES / name, limit=None):
        n = len(tokenizer(str(s["reference"]), add_special_tokens=False).input_ids) + 1
        assert n <= budget, f"{name} {s['id']}: reference needs {n} tokens, max_new_tokens is {budget}"


def test_a_broken_task_file_is_reported_and_skipped(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "good.yaml").write_text(GOOD.replace("DATA", "data.jsonl").replace("mine", "good"))
    (folder / "broken.yaml").write_text("task: broken\nfamily: [unclosed\n")
    monkeypatch.setattr(tasks.builtin, "folders", lambda kind: [folder])
    assert set(tasks.task_files()) == {"good"}
    assert tasks.get_task("good").task == "good"
    with pytest.raises(BenchError, match="broken.yaml"):
        tasks.get_task("broken")
    assert main(["list", "tasks"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "broken" in out and "BROKEN" in out


def test_a_relative_data_path_resolves_against_the_yaml_file(tmp_path, monkeypatch):
    folder = tmp_path / "mytasks"
    folder.mkdir()
    (folder / "data.jsonl").write_text(json.dumps({"id": "a", "source": "x", "target": "y"}) + "\n")
    path = write(folder, GOOD.replace("DATA", "data.jsonl"))
    monkeypatch.chdir(tmp_path)  # not the YAML's folder
    task = tasks.load_task_file(path)
    assert [s["id"] for s in task.samples("test", limit=None)] == ["a"]
    assert Path(task.dataset.path) == folder / "data.jsonl"
