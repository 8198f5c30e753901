"""LLM-to-SLM (Bergner et al., "Think Big, Generate Quick", arXiv 2402.16844), top to bottom.

A frozen LLM reads the prompt once; a per-token MLP projector maps its features into the small
model's embedding space; they are *added* to the SLM's prompt embeddings; the SLM generates.

    prompt ids (LLM tokenizer) --LLM, frozen, stops at llm_layer--> H (m x d_llm)
    H --standardize, clamp--> Linear -> ReLU -> Linear (last layer zero-init) --> P (m x d_slm)
    prompt embeddings E (m x d_slm) + P --SLM--> response (SLM tokenizer)

Decisions that matter, each measured or taken from the paper:
- Decoder-only LLM: the hidden state after `llm_layer` layers (an intermediate layer can serve better
  than the last, which specialises in next-token prediction; the paper's future work), and the
  forward stops there, which saves the remaining layers' cost.
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

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bench.errors import BenchError
from bench.machine import resolve_dtype
from bench.pretrained import prompt_budget


@dataclass
class L2SConfig:
    conditioning: Literal["add", "replace", "none"] = "add"  # replace: the paper's ablation; none: SLM baseline
    llm_layer: int | None = None  # decoder-only LLM: features after this many layers; None = all
    d_proj: int | None = None  # projector hidden width; None = d_slm
    prompt_embedding: Literal["auto", "slm", "llm"] = "auto"  # auto: "slm" when the vocabularies match
    feature_clamp: float = 10.0  # |z| bound after standardization
    llm_autocast: Literal["auto", "float32", "bfloat16"] = "float32"  # the LLM encode, training and inference; auto: bf16 where native


class FeatureNorm(nn.Module):
    """Per-dimension standardization of LLM features; statistics are buffers, so they travel in checkpoints."""

    def __init__(self, dim: int, clamp: float):
        super().__init__()
        self.clamp = clamp
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

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


class _Stop(Exception):
    """Raised by a forward hook to end the LLM's forward at `llm_layer`, carrying that layer's output."""

    def __init__(self, hidden: torch.Tensor):
        self.hidden = hidden


class FrozenLLM:
    """The LLM, deliberately *not* an nn.Module attribute of LLMToSLM: it never enters a state dict,
    an optimizer or `train()` mode, so checkpoints hold no LLM weights and training cannot touch it."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, source: str, hash: str,
                 layer: int | None):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer, self.source, self.hash = tokenizer, source, hash
        self.is_seq2seq = bool(model.config.is_encoder_decoder)
        self.layers = None if self.is_seq2seq else _decoder_layers(model)
        self.layer = len(self.layers) if layer is None and self.layers is not None else layer
        if self.layers is not None and not 1 <= self.layer <= len(self.layers):
            raise BenchError(f"llm_layer must be in 1..{len(self.layers)}, got {self.layer}")

    @property
    def dim(self) -> int:
        return self.model.get_input_embeddings().embedding_dim

    @torch.no_grad()
    def features(self, ids: torch.Tensor, mask: torch.Tensor, autocast: str = "float32") -> torch.Tensor:
        """Per-token features over a (left- or right-) padded prompt batch, fp32, (B, m, d_llm)."""
        dtype = getattr(torch, autocast)
        with torch.autocast(ids.device.type, dtype=dtype, enabled=dtype != torch.float32):
            if self.is_seq2seq:
                return self.model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            hook = self.layers[self.layer - 1].register_forward_hook(_stop_hook)
            try:
                self.model.base_model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                                      use_cache=False)
            except _Stop as stop:
                return stop.hidden.float()
            finally:
                hook.remove()
        raise RuntimeError("the LLM forward finished without reaching llm_layer")

    def to(self, *args, **kwargs) -> FrozenLLM:
        self.model.to(*args, **kwargs)
        return self


def _stop_hook(module: nn.Module, args: tuple, output: torch.Tensor | tuple) -> None:
    raise _Stop(output[0] if isinstance(output, tuple) else output)


def _decoder_layers(model: PreTrainedModel) -> nn.ModuleList:
    base = model.base_model
    for name in ("layers", "h", "blocks"):
        if isinstance(getattr(base, name, None), nn.ModuleList):
            return getattr(base, name)
    raise BenchError(f"cannot find the decoder layers of {type(model).__name__}")


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore left padding, as `generate` computes them."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


class LLMToSLM(nn.Module):
    """SLM + projector (+ prompt-side linear); the frozen LLM is attached, not owned (see FrozenLLM)."""

    def __init__(self, cfg: L2SConfig, slm: PreTrainedModel, slm_tokenizer: PreTrainedTokenizerBase,
                 llm: FrozenLLM | None):
        super().__init__()
        self.cfg, self.slm, self.slm_tokenizer, self.llm = cfg, slm, slm_tokenizer, llm
        self.is_seq2seq = bool(slm.config.is_encoder_decoder)
        d_slm = slm.get_input_embeddings().embedding_dim
        self.prompt_side = self._prompt_side(cfg, llm, slm_tokenizer)
        self.prompt_proj = nn.Linear(llm.dim, d_slm) if self.prompt_side == "llm" else None
        if cfg.conditioning != "none":
            d_llm = llm.model.config.d_model if llm.is_seq2seq else llm.model.config.hidden_size
            self.norm = FeatureNorm(d_llm, cfg.feature_clamp)
            self.projector = Projector(d_llm, cfg.d_proj or d_slm, d_slm)

    @staticmethod
    def _prompt_side(cfg: L2SConfig, llm: FrozenLLM | None, slm_tokenizer: PreTrainedTokenizerBase) -> str:
        if cfg.conditioning == "none":
            return "slm"  # the SLM baseline reads its own tokens
        if llm is None:
            raise ValueError("an L2S model with LLM conditioning needs its LLM")
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
        """The LLM encode's autocast dtype on this machine (`auto` resolved, see bench.machine)."""
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
        projected = self.projector(self.norm(features)).to(embeds.dtype)
        real = mask.unsqueeze(-1).bool()
        if self.cfg.conditioning == "add":
            return embeds + projected * real
        return torch.where(real, projected, embeds)

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                response_mask: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Mean cross-entropy over response tokens only. Prompts come left-padded, responses right-padded
        (ending in EOS); `features` may be precomputed (the on-disk cache) or are computed here."""
        if self.uses_llm and features is None:
            features = self.llm_features(prompt_ids, prompt_mask)
        prompt = self.prompt_embeds(prompt_ids, prompt_mask, features)
        labels = response_ids.masked_fill(~response_mask.bool(), -100)
        if self.is_seq2seq:
            return self.slm(inputs_embeds=prompt, attention_mask=prompt_mask, labels=labels).loss
        response = self.slm.get_input_embeddings()(response_ids)
        mask = torch.cat([prompt_mask, response_mask], 1)
        hidden = self.slm.base_model(inputs_embeds=torch.cat([prompt, response], 1), attention_mask=mask,
                                     position_ids=positions(mask), use_cache=False).last_hidden_state
        # Position t predicts token t+1: the last prompt position predicts the first response token.
        m = prompt_ids.shape[1]
        predictors = hidden[:, m - 1:-1][response_mask.bool()]  # logits only where a label exists
        logits = self.slm.get_output_embeddings()(predictors).float()
        return nn.functional.cross_entropy(logits, response_ids[response_mask.bool()])

    @torch.no_grad()
    def response_logits(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, response_ids: torch.Tensor,
                        response_mask: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, n, V_slm), fp32, predicting each given response token: the scores `forward`'s loss
        is computed from, at every position, for scoring fixed responses (lm-eval's loglikelihood).
        Same layout as `forward`: prompts left-padded, responses right-padded."""
        if self.uses_llm and features is None:
            features = self.llm_features(prompt_ids, prompt_mask)
        prompt = self.prompt_embeds(prompt_ids, prompt_mask, features)
        if self.is_seq2seq:
            labels = response_ids.masked_fill(~response_mask.bool(), -100)
            return self.slm(inputs_embeds=prompt, attention_mask=prompt_mask, labels=labels).logits.float()
        response = self.slm.get_input_embeddings()(response_ids)
        mask = torch.cat([prompt_mask, response_mask], 1)
        hidden = self.slm.base_model(inputs_embeds=torch.cat([prompt, response], 1), attention_mask=mask,
                                     position_ids=positions(mask), use_cache=False).last_hidden_state
        return self.slm.get_output_embeddings()(hidden[:, prompt_ids.shape[1] - 1:-1]).float()

    @torch.no_grad()
    def encode(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The once-per-prompt work (LLM encode + projector): the inputs `generate` starts from."""
        features = self.llm_features(prompt_ids, prompt_mask) if self.uses_llm else None
        return {"inputs_embeds": self.prompt_embeds(prompt_ids, prompt_mask, features),
                "attention_mask": prompt_mask}

    @torch.no_grad()
    def generate(self, encoded: dict[str, torch.Tensor], **generate_kwargs) -> torch.Tensor:
        """New token ids only (B, n), SLM vocabulary, through transformers `generate` with its KV cache."""
        tok = self.slm_tokenizer
        generate_kwargs.setdefault("pad_token_id", tok.pad_token_id if tok.pad_token_id is not None
                                   else tok.eos_token_id)
        generate_kwargs.setdefault("eos_token_id", tok.eos_token_id)
        out = self.slm.generate(**encoded, **generate_kwargs)
        return out[:, 1:] if self.is_seq2seq else out  # drop the decoder start token

    def to(self, *args, **kwargs) -> LLMToSLM:
        if self.llm is not None:
            self.llm.to(*args, **kwargs)
        return super().to(*args, **kwargs)
