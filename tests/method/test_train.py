"""`l2s_bench.method.train`: both systems end to end, loss goes down, exact resume, run-folder guards, config errors,
identical batches for L2S and its SLM baseline, template errors and prompt truncation."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint, pretrained, train
from l2s_bench.method.train import Examples, batch_indices


def write_config(tmp_path: Path, tiny, data, *, system: str = "l2s", pair: str = "llama", name: str = "run",
                 steps: int = 6, train_extra: dict | None = None, data_extra: dict | None = None,
                 extra: dict | None = None) -> Path:
    if pair == "llama":
        cfg = {"llm": tiny["llama"], "slm": {"init": "truncate", "layers": 1}, "l2s": {"llm_layer": 2},
               "data": {"source": str(data), "chat": True}}
    else:
        cfg = {"llm": tiny["t5"], "slm": {"init": "pretrained", "source": tiny[pair]}, "l2s": {"llm_layer": None},
               "data": {"source": str(data), "chat": False}}
    cfg.update(system=system, out=str(tmp_path / name))
    cfg["train"] = {"steps": steps, "batch_size": 4, "save_every": 3, "warmup_steps": 2, "max_response_tokens": 24,
                    **(train_extra or {})}
    cfg["data"].update(data_extra or {})
    cfg.update(extra or {})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]


def assert_same_weights(a: Path, b: Path) -> None:
    ta, tb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


# --------------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("system", ["l2s", "slm"])
def test_train_writes_final_checkpoint_and_log(tiny, pairs_jsonl, tmp_path, system):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system=system)
    final = train.train(cfg)
    run = tmp_path / "run"
    assert final == run / "final" and (final / "model.safetensors").exists()
    log = read_log(run)
    assert [r["step"] for r in log] == list(range(1, 7))
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in log)
    # warm-up then cosine decay to 10% of the peak (3e-4, the default SLM lr)
    assert all(0.1 * 3e-4 - 1e-12 <= r["lr"] <= 3e-4 + 1e-12 for r in log)
    assert log[-1]["lr"] < max(r["lr"] for r in log)
    # only the latest training checkpoint is kept, complete with its trainer state
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-6"]
    assert (run / "checkpoint-6" / "trainer.pt").exists()
    assert not list(run.glob("*.partial"))

    meta = checkpoint.read_meta(final)
    trainer = meta["trainer"]
    assert trainer["system"] == system and trainer["train"]["steps"] == 6
    assert trainer["train_pool"] == 32 and trainer["prompts_truncated"] == 0
    assert trainer["train_examples"] == 24  # 6 steps x 4: only the records the budget reaches
    assert trainer["machine"]["autocast"] in ("float32", "bfloat16") and "cpu_capability" in trainer["machine"]
    copying = trainer["copying"]
    assert copying["before"]["texts"] == 8 and math.isfinite(copying["after"]["repeat"])
    assert copying["before"]["copy_source"] != copying["after"]["copy_source"]
    assert math.isfinite(trainer["train"]["valid_loss"])
    assert trainer["config_hash"]
    model = checkpoint.load(final)
    assert model.uses_llm is (system == "l2s")
    assert (meta["llm"] is None) is (system == "slm")
    if system == "l2s":
        assert model.projector[2].weight.abs().sum() > 0, "the projector must have trained"
        assert model.norm.std.ne(1).any(), "feature statistics must be fitted and saved"


@pytest.mark.parametrize("pair", ["t5_slm", "gpt2"])
def test_train_seq2seq_llm_pairs(tiny, pairs_jsonl, tmp_path, pair):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, pair=pair, steps=3)
    final = train.train(cfg)
    log = read_log(tmp_path / "run")
    assert len(log) == 3 and all(math.isfinite(r["loss"]) for r in log)
    model = checkpoint.load(final)
    assert (model.prompt_proj is not None) is (pair == "gpt2")


def test_training_leaves_the_llm_bitwise_unchanged(tiny, pairs_jsonl, tmp_path):
    llm = pretrained.load(tiny["llama"])
    before = pretrained.weights_hash(llm.model)
    train.train(write_config(tmp_path, tiny, pairs_jsonl), llm=llm)
    assert pretrained.weights_hash(llm.model) == before == llm.hash


@pytest.mark.parametrize("system", ["l2s", "slm"])
def test_loss_decreases_over_thirty_steps(tiny, pairs_jsonl, tmp_path, system):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system=system, steps=30,
                       train_extra={"lr": 1e-2, "projector_lr": 1e-2, "save_every": 30},
                       data_extra={"valid_split": None})
    train.train(cfg)
    losses = [r["loss"] for r in read_log(tmp_path / "run")]
    assert len(losses) == 30 and all(map(math.isfinite, losses))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses


# --------------------------------------------------------------------------------------- resume


class Interrupted(Exception):
    pass


def _interrupt_at_step(monkeypatch, step: int) -> None:
    """Make the training loop die when it fetches the batch of `step` (1-based)."""
    original = Examples.batch
    calls = {"n": 0}

    def batch(self, indices):
        calls["n"] += 1
        if calls["n"] == step:
            raise Interrupted(f"killed before step {step}")
        return original(self, indices)

    monkeypatch.setattr(Examples, "batch", batch)


def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tiny, pairs_jsonl, tmp_path):
    """`l2s-bench train` as a subprocess, killed with SIGKILL at seeded random moments (a checkpoint every
    step, so most land inside a save: weights, meta, trainer state, the renames), resumed each time; the
    final weights and the log equal an uninterrupted run's."""
    import random
    import signal
    import subprocess
    import sys
    import time

    def start(name: str, *flags: str) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "L2S_BENCH_CACHE": str(tmp_path / "cache")}
        return subprocess.Popen([sys.executable, "-m", "l2s_bench.cli", "train", str(tmp_path / f"{name}.yaml"),
                                 "--samples", "0", *flags], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    extra = {"save_every": 1, "threads": 1}
    write_config(tmp_path, tiny, pairs_jsonl, name="a", steps=12, train_extra=extra)
    write_config(tmp_path, tiny, pairs_jsonl, name="b", steps=12, train_extra=extra)
    began = time.perf_counter()
    assert start("a").wait(timeout=300) == 0
    whole = time.perf_counter() - began
    rng, kills = random.Random(7), 0
    for fraction in sorted(rng.uniform(0.55, 1.0) for _ in range(4)):  # the first ~half is start-up
        proc = start("b", "--resume")
        try:
            proc.wait(timeout=fraction * whole)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    final = start("b", "--resume")
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()[-2000:]
    assert kills >= 2  # it was really killed mid-run, more than once
    assert_same_weights(tmp_path / "a" / "final", tmp_path / "b" / "final")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]  # a rate, not a result
    assert strip(read_log(tmp_path / "b")) == strip(read_log(tmp_path / "a"))
    assert not list(tmp_path.glob("b/*.partial")) and not list(tmp_path.glob("b/*.old"))


@pytest.mark.parametrize("system", ["l2s", "slm"])
def test_resume_after_interruption_matches_an_uninterrupted_run(tiny, pairs_jsonl, tmp_path, monkeypatch, system):
    uninterrupted = train.train(write_config(tmp_path, tiny, pairs_jsonl, system=system, name="a"))

    cfg = write_config(tmp_path, tiny, pairs_jsonl, system=system, name="b")
    run = tmp_path / "b"
    with monkeypatch.context() as patch:
        _interrupt_at_step(patch, 5)
        with pytest.raises(Interrupted):
            train.train(cfg)
    assert not (run / "final").exists()
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-3"]

    with pytest.raises(BenchError, match="--resume"):
        train.train(cfg)
    resumed = train.train(cfg, resume=True)
    assert_same_weights(uninterrupted, resumed)
    meta_a, meta_b = checkpoint.read_meta(uninterrupted), checkpoint.read_meta(resumed)
    assert meta_a["trainer"]["train"]["valid_loss"] == meta_b["trainer"]["train"]["valid_loss"]
    # the resumed run logged the same losses for the steps it re-ran
    last = {r["step"]: r["loss"] for r in read_log(run)}
    expected = {r["step"]: r["loss"] for r in read_log(tmp_path / "a")}
    assert last == expected


def test_finished_run_is_reused_for_the_same_config_and_refused_for_another(tiny, pairs_jsonl, tmp_path):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, steps=3)
    final = train.train(cfg)
    stamp = (final / "model.safetensors").stat().st_mtime_ns
    assert train.train(cfg) == final
    assert (final / "model.safetensors").stat().st_mtime_ns == stamp
    assert len(read_log(tmp_path / "run")) == 3, "a reused run must not train again"
    changed = write_config(tmp_path, tiny, pairs_jsonl, steps=4)  # same out, different config
    with pytest.raises(BenchError, match="different config"):
        train.train(changed)


# --------------------------------------------------------------------------------------- config errors


def test_unknown_config_key_suggests_the_right_one(tiny, pairs_jsonl, tmp_path):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, train_extra={"stepz": 3})
    with pytest.raises(BenchError, match=r"train\.stepz.*did you mean 'steps'"):
        train.train(cfg)
    assert not (tmp_path / "run").exists()


def test_l2s_system_without_conditioning_is_refused(tiny, pairs_jsonl, tmp_path):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, extra={"l2s": {"llm_layer": 2, "conditioning": "none"}})
    with pytest.raises(BenchError, match="conditioning"):
        train.train(cfg)


def test_slm_system_switches_conditioning_off(tiny, pairs_jsonl, tmp_path):
    cfg, _ = train.load_config(write_config(tmp_path, tiny, pairs_jsonl, system="slm"))
    assert cfg.l2s.conditioning == "none"
    cfg, _ = train.load_config(write_config(tmp_path, tiny, pairs_jsonl, system="l2s"))
    assert cfg.l2s.conditioning == "add" and cfg.l2s.llm_layer == 2


def test_missing_template_field_is_named(tiny, pairs_jsonl, tmp_path):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, data_extra={"prompt": "Q: {question}"})
    with pytest.raises(BenchError, match="question"):
        train.train(cfg)


# --------------------------------------------------------------------------------------- batches


@pytest.mark.parametrize("n,batch_size", [(32, 4), (10, 4), (3, 4), (7, 7)])
def test_batch_indices_cover_each_example_once_per_epoch(n, batch_size):
    steps = 3 * n  # several epochs, whatever the batch size
    flat = [i for step in range(steps) for i in batch_indices(step, n, batch_size, seed=0)]
    assert all(len(batch_indices(s, n, batch_size, 0)) == batch_size for s in range(steps))
    for epoch in range(len(flat) // n):
        assert sorted(flat[epoch * n:(epoch + 1) * n]) == list(range(n)), epoch
    # deterministic, and depends on the seed
    assert [batch_indices(s, n, batch_size, 0) for s in range(steps)] == \
        [batch_indices(s, n, batch_size, 0) for s in range(steps)]
    assert flat != [i for step in range(steps) for i in batch_indices(step, n, batch_size, seed=1)]
    # epochs are shuffled differently
    if n >= 7:
        assert flat[:n] != flat[n:2 * n]


def test_slm_baseline_and_l2s_see_the_same_batches(tiny, pairs_jsonl, tmp_path, monkeypatch):
    seen: dict[str, list] = {"l2s": [], "slm": []}
    original = Examples.batch
    current = {"system": None}

    def batch(self, indices):
        b = original(self, indices)
        seen[current["system"]].append((list(indices), b.response_ids.clone(), b.response_mask.clone()))
        return b

    monkeypatch.setattr(Examples, "batch", batch)
    for system in ("l2s", "slm"):
        current["system"] = system
        train.train(write_config(tmp_path, tiny, pairs_jsonl, system=system, name=system,
                                 data_extra={"valid_split": None}))
    assert len(seen["l2s"]) == len(seen["slm"]) == 6
    for (ia, ra, ma), (ib, rb, mb) in zip(seen["l2s"], seen["slm"]):
        assert ia == ib
        assert torch.equal(ra, rb) and torch.equal(ma, mb)


@pytest.mark.parametrize("system", ["l2s", "slm"])
def test_copy_rows_join_each_step_and_ask_to_repeat_a_corpus_text(tiny, pairs_jsonl, tmp_path, monkeypatch, system):
    seen: list[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]] = []
    original = Examples.batch

    def batch(self, indices):
        b = original(self, indices)
        seen.append((list(indices), b.prompt_ids.clone(), b.prompt_mask.clone(), b.response_ids.clone()))
        return b

    monkeypatch.setattr(Examples, "batch", batch)
    slm_spec = {"init": "truncate", "layers": 1, "heal": {"corpus": [str(pairs_jsonl)]}}
    final = train.train(write_config(tmp_path, tiny, pairs_jsonl, system=system, train_extra={"copy_rows": 2},
                                     data_extra={"valid_split": None}, extra={"slm": slm_spec}))
    meta = checkpoint.read_meta(final)["trainer"]
    n = meta["train_examples"]
    assert meta["copy_examples"] == 12  # 6 steps x 2 rows, sampled from the corpus's 64 train texts
    assert len(seen) == 6
    for indices, *_ in seen:  # the task's 4 rows, then 2 copy rows
        assert len(indices) == 6 and max(indices[:4]) < n <= min(indices[4:])
    assert sorted(i for indices, *_ in seen for i in indices[4:]) == list(range(n, n + 12))  # each used once
    tok = pretrained.load(tiny["llama"]).tokenizer
    corpus = {line for row in map(json.loads, (pairs_jsonl / "train.jsonl").read_text().splitlines())
              for line in (row["source"], row["target"])}
    indices, prompt_ids, prompt_mask, response_ids = seen[0]
    for row in (4, 5):
        prompt = tok.decode(prompt_ids[row][prompt_mask[row].bool()])
        response = tok.decode(response_ids[row], skip_special_tokens=True).strip()
        assert "Repeat this text exactly:" in prompt and response in prompt
        assert any(text.startswith(response) for text in corpus)
    plain = train.train(write_config(tmp_path, tiny, pairs_jsonl, system=system, name="plain",
                                     data_extra={"valid_split": None}, extra={"slm": slm_spec}))
    assert checkpoint.read_meta(plain)["trainer"]["copy_examples"] == 0
    assert read_log(tmp_path / "run")[-1]["tokens_seen"] > read_log(tmp_path / "plain")[-1]["tokens_seen"]


def test_negative_copy_rows_are_refused(tiny, pairs_jsonl, tmp_path):
    with pytest.raises(BenchError, match="copy_rows must be >= 0"):
        train.train(write_config(tmp_path, tiny, pairs_jsonl, train_extra={"copy_rows": -1}))


def test_examples_batch_layout(tiny, pairs_jsonl, tmp_path):
    """Prompts left-padded with their cached features aligned; responses right-padded, ending in EOS unless cut."""
    from l2s_bench.data import load_records

    cfg, _ = train.load_config(write_config(tmp_path, tiny, pairs_jsonl))
    llm = pretrained.load(cfg.llm)
    records = load_records(cfg.data.source, "train")
    model = train.build_model(cfg, llm, [f"{r['source']}\n{r['target']}" for r in records])
    examples = Examples(model, records, cfg.data, cfg.train)
    idx = [0, 3, 4]
    b = examples.batch(idx)
    eos = model.slm_tokenizer.eos_token_id
    for row, i in enumerate(idx):
        m = len(examples.prompts[i])
        assert b.prompt_ids[row, -m:].tolist() == examples.prompts[i]
        assert b.prompt_mask[row].tolist() == [0] * (b.prompt_ids.shape[1] - m) + [1] * m
        assert torch.equal(b.features[row, -m:], examples.features[i].float())
        assert (b.features[row, :-m] == 0).all()
        r = len(examples.responses[i])
        assert b.response_ids[row, :r].tolist() == examples.responses[i]
        assert examples.responses[i][-1] == eos or r == cfg.train.max_response_tokens  # cut: no EOS
        assert b.response_mask[row].tolist() == [1] * r + [0] * (b.response_ids.shape[1] - r)
    # chat: true renders through the template, so the prompt ends with the assistant tag
    tail = llm.tokenizer.decode(examples.prompts[0][-3:])
    assert tail.endswith("<|assistant|>")


def test_a_multi_task_config_trains_on_every_task_each_rendered_as_its_own(tiny, pairs_jsonl, tmp_path):
    """`data.mix`: one training over several tasks (a multi-task tuned LLM); every record keeps its own
    task's template, batches draw from all of them, and a suite trains it once for all its tasks."""
    from conftest import write_tiny_task

    task = write_tiny_task(tmp_path, max_new_tokens=8)  # its prompt: "Rewrite in modern English: {source}"
    mix = [{"task": str(task), "limit": 8, "valid_limit": 2}]
    path = write_config(tmp_path, tiny, pairs_jsonl, name="multi", steps=10, data_extra={"mix": mix})
    cfg, _ = train.load_config(path)
    parts = [train.select_records(spec, "train", spec.limit) for spec in cfg.data.parts()]
    assert [len(p) for p in parts] == [32, 8] and cfg.data.mix[0].prompt == "Rewrite in modern English: {source}"
    model = train.build_model(cfg, pretrained.load(cfg.llm), [f"{r['source']}\n{r['target']}" for r in parts[0]])
    examples = train.mixed_examples(model, cfg.data.parts(), parts, cfg.train, used=[0, 5, 33, 34])
    texts = [model.prompt_tokenizer.decode(p) for p in examples.prompts]
    assert examples.truncated == 0
    assert [t.startswith("<|user|>Rewrite in modern English: ") for t in texts] == [False, False, True, True]
    assert [parts[0][0], parts[0][5], parts[1][1], parts[1][2]] == [
        next(r for r in part if r["source"] in t) for t, part in zip(texts, [parts[0], parts[0], parts[1], parts[1]])]
    final = train.train(path)
    meta = json.loads((final / "l2s.json").read_text())["trainer"]
    assert meta["data"]["mix"] == [str(task)] and meta["data"]["pools"] == [32, 8] and meta["train_pool"] == 40
    assert meta["train_examples"] == 40  # 10 steps x 4 rows: one epoch, every record of both tasks
    raw = {k: v for k, v in yaml.safe_load(path.read_text()).items() if k not in ("system", "out")}
    shared = tmp_path / "multitask.yaml"
    shared.write_text(yaml.safe_dump(raw))
    for name in ("kjv-web", "debian-sum"):  # whichever task of a suite asks: one folder, one training
        assert train.role_defaults(shared, "llm-ft", "llm-ft", task=name)["out"] == "runs/multitask/llm-ft"
    with pytest.raises(BenchError, match=r"data.mix\[0\] needs exactly one of task, source"):
        train.load_config(write_config(tmp_path, tiny, pairs_jsonl, name="bad", data_extra={"mix": [{"limit": 3}]}))


def test_a_response_cut_at_the_limit_gets_no_eos(tiny, pairs_jsonl, tmp_path):
    """An EOS after a cut response would teach the model to stop mid-sentence."""
    from l2s_bench.data import load_records

    cfg, _ = train.load_config(write_config(tmp_path, tiny, pairs_jsonl, train_extra={"max_response_tokens": 5}))
    llm = pretrained.load(cfg.llm)
    records = load_records(cfg.data.source, "train")
    model = train.build_model(cfg, llm, [f"{r['source']}\n{r['target']}" for r in records])
    short = {"id": "s", "source": "Hi.", "target": "the"}
    examples = Examples(model, [records[0], short], cfg.data, cfg.train)
    eos = model.slm_tokenizer.eos_token_id
    full = model.slm_tokenizer(records[0]["target"], add_special_tokens=False).input_ids
    assert len(full) > 5 and examples.responses[0] == full[:5] and eos not in examples.responses[0]
    short_ids = model.slm_tokenizer("the", add_special_tokens=False).input_ids
    assert len(short_ids) < 5 and examples.responses[1] == short_ids + [eos]


def test_only_the_records_the_step_budget_reaches_are_encoded(tiny, pairs_jsonl, tmp_path, monkeypatch):
    encoded = []
    real = train.cached_features
    monkeypatch.setattr(train, "cached_features", lambda model, prompts: encoded.append(len(prompts)) or real(model, prompts))
    train.train(write_config(tmp_path, tiny, pairs_jsonl, steps=2))
    assert encoded[0] == 8  # 2 steps x 4 of the 32 training records (then the 8 validation records)
    order = torch.randperm(32, generator=torch.Generator().manual_seed(0)).tolist()
    assert sorted(order[:8]) == sorted(i for step in range(2) for i in batch_indices(step, 32, 4, 0))


# --------------------------------------------------------------------------------------- truncation


def _long_data(tmp_path: Path, n_long: int) -> Path:
    folder = tmp_path / "long"
    folder.mkdir()
    words = "And God said, Let there be light: and there was light. " * 30
    rows = [{"id": f"r{i}", "source": words if i < n_long else "Define the word river.",
             "target": "You shall not steal."} for i in range(8)]
    for split in ("train", "valid"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_prompts_longer_than_the_llm_allows_are_truncated_and_counted(tiny, tmp_path):
    data = _long_data(tmp_path, n_long=3)
    llm = pretrained.load(tiny["llama"])
    assert len(llm.tokenizer(("And God said, Let there be light: and there was light. " * 30)).input_ids) > 96
    final = train.train(write_config(tmp_path, tiny, data, steps=3), llm=llm)
    meta = checkpoint.read_meta(final)
    assert meta["trainer"]["prompts_truncated"] == 3
    assert all(math.isfinite(r["loss"]) for r in read_log(tmp_path / "run"))


@pytest.mark.parametrize("system", ["l2s", "slm"])
def test_long_prompts_fit_a_decoder_slm_with_few_positions(tiny, tmp_path, system):
    """GPT-2 has 128 positions; T5 (the LLM) has relative positions and no limit. The decoder-only SLM reads
    prompt + response position by position, so both together must fit its positions or training crashes."""
    data = _long_data(tmp_path, n_long=3)
    t5 = pretrained.load(tiny["t5"])
    assert len(t5.tokenizer("And God said, Let there be light: and there was light. " * 30).input_ids) > 128
    final = train.train(write_config(tmp_path, tiny, data, pair="gpt2", system=system, steps=3))
    assert checkpoint.read_meta(final)["trainer"]["prompts_truncated"] == 3


def test_a_second_run_with_the_same_loaded_llm_trains_its_slm(tiny, pairs_jsonl, tmp_path):
    """`train(..., llm=...)` accepts a loaded LLM; the first run freezes it (FrozenLLM), and the second
    run's truncated SLM is a deep copy of it, so it must be made trainable again."""
    llm = pretrained.load(tiny["llama"])
    train.train(write_config(tmp_path, tiny, pairs_jsonl, system="l2s", name="first", steps=3), llm=llm)
    final = train.train(write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="second", steps=3), llm=llm)
    trained = load_file(str(final / "model.safetensors"))
    key = "slm.model.layers.0.mlp.down_proj.weight"
    assert not torch.equal(trained[key], llm.model.state_dict()["model.layers.0.mlp.down_proj.weight"])


# --------------------------------------------------------------------------------------- LoRA LLM baseline


def test_llm_lora_baseline_trains_adapters_and_loads_merged(tiny, pairs_jsonl, tmp_path):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system="llm-lora", steps=3,
                       train_extra={"lr": 1e-2, "save_every": 3})
    final = train.train(cfg)
    saved = load_file(str(final / "model.safetensors"))
    assert any("lora_A" in k for k in saved) and any("lora_B" in k for k in saved)
    llm = pretrained.load(tiny["llama"])
    model = checkpoint.load(final)
    assert not any("lora" in name for name, _ in model.slm.named_modules())  # merged for full-speed decoding
    assert not hasattr(model.slm.config, "l2s_lora")
    merged = model.slm.state_dict()["model.layers.0.mlp.down_proj.weight"]
    original = llm.model.state_dict()["model.layers.0.mlp.down_proj.weight"]
    assert not torch.equal(merged, original)  # the adapters learned something and were folded in
    assert model.slm.config.num_hidden_layers == llm.model.config.num_hidden_layers  # the whole LLM


def test_a_run_folder_being_trained_by_another_process_is_refused(tiny, pairs_jsonl, tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from l2s_bench.folder_lock import hold; h = hold(Path(sys.argv[1]), 'training'); "
                               "print('held', flush=True); time.sleep(60)", str(tmp_path / "run")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BenchError, match=rf"in use by another process \(pid {holder.pid}\): training"):
            train.train(write_config(tmp_path, tiny, pairs_jsonl))
    finally:
        holder.kill()
        holder.wait()
    train.train(write_config(tmp_path, tiny, pairs_jsonl))  # the lock dies with its process


# --------------------------------------------------------------------------------------- one config per task


def test_role_defaults_fill_only_what_the_config_leaves_out(tiny, pairs_jsonl, tmp_path):
    named = write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="named")
    assert train.role_defaults(named, "l2s") == {}  # a config that names both keeps them (and its hash)
    shared = tmp_path / "task.yaml"
    raw = yaml.safe_load(named.read_text())
    shared.write_text(yaml.safe_dump({k: v for k, v in raw.items() if k not in ("system", "out")}))
    assert train.role_defaults(shared, "llm-ft", "ft", task="kjv-web") == {"system": "llm-lora", "out": "runs/kjv-web/ft"}
    assert train.role_defaults(shared, "slm", overrides={"out": "elsewhere"}) == {"system": "slm"}
    assert train.role_defaults(shared, "l2s") == {"system": "l2s", "out": f"runs/{pairs_jsonl.stem}/l2s"}
    # filled in, the shared file trains exactly what the named one does: same config, same hash
    _, from_shared = train.load_config(shared, {**train.role_defaults(shared, "slm"), "out": raw["out"]})
    _, from_named = train.load_config(named)
    assert from_shared == from_named
    with pytest.raises(BenchError, match=r"role 'sml' is not trained; did you mean 'slm'\?"):
        train.role_defaults(shared, "sml")
    with pytest.raises(BenchError, match=r"names no `system`.*pass --role"):
        train.load_config(shared)
    assert set(train.ROLE_SYSTEMS) == set(__import__("l2s_bench.runner.verdict", fromlist=["TRAINED"]).TRAINED)


# --------------------------------------------------------------------------------------- data parallel


@pytest.mark.parametrize("system", ["l2s", "slm"])
def test_two_ranks_train_the_model_one_process_trains(tiny, pairs_jsonl, tmp_path, system):
    """torchrun, 2 CPU ranks (gloo): DDP over rows 0::2 and 1::2 of each global batch, each rank's loss
    scaled by its share of the batch's response tokens, gives one process's weights and losses up to
    float reduction order; rank 0 alone writes the run folder."""
    import os
    import subprocess
    import sys

    fp32 = {"autocast": "float32"}  # bf16 rounding would swamp the reduction-order differences compared here
    one = write_config(tmp_path, tiny, pairs_jsonl, system=system, name="one", steps=4, train_extra=fp32)
    two = write_config(tmp_path, tiny, pairs_jsonl, system=system, name="two", steps=4, train_extra=fp32)
    train.train(one)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(repo),
                                                                                        os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "l2s_bench.cli", "train", str(two), "--samples", "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = load_file(str(tmp_path / "one" / "final" / "model.safetensors")), \
        load_file(str(tmp_path / "two" / "final" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5, rtol=1e-4), k
    la, lb = read_log(tmp_path / "one"), read_log(tmp_path / "two")
    assert [r["step"] for r in lb] == [1, 2, 3, 4]  # one log, written by rank 0 alone
    assert [r["loss"] for r in lb] == pytest.approx([r["loss"] for r in la], rel=1e-4)
    assert [r["tokens_seen"] for r in lb] == [r["tokens_seen"] for r in la]
    meta = json.loads((tmp_path / "two" / "final" / "l2s.json").read_text())["trainer"]
    assert meta["train"]["processes"] == 2



def test_an_l2s_fusing_three_layers_trains_and_resumes_to_the_same_weights(tiny, pairs_jsonl, tmp_path, monkeypatch):
    extra = {"l2s": {"llm_layer": [1, 2, 3]}}
    whole = train.train(write_config(tmp_path, tiny, pairs_jsonl, name="whole", extra=extra))
    model = checkpoint.load(whole)
    assert model.llm.layer == [1, 2, 3] and not torch.allclose(model.mix.logits, torch.zeros(3))  # the mix learned
    cfg = write_config(tmp_path, tiny, pairs_jsonl, name="stopped", extra=extra)
    with monkeypatch.context() as patch:
        _interrupt_at_step(patch, 5)
        with pytest.raises(Interrupted):
            train.train(cfg)
    assert_same_weights(train.train(cfg, resume=True), whole)  # from checkpoint-3, features from the cache
