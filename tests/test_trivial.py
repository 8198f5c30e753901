"""`l2s_bench.trivial`: the trivial baselines' rules."""

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.trivial import trivial_predictions


def test_trivial_baselines():
    samples = [{"source": "First one. Second one.\nMore text."}, {"source": "no end"}]
    assert trivial_predictions(samples, "first_sentence") == ["First one.", "no end"]
    assert trivial_predictions(samples, "copy_source") == [s["source"] for s in samples]
    assert trivial_predictions(samples, "lead_words", k=3) == ["First one. Second", "no end"]
    assert trivial_predictions(samples, "empty") == ["", ""]
    with pytest.raises(BenchError, match="did you mean 'lead_words'"):
        trivial_predictions(samples, "lead_word")
    with pytest.raises(BenchError, match="needs k"):
        trivial_predictions(samples, "lead_words")
