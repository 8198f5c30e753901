"""The lossless baselines for LLM-to-SLM: the LLM decoding faster with the same greedy outputs.

- `assisted`: speculative decoding, the SLM baseline drafting as transformers' `assistant_model`.
- `prompt-lookup`: prompt lookup decoding (transformers' `prompt_lookup_num_tokens`): the draft is the
  continuation of the prompt's last n-gram where it recurs earlier in the prompt, no second model; strong
  where the output copies the input (editing, summarization).
The LLM verifies every drafted token, so greedy outputs equal its own. transformers drafts at batch size
1 only, so a batch is decoded one prompt at a time (without the batch's left padding). Both count
generated tokens per LLM forward (1.0 = no draft token ever accepted).
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint as ckpt
from l2s_bench.models import MODELS
from l2s_bench.models.base import Encoded, GenSettings, strip_generated
from l2s_bench.models.hf import HFAdapter
from l2s_bench.tokens import pad_id


class _InternalDuplicate(logging.Filter):
    """transformers' assisted generation calls the assistant's `generate` itself, handing it the LLM's
    `MinNewTokensLengthLogitsProcessor` and a `generation_config` beside length arguments; that call warns
    about both (a duplicate processor; a deprecated mix of config and arguments). Messages about
    transformers' internal call, nothing a user can act on, so they are dropped here."""

    INTERNAL = ("MinNewTokensLengthLogitsProcessor", "Passing `generation_config` together with")

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in self.INTERNAL)


GENERATION_LOG = logging.getLogger("transformers.generation.utils")


class Drafted(HFAdapter):
    """An LLM (as for hf-causal) that decodes with drafts (`draft_kwargs`), one prompt at a time."""

    chat_from_task = True
    lossless = True  # greedy drafting: the LLM verifies every drafted token

    def __init__(self, source: str = "smollm2-135m-instruct", **kwargs):
        super().__init__(source, **kwargs)
        if self.model.config.is_encoder_decoder:
            raise BenchError(f"{self.name}: only decoder-only LLMs are supported here")
        self.counters = {"llm_forwards": 0, "generated_tokens": 0}
        self.model.register_forward_pre_hook(self._count_forward)

    def draft_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def _count_forward(self, module, args) -> None:
        self.counters["llm_forwards"] += 1

    @torch.no_grad()
    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        if gen.backend != "eager" or gen.num_beams != 1:
            raise BenchError(f"{self.name} decoding runs greedy/sampled on the eager backend only")
        tok = self.tokenizer
        pad = pad_id(tok)
        ids, mask = encoded.inputs["input_ids"], encoded.inputs["attention_mask"]
        rows, quiet = [], _InternalDuplicate()
        GENERATION_LOG.addFilter(quiet)
        try:
            for i in range(ids.shape[0]):
                rows += self._decode_one(ids[i:i + 1, mask[i].bool()], gen, tok, pad)
        finally:
            GENERATION_LOG.removeFilter(quiet)
        return rows

    def _decode_one(self, row: torch.Tensor, gen: GenSettings, tok, pad: int) -> list[list[int]]:
        """One prompt (its unpadded ids, 1 x n), drafted and verified."""
        torch.manual_seed(gen.seed)
        out = self.model.generate(input_ids=row, attention_mask=torch.ones_like(row), **self.draft_kwargs(),
                                  **gen.generate_kwargs(self.device), eos_token_id=tok.eos_token_id, pad_token_id=pad)
        self.counters["generated_tokens"] += out.shape[1] - row.shape[1]
        return strip_generated(out[:, row.shape[1]:], tok)


@MODELS.register("assisted")
class Assisted(Drafted):
    """`source`: the LLM; `assistant`: an SLM-baseline checkpoint sharing its vocabulary."""

    name = "assisted"
    draft_arg = "assistant"

    def __init__(self, source: str = "smollm2-135m-instruct", assistant: str = "", **kwargs):
        if not assistant:
            raise BenchError("assisted needs assistant=PATH (an SLM baseline checkpoint)")
        super().__init__(source, **kwargs)
        draft = ckpt.load(assistant)
        if draft.uses_llm:
            raise BenchError(f"assisted: {assistant} is an L2S checkpoint; the assistant is the SLM baseline "
                             "(`system: slm`), which reads tokens alone")
        if draft.slm_tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise BenchError("assisted: the assistant's vocabulary differs from the LLM's")
        self.assistant = draft.slm.to(device=self.device, dtype=self.model.dtype)
        self.hash = f"{self.hash}+{ckpt.read_meta(assistant)['weights_sha256']}"

    def draft_kwargs(self) -> dict[str, Any]:
        return {"assistant_model": self.assistant}


@MODELS.register("prompt-lookup")
class PromptLookup(Drafted):
    """`source`: the LLM; `lookup_tokens`: draft tokens copied per lookup; `max_ngram`: the longest prompt
    n-gram matched (transformers' `prompt_lookup_num_tokens`, `max_matching_ngram_size`)."""

    name = "prompt-lookup"

    def __init__(self, source: str = "smollm2-135m-instruct", lookup_tokens: int = 10, max_ngram: int = 2, **kwargs):
        if lookup_tokens < 1 or max_ngram < 1:
            raise BenchError(f"prompt-lookup: lookup_tokens and max_ngram must be >= 1, got {lookup_tokens}, {max_ngram}")
        super().__init__(source, **kwargs)
        self.lookup_tokens, self.max_ngram = lookup_tokens, max_ngram

    def draft_kwargs(self) -> dict[str, Any]:
        return {"prompt_lookup_num_tokens": self.lookup_tokens, "max_matching_ngram_size": self.max_ngram}
