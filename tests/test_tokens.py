"""l2s_bench.tokens: pad ids, left and right padding, prompt truncation; and that every batch builder uses them."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import l2s_bench
from l2s_bench.method import copying
from l2s_bench.tokens import keep_last, left_pad, pad_id, right_pad


def test_left_pad_layout():
    ids, mask = left_pad([[5, 6, 7], [8], [9, 10]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 9, 10]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 1, 1]]
    assert ids.dtype == mask.dtype == torch.long
    ids, mask = left_pad([[4, 4], []], pad=3)
    assert ids.tolist() == [[4, 4], [3, 3]] and mask.tolist() == [[1, 1], [0, 0]]
    ids, mask = left_pad([[1]], pad=0)
    assert ids.tolist() == [[1]] and mask.tolist() == [[1]]


def test_right_pad_layout():
    ids, mask = right_pad([[5, 6, 7], [8], [9, 10]], pad=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 0]]
    assert ids.dtype == mask.dtype == torch.long
    ids, mask = right_pad([[4, 4], []], pad=3)
    assert ids.tolist() == [[4, 4], [3, 3]] and mask.tolist() == [[1, 1], [0, 0]]


@pytest.mark.parametrize("pad, eos, default, expected", [
    (7, 2, None, 7), (0, 2, None, 0), (None, 2, None, 2), (None, 2, 0, 0), (5, 2, 0, 5)])
def test_pad_id_falls_back_to_eos_or_the_default(pad, eos, default, expected):
    assert pad_id(SimpleNamespace(pad_token_id=pad, eos_token_id=eos), default) == expected


def test_keep_last_keeps_the_end_and_says_which_were_cut():
    seqs, cut = keep_last([[1, 2, 3, 4], [5, 6], [7, 8, 9]], 3)
    assert seqs == [[2, 3, 4], [5, 6], [7, 8, 9]] and cut == [True, False, False]


def test_pad_items_is_a_right_pad_with_labels():
    items = [([1, 2, 3, 4], 2), ([5, 6], 1)]
    ids, mask, labels = copying.pad_items(items, pad=9)
    assert (ids.tolist(), mask.tolist()) == tuple(t.tolist() for t in right_pad([s for s, _ in items], 9))
    assert labels.tolist() == [[-100, -100, 3, 4], [-100, 6, -100, -100]]


def test_no_module_builds_its_own_padding_or_pad_fallback():
    """Padding, pad ids and truncation live in l2s_bench.tokens only (the brief's "one module")."""
    root = Path(inspect.getfile(l2s_bench)).parent
    for path in root.rglob("*.py"):
        if path.name == "tokens.py":
            continue
        text = path.read_text()
        assert "pad_token_id if" not in text, path
        assert "def left_pad" not in text and "def right_pad" not in text, path
