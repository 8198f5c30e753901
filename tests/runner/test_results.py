"""`l2s_bench.runner.results`: the loader's checks and the newer-schema guard."""

from __future__ import annotations

import json
import os

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.runner import results
from l2s_bench.files import write_json
from l2s_bench.runner.results import SCHEMA_VERSION, load


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
