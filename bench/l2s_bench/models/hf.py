"""Plain transformers models: the LLM baseline (`hf-causal`, `hf-seq2seq`)."""

from __future__ import annotations

import torch

from l2s_bench.errors import BenchError
from l2s_bench.method import pretrained
from l2s_bench.method.pretrained import prompt_budget
from l2s_bench.models import MODELS
from l2s_bench.models.base import Encoded, GenSettings, ModelAdapter, no_mark, strip_generated
from l2s_bench.tokens import pad_id


class HFAdapter(ModelAdapter):
    """`source` is an embedded model name, a local folder or a Hub id; `chat` renders prompts as one
    user turn of the tokenizer's chat template; `reserve_new_tokens` keeps that many positions free
    for the answer of a decoder-only model."""

    def __init__(self, source: str = "smollm2-135m-instruct", chat: bool = False, max_prompt_tokens: int = 1024,
                 reserve_new_tokens: int = 256, device: str = "cpu", dtype: str = "float32"):
        loaded = pretrained.load(source, getattr(torch, dtype))
        is_seq2seq = bool(loaded.model.config.is_encoder_decoder)
        if is_seq2seq != (self.name == "hf-seq2seq"):
            raise BenchError(f"{source} is {'encoder-decoder' if is_seq2seq else 'decoder-only'}; use the "
                             f"'{'hf-seq2seq' if is_seq2seq else 'hf-causal'}' adapter")
        self.model = loaded.model.to(device)
        self.tokenizer = self.output_tokenizer = loaded.tokenizer
        self.source, self.hash, self.chat, self.device = source, loaded.hash, chat, device
        self.max_prompt_tokens = prompt_budget(self.model.config, max_prompt_tokens, reserve_new_tokens)

    def encode(self, prompts: list[str], mark=no_mark) -> Encoded:
        ids, mask, lengths, cut = self.prompt_batch(prompts)
        encoded = Encoded({"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device)}, lengths, cut)
        mark("tokenize")
        return encoded

    @torch.no_grad()
    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        torch.manual_seed(gen.seed)
        tok = self.tokenizer
        out = self.model.generate(**encoded.inputs, **gen.generate_kwargs(self.device), eos_token_id=tok.eos_token_id,
                                  pad_token_id=pad_id(tok))
        new = out[:, 1:] if self.model.config.is_encoder_decoder else out[:, encoded.inputs["input_ids"].shape[1]:]
        return strip_generated(new, tok)


@MODELS.register("hf-causal")
class HFCausal(HFAdapter):
    name = "hf-causal"
    chat_from_task = True


@MODELS.register("hf-seq2seq")
class HFSeq2Seq(HFAdapter):
    name = "hf-seq2seq"
    prompt_family = "t5"
