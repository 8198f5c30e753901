"""l2s_bench.builtin: shipped tasks, suites and configs; the user's folders searched first."""

import json
from pathlib import Path

import pytest

from l2s_bench import builtin
from l2s_bench.cli import main
from l2s_bench.config import load_yaml
from l2s_bench.errors import BenchError
from l2s_bench.runner.suite import load_suite, suite_names
from l2s_bench.tasks import get_task, task_files

REPO = Path(__file__).resolve().parents[1]
TASK = """task: {name}
family: translation
dataset: {{path: data.jsonl}}
prompts: {{decoder: "Translate: {{source}}"}}
metrics: [{{name: chrf}}]
"""


@pytest.fixture
def clean_include(monkeypatch):
    monkeypatch.delenv(builtin.INCLUDE_ENV, raising=False)


def test_the_shipped_folders_are_package_data_read_through_importlib_resources():
    for kind in builtin.KINDS:
        assert builtin.shipped(kind).resolve() == (REPO / kind).resolve()  # editable: the checkout's own
    assert "kjv-web" in task_files() and "default" in suite_names()


def test_a_task_in_the_working_directory_is_listed_and_found(tmp_path, monkeypatch, clean_include, capsys):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "lowercase.yaml").write_text(TASK.format(name="lowercase"))
    monkeypatch.chdir(tmp_path)
    assert main(["list", "tasks"]) == 0
    assert "lowercase" in capsys.readouterr().out
    assert get_task("lowercase").file == str(tmp_path / "tasks" / "lowercase.yaml")
    assert "kjv-web" in task_files()  # the shipped ones are still there


def test_include_path_holds_tasks_itself_or_a_checkout_layout(tmp_path, monkeypatch, clean_include, capsys):
    flat, layout, elsewhere = tmp_path / "flat", tmp_path / "layout", tmp_path / "cwd"
    for d in (flat, layout / "tasks", layout / "suites", elsewhere):
        d.mkdir(parents=True)
    (flat / "one.yaml").write_text(TASK.format(name="one"))
    (layout / "tasks" / "two.yaml").write_text(TASK.format(name="two"))
    (layout / "suites" / "mine.yaml").write_text("suite: mine\ntasks: [two]\nsystems: {}\n")
    monkeypatch.chdir(elsewhere)
    assert main(["list", "tasks", "--include-path", str(flat), "--include-path", str(layout)]) == 0
    out = capsys.readouterr().out
    assert "one" in out and "two" in out
    assert "mine" in suite_names() and load_suite("mine").tasks == ["two"]  # the flag reaches subprocesses by env


def test_a_relative_config_reference_falls_back_to_the_shipped_one(tmp_path, monkeypatch, clean_include):
    monkeypatch.chdir(tmp_path)
    assert load_yaml("configs/kjv-web.yaml")["data"]["task"] == "kjv-web"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "kjv-web.yaml").write_text("data: {task: mine}\n")
    assert load_yaml("configs/kjv-web.yaml")["data"]["task"] == "mine"  # the user's own wins
    with pytest.raises(BenchError, match="config file not found: configs/nope.yaml"):
        load_yaml("configs/nope.yaml")


def test_a_missing_include_path_is_one_clear_error(tmp_path, capsys):
    assert main(["list", "tasks", "--include-path", str(tmp_path / "nope")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("l2s-bench 0.")


def test_validate_takes_names_suites_and_configs_and_reports_every_failure(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TASK.format(name="bad").replace("chrf", "chrff"))
    args = ["validate", "kjv-web", "default", "configs/kjv-web.yaml", "configs/smollm2.yaml",
            str(REPO / "tasks" / "_translation.yaml"), str(bad), "kjvweb"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "task 'kjv-web'" in out and "suite 'default'" in out and "training config" in out
    assert "base training config" in out and "skipped" in out and "include file" in out
    assert "chrff" in err and "did you mean 'kjv-web'" in err and "2 of 7 failed" in err


def test_a_users_copy_of_a_shipped_task_replaces_it(tmp_path, monkeypatch, clean_include):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "kjv-web.yaml").write_text(TASK.format(name="kjv-web"))
    monkeypatch.chdir(tmp_path)
    assert task_files()["kjv-web"] == tmp_path / "tasks" / "kjv-web.yaml"
    (tmp_path / "tasks" / "again.yaml").write_text(TASK.format(name="kjv-web"))
    with pytest.raises(BenchError, match="defined twice"):
        task_files()
