"""LLM-to-SLM (Bergner et al., "Think Big, Generate Quick", arXiv 2402.16844), top to bottom.

A frozen LLM reads the prompt once; a per-token MLP projector maps its features into the small
model's embedding space; they are *added* to the SLM's prompt embeddings; the SLM generates.

    prompt ids (LLM tokenizer) --LLM, frozen, stops at llm_layer--> H (m x d_llm)
    H --standardize, clamp [, mix layers]--> Linear -> ReLU -> Linear (last layer zero-init) --> P (m x d_slm)
    prompt embeddings E (m x d_slm) + P --SLM--> response (SLM tokenizer)

Decisions that matter, each measured or taken from the paper:
- Decoder-only LLM: the hidden state after `llm_layer` layers (an intermediate layer can serve better
  than the last, which specialises in next-token prediction; the paper's future work), and the
  forward stops there, which saves the remaining layers' cost. `llm_layer: [a, b, c]` fuses several
  layers (EAGLE-3 fuses low, mid and high features): each standardized on its own, then mixed by
  learned softmax weights (starting equal) into one d_llm feature per token.
- Decoder-only hidden states carry outlier dimensions (SmolLM2 layer 15: |z| > 1,000), which wreck
  training when fed raw: features are standardized per dimension with statistics fitted on the
  training features (saved in the checkpoint) and clamped.
- The projector's last layer starts at zero, so before any training L2S generates exactly what its
  SLM generates.
- Different tokenizers (the paper's fix): the prompt side reads the LLM's token ids through the LLM's
  frozen embedding table plus a trained Linear to d_slm, so features and embeddings line up position
  by position; the SLM generates in its own vocabulary. Two tokenizations are never padded or
  truncated against each other.
- `conditioning="none"` is the SLM baseline: same module, same training code, no LLM features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from l2s_bench.errors import BenchError
from l2s_bench.machine import resolve_dtype
from l2s_bench.method.pretrained import prompt_budget
from l2s_bench.tokens import pad_id


@dataclass
class L2SConfig:
    conditioning: Literal["add", "replace", "none"] = "add"  # replace: the paper's ablation; none: SLM baseline
    llm_layer: int | list[int] | None = None  # decoder-only LLM: features after this many layers; None = all;
    # a list of 2+ layers: their learned mix (fusion)
    llm_source: str | None = None  # the frozen LLM whose features L2S reads (e.g. `tuned:<sha>`, the task-tuned
    # LLM, `l2s_bench.method.tuned`); None = the config's `llm`, from which the SLM is also cut and healed
    d_proj: int | None = None  # projector hidden width; None = d_slm
    prompt_embedding: Literal["auto", "slm", "llm"] = "auto"  # auto: "slm" when the vocabularies match
    feature_clamp: float = 10.0  # |z| bound after standardization
    llm_autocast: Literal["auto", "float32", "bfloat16"] = "float32"  # the LLM encode, training and inference; auto: bf16 where native


class FeatureNorm(nn.Module):
    """Per-dimension standardization of LLM features (per layer and dimension for fused layers, `shape`
    (k, d)); statistics are buffers, so they travel in checkpoints."""

    def __init__(self, shape: int | tuple[int, ...], clamp: float):
        super().__init__()
        self.clamp = clamp
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    @torch.no_grad()
    def fit(self, features: list[torch.Tensor], skip_first: bool) -> None:
        """Fit on unpadded per-prompt features. `skip_first` leaves out position 0, where decoder-only
        LLMs put their "massive activations" (thousands of times the typical scale)."""
        total = torch.zeros(self.mean.shape, dtype=torch.float64)
        squares, count = torch.zeros_like(total), 0
        for f in features:  # streamed: the cache of a real run holds millions of rows
            rows = (f[1:] if skip_first and len(f) > 1 else f).double()
            total += rows.sum(0)
            squares += (rows * rows).sum(0)
            count += len(rows)
        mean = total / count
        var = (squares - count * mean * mean) / max(count - 1, 1)
        self.mean.copy_(mean)
        self.std.copy_(var.clamp_min(0).sqrt().clamp_min(1e-6))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = (h.float() - self.mean) / self.std
        return z.clamp(-self.clamp, self.clamp)


class Projector(nn.Sequential):
    """The paper's per-token MLP, Linear -> ReLU -> Linear, last layer zero-initialized."""

    def __init__(self, d_llm: int, d_proj: int, d_slm: int):
        super().__init__(nn.Linear(d_llm, d_proj), nn.ReLU(), nn.Linear(d_proj, d_slm))
        nn.init.zeros_(self[2].weight)
        nn.init.zeros_(self[2].bias)


class LayerMix(nn.Module):
    """Fused layers' standardized features (..., k, d) -> their softmax-weighted sum (..., d); the
    weights start equal."""

    def __init__(self, k: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(k))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z * self.logits.softmax(0).to(z.dtype).unsqueeze(-1)).sum(-2)


class _Stop(Exception):
    """Raised by a forward hook to end the LLM's forward at `llm_layer`, carrying that layer's output."""

    def __init__(self, hidden: torch.Tensor):
        self.hidden = hidden


class FrozenLLM:
    """The LLM, deliberately *not* an nn.Module attribute of LLMToSLM: it never enters a state dict,
    an optimizer or `train()` mode, so checkpoints hold no LLM weights and training cannot touch it."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, source: str, hash: str,
                 layer: int | list[int] | None):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer, self.source, self.hash = tokenizer, source, hash
        self.is_seq2seq = bool(model.config.is_encoder_decoder)
        self.layers = None if self.is_seq2seq else _decoder_layers(model)
        self.layer = len(self.layers) if layer is None and self.layers is not None else layer
        if isinstance(layer, list):
            if self.is_seq2seq or len(layer) < 2 or layer != sorted(set(layer)):
                raise BenchError(f"llm_layer as a list fuses 2+ distinct layers of a decoder-only LLM, in increasing "
                                 f"order; got {layer}")
        if self.layers is not None and not all(1 <= k <= len(self.layers) for k in self.fused):
            raise BenchError(f"llm_layer must be in 1..{len(self.layers)}, got {self.layer}")

    @property
    def fused(self) -> list[int]:
        """The layers read: one, or the fused ones."""
        return self.layer if isinstance(self.layer, list) else [self.layer]

    @property
    def dim(self) -> int:
        return self.model.get_input_embeddings().embedding_dim

    @torch.no_grad()
    def features(self, ids: torch.Tensor, mask: torch.Tensor, autocast: str = "float32") -> torch.Tensor:
        """Per-token features over a (left- or right-) padded prompt batch, fp32: (B, m, d_llm), or
        (B, m, k, d_llm) for k fused layers."""
        dtype = getattr(torch, autocast)
        with torch.autocast(ids.device.type, dtype=dtype, enabled=dtype != torch.float32):
            if self.is_seq2seq:
                return self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            kept: list[torch.Tensor] = []
            hooks = [self.layers[k - 1].register_forward_hook(lambda m, a, out: kept.append(_hidden(out)))
                     for k in self.fused[:-1]]
            hooks.append(self.layers[self.fused[-1] - 1].register_forward_hook(_stop_hook))
            try:
                self.model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                                      use_cache=False)
            except _Stop as stop:
                if not kept:
                    return stop.hidden.float()
                return torch.stack([*kept, stop.hidden], dim=2).float()
            finally:
                for hook in hooks:
                    hook.remove()
        raise RuntimeError("the LLM forward finished without reaching llm_layer")

    def to(self, *args, **kwargs) -> FrozenLLM:
        self.model.to(*args, **kwargs)
        return self


def _hidden(output: torch.Tensor | tuple) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def _stop_hook(module: nn.Module, args: tuple, output: torch.Tensor | tuple) -> None:
    raise _Stop(_hidden(output))


def _decoder_layers(model: PreTrainedModel) -> nn.ModuleList:
    base = model.base_model
    for name in ("layers", "h", "blocks"):
        if isinstance(getattr(base, name, None), nn.ModuleList):
            return getattr(base, name)
    raise BenchError(f"cannot find the decoder layers of {type(model).__name__}")


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding, as `generate` computes them."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def _no_mark(stage: str) -> None:
    """The default stage marker: timing off (see `LLMToSLM.prompt`)."""


class LLMToSLM(nn.Module):
    """SLM + projector (+ prompt-side linear); the frozen LLM is attached, not owned (see FrozenLLM).

    Two entry points, used by everything that runs the method (training, the `llm2slm` adapter,
    lm-eval, `l2s-bench speed`):
    - `prompt` (and `encode`, its inference form): the once-per-prompt work, LLM encode + projector
      -> the SLM's prompt embeddings;
    - `forward`: prompt + response -> (logits, loss), nanoGPT's shape.
    `generate` decodes from `encode`'s output. Built without tokenizers (random weights, as
    `l2s-bench speed` does), `shared_vocab` says whether the two models share a vocabulary, which
    decides the prompt side as the tokenizers' vocabularies otherwise do."""

    def __init__(self, cfg: L2SConfig, slm: PreTrainedModel, slm_tokenizer: PreTrainedTokenizerBase | None,
                 llm: FrozenLLM | None, shared_vocab: bool | None = None):
        super().__init__()
        self.cfg, self.slm, self.slm_tokenizer, self.llm = cfg, slm, slm_tokenizer, llm
        self.is_seq2seq = bool(slm.config.is_encoder_decoder)
        d_slm = slm.get_input_embeddings().embedding_dim
        self.prompt_side = self._prompt_side(cfg, llm, slm_tokenizer, shared_vocab)
        self.prompt_proj = nn.Linear(llm.dim, d_slm) if self.prompt_side == "llm" else None
        if cfg.conditioning != "none":
            d_llm = llm.model.config.d_model if llm.is_seq2seq else llm.model.config.hidden_size
            k = len(llm.fused) if isinstance(llm.layer, list) else None
            self.norm = FeatureNorm((d_llm,) if k is None else (k, d_llm), cfg.feature_clamp)
            self.mix = LayerMix(k) if k is not None else None
            self.projector = Projector(d_llm, cfg.d_proj or d_slm, d_slm)

    @staticmethod
    def _prompt_side(cfg: L2SConfig, llm: FrozenLLM | None, slm_tokenizer: PreTrainedTokenizerBase | None,
                     shared_vocab: bool | None) -> str:
        if cfg.conditioning == "none":
            return "slm"  # the SLM baseline reads its own tokens
        if llm is None:
            raise ValueError("an L2S model with LLM conditioning needs its LLM")
        if shared_vocab is not None:
            same_vocab = shared_vocab
        elif llm.tokenizer is None or slm_tokenizer is None:
            raise BenchError("without both tokenizers, LLMToSLM needs shared_vocab=True|False")
        else:
            same_vocab = llm.tokenizer.get_vocab() == slm_tokenizer.get_vocab()
        side = cfg.prompt_embedding if cfg.prompt_embedding != "auto" else ("slm" if same_vocab else "llm")
        if side == "slm" and not same_vocab:
            raise BenchError("prompt_embedding='slm' needs the SLM and LLM to share a vocabulary; use 'llm'")
        return side

    @property
    def prompt_tokenizer(self) -> PreTrainedTokenizerBase:
        """Prompts are tokenized by the LLM whenever LLM features are used, so positions align."""
        return self.slm_tokenizer if self.cfg.conditioning == "none" else self.llm.tokenizer

    @property
    def uses_llm(self) -> bool:
        return self.cfg.conditioning != "none"

    def prompt_budget(self, requested: int, new_tokens: int) -> int:
        """The longest prompt both models can read: the LLM reads the prompt only, a decoder-only SLM
        also holds `new_tokens` of response in the same positions."""
        budget = prompt_budget(self.slm.config, requested, new_tokens)
        return prompt_budget(self.llm.model.config, budget, 0) if self.uses_llm else budget

    @property
    def llm_dtype(self) -> str:
        """The LLM encode's autocast dtype on this machine (`auto` resolved, see l2s_bench.machine)."""
        device = next(self.llm.model.parameters()).device.type
        return resolve_dtype(self.cfg.llm_autocast, device)

    def llm_features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.llm.features(ids, mask, self.llm_dtype)

    def prompt_embeds(self, ids: torch.Tensor, mask: torch.Tensor, features: torch.Tensor | None) -> torch.Tensor:
        """SLM input embeddings of the prompt, conditioned on LLM features at real (unpadded) positions."""
        if self.prompt_proj is not None:
            embeds = self.prompt_proj(self.llm.model.get_input_embeddings()(ids))
        else:
            embeds = self.slm.get_input_embeddings()(ids)
        if not self.uses_llm:
            return embeds
        # normalized features are fp32; a model cast to bf16 (inference) needs them in its projector's dtype
        z = self.norm(features)
        if self.mix is not None:
            z = self.mix(z)
        projected = self.projector(z.to(self.projector[0].weight.dtype)).to(embeds.dtype)
        real = mask.unsqueeze(-1).bool()
        if self.cfg.conditioning == "add":
            return embeds + projected * real
        return torch.where(real, projected, embeds)

    def prompt(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, features: torch.Tensor | None = None,
               mark: Callable[[str], None] = _no_mark) -> torch.Tensor:
        """The prompt side, once per prompt: the LLM's features (computed here unless given, as the
        training cache gives them), then the SLM's prompt embeddings conditioned on them (B, m, d_slm).
        Prompts come left-padded. `mark(stage)` is called as each stage ends, for the speed tracker:
        "llm_encode" (when the LLM runs here), then "projector" ("embed" for the SLM baseline)."""
        if self.uses_llm and features is None:
            features = self.llm_features(prompt_ids, prompt_mask)
            mark("llm_encode")
        embeds = self.prompt_embeds(prompt_ids, prompt_mask, features)
        mark("projector" if self.uses_llm else "embed")
        return embeds

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                response_mask: torch.Tensor, features: torch.Tensor | None = None,
                labels: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, loss) of the response given the prompt, nanoGPT's shape. Prompts come left-padded,
        responses right-padded (ending in EOS where training taught stopping); `features` may be
        precomputed (the on-disk cache) or are computed here. Logits are fp32, in the SLM vocabulary.

        `labels=True` (training, validation): the real response tokens are the targets; `loss` is their
        mean cross-entropy and `logits` (N, V) are the N labelled positions only, in the row-major order
        of `response_mask` (the head never runs on padding, which is most of training's cost saving).
        `labels=False` (scoring fixed responses, lm-eval's loglikelihood): `loss` is None and `logits`
        (B, n, V) cover every response position, position j predicting response token j."""
        prompt = self.prompt(prompt_ids, prompt_mask, features)
        real = response_mask.bool()
        if self.is_seq2seq:
            out = self.slm(inputs_embeds=prompt, attention_mask=prompt_mask,
                           labels=response_ids.masked_fill(~real, -100))  # decoder inputs: labels shifted
            return (out.logits[real].float(), out.loss) if labels else (out.logits.float(), None)
        response = self.slm.get_input_embeddings()(response_ids)
        mask = torch.cat([prompt_mask, response_mask], 1)
        hidden = self.slm.base_model(inputs_embeds=torch.cat([prompt, response], 1), attention_mask=mask,
                                     position_ids=positions(mask), use_cache=False).last_hidden_state
        # Position t predicts token t+1: the last prompt position predicts the first response token.
        predictors = hidden[:, prompt_ids.shape[1] - 1:-1]
        if not labels:
            return self.slm.get_output_embeddings()(predictors).float(), None
        logits = self.slm.get_output_embeddings()(predictors[real]).float()  # logits only where a label exists
        return logits, nn.functional.cross_entropy(logits, response_ids[real])

    @torch.no_grad()
    def encode(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
               mark: Callable[[str], None] = _no_mark) -> dict[str, torch.Tensor]:
        """`prompt` for inference (LLM encode + projector): the inputs `generate` starts from."""
        return {"inputs_embeds": self.prompt(prompt_ids, prompt_mask, mark=mark), "attention_mask": prompt_mask}

    @torch.no_grad()
    def generate(self, encoded: dict[str, torch.Tensor], **generate_kwargs) -> torch.Tensor:
        """New token ids only (B, n), SLM vocabulary, through transformers `generate` with its KV cache.
        Pad and EOS ids default to the SLM tokenizer's (a model built without one must pass them)."""
        tok = self.slm_tokenizer
        if tok is not None:
            generate_kwargs.setdefault("pad_token_id", pad_id(tok))
            generate_kwargs.setdefault("eos_token_id", tok.eos_token_id)
        out = self.slm.generate(**encoded, **generate_kwargs)
        return out[:, 1:] if self.is_seq2seq else out  # drop the decoder start token

    def to(self, *args, **kwargs) -> LLMToSLM:
        if self.llm is not None:
            self.llm.to(*args, **kwargs)
        return super().to(*args, **kwargs)
