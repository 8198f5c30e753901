"""`l2s_bench.runner.samples`: the per-sample JSONL a run appends to, read back for --resume and scoring."""

from __future__ import annotations

import json
import logging

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.runner.samples import SampleStore, prompt_hash, sample_key


def row(key: str, prediction: str = "p") -> dict:
    return {"key": key, "id": key.upper(), "prediction": prediction, "reference": "r"}


def lines(path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_append_and_reload(tmp_path):
    path = tmp_path / "deep" / "llm.jsonl"
    store = SampleStore(path)
    assert len(store) == 0 and not path.exists()
    store.append([row("a"), row("b", "é ✓")])
    store.append([row("c")])
    assert len(store) == 3 and "b" in store and "z" not in store
    again = SampleStore(path)
    assert list(again.rows) == ["a", "b", "c"]
    assert again.rows["b"]["prediction"] == "é ✓"
    assert lines(path) == [row("a"), row("b", "é ✓"), row("c")]


def test_duplicate_keys_keep_the_first_row(tmp_path):
    path = tmp_path / "s.jsonl"
    store = SampleStore(path)
    store.append([row("a", "first"), row("a", "second")])
    store.append([row("a", "third"), row("b")])
    SampleStore(path).append([row("b", "again")])
    assert lines(path) == [row("a", "first"), row("b")]


def test_duplicate_lines_already_in_the_file_are_dropped_on_read(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [row("a", "1"), row("b"), row("a", "2")]))
    store = SampleStore(path)
    assert store.rows["a"]["prediction"] == "1" and len(store) == 2
    assert lines(path) == [row("a", "1"), row("b")]


def test_torn_last_line_is_dropped_and_the_file_rewritten(tmp_path, caplog):
    path = tmp_path / "s.jsonl"
    good = "".join(json.dumps(r) + "\n" for r in [row("a"), row("b")])
    path.write_text(good + json.dumps(row("c"))[:17])  # killed mid-write
    with caplog.at_level(logging.WARNING, logger="l2s_bench.runner.samples"):
        store = SampleStore(path)
    assert list(store.rows) == ["a", "b"] and "c" not in store
    assert "torn last line" in caplog.text
    assert path.read_text() == good
    assert not [p for p in tmp_path.iterdir() if p.name != "s.jsonl"], "no temp file left"
    store.append([row("c")])
    assert lines(path) == [row("a"), row("b"), row("c")]


def test_last_line_without_its_newline_is_kept_and_the_next_append_starts_a_new_line(tmp_path):
    """Killed between a row's closing brace and its newline: the row is whole and must stay, and what is
    appended next must not be glued onto it."""
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(row("a")) + "\n" + json.dumps(row("b")))
    store = SampleStore(path)
    assert list(store.rows) == ["a", "b"]
    store.append([row("c")])
    assert lines(path) == [row("a"), row("b"), row("c")]
    assert list(SampleStore(path).rows) == ["a", "b", "c"]


def test_keys_depend_on_task_sample_and_system_hash():
    key = sample_key("kjv-web", "Ruth.1.3", "hash1")
    assert key == sample_key("kjv-web", "Ruth.1.3", "hash1") and len(key) == 16
    int(key, 16)
    others = {sample_key("kjv-web", "Ruth.1.3", "hash2"), sample_key("kjv-web", "Ruth.1.4", "hash1"),
              sample_key("debian-sum", "Ruth.1.3", "hash1")}
    assert key not in others and len(others) == 3
    # the separator keeps ("a", "bc") and ("ab", "c") apart
    assert sample_key("a", "bc", "h") != sample_key("ab", "c", "h")


def test_a_changed_system_hash_finds_none_of_the_old_rows(tmp_path):
    path = tmp_path / "l2s.jsonl"
    ids = ["1", "2", "3"]
    SampleStore(path).append([row(sample_key("t", i, "old")) for i in ids])
    store = SampleStore(path)
    assert all(sample_key("t", i, "old") in store for i in ids)
    assert not any(sample_key("t", i, "new") in store for i in ids)


def test_prompt_hash():
    assert prompt_hash("x") == prompt_hash("x") != prompt_hash("y")
    assert len(prompt_hash("")) == 12


def test_damaged_middle_line_is_one_clear_error(tmp_path):
    path = tmp_path / "llm.jsonl"
    SampleStore(path).append([row("a"), row("b")])
    text = path.read_text().splitlines()
    path.write_text(text[0][:10] + "\n" + text[1] + "\n")
    with pytest.raises(BenchError, match=r"llm.jsonl:1: not valid JSON"):
        SampleStore(path)


def test_merging_rank_shards_writes_the_one_process_file_in_manifest_order(tmp_path):
    from l2s_bench.runner.samples import merge_shards

    def rows(*indices):
        return [{"key": f"k{i}", "index": i, "prediction": f"p{i}"} for i in indices]

    store = SampleStore(tmp_path / "slm.jsonl")
    store.append(rows(0, 3))  # an earlier sitting stored these, one of them out of order
    a, b = SampleStore(tmp_path / "_shards" / "slm.rank0.jsonl"), SampleStore(tmp_path / "_shards" / "slm.rank1.jsonl")
    a.append(rows(2, 4))
    b.append(rows(1, 3))  # 3 is in the store already: kept once
    merge_shards(store, [a, b])
    lines = [json.loads(line) for line in (tmp_path / "slm.jsonl").read_text().splitlines()]
    assert [r["index"] for r in lines] == [0, 1, 2, 3, 4] and len(store) == 5
    assert not a.path.exists() and not b.path.exists()
    assert [r["index"] for r in SampleStore(tmp_path / "slm.jsonl").rows.values()] == [0, 1, 2, 3, 4]
    merge_shards(store, [SampleStore(a.path)])  # nothing left to merge: the file stays as it is
    assert (tmp_path / "slm.jsonl").read_text().count("\n") == 5
