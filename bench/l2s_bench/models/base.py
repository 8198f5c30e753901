"""The one interface every system runs behind: `encode` (once per prompt) then `decode` (the token loop).

The split exists for the speed tracker: for an HF model `encode` is tokenization and `decode` is
`generate` (prefill included); for LLM-to-SLM `encode` is tokenization + the LLM's prompt encode +
the projector, and `decode` is the SLM's `generate`. The tracker times each stage without knowing
what it times (optimum-benchmark's split).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from transformers import PreTrainedTokenizerBase

from l2s_bench.errors import BenchError
from l2s_bench.tokens import keep_last, left_pad, pad_id

log = logging.getLogger(__name__)


@dataclass
class GenSettings:
    max_new_tokens: int = 64
    min_new_tokens: int = 0  # = max_new_tokens for fixed-length speed runs
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0  # sampling seed, set before each batch
    backend: str = "eager"  # "eager" (dynamic cache) or "compiled" (static cache + torch.compile)

    def generate_kwargs(self, device: str = "cpu") -> dict[str, Any]:
        from l2s_bench.speed.backends import generate_kwargs as backend_kwargs

        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "min_new_tokens": self.min_new_tokens,
                                  "num_beams": self.num_beams, "do_sample": self.do_sample}
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p)
        return {**kwargs, **backend_kwargs(self.backend, device)}


def no_mark(stage: str) -> None:
    """The default stage marker: timing off."""


@dataclass
class Encoded:
    """What `encode` hands to `decode`: model inputs plus bookkeeping the runner records."""

    inputs: dict[str, torch.Tensor]
    prompt_tokens: list[int]  # the prompt tokens each item's model reads (after any cut)
    truncated: list[bool] = field(default_factory=list)  # per item: cut to fit the model's positions
    # (empty: the adapter does not say; the quality pass then records neither as known)


class ModelAdapter(ABC):
    """A system under test. Subclasses register with `@MODELS.register("name")`.

    Besides `encode`/`decode`, an adapter declares what the runner (`l2s_bench.runner.run`)
    needs to know about it, so that it never tests for an adapter's name: the class attributes
    `chat_from_task`, `checkpoint_arg`, `draft_arg`, `lossless`, and the instance attribute `counters`.
    The runner passes the constructor only the arguments it accepts (`l2s_bench.models.adapter_args`): the
    runner-supplied `device`, `dtype` and `reserve_new_tokens` are dropped where it lacks them, while
    an argument a user gave that it lacks is an error.
    """

    name: ClassVar[str]
    tokenizer: PreTrainedTokenizerBase  # reads prompts
    output_tokenizer: PreTrainedTokenizerBase  # decodes what `decode` returns
    chat: bool  # render prompts through the chat template
    max_prompt_tokens: int  # longer prompts lose their start, with a counted warning
    prompt_family: str = "decoder"  # which of a task's prompt templates this system reads ("decoder", "t5")
    decode_stage: str = "generate"  # the speed tracker's name for what `decode` does
    device: str = "cpu"
    hash: str = ""  # sha256 of the weights, recorded in results
    # Counts the speed pass reports with its measurement (zeroed before the timed runs, read after them;
    # `llm_forwards` and `generated_tokens` also give `tokens_per_llm_forward`); None: nothing to count.
    counters: dict[str, int] | None = None

    # What the runner resolves for the adapter:
    chat_from_task: ClassVar[bool] = False  # `chat`, unless given, is the task's `chat` setting
    checkpoint_arg: ClassVar[str | None] = None  # the argument naming the l2s-bench checkpoint it runs: a
    # suite's `train:` system runs its final checkpoint through it (`l2s_bench.models.FOR_TRAINED`), and the
    # checkpoint's weights sha256 goes into the system hash and the results as the system's weights
    draft_arg: ClassVar[str | None] = None  # the argument naming a drafting checkpoint (speculative
    # decoding): a suite's `assisted` system (`l2s_bench.models.FOR_ASSISTED`) gets its target's own arguments
    # plus its assistant's checkpoint here; its weights sha256 goes into the system hash
    lossless: ClassVar[bool] = False  # greedy outputs equal its target LLM's: the runner skips its quality
    # pass, and scoring reports the LLM's quality as its own

    @abstractmethod
    def encode(self, prompts: list[str], mark: Callable[[str], None] = no_mark) -> Encoded:
        """Tokenize (and for L2S, run the LLM and projector) once per prompt batch; `mark(stage)` is
        called as each stage ends, so a tracker can split the time without knowing the stages."""

    @abstractmethod
    def decode(self, encoded: Encoded, gen: GenSettings) -> list[list[int]]:
        """Generated token ids per prompt, without prompt, padding or the final EOS."""

    def prompt_batch(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, list[int], list[bool]]:
        """(ids, mask) left-padded, real lengths, and which prompts were truncated."""
        rendered = [render_prompt(self.tokenizer, p, self.chat) for p in prompts]
        seqs, cut = tokenize_prompts(self.tokenizer, rendered, self.max_prompt_tokens, self.chat)
        ids, mask = left_pad(seqs, pad_id(self.tokenizer))
        return ids, mask, [len(s) for s in seqs], cut

    def generate_batch(self, prompts: list[str], gen: GenSettings,
                       mark: Callable[[str], None] = no_mark) -> tuple[Encoded, list[list[int]]]:
        """encode + decode, marking each stage's end (what the speed tracker times); the `Encoded`
        comes back too, for what it records about the prompts (the quality pass stores it per item)."""
        encoded = self.encode(prompts, mark)
        ids = self.decode(encoded, gen)
        mark(self.decode_stage)
        return encoded, ids

    def generate_ids(self, prompts: list[str], gen: GenSettings, mark: Callable[[str], None] = no_mark) -> list[list[int]]:
        """encode + decode, marking each stage's end: what the speed tracker times."""
        return self.generate_batch(prompts, gen, mark)[1]

    def text(self, ids: list[list[int]]) -> list[str]:
        return [self.output_tokenizer.decode(seq, skip_special_tokens=True).strip() for seq in ids]

    def generate(self, prompts: list[str], gen: GenSettings) -> list[str]:
        return self.text(self.generate_ids(prompts, gen))


def render_prompt(tokenizer: PreTrainedTokenizerBase, text: str, chat: bool) -> str:
    """The prompt string a model sees: as is, or as one user turn of the tokenizer's chat template."""
    if not chat:
        return text
    if not tokenizer.chat_template:
        raise BenchError("chat=True but the tokenizer has no chat template")
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)


def tokenize_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list[str], max_tokens: int,
                     chat: bool) -> tuple[list[list[int]], list[bool]]:
    """Token ids per prompt, each cut to its last `max_tokens` (`l2s_bench.tokens.keep_last`: the end
    holds the generation prompt), and whether each was cut. A chat-rendered prompt already holds its
    special tokens; a plain one gets the tokenizer's own (T5's closing </s>)."""
    seqs, cut = keep_last(tokenizer(prompts, add_special_tokens=not chat).input_ids, max_tokens)
    if any(cut):
        log.warning("%d of %d prompts exceed %d tokens and were truncated from the left", sum(cut), len(seqs),
                    max_tokens)
    return seqs, cut


def strip_generated(ids: torch.Tensor, tokenizer: PreTrainedTokenizerBase) -> list[list[int]]:
    """Cut each generated row at its first EOS and drop padding."""
    stops = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    rows = []
    for row in ids.tolist():
        end = next((i for i, t in enumerate(row) if t in stops), len(row))
        rows.append(row[:end])
    return rows
