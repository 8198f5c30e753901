"""`l2s_bench.runner.results`: atomic writes (a crash leaves the old file or the new one) and the loader's checks."""

from __future__ import annotations

import json
import os

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.runner import results
from l2s_bench.runner.results import SCHEMA_VERSION, load, write_atomic, write_json


def test_write_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    path = write_atomic(tmp_path / "sub" / "r.json", "old")
    write_atomic(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


@pytest.mark.parametrize("fails", ["fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path, monkeypatch, fails):
    path = write_atomic(tmp_path / "r.json", "old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, fails, boom)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_unserializable_data_keeps_the_old_file(tmp_path):
    path = write_json({"a": 1}, tmp_path / "r.json")
    with pytest.raises(TypeError):
        write_json({"a": object()}, path)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def minimal() -> dict:
    return {"schema_version": SCHEMA_VERSION, "suite": "s", "run_id": "r", "provenance": {}, "tasks": {},
            "results": []}


def test_load_reads_a_file_or_its_run_folder(tmp_path):
    write_json(minimal(), tmp_path / "run" / "results.json")
    assert load(tmp_path / "run") == load(tmp_path / "run" / "results.json") == minimal()


@pytest.mark.parametrize("text,message", [
    (None, "no results at"),
    ("{not json", "not valid JSON"),
    (json.dumps({**minimal(), "schema_version": 0}), "schema_version 0"),
    (json.dumps({k: v for k, v in minimal().items() if k != "results"}), "missing top-level key 'results'"),
    ("[]", "schema_version None"),
])
def test_load_refuses_what_it_cannot_read(tmp_path, text, message):
    path = tmp_path / "results.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(BenchError, match=message):
        load(path)


def test_entry_finds_one_result():
    data = {**minimal(), "results": [{"task": "t", "system": "a"}, {"task": "t", "system": "b"}]}
    assert results.entry(data, "t", "b") == {"task": "t", "system": "b"}
    assert results.entry(data, "u", "b") is None
