"""Build the small model (SLM): truncate a pretrained decoder, start from a random config, or load one.

`truncate` keeps the LLM's embeddings, first `layers` blocks, final norm and tied head. Measured on
SmolLM2: with the final norm alone such a model starts at loss 18-24, because the norm and head expect
the last layer's residual scale; a linear *lens* fitted by least squares between the final norm and the
head (so that it maps layer-k states onto the full model's normed output) starts it at 5-6.6, which
a short CPU budget cannot afford to waste. The lens is part of the SLM and is trained with it.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, PreTrainedModel

from l2s_bench.errors import BenchError
from l2s_bench.method import heal, pretrained
from l2s_bench.method.heal import HealSpec

log = logging.getLogger(__name__)


@dataclass
class SLMSpec:
    init: Literal["truncate", "config", "pretrained"] = "truncate"
    layers: int = 4  # truncate: how many of the LLM's first layers to keep
    lens: bool = True  # truncate: fit a linear map between final norm and head
    source: str | None = None  # pretrained: model source
    config: dict = field(default_factory=dict)  # config: a transformers config (model_type + fields)
    tokenizer: str | None = None  # config: a tokenizer directory; None = the LLM's tokenizer
    freeze_embeddings: bool = True  # keeps the (large, tied) embedding fixed; 1.5x faster on CPU
    lora_r: int = 0  # pretrained: > 0 trains LoRA adapters (peft) instead of all weights
    lora_alpha: int = 16
    seed: int = 0
    heal: HealSpec = field(default_factory=HealSpec)  # truncate: distill + copy curriculum, cached (l2s_bench.method.heal)


class LensNorm(nn.Module):
    """The final norm followed by the fitted lens; replaces the base model's `norm`."""

    def __init__(self, norm: nn.Module, dim: int):
        super().__init__()
        self.norm = norm
        self.lens = nn.Linear(dim, dim)
        with torch.no_grad():
            self.lens.weight.copy_(torch.eye(dim))
            self.lens.bias.zero_()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lens(self.norm(hidden))


def install_lens(model: PreTrainedModel) -> LensNorm:
    base = model.base_model
    if not isinstance(getattr(base, "norm", None), nn.Module) or isinstance(base.norm, LensNorm):
        raise BenchError(f"cannot add a lens to {type(model).__name__}: no plain final `norm`")
    base.norm = LensNorm(base.norm, model.config.hidden_size)
    return base.norm


def build(spec: SLMSpec, llm: pretrained.Pretrained, fit_texts: list[str]):
    """(model, tokenizer) for the SLM; `fit_texts` feed the lens fit of `truncate`."""
    torch.manual_seed(spec.seed)
    if spec.init == "pretrained":
        if not spec.source:
            raise BenchError("slm.init 'pretrained' needs slm.source")
        loaded = pretrained.load(spec.source)
        model, tokenizer = loaded.model, loaded.tokenizer
        if spec.lora_r:
            model = add_lora(model, spec.lora_r, spec.lora_alpha)
    elif spec.init == "config":
        if "model_type" not in spec.config:
            raise BenchError("slm.init 'config' needs slm.config.model_type")
        fields = dict(spec.config)
        config = AutoConfig.for_model(fields.pop("model_type"), **fields)
        auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
        model = auto.from_config(config)
        tokenizer = AutoTokenizer.from_pretrained(spec.tokenizer) if spec.tokenizer else llm.tokenizer
    elif spec.heal.steps:
        model, tokenizer = healed(spec, llm), llm.tokenizer
    else:
        model, tokenizer = truncate(llm.model, spec.layers), llm.tokenizer
        if spec.lens:
            fit_lens(model, llm.model, llm.tokenizer, fit_texts)
    if spec.freeze_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    model.train()
    return model, tokenizer


def build_info(spec: SLMSpec, llm: pretrained.Pretrained) -> dict | None:
    """How a healed SLM was made (heal.json without its curve), for the checkpoints built on it."""
    if spec.init != "truncate" or not spec.heal.steps:
        return None
    folder = heal.folder_for(llm.hash, spec.layers, spec.lens, spec.heal)
    info = heal.read_info(folder) or {}
    return {"cache": folder.name, **{k: v for k, v in info.items() if k != "curve"}}


def healed(spec: SLMSpec, llm: pretrained.Pretrained) -> PreTrainedModel:
    """The cut with its healed weights: loaded from the cache, or healed first (once, resumable).
    The lens is fitted on the healing corpus, not on a task, so every task starts from the same SLM."""
    folder = heal.folder_for(llm.hash, spec.layers, spec.lens, spec.heal)
    model = truncate(llm.model, spec.layers)
    if heal.read_info(folder) is not None:
        if spec.lens:
            install_lens(model)
        heal.load_healed(model, folder)
        return model
    log.info("healing the %d-layer SLM once (cached in %s; resumable)", spec.layers, folder)
    if spec.lens:
        fit_lens(model, llm.model, llm.tokenizer, heal.corpus_texts(spec.heal, "train")[:512])
    model.get_input_embeddings().requires_grad_(not spec.freeze_embeddings)
    info = {"llm": {"source": llm.source, "sha256": llm.hash}, "layers": spec.layers, "lens": spec.lens,
            "params_non_embedding": sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()}
    heal.heal(model, llm.model, llm.tokenizer, spec.heal, folder, info)
    return model


def add_lora(model: PreTrainedModel, r: int, alpha: int) -> PreTrainedModel:
    """LoRA on every linear layer but the head; only the adapters train. The settings go into the
    model config, so a checkpoint rebuilds the same layout before loading its weights."""
    from peft import LoraConfig, get_peft_model

    model.requires_grad_(False)
    with warnings.catch_warnings():  # peft reads transformers' deprecated `is_gradient_checkpointing`: their
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)  # matter
        model = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules="all-linear",
                                                 lora_dropout=0.0)).get_base_model()
    model.config.l2s_lora = {"r": r, "alpha": alpha}
    return model


def merge_lora(model: PreTrainedModel) -> None:
    """Fold the adapters into the base weights in place, so inference runs at the plain model's speed."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent), child, module.get_base_layer())
    del model.config.l2s_lora


def truncate(model: PreTrainedModel, layers: int) -> PreTrainedModel:
    """A deep copy of a decoder-only model with only its first `layers` blocks."""
    if model.config.is_encoder_decoder or not isinstance(getattr(model.base_model, "layers", None), nn.ModuleList):
        raise BenchError(f"slm.init 'truncate' needs a decoder-only model with `layers`, got {type(model).__name__}")
    total = len(model.base_model.layers)
    if not 1 <= layers < total:
        raise BenchError(f"slm.layers must be in 1..{total - 1} to truncate a {total}-layer model, got {layers}")
    small = copy.deepcopy(model).requires_grad_(True)  # the source may be a FrozenLLM's model
    small.base_model.layers = small.base_model.layers[:layers]
    small.config.num_hidden_layers = layers
    if getattr(small.config, "layer_types", None):
        small.config.layer_types = small.config.layer_types[:layers]
    return small


@torch.no_grad()
def fit_lens(small: PreTrainedModel, full: PreTrainedModel, tokenizer, texts: list[str],
             max_tokens: int = 8192, ridge: float = 1e-2) -> None:
    """Fit the lens so that lens(norm(h_k)) ~ norm(h_L) (ridge least squares over real text tokens)."""
    lens = install_lens(small)
    xs, ys, n = [], [], 0
    for text in texts:
        ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=256).input_ids
        x = small.base_model(input_ids=ids, use_cache=False).last_hidden_state[0]  # lens is still identity
        y = full.base_model(input_ids=ids, use_cache=False).last_hidden_state[0]
        xs.append(x[1:]), ys.append(y[1:])  # position 0 carries outlier activations
        n += len(x) - 1
        if n >= max_tokens:
            break
    if n < small.config.hidden_size:
        raise BenchError(f"fitting the lens needs at least {small.config.hidden_size} tokens of text, got {n}")
    x = torch.cat(xs).double()
    y = torch.cat(ys).double()
    x1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    gram = x1.T @ x1 + ridge * len(x1) * torch.eye(x1.shape[1], dtype=x.dtype)
    solution = torch.linalg.solve(gram, x1.T @ y)  # (d + 1, d)
    lens.lens.weight.copy_(solution[:-1].T.float())
    lens.lens.bias.copy_(solution[-1].float())
    log.info("lens fitted on %d tokens; relative residual %.3f", n,
             float((x1 @ solution - y).norm() / y.norm()))
