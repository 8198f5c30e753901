"""A trained LLM-to-SLM system, or an SLM baseline trained by the same command (`llm2slm`)."""

from __future__ import annotations

import torch

from bench import checkpoint as ckpt
from bench.errors import BenchError
from bench.models import MODELS
from bench.models.base import Encoded, GenSettings, ModelAdapter, no_mark, strip_generated


@MODELS.register("llm2slm")
class LLM2SLMAdapter(ModelAdapter):
    """`encode` = tokenize + LLM prompt encode + projector; `decode` = the SLM's `generate`.
    Prompt rendering (`chat`) defaults to what the checkpoint was trained with."""

    name = "llm2slm"
    decode_stage = "slm_decode"

    def __init__(self, checkpoint: str = "", chat: bool | None = None, max_prompt_tokens: int = 1024,
                 reserve_new_tokens: int = 256, device: str = "cpu", dtype: str = "float32"):
        if not checkpoint:
            raise BenchError("llm2slm needs checkpoint=PATH")
        self.model = ckpt.load(checkpoint).to(device=device, dtype=getattr(torch, dtype))
        self.hash = ckpt.read_meta(checkpoint)["weights_sha256"]
        self.tokenizer = self.model.prompt_tokenizer
        self.output_tokenizer = self.model.slm_tokenizer
        trained = ckpt.read_meta(checkpoint).get("trainer", {}).get("data", {})
        self.chat = trained.get("chat", True) if chat is None else chat
        self.max_prompt_tokens = self.model.prompt_budget(max_prompt_tokens, reserve_new_tokens)
        self.device = device
        self.prompt_family = "t5" if self.model.uses_llm and self.model.llm.is_seq2seq else "decoder"

    @torch.no_grad()
    def encode(self, prompts: list[str], mark=no_mark) -> Encoded:
        ids, mask, lengths, cut = self.prompt_batch(prompts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        mark("tokenize")
        features = None
        if self.model.uses_llm:
            features = self.model.llm_features(ids, mask)
            mark("llm_encode")
        embeds = self.model.prompt_embeds(ids, mask, features)
        mark("projector" if self.model.uses_llm else "embed")
        return Encoded({"inputs_embeds": embeds, "attention_mask": mask}, lengths, cut)

    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        torch.manual_seed(gen.seed)
        return strip_generated(self.model.generate(encoded.inputs, **gen.generate_kwargs(self.device)), self.output_tokenizer)
