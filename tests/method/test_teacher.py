"""`l2s_bench.method.teacher`: sequence-level labels (the teacher's greedy outputs, cached and resumable) and
token-level distillation (the KL to the teacher's next-token distribution), as the trainer uses them."""

from __future__ import annotations

import json

import pytest
import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint, pretrained, teacher, train, tuned
from l2s_bench.method.teacher import TeacherSpec
from l2s_bench.paths import cache_dir
from tests.method.test_train import read_log, write_config


@pytest.fixture
def tuned_source(tiny, pairs_jsonl, tmp_path, one_thread):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system="llm-lora", name="ft", steps=3, train_extra={"lr": 1e-2})
    return tuned.export(train.train(cfg))


def labels_file():
    files = list(cache_dir("labels").glob("*/labels.jsonl"))
    assert len(files) == 1
    return files[0]


def test_kd_loss_is_the_cross_entropy_at_weight_0_and_the_kl_at_weight_1():
    torch.manual_seed(0)
    student, target = torch.randn(5, 11), torch.randn(5, 11)
    ce = torch.tensor(2.5)
    assert teacher.kd_loss(student, target, ce, TeacherSpec(kd_weight=0.0)) == ce
    assert float(teacher.kd_loss(student, student, ce, TeacherSpec(kd_weight=1.0))) == pytest.approx(0.0, abs=1e-6)
    p, q = torch.softmax(target / 2, -1), torch.log_softmax(student / 2, -1)
    expected = float((p * (p.log() - q)).sum(-1).mean() * 4)
    got = teacher.kd_loss(student, target, ce, TeacherSpec(kd_weight=1.0, temperature=2.0))
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_response_logits_are_the_full_models_at_the_labelled_positions(tiny):
    llm = pretrained.load(tiny["llama"])
    prompt = torch.tensor([[0, 5, 6, 7], [8, 9, 10, 11]])
    prompt_mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    response = torch.tensor([[12, 13, 0], [14, 15, 16]])
    response_mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    got = teacher.response_logits(llm.model, prompt, prompt_mask, response, response_mask)
    assert got.shape == (5, llm.model.config.vocab_size)
    row = torch.tensor([[8, 9, 10, 11, 14, 15, 16]])
    full = llm.model(input_ids=row).logits[0]
    torch.testing.assert_close(got[2:], full[3:6], rtol=1e-4, atol=1e-4)  # row 2's three labelled positions


def test_sequence_labels_are_the_teachers_greedy_outputs_cached_once(tiny, pairs_jsonl, tmp_path, tuned_source,
                                                                    monkeypatch):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="seq", steps=2,
                       extra={"teacher": {"source": tuned_source, "sequence": True, "batch_size": 3}})
    final = train.train(cfg)
    rows = [json.loads(line) for line in labels_file().read_text().splitlines()]
    assert len(rows) == len({r["prompt_sha"] for r in rows}) > 0
    assert checkpoint.read_meta(final)["trainer"]["labels"] == f"teacher outputs of {tuned_source}"
    # the labels are what the teacher generates for the prompt the student reads
    tutor = pretrained.load(tuned_source)
    spec, _ = train.load_config(cfg)
    records = train.select_records(spec.data, "train", None)
    prompt = train.render_prompt(tutor.tokenizer, train.render_records(spec.data, records[:1])[0][0], True)
    ids = tutor.tokenizer(prompt, add_special_tokens=False).input_ids
    [direct] = teacher.sequence_labels(tutor, [ids], spec.train.max_response_tokens, 1)
    assert direct in {r["label"] for r in rows}
    # a second training (another student, same teacher and prompts) generates nothing
    monkeypatch.setattr(type(tutor.model), "generate", lambda *a, **k: pytest.fail("labels were regenerated"))
    train.train(write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="seq2", steps=2, train_extra={"lr": 1e-3},
                             extra={"teacher": {"source": tuned_source, "sequence": True, "batch_size": 3}}))


def test_a_label_line_torn_by_a_kill_is_generated_again(tiny, tuned_source):
    tutor = pretrained.load(tuned_source)
    prompts = [[5, 6, 7], [8, 9], [10, 11, 12]]
    first = teacher.sequence_labels(tutor, prompts, 4, 2)
    path = labels_file()
    text = path.read_text()
    path.write_text(text[:-7])  # the last line half written
    assert teacher.sequence_labels(tutor, prompts, 4, 2) == first
    assert path.read_text() == text


def test_token_level_kd_changes_training_and_sequence_labels_change_the_targets(tiny, pairs_jsonl, tmp_path, tuned_source):
    plain = read_log(train.train(write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="plain", steps=2)).parent)
    kd = write_config(tmp_path, tiny, pairs_jsonl, system="slm", name="kd", steps=2,
                      extra={"teacher": {"source": tuned_source, "kd_weight": 0.5, "temperature": 2.0}})
    final = train.train(kd)
    assert read_log(final.parent)[0]["loss"] != plain[0]["loss"]
    assert checkpoint.read_meta(final)["trainer"]["labels"] == f"references + teacher logits (w 0.5, T 2) of {tuned_source}"
    assert not list(cache_dir("labels").glob("*/labels.jsonl"))  # token level only: no sequence labels


@pytest.mark.parametrize("teacher_cfg, message", [
    ({"source": "x", "kd_weight": 1.5}, "kd_weight must be in"),
    ({"sequence": True}, "need teacher.source"),
    ({"source": "x", "temperature": 0}, "temperature must be > 0"),
])
def test_bad_teacher_settings_are_refused(tiny, pairs_jsonl, tmp_path, teacher_cfg, message):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system="slm", extra={"teacher": teacher_cfg})
    with pytest.raises(BenchError, match=message):
        train.load_config(cfg)


def test_the_tuned_llm_itself_is_not_taught(tiny, pairs_jsonl, tmp_path):
    cfg = write_config(tmp_path, tiny, pairs_jsonl, system="llm-lora", extra={"teacher": {"source": "x", "sequence": True}})
    with pytest.raises(BenchError, match="is the teacher"):
        train.load_config(cfg)
