"""Speculative decoding, the lossless baseline for LLM-to-SLM (`assisted`).

The LLM generates with the SLM baseline as transformers' `assistant_model`: the SLM drafts tokens and
the LLM verifies them, so greedy outputs equal the LLM's own. transformers supports it at batch size 1
only, so a batch is decoded one prompt at a time (without the batch's left padding).
"""

from __future__ import annotations

import torch

from bench.errors import BenchError
from bench.method import checkpoint as ckpt
from bench.models import MODELS
from bench.models.base import Encoded, GenSettings, strip_generated
from bench.models.hf import HFAdapter
from bench.tokens import pad_id


@MODELS.register("assisted")
class Assisted(HFAdapter):
    """`source`: the LLM (as for hf-causal); `assistant`: an SLM-baseline checkpoint sharing its vocabulary."""

    name = "assisted"
    chat_from_task = True
    draft_arg = "assistant"
    lossless = True  # greedy speculative decoding: the LLM verifies every drafted token

    def __init__(self, source: str = "smollm2-135m-instruct", assistant: str = "", **kwargs):
        if not assistant:
            raise BenchError("assisted needs assistant=PATH (an SLM baseline checkpoint)")
        super().__init__(source, **kwargs)
        if self.model.config.is_encoder_decoder:
            raise BenchError("assisted: only decoder-only LLMs are supported here")
        draft = ckpt.load(assistant)
        if draft.uses_llm:
            raise BenchError(f"assisted: {assistant} is an L2S checkpoint; the assistant is the SLM baseline "
                             "(`system: slm`), which reads tokens alone")
        if draft.slm_tokenizer.get_vocab() != self.tokenizer.get_vocab():
            raise BenchError("assisted: the assistant's vocabulary differs from the LLM's")
        self.assistant = draft.slm.to(device=self.device, dtype=self.model.dtype)
        self.hash = f"{self.hash}+{ckpt.read_meta(assistant)['weights_sha256']}"
        # How much drafting saves: generated tokens per LLM forward (1.0 = no draft token ever accepted).
        self.counters = {"llm_forwards": 0, "generated_tokens": 0}
        self.model.register_forward_pre_hook(self._count_forward)

    def _count_forward(self, module, args) -> None:
        self.counters["llm_forwards"] += 1

    @torch.no_grad()
    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        if gen.backend != "eager" or gen.num_beams != 1:
            raise BenchError("assisted decoding runs greedy/sampled on the eager backend only")
        tok = self.tokenizer
        pad = pad_id(tok)
        ids, mask = encoded.inputs["input_ids"], encoded.inputs["attention_mask"]
        rows = []
        for i in range(ids.shape[0]):
            torch.manual_seed(gen.seed)
            row = ids[i:i + 1, mask[i].bool()]
            out = self.model.generate(input_ids=row, attention_mask=torch.ones_like(row), assistant_model=self.assistant,
                                      **gen.generate_kwargs(self.device), eos_token_id=tok.eos_token_id, pad_token_id=pad)
            rows += strip_generated(out[:, row.shape[1]:], tok)
            self.counters["generated_tokens"] += out.shape[1] - row.shape[1]
        return rows
