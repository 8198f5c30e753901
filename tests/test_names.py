"""l2s_bench.names: task, system, suite and run ids cannot name a path outside their folder."""

import pytest

from l2s_bench.cli import main
from l2s_bench.errors import BenchError
from l2s_bench.names import check_name


@pytest.mark.parametrize("name", ["kjv-web", "wmt14-en-de", "l2s_4", "v1.2", "A"])
def test_ordinary_names_pass(name):
    assert check_name("task", name) == name


@pytest.mark.parametrize("name", ["../../../pwn", "a/b", ".hidden", "", "a b", "x\\y", "..", "tab\t"])
def test_separators_dots_and_blanks_are_refused(name):
    with pytest.raises(BenchError, match="not a valid name"):
        check_name("task", name)


def test_a_task_named_as_a_path_is_refused_before_anything_is_written(tmp_path, capsys):
    task = tmp_path / "t.yaml"
    task.write_text('task: "../../../pwn"\nfamily: translation\ndataset: {path: d.jsonl}\n'
                    'prompts: {decoder: "x {source}"}\nmetrics: [{name: chrf}]\n')
    out = tmp_path / "deep" / "results"
    assert main(["evaluate", str(task), "--system", "llm=hf-causal:source=x", "--results-dir", str(out)]) == 2
    assert "task '../../../pwn' is not a valid name" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*.jsonl")) and not out.exists()


def test_a_run_id_and_a_system_name_as_paths_are_refused(tmp_path, capsys):
    args = ["evaluate", "kjv-web", "--system", "llm=hf-causal:source=x", "--results-dir", str(tmp_path / "r")]
    assert main([*args, "--run-id", "../../x"]) == 2
    assert "run id '../../x' is not a valid name" in capsys.readouterr().err
    assert main(["evaluate", "kjv-web", "--system", "../x@llm=hf-causal:source=x"]) == 2
    assert "system '../x' is not a valid name" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "x").exists()
