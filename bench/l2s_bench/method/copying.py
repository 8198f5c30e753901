"""Can a model copy from its prompt? Two losses that say so, for the SLM build and its healing curve.

Translation and summarization both copy (names, phrases, extracts). Measured on SmolLM2-135M: every
SLM cut from its layers had lost copying (the induction heads sit in layers 17-24), so after task
training its SLM wrote Bible-like text instead of editing the verse. The two losses:

* `copy_source`: the prompt asks to repeat a held-out text, the response is that text; mean
  cross-entropy over the response tokens (the full SmolLM2: ~0.2; a 4-layer cut: ~6.4).
* `repeat`: BOS + a random token sequence + the same sequence again; mean cross-entropy over the
  second copy from its second token on. Nothing but copying predicts random tokens: a uniform guess
  scores ln(vocab) (10.8 for SmolLM2), the full SmolLM2 ~4.0, a 4-layer cut ~16.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from l2s_bench.tokens import pad_id, right_pad

COPY_PROMPT = "Repeat this text exactly:\n{text}"
REPEAT = {"sequences": 32, "length": 30, "seed": 1234, "first_id": 256}  # ids below first_id: special/byte tokens


def chat_prompt(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """The copy instruction as one user turn (plain text where the tokenizer has no chat template)."""
    content = COPY_PROMPT.format(text=text)
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=True,
                                             add_generation_prompt=True, return_dict=False)
    return tokenizer(content + "\n").input_ids


def copy_item(tokenizer: PreTrainedTokenizerBase, text: str) -> tuple[list[int], int]:
    """(ids, first label position): the copy prompt, then the text and EOS as the response."""
    prompt = chat_prompt(tokenizer, text)
    return prompt + tokenizer(text, add_special_tokens=False).input_ids + [tokenizer.eos_token_id], len(prompt)


def repeat_item(tokenizer: PreTrainedTokenizerBase, tokens: list[int]) -> tuple[list[int], int]:
    """(ids, first label position): BOS + tokens + tokens; labels from the second copy's second token."""
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [bos, *tokens, *tokens], len(tokens) + 2


def random_tokens(vocab: int, length: int, generator: torch.Generator, first_id: int = REPEAT["first_id"]) -> list[int]:
    low = min(first_id, vocab // 4)  # small test vocabularies have fewer ids than first_id
    return torch.randint(low, vocab, (length,), generator=generator).tolist()


def pad_items(items: list[tuple[list[int], int]], pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (ids, mask, labels); labels are -100 outside each item's labelled span."""
    ids, mask = right_pad([seq for seq, _ in items], pad)
    labels = torch.full_like(ids, -100)
    for row, (seq, start) in enumerate(items):
        labels[row, start:len(seq)] = torch.tensor(seq[start:])
    return ids, mask, labels


def lm_loss(model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions; the head runs only where a label is."""
    hidden = model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    where = targets != -100
    logits = model.get_output_embeddings()(hidden[where]).float()
    return nn.functional.cross_entropy(logits, targets[where])


@torch.no_grad()
def diagnose(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str],
             autocast: str = "float32", batch_size: int = 16) -> dict:
    """Both losses on `texts` (held-out: never the test splits) and on seeded random sequences."""
    was_training = model.training
    model.eval()
    pad = pad_id(tokenizer)
    vocab = model.config.vocab_size
    positions = next((getattr(model.config, n) for n in ("max_position_embeddings", "n_positions")
                      if isinstance(getattr(model.config, n, None), int)), 1 << 30)
    generator = torch.Generator().manual_seed(REPEAT["seed"])
    length = min(REPEAT["length"], (positions - 1) // 2)
    repeats = [repeat_item(tokenizer, random_tokens(vocab, length, generator)) for _ in range(REPEAT["sequences"])]
    copies = [item for item in (copy_item(tokenizer, t) for t in texts) if len(item[0]) <= positions]
    dtype = getattr(torch, autocast)
    device = next(model.parameters()).device
    result = {}
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        for name, items in (("copy_source", copies), ("repeat", repeats)):
            if not items:  # no held-out text fits the model's positions
                result[name] = None
                continue
            total = count = 0.0
            for start in range(0, len(items), batch_size):
                ids, mask, labels = (t.to(device) for t in pad_items(items[start:start + batch_size], pad))
                n = int((labels[:, 1:] != -100).sum())
                total += n * float(lm_loss(model, ids, mask, labels))
                count += n
            result[name] = round(total / count, 3)
    model.train(was_training)
    return {**result, "uniform": round(math.log(vocab), 3), "texts": len(copies), "prompt": COPY_PROMPT,
            "repeat_spec": {**REPEAT, "length": length}, "autocast": autocast}
