"""Token-id plumbing in one place: pad ids, padding and prompt truncation.

Every batch of token ids in l2s-bench is built here, with one layout rule:
- prompts are **left**-padded (`left_pad`): decoder-only `generate` continues from the last column,
  and training uses the same layout so that positions match (`l2s_bench.method.l2s.positions` skips the padding);
- responses and whole sequences are **right**-padded (`right_pad`): labels start at column 0;
- padded positions are always masked (mask 0), so the pad id only has to be a valid token id: a
  tokenizer without a pad token pads with its EOS (`pad_id`);
- a prompt longer than a model can read keeps its *last* tokens (`keep_last`): the end holds the
  chat template's generation prompt, which must survive.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerBase


def pad_id(tokenizer: PreTrainedTokenizerBase, default: int | None = None) -> int:
    """The tokenizer's pad id; without one, `default` when given, else its EOS id."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return tokenizer.eos_token_id if default is None else default


def left_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask), left-padded: the layout decoder-only `generate` needs, used in training too."""
    return _pad(seqs, pad, left=True)


def right_pad(seqs: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask), right-padded: responses (labels from column 0) and whole sequences."""
    return _pad(seqs, pad, left=False)


def _pad(seqs: list[list[int]], pad: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, s in enumerate(seqs):
        if s:
            cols = slice(width - len(s), width) if left else slice(0, len(s))
            ids[row, cols] = torch.tensor(s)
            mask[row, cols] = 1
    return ids, mask


def keep_last(seqs: list[list[int]], max_tokens: int) -> tuple[list[list[int]], list[bool]]:
    """Each sequence cut to its last `max_tokens`, and whether it was cut."""
    cut = [len(s) > max_tokens for s in seqs]
    return [s[-max_tokens:] if c else list(s) for s, c in zip(seqs, cut)], cut
