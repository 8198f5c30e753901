"""A trained LLM-to-SLM system, or an SLM baseline trained by the same command (`llm2slm`)."""

from __future__ import annotations

import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import checkpoint as ckpt
from l2s_bench.method.l2s import LLMToSLM
from l2s_bench.models import MODELS
from l2s_bench.models.base import Encoded, GenSettings, ModelAdapter, no_mark, strip_generated


@MODELS.register("llm2slm")
class LLM2SLMAdapter(ModelAdapter):
    """`encode` = tokenize + LLM prompt encode + projector; `decode` = the SLM's `generate`.
    Prompt rendering (`chat`) defaults to what the checkpoint was trained with."""

    name = "llm2slm"
    decode_stage = "slm_decode"
    checkpoint_arg = "checkpoint"

    def __init__(self, checkpoint: str = "", chat: bool | None = None, max_prompt_tokens: int = 1024,
                 reserve_new_tokens: int = 256, device: str = "cpu", dtype: str = "float32"):
        if not checkpoint:
            raise BenchError("llm2slm needs checkpoint=PATH")
        meta = ckpt.read_meta(checkpoint)
        trained = meta.get("trainer", {}).get("data", {})
        self._attach(ckpt.load(checkpoint).to(device=device, dtype=getattr(torch, dtype)),
                     trained.get("chat", True) if chat is None else chat, max_prompt_tokens, reserve_new_tokens, device)
        self.hash = meta["weights_sha256"]

    @classmethod
    def wrap(cls, model: LLMToSLM, chat: bool, max_prompt_tokens: int = 1024, reserve_new_tokens: int = 256,
             device: str = "cpu") -> LLM2SLMAdapter:
        """An adapter around a model in memory (a training run's, for a learning-curve point: no
        checkpoint on disk, so no weights hash), used as it is: not moved, not cast, set to eval mode."""
        adapter = cls.__new__(cls)
        adapter._attach(model.eval(), chat, max_prompt_tokens, reserve_new_tokens, device)
        return adapter

    def _attach(self, model: LLMToSLM, chat: bool, max_prompt_tokens: int, reserve_new_tokens: int,
                device: str) -> None:
        self.model = model
        self.tokenizer = model.prompt_tokenizer
        self.output_tokenizer = model.slm_tokenizer
        self.chat = chat
        self.max_prompt_tokens = model.prompt_budget(max_prompt_tokens, reserve_new_tokens)
        self.device = device
        self.prompt_family = "t5" if model.uses_llm and model.llm.is_seq2seq else "decoder"

    @torch.no_grad()
    def encode(self, prompts: list[str], mark=no_mark) -> Encoded:
        ids, mask, lengths, cut = self.prompt_batch(prompts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        mark("tokenize")
        return Encoded(self.model.encode(ids, mask, mark), lengths, cut)  # marks llm_encode, projector

    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        torch.manual_seed(gen.seed)
        return strip_generated(self.model.generate(encoded.inputs, **gen.generate_kwargs(self.device)), self.output_tokenizer)
