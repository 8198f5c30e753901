"""`l2s_bench.lmeval`: the llm2slm lm-eval model (generation, log-likelihoods that match the model's own
scores and depend on the LLM), exported tasks loaded and scored by lm-eval, and both sub-commands."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from rouge_score import rouge_scorer

from l2s_bench.cli import main
from l2s_bench.method import train
from l2s_bench.tasks import get_task

pytest.importorskip("lm_eval")

import l2s_bench.lmeval  # noqa: E402,F401  (registers llm2slm)
from lm_eval import simple_evaluate  # noqa: E402
from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from l2s_bench.lmeval.model import LLM2SLMLM, rolling_windows  # noqa: E402
from l2s_bench.lmeval.tasks import export_task  # noqa: E402

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def checkpoint(tiny, pairs_jsonl, tmp_path_factory) -> str:
    """A tiny trained L2S system (llama LLM, 1-layer truncated SLM, chat prompts): a few seconds."""
    root = tmp_path_factory.mktemp("lmeval-run")
    cfg = {"system": "l2s", "out": str(root / "run"), "llm": tiny["llama"], "slm": {"init": "truncate", "layers": 1},
           "l2s": {"llm_layer": 2}, "data": {"source": str(pairs_jsonl), "chat": True},
           "train": {"steps": 6, "batch_size": 4, "save_every": 100, "warmup_steps": 1, "max_response_tokens": 24}}
    (root / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("L2S_BENCH_CACHE", str(root / "cache"))
        return str(train.train(root / "c.yaml"))


@pytest.fixture(scope="module", params=["t5_slm", "gpt2"])
def t5_checkpoint(request, tiny, pairs_jsonl, tmp_path_factory) -> str:
    """A T5 LLM with a seq2seq SLM (t5_slm) or with an SLM of another vocabulary (gpt2)."""
    root = tmp_path_factory.mktemp(f"lmeval-{request.param}")
    cfg = {"system": "l2s", "out": str(root / "run"), "llm": tiny["t5"],
           "slm": {"init": "pretrained", "source": tiny[request.param]}, "data": {"source": str(pairs_jsonl), "chat": False},
           "train": {"steps": 2, "batch_size": 4, "save_every": 100, "warmup_steps": 1, "max_response_tokens": 24}}
    (root / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("L2S_BENCH_CACHE", str(root / "cache"))
        return str(train.train(root / "c.yaml"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """kjv-web (chrF, BLEU) and debian-sum (ROUGE, content F1) from the fixture data, 3 items each."""
    out = tmp_path_factory.mktemp("lmeval-tasks")
    for name in ("kjv-web", "debian-sum"):
        export_task(get_task(name), out, limit=3, data_dir=FIXTURES / name)
    return out


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    """lm-eval reads the exported JSONL through `datasets`, whose cache would otherwise go to ~/.cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


def make_lm(checkpoint: str, **args) -> LLM2SLMLM:
    return LLM2SLMLM(checkpoint=checkpoint, **{"max_gen_toks": 16, **args})  # the tiny SLM has 96 positions


def requests(kind: str, args: list[tuple]) -> list[Instance]:
    return [Instance(kind, {}, a, i) for i, a in enumerate(args)]


def greedy(lm: LLM2SLMLM, context: str, n: int) -> tuple[list[int], float]:
    """The model's greedy continuation and its log-prob, through transformers `generate` with a KV
    cache: a path independent of `LLMToSLM.forward`'s scoring logits."""
    tok = lm.adapter.output_tokenizer
    out = lm.model.slm.generate(**lm.adapter.encode([context]).inputs, max_new_tokens=n, do_sample=False,
                                output_logits=True, return_dict_in_generate=True,
                                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    ids = out.sequences[0].tolist()
    ids = ids[:ids.index(tok.eos_token_id)] if tok.eos_token_id in ids else ids
    logprob = sum(float(step[0].float().log_softmax(-1)[t]) for step, t in zip(out.logits, ids))
    return ids, logprob


# ------------------------------------------------------------------------------------- the model


def test_loglikelihood_of_the_greedy_continuation(checkpoint):
    lm = make_lm(checkpoint, max_gen_toks=8, batch_size=2)
    tok = lm.adapter.output_tokenizer
    context = "And God said, Let there be light"
    ids, expected = greedy(lm, context, 6)
    continuation = tok.decode(ids)
    assert ids and tok(continuation, add_special_tokens=False).input_ids == ids  # the text is those tokens
    other = "The quick brown fox jumps over the lazy dog."
    (ll, is_greedy), (ll_other, is_greedy_other), (ll_ctx, _) = lm.loglikelihood(requests("loglikelihood", [
        (context, continuation), (context, other), ("The quick brown fox", continuation)]))
    assert is_greedy is True and is_greedy_other is False
    assert ll == pytest.approx(expected, abs=1e-4)
    assert ll_other < ll < 0
    assert ll_ctx != pytest.approx(ll, abs=1e-6)  # the context is read

    # batched (left-padded prompts, right-padded responses) equals one at a time
    alone = lm.loglikelihood(requests("loglikelihood", [(context, other)]))[0]
    assert alone[0] == pytest.approx(ll_other, abs=1e-4)


def test_loglikelihood_matches_the_training_loss(checkpoint):
    assert_loglikelihood_matches_loss(make_lm(checkpoint, batch_size=4))


def test_loglikelihood_with_other_systems(t5_checkpoint):
    """A seq2seq SLM, or an SLM whose vocabulary differs from the LLM's (prompts through the LLM's embeddings)."""
    lm = make_lm(t5_checkpoint, batch_size=4)
    assert_loglikelihood_matches_loss(lm)
    text = lm.generate_until(requests("generate_until", [("The quick brown fox", {"max_gen_toks": 4})]))[0]
    assert isinstance(text, str)


def assert_loglikelihood_matches_loss(lm: LLM2SLMLM) -> None:
    tok = lm.adapter.output_tokenizer
    continuation = "You shall not steal."
    ids = tok(continuation, add_special_tokens=False).input_ids
    prompt_ids, prompt_mask, _, _ = lm.adapter.prompt_batch(["Thou shalt not steal."])
    with torch.no_grad():
        _, loss = lm.model(prompt_ids, prompt_mask, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    ll, _ = lm.loglikelihood(requests("loglikelihood", [("Thou shalt not steal.", continuation)]))[0]
    assert ll == pytest.approx(-float(loss) * len(ids), rel=1e-4)


def test_llm_conditioning_changes_the_loglikelihood(checkpoint):
    lm = make_lm(checkpoint)
    assert lm.model.uses_llm and lm.model.projector[2].weight.abs().sum() > 0
    args = [("Rewrite this verse in modern English: Thou shalt not steal.", "You shall not steal.")]
    conditioned = lm.loglikelihood(requests("loglikelihood", args))[0][0]
    with torch.no_grad():  # the same SLM and prompt without the LLM's features
        lm.model.projector[2].weight.zero_()
        lm.model.projector[2].bias.zero_()
    plain = lm.loglikelihood(requests("loglikelihood", args))[0][0]
    assert math.isfinite(plain) and abs(conditioned - plain) > 1e-3


def test_generate_until_stops_at_the_stop_string(checkpoint):
    lm = make_lm(checkpoint, max_gen_toks=12, batch_size=2)
    contexts = ["The quick brown fox", "And God said, Let there be light"]
    free = lm.generate_until(requests("generate_until", [(c, {"until": []}) for c in contexts]))
    assert all(free) and len(free) == 2
    assert free[0] == lm.generate_until(requests("generate_until", [(contexts[0], {})]))[0]  # batch == alone
    stop = free[0][len(free[0]) // 2:len(free[0]) // 2 + 2]
    cut = lm.generate_until(requests("generate_until", [(contexts[0], {"until": [stop], "max_gen_toks": 12})]))[0]
    assert cut == free[0].split(stop)[0].strip() and stop not in cut and len(cut) < len(free[0])
    short = lm.generate_until(requests("generate_until", [(contexts[1], {"until": [], "max_gen_toks": 2})]))[0]
    assert len(lm.adapter.output_tokenizer(short, add_special_tokens=False).input_ids) <= 2


def test_loglikelihood_rolling(checkpoint):
    assert rolling_windows(list(range(10)), 4) == [([0, 1, 2, 3], 0), ([4, 5, 6, 7], 0), ([6, 7, 8, 9], 2)]
    assert rolling_windows([1, 2], 4) == [([1, 2], 0)] and rolling_windows([], 4) == []
    lm = make_lm(checkpoint, chat=False)
    text = "And the earth was without form, and void."
    # with chat off, an empty context is the same lone prefix token the rolling score starts from
    assert lm.loglikelihood_rolling(requests("loglikelihood_rolling", [(text,)]))[0] == pytest.approx(
        lm.loglikelihood(requests("loglikelihood", [("", text)]))[0][0], abs=1e-4)
    long = " ".join([text] * 20)  # past the tiny SLM's 96 positions: scored in windows
    assert len(lm.adapter.output_tokenizer(long).input_ids) > 96
    assert lm.loglikelihood_rolling(requests("loglikelihood_rolling", [(long,)]))[0] < 0


def test_lm_eval_chat_template_is_refused(checkpoint):
    with pytest.raises(NotImplementedError, match="chat=true"):
        make_lm(checkpoint).apply_chat_template([{"role": "user", "content": "hi"}])


# ------------------------------------------------------------------------------------- the tasks


def test_exported_files(exported):
    task = get_task("kjv-web")
    rows = [json.loads(line) for line in (exported / "l2s_kjv-web.jsonl").read_text().splitlines()]
    samples = task.samples("test", 3, FIXTURES / "kjv-web")
    assert [r["id"] for r in rows] == [s["id"] for s in samples]
    assert rows[0]["text"] == task.prompt(samples[0]) and rows[0]["reference"] == samples[0]["reference"]
    text = (exported / "l2s_kjv-web.yaml").read_text()
    assert "dataset_path: json" in text and str(exported / "l2s_kjv-web.jsonl") in text
    assert "- metric: !function 'utils.rougeL'" in (exported / "l2s_debian-sum.yaml").read_text()


def test_simple_evaluate_on_an_exported_task(checkpoint, exported):
    out = simple_evaluate(model="llm2slm", model_args=f"checkpoint={checkpoint},max_gen_toks=8", tasks=["l2s_kjv-web"],
                          task_manager=TaskManager(include_path=str(exported), include_defaults=False), limit=2,
                          bootstrap_iters=0)
    scores = out["results"]["l2s_kjv-web"]
    assert {"bleu,none", "chrf,none"} <= set(scores)
    assert all(0 <= scores[k] <= 100 for k in ("bleu,none", "chrf,none"))
    assert len(out["samples"]["l2s_kjv-web"]) == 2
    sample = out["samples"]["l2s_kjv-web"][0]
    assert sample["arguments"][0][0] == sample["doc"]["text"]  # the prompt as exported, nothing added


def test_exported_rouge_task_scores_through_rouge_score(exported):
    manager = TaskManager(include_path=str(exported), include_defaults=False)
    task = manager.load(["l2s_debian-sum"])["tasks"]["l2s_debian-sum"]
    assert set(task.aggregation()) == {"rouge1", "rouge2", "rougeL", "content_f1"}
    doc = next(iter(task.test_docs()))
    prediction = "a tool that manages " + doc["reference"].split()[-1]
    scores = task.process_results(doc, [prediction])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    assert scores["rougeL"] == pytest.approx(100 * scorer.score(doc["reference"], prediction)["rougeL"].fmeasure)
    assert 0 < scores["rougeL"] < 100 and scores["rouge1"] > 0


def test_options_lm_eval_cannot_honour_are_refused(tmp_path):
    from l2s_bench.errors import BenchError
    from l2s_bench.tasks import MetricSpec

    task = get_task("kjv-web")
    task.metrics = [MetricSpec("chrf", {"word_order": 2})]
    with pytest.raises(BenchError, match="takes no options"):
        export_task(task, tmp_path, limit=2, data_dir=FIXTURES / "kjv-web")


# --------------------------------------------------------------------------------------- the CLI


def test_cli_export_and_pass_through(checkpoint, tmp_path, capsys):
    tasks = tmp_path / "tasks"
    assert main(["export-lm-eval", "kjv-web", "--out", str(tasks), "--limit", "2",
                 "--data-dir", str(FIXTURES / "kjv-web")]) == 0
    assert (tasks / "l2s_kjv-web.yaml").exists() and "--tasks l2s_kjv-web" in capsys.readouterr().out
    results = tmp_path / "results"
    assert main(["lm-eval", "--model", "llm2slm", "--model_args", f"checkpoint={checkpoint},max_gen_toks=6",
                 "--tasks", "l2s_kjv-web", "--include_path", str(tasks), "--limit", "2",
                 "--output_path", str(results)]) == 0
    written = list(results.rglob("results_*.json"))
    assert written, list(results.rglob("*"))
    assert "chrf,none" in json.loads(written[0].read_text())["results"]["l2s_kjv-web"]


def test_export_with_data_dir_needs_one_task(tmp_path, capsys):
    assert main(["export-lm-eval", "kjv-web", "debian-sum", "--out", str(tmp_path),
                 "--data-dir", str(FIXTURES / "kjv-web")]) == 2
    assert "one task" in capsys.readouterr().err


def test_building_the_parser_does_not_import_lm_eval():
    code = "import sys, l2s_bench.cli; l2s_bench.cli.parser(); print('lm_eval' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
