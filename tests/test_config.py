"""Config loading: `include:` merging, YAML and schema errors that name file and key, run hash."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from l2s_bench.config import config_hash, from_dict, load_yaml
from l2s_bench.errors import BenchError


@dataclass
class Train:
    steps: int
    lr: float = 1e-3
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    seed: int | None = None
    freeze: bool = False


@dataclass
class Run:
    name: str
    train: Train
    tasks: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_include_deep_merges_with_the_including_file_winning(tmp_path):
    write(tmp_path, "base/common.yaml", "name: base\ntrain: {steps: 10, lr: 0.1}\ntasks: [a, b]\nkeep: 1\n")
    child = write(
        tmp_path,
        "exp/child.yaml",
        "include: ../base/common.yaml\nname: child\ntrain: {steps: 20}\ntasks: [c]\n",
    )
    assert load_yaml(child) == {
        "name": "child",  # scalar: child wins
        "train": {"steps": 20, "lr": 0.1},  # dict: merged key by key
        "tasks": ["c"],  # list: replaced, not concatenated
        "keep": 1,
    }


def test_include_list_applies_in_order(tmp_path):
    write(tmp_path, "a.yaml", "x: a\ny: a\n")
    write(tmp_path, "b.yaml", "x: b\n")
    top = write(tmp_path, "top.yaml", "include: [a.yaml, b.yaml]\nz: top\n")
    assert load_yaml(str(top)) == {"x": "b", "y": "a", "z": "top"}


def test_include_cycle_is_an_error(tmp_path):
    write(tmp_path, "a.yaml", "include: b.yaml\n")
    write(tmp_path, "b.yaml", "include: a.yaml\n")
    with pytest.raises(BenchError, match="include cycle"):
        load_yaml(tmp_path / "a.yaml")


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = write(tmp_path, "bad.yaml", "name: ok\ntrain:\n  steps: [1, 2\n  lr: 3\n")
    with pytest.raises(BenchError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_yaml(bad)


def test_non_mapping_and_missing_files_are_errors(tmp_path):
    with pytest.raises(BenchError, match="top level must be a mapping"):
        load_yaml(write(tmp_path, "list.yaml", "- 1\n- 2\n"))
    with pytest.raises(BenchError, match=r"config file not found: .*nope\.yaml"):
        load_yaml(tmp_path / "nope.yaml")
    with pytest.raises(BenchError, match=r"gone\.yaml \(included from .*parent\.yaml\)"):
        load_yaml(write(tmp_path, "parent.yaml", "include: gone.yaml\n"))


def test_from_dict_builds_nested_dataclasses_and_coerces_floats():
    run = from_dict(Run, {"name": "r", "train": {"steps": 5, "lr": "3e-4", "seed": 1}, "tasks": ["x"]}, "x.yaml")
    assert run == Run(name="r", train=Train(steps=5, lr=3e-4, seed=1), tasks=["x"])
    assert isinstance(run.train.lr, float)
    assert from_dict(Train, {"steps": 1, "lr": 2}, "x.yaml").lr == 2.0


def test_a_key_given_twice_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("suite: s\nsystems:\n  llm: {role: llm}\n  slm: {role: slm}\n  llm: {role: llm-ft}\n")
    with pytest.raises(BenchError, match=r"suite\.yaml:5: invalid YAML: duplicate key 'llm' \(first given on line 3\)"):
        load_yaml(path)
    path.write_text("a: 1\nb: {c: 1, c: 2}\n")  # in a nested flow mapping too
    with pytest.raises(BenchError, match="duplicate key 'c'"):
        load_yaml(path)
    path.write_text("a: {c: 1}\nb: {c: 2}\n")  # the same key in two mappings is fine
    assert load_yaml(path) == {"a": {"c": 1}, "b": {"c": 2}}


def test_yaml_float_string_goes_through_end_to_end(tmp_path):
    path = write(tmp_path, "run.yaml", "name: r\ntrain:\n  steps: 5\n  lr: 3e-4\n")
    data = load_yaml(path)
    assert data["train"]["lr"] == "3e-4"  # what PyYAML hands us
    assert from_dict(Run, data, str(path)).train.lr == pytest.approx(3e-4)


def test_unknown_nested_key_suggests_and_names_dotted_key():
    with pytest.raises(BenchError) as info:
        from_dict(Run, {"name": "r", "train": {"stpes": 5}}, "configs/x.yaml")
    assert str(info.value) == "configs/x.yaml: unknown key 'train.stpes'; did you mean 'steps'?"


def test_literal_rejection_lists_allowed_values():
    with pytest.raises(BenchError) as info:
        from_dict(Train, {"steps": 1, "schedule": "cosin"}, "x.yaml")
    message = str(info.value)
    assert "'schedule' must be one of 'cosine', 'linear', 'constant'" in message
    assert "did you mean 'cosine'?" in message


def test_missing_required_field_names_the_key():
    with pytest.raises(BenchError, match=r"x\.yaml: missing required key 'train\.steps'"):
        from_dict(Run, {"name": "r", "train": {}}, "x.yaml")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"steps": "ten"}, "'steps' must be int"),
        ({"steps": True}, "'steps' must be int"),
        ({"steps": 1, "lr": "fast"}, "'lr' must be float"),
        ({"steps": 1, "seed": 1.5}, "'seed' must be int"),
        ({"steps": 1, "freeze": "yes please"}, "'freeze' must be bool"),
    ],
)
def test_wrong_types_are_rejected(data, key):
    with pytest.raises(BenchError, match=key):
        from_dict(Train, data, "x.yaml")


def test_list_items_are_checked_with_their_index():
    with pytest.raises(BenchError, match=r"'tasks\[1\]' must be str"):
        from_dict(Run, {"name": "r", "train": {"steps": 1}, "tasks": ["a", 2]}, "x.yaml")


def test_config_hash_is_stable_under_key_order_and_sensitive_to_values():
    a = {"train": {"steps": 5, "lr": 0.1}, "name": "r"}
    b = {"name": "r", "train": {"lr": 0.1, "steps": 5}}
    assert config_hash(a) == config_hash(b)
    # pinned: a changed hash silently orphans every stored sample and checkpoint keyed by it
    assert config_hash(a) == "cf5418f32625"
    assert config_hash(a) != config_hash({"name": "r", "train": {"steps": 6, "lr": 0.1}})
