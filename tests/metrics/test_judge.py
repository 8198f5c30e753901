"""The optional LLM judge: rating parsing, grading through a real adapter, and its signature."""

import pytest

from l2s_bench.errors import BenchError
from l2s_bench.metrics import get_metric
from l2s_bench.metrics import judge as judge_module
from l2s_bench.metrics.judge import parse_rating


@pytest.mark.parametrize("reply,rating", [
    ("Rating: 7", 7), ("[[10]]", 10), ("I'd give it 3/10.", 3), ("rating - 9, because", 9),
    ("No idea.", None), ("Rating: 11", None), ("Answer 2, rating: 8", 8),
])
def test_parse_rating(reply, rating):
    assert parse_rating(reply) == rating


def test_judge_needs_a_model():
    with pytest.raises(BenchError, match="needs options.source"):
        get_metric("judge")


class FakeJudge:
    """Grades 9 when the answer repeats the reference, 2 otherwise, through the adapter interface."""

    hash = "f" * 64

    def generate(self, prompts, gen):
        return ["Rating: 9" if p.split("[Reference answer]\n")[1].split("\n")[0] in p.split("[Assistant's answer]\n")[1]
                else "Rating: 2" for p in prompts]


def test_judge_scores_and_compares(monkeypatch):
    monkeypatch.setattr("l2s_bench.models.get_adapter", lambda *a, **k: FakeJudge())
    metric = get_metric("judge", source="some-judge")
    refs = [f"answer {i}" for i in range(20)]
    good = metric.score(refs, refs, n_bootstrap=100)
    assert good.value == 90.0 and "judge:some-judge" in good.signature and "weights:ffffffffffff" in good.signature
    assert metric.paired_p(["wrong"] * 20, refs, refs, n_bootstrap=100) < 0.05


def test_judge_runs_a_real_model_and_counts_unparsed(tiny):
    metric = get_metric("judge", source=tiny["llama"], max_new_tokens=3, batch_size=2)
    score = metric.score(["a cat", "a dog", "water"], ["a cat", "a bird", "fire"], n_bootstrap=0)
    assert score.n == 3 and 0 <= score.value <= 100
    assert 0 <= metric.unparsed <= 3
    assert judge_module.PROMPT.count("{") == 2
