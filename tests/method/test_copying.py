import math

import pytest
import torch

from l2s_bench.method import copying, pretrained


def test_repeat_item_labels_the_second_copy_from_its_second_token(tiny):
    tok = pretrained.load(tiny["llama"]).tokenizer
    ids, start = copying.repeat_item(tok, [7, 8, 9])
    assert ids[1:] == [7, 8, 9, 7, 8, 9]
    assert ids[start:] == [8, 9]  # the first token of the copy cannot be predicted


def test_copy_item_puts_the_text_after_the_instruction(tiny):
    tok = pretrained.load(tiny["llama"]).tokenizer
    ids, start = copying.copy_item(tok, "the earth was without form")
    assert "Repeat this text exactly" in tok.decode(ids[:start])
    assert tok.decode(ids[start:-1]) == "the earth was without form" and ids[-1] == tok.eos_token_id


def test_pad_items_masks_padding_and_unlabelled_positions():
    ids, mask, labels = copying.pad_items([([1, 2, 3, 4], 2), ([5, 6], 1)], pad=0)
    assert ids.tolist() == [[1, 2, 3, 4], [5, 6, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert labels.tolist() == [[-100, -100, 3, 4], [-100, 6, -100, -100]]


def test_diagnose_is_deterministic_and_a_random_model_does_not_copy(tiny, one_thread):
    loaded = pretrained.load(tiny["llama"])
    texts = ["In the beginning God created the heaven", "The quick brown fox jumps over the lazy dog"]
    a = copying.diagnose(loaded.model, loaded.tokenizer, texts)
    b = copying.diagnose(loaded.model, loaded.tokenizer, texts)
    assert a == b
    assert a["uniform"] == pytest.approx(math.log(loaded.model.config.vocab_size), abs=1e-3)
    assert a["repeat"] > a["uniform"] - 1  # random weights: no better than guessing
    assert a["texts"] == 2 and not loaded.model.training


def test_a_model_that_copies_scores_near_zero_on_repeat(tiny, one_thread):
    """An oracle that knows the sequence repeats: the loss must reward copying, and only copying."""
    loaded = pretrained.load(tiny["llama"])
    model = loaded.model

    class Oracle(torch.nn.Module):  # predicts, at each position, the tokens that followed its earlier occurrences
        def __init__(self):
            super().__init__()
            self.inner = model
            self.config = model.config

        @property
        def base_model(self):
            return self

        def __call__(self, input_ids, attention_mask, use_cache=False):
            out = torch.zeros(*input_ids.shape, model.config.vocab_size)
            for b, row in enumerate(input_ids.tolist()):
                for t, token in enumerate(row):
                    for i in range(t):
                        if row[i] == token:
                            out[b, t, row[i + 1]] = 1.0
            return type("O", (), {"last_hidden_state": out})()

        def get_output_embeddings(self):
            return lambda h: h * 20.0

        def parameters(self):
            return model.parameters()

    result = copying.diagnose(Oracle(), loaded.tokenizer, ["a b c d e"])
    assert result["repeat"] < 0.2  # not 0: a token that occurs twice in a random sequence is ambiguous
