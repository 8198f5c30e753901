"""A trained LLM-to-SLM system, or an SLM baseline trained by the same command (`llm2slm`)."""

from __future__ import annotations

import torch

from bench import checkpoint as ckpt
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.base import Encoded, GenSettings, ModelAdapter, strip_generated


@MODELS.register("llm2slm")
class LLM2SLMAdapter(ModelAdapter):
    """`encode` = tokenize + LLM prompt encode + projector; `decode` = the SLM's `generate`.
    Prompt rendering (`chat`) defaults to what the checkpoint was trained with."""

    name = "llm2slm"

    def __init__(self, checkpoint: str = "", chat: bool | None = None, max_prompt_tokens: int = 1024,
                 reserve_new_tokens: int = 256, device: str = "cpu"):
        if not checkpoint:
            raise BenchError("llm2slm needs checkpoint=PATH")
        self.model = ckpt.load(checkpoint).to(device)
        self.tokenizer = self.model.prompt_tokenizer
        self.output_tokenizer = self.model.slm_tokenizer
        trained = ckpt.read_meta(checkpoint).get("trainer", {}).get("data", {})
        self.chat = trained.get("chat", True) if chat is None else chat
        self.max_prompt_tokens = self.model.prompt_budget(max_prompt_tokens, reserve_new_tokens)
        self.device = device
        self.prompt_family = "t5" if self.model.uses_llm and self.model.llm.is_seq2seq else "decoder"

    def encode(self, prompts: list[str]) -> Encoded:
        ids, mask, lengths, cut = self.prompt_batch(prompts)
        return Encoded(self.model.encode(ids.to(self.device), mask.to(self.device)), lengths, cut)

    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        torch.manual_seed(gen.seed)
        return strip_generated(self.model.generate(encoded.inputs, **gen.generate_kwargs()), self.output_tokenizer)
