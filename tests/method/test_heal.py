import json

import pytest
import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import copying, heal, pretrained, slm


def spec(corpus, **kw) -> slm.SLMSpec:
    recipe = dict(steps=12, batch_size=6, seq_len=24, copy_words=6, repeat_len=[4, 8], eval_every=6,
                  save_every=6, lr=5e-3, warmup_steps=2, corpus=[str(corpus)], diagnostic_texts=4,
                  autocast="float32")
    recipe.update(kw)
    return slm.SLMSpec(init="truncate", layers=2, lens=True, heal=heal.HealSpec(**recipe))


def state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_healing_runs_once_then_is_loaded_from_the_cache(tiny, pairs_jsonl, one_thread, monkeypatch):
    llm = pretrained.load(tiny["llama"])
    s = spec(pairs_jsonl)
    first = slm.healed(s, llm)
    info = slm.build_info(s, llm)
    assert info["steps"] == 12 and info["layers"] == 2
    assert set(info["copying"]) == {"before", "after"}
    assert info["copying"]["after"]["repeat"] != info["copying"]["before"]["repeat"]
    curve = heal.read_info(heal.folder_for(llm.hash, 2, True, s.heal))["curve"]
    assert [p["step"] for p in curve] == [0, 6, 12]
    monkeypatch.setattr(heal, "heal", lambda *a, **k: pytest.fail("healed twice"))
    again = slm.healed(s, llm)
    for name, tensor in state(first).items():
        assert torch.equal(tensor, again.state_dict()[name]), name


def test_a_changed_recipe_heals_anew(tiny, pairs_jsonl, one_thread):
    llm = pretrained.load(tiny["llama"])
    a, b = spec(pairs_jsonl), spec(pairs_jsonl, lr=1e-3)
    assert heal.folder_for(llm.hash, 2, True, a.heal) != heal.folder_for(llm.hash, 2, True, b.heal)
    assert heal.folder_for(llm.hash, 2, True, a.heal) != heal.folder_for(llm.hash, 3, True, a.heal)


def test_interrupted_healing_resumes_to_the_same_weights(tiny, pairs_jsonl, one_thread, monkeypatch, tmp_path):
    llm = pretrained.load(tiny["llama"])
    s = spec(pairs_jsonl)
    reference = state(slm.healed(s, llm))
    monkeypatch.setenv("L2S_BENCH_CACHE", str(tmp_path / "other-cache"))
    real, calls = heal.batch_losses, {"n": 0}

    def dies_at_step_nine(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(heal, "batch_losses", dies_at_step_nine)
    with pytest.raises(KeyboardInterrupt):
        slm.healed(s, llm)
    folder = heal.folder_for(llm.hash, 2, True, s.heal)
    assert (folder / "checkpoint" / "trainer.pt").exists() and heal.read_info(folder) is None
    monkeypatch.setattr(heal, "batch_losses", real)
    resumed = slm.healed(s, llm)
    for name, tensor in reference.items():
        assert torch.allclose(tensor, resumed.state_dict()[name], atol=1e-6), name
    steps = [json.loads(line)["step"] for line in (folder / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))


def test_the_attention_loss_is_the_supervised_heads_log_attention_and_trains_it(tiny, pairs_jsonl, one_thread):
    llm = pretrained.load(tiny["llama"])
    recipe = spec(pairs_jsonl, mix={"distill": 0, "copy": 0, "repeat": 1}).heal
    small = slm.truncate(llm.model, 2)
    small.set_attn_implementation("eager")
    batch = heal.Rows(recipe, llm.tokenizer, ["unused"], llm.model.config.vocab_size).at(0)
    losses = heal.batch_losses(small, llm.model, batch, 1, recipe)
    rows, queries, keys = heal.induction_targets(batch["repeat"][3])
    attentions = small.base_model(input_ids=batch["repeat"][0], attention_mask=batch["repeat"][1],
                                  output_attentions=True).attentions[-1]
    expected = -attentions[rows, 1, queries, keys].log().mean()
    assert float(losses["attention"]) == pytest.approx(float(expected), rel=1e-5)
    before = float(heal.induction_scores(small, batch["repeat"])[1])
    opt = torch.optim.Adam([p for p in small.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(60):  # one fixed batch: the loss alone must pull head 1 onto the induction targets
        heal.batch_losses(small, llm.model, batch, 1, recipe)["attention"].backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        after = heal.induction_scores(small, batch["repeat"])
    assert float(after[1]) > max(0.5, 3 * before)
    assert float(after[1]) == float(after.max())


def test_healing_never_reads_a_test_split(pairs_jsonl):
    with pytest.raises(BenchError, match="not 'test'"):
        heal.corpus_texts(heal.HealSpec(corpus=[str(pairs_jsonl)]), "test")


def test_rows_are_the_same_for_the_same_step(tiny, pairs_jsonl):
    tok = pretrained.load(tiny["llama"]).tokenizer
    s = spec(pairs_jsonl).heal
    rows = heal.Rows(s, tok, heal.corpus_texts(s, "train"), 400)
    a, b, c = rows.at(3), rows.at(3), rows.at(4)
    assert all(torch.equal(x, y) for k in a for x, y in zip(a[k][:3], b[k][:3]))
    assert a["repeat"][0].tolist() != c["repeat"][0].tolist()
    assert {k: len(v[0]) for k, v in a.items()} == {"distill": 1, "copy": 2, "repeat": 3}  # 6 rows, mix 1:1:2


def test_induction_targets_point_at_the_token_after_the_earlier_copy():
    rows, queries, keys = heal.induction_targets([3])  # BOS a b c a b c: positions 0..6
    assert list(zip(queries.tolist(), keys.tolist())) == [(4, 2), (5, 3)]
    assert rows.tolist() == [0, 0]


def test_total_loss_weights_kinds_by_their_rows_and_attention_by_its_weight():
    rows = {"distill": (torch.zeros(1, 2),), "copy": (torch.zeros(1, 2),), "repeat": (torch.zeros(2, 2),)}
    losses = {"distill": torch.tensor(4.0), "copy": torch.tensor(8.0), "repeat": torch.tensor(2.0),
              "attention": torch.tensor(3.0)}
    total = heal.total_loss(losses, rows, heal.HealSpec(attention=0.5))
    assert float(total) == pytest.approx(4 / 4 + 8 / 4 + 2 * 2 / 4 + 0.5 * 3)
