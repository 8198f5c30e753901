"""`assisted` (speculative decoding) and `prompt-lookup`: greedy output equals the LLM's own, and wrong
assistants or lookup settings are refused."""

from __future__ import annotations

import pytest
import torch
import yaml

from l2s_bench.errors import BenchError
from l2s_bench.method import train
from l2s_bench.models import GenSettings, get_adapter

PROMPTS = ["Rewrite this verse in modern English: Thou shalt not steal.",
           "Define the word river.",
           "And God said, Let there be light: and there was light.",
           "The quick brown fox"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoints(tiny, pairs_jsonl, tmp_path_factory) -> dict[str, str]:
    """'slm': a 1-layer SLM cut from the tiny llama (its vocabulary); 'l2s': an L2S system on it;
    'gpt2': an SLM baseline with GPT-2's own vocabulary."""
    root = tmp_path_factory.mktemp("assisted")
    llama = {"llm": tiny["llama"], "slm": {"init": "truncate", "layers": 1}, "l2s": {"llm_layer": 2},
             "data": {"source": str(pairs_jsonl), "chat": True}}
    gpt2 = {"llm": tiny["t5"], "slm": {"init": "pretrained", "source": tiny["gpt2"]}, "l2s": {"llm_layer": None},
            "data": {"source": str(pairs_jsonl), "chat": False}}
    out = {}
    with pytest.MonkeyPatch.context() as patch:  # the module-scoped training must not touch the real cache
        patch.setenv("L2S_BENCH_CACHE", str(root / "cache"))
        for name, base, system in (("slm", llama, "slm"), ("l2s", llama, "l2s"), ("gpt2", gpt2, "slm")):
            cfg = {**base, "system": system, "out": str(root / name),
                   "train": {"steps": 2, "batch_size": 4, "save_every": 2, "warmup_steps": 1,
                             "max_response_tokens": 16}}
            path = root / f"{name}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            out[name] = str(train.train(path))
    return out


@pytest.mark.parametrize("min_new_tokens", [0, 10])  # natural length (quality) and forced length (speed)
def test_greedy_assisted_output_is_the_llms_own(tiny, checkpoints, min_new_tokens):
    common = {"source": tiny["llama"], "chat": True, "reserve_new_tokens": 10}
    llm = get_adapter("hf-causal", **common)
    assisted = get_adapter("assisted", assistant=checkpoints["slm"], **common)
    gen = GenSettings(max_new_tokens=10, min_new_tokens=min_new_tokens)
    singles = [assisted.generate_ids([p], gen)[0] for p in PROMPTS]
    assert singles == [llm.generate_ids([p], gen)[0] for p in PROMPTS]
    assert assisted.generate_ids(PROMPTS, gen) == singles  # a batch is decoded prompt by prompt, unpadded
    if min_new_tokens:
        assert all(len(ids) == 10 for ids in singles)
    assert assisted.hash.startswith(llm.hash + "+") and assisted.hash != llm.hash


def test_forced_length_drafting_logs_no_transformers_internal_warning(tiny, checkpoints, caplog):
    from transformers.utils import logging as hf_logging

    hf_logging.enable_propagation()  # transformers' warnings reach caplog as they reach the user's log
    try:
        assisted = get_adapter("assisted", assistant=checkpoints["slm"], source=tiny["llama"], chat=True,
                               reserve_new_tokens=10)
        assisted.generate_ids(PROMPTS[:2], GenSettings(max_new_tokens=10, min_new_tokens=10))
    finally:
        hf_logging.disable_propagation()
    assert not [r for r in caplog.records if "MinNewTokensLengthLogitsProcessor" in r.getMessage()
                or "Passing `generation_config` together with" in r.getMessage()]


def test_counters_count_llm_forwards_and_generated_tokens(tiny, checkpoints):
    assisted = get_adapter("assisted", assistant=checkpoints["slm"], source=tiny["llama"], chat=True,
                           reserve_new_tokens=10)
    gen = GenSettings(max_new_tokens=10, min_new_tokens=10)
    assisted.generate_ids(PROMPTS[:2], gen)
    c = assisted.counters
    assert c["generated_tokens"] == 20
    # at least one verification forward per prompt, at most one per generated token (+ prefill)
    assert 2 <= c["llm_forwards"] <= 22


def test_assisted_runs_greedy_or_sampled_on_eager_only(tiny, checkpoints):
    assisted = get_adapter("assisted", source=tiny["llama"], assistant=checkpoints["slm"], chat=True,
                           reserve_new_tokens=4)
    with pytest.raises(BenchError, match="eager backend only"):
        assisted.generate_ids(PROMPTS[:1], GenSettings(max_new_tokens=4, num_beams=2))


@pytest.mark.parametrize("assistant,message", [
    ("l2s", "is an L2S checkpoint"),
    ("gpt2", "vocabulary differs from the LLM's"),
    ("", "needs assistant=PATH"),
])
def test_wrong_assistants_are_refused(tiny, checkpoints, assistant, message):
    with pytest.raises(BenchError, match=message):
        get_adapter("assisted", source=tiny["llama"], assistant=checkpoints.get(assistant, ""), chat=True,
                    reserve_new_tokens=4)


@pytest.mark.parametrize("min_new_tokens", [0, 10])
def test_greedy_prompt_lookup_output_is_the_llms_own(tiny, min_new_tokens):
    common = {"source": tiny["llama"], "chat": True, "reserve_new_tokens": 10}
    llm = get_adapter("hf-causal", **common)
    lookup = get_adapter("prompt-lookup", lookup_tokens=3, max_ngram=1, **common)
    gen = GenSettings(max_new_tokens=10, min_new_tokens=min_new_tokens)
    prompts = PROMPTS + [" ".join(["river bank"] * 8)]  # a repetitive prompt: lookups find matches
    assert lookup.generate_ids(prompts, gen) == [llm.generate_ids([p], gen)[0] for p in prompts]
    assert lookup.lossless and lookup.counters["generated_tokens"] > 0
    assert 1 <= lookup.counters["llm_forwards"] <= lookup.counters["generated_tokens"] + len(prompts)


@pytest.mark.parametrize("args, message", [
    ({"lookup_tokens": 0}, "lookup_tokens and max_ngram must be >= 1, got 0, 2"),
    ({"max_ngram": 0}, "lookup_tokens and max_ngram must be >= 1, got 10, 0"),
])
def test_bad_lookup_settings_are_refused(tiny, args, message):
    with pytest.raises(BenchError, match=message):
        get_adapter("prompt-lookup", source=tiny["llama"], chat=True, **args)
