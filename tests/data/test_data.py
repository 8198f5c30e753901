"""Reading records: bad files give one clear message; limits are seeded samples; nothing silently empty."""

import json

import pytest

from l2s_bench.data import load_records, prepared_split, read_jsonl, subsample
from l2s_bench.errors import BenchError


def test_non_utf8_bytes_are_reported(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"source": "ok"}\n{"source": "caf\xe9"}\n')
    with pytest.raises(BenchError, match="not UTF-8"):
        read_jsonl(path)


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n')
    with pytest.raises(BenchError, match=r"bad\.jsonl:3: not valid JSON"):
        read_jsonl(path)


def test_missing_file_and_empty_data(tmp_path):
    with pytest.raises(BenchError, match="does not exist"):
        load_records(str(tmp_path / "none.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(BenchError, match="has no records"):
        load_records(str(tmp_path / "empty.jsonl"))


def test_limit_is_a_seeded_order_keeping_sample(tmp_path):
    rows = [{"id": i} for i in range(100)]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    a = load_records(str(tmp_path), "train", limit=10, seed=1)
    assert a == load_records(str(tmp_path), "train", limit=10, seed=1)
    assert a != load_records(str(tmp_path), "train", limit=10, seed=2)
    assert [r["id"] for r in a] == sorted(r["id"] for r in a) and a[-1]["id"] > 10  # not just the head
    assert subsample(rows, None) is rows and subsample(rows, 500) is rows


def test_unknown_data_set_did_you_mean():
    with pytest.raises(BenchError, match="did you mean 'debian-sum'"):
        prepared_split("debian-summ", "test")
