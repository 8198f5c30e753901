"""Save and load a trained LLM-to-SLM system (or SLM baseline) without ever copying the LLM's weights.

A checkpoint is a folder:
    l2s.json           format version, L2SConfig, the LLM's source + weights sha256, SLM layout, sha256 of
                       model.safetensors, and whatever metadata the trainer adds
    model.safetensors  SLM + projector + feature statistics (+ prompt-side linear)
    slm/               the SLM's transformers config and tokenizer
Loading re-attaches the LLM from its source and refuses one whose weights hash differs, and refuses a
checkpoint whose weights do not match the recorded sha256 (truncated copy, bit rot, hand edits).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from l2s_bench.errors import BenchError
from l2s_bench.files import recover_folder, replacing, replacing_folder
from l2s_bench.method import pretrained
from l2s_bench.method.l2s import FrozenLLM, L2SConfig, LLMToSLM
from l2s_bench.method.slm import LensNorm, add_lora, install_lens, merge_lora
from l2s_bench.paths import save_weights

FORMAT = "l2s-bench-checkpoint"
VERSION = 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model: LLMToSLM, path: str | Path, extra: dict | None = None) -> Path:
    """Write a checkpoint folder through `files.replacing_folder`: a crash never leaves half of one, and
    an old checkpoint at `path` is kept until the new one is in place."""
    path = Path(path)
    with replacing_folder(path) as partial:
        (partial / "slm").mkdir()
        save_weights(model, partial / "model.safetensors")
        model.slm.config.save_pretrained(partial / "slm")
        model.slm_tokenizer.save_pretrained(partial / "slm")
        llm = model.llm
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "l2s": asdict(model.cfg),
            "llm": None if not model.uses_llm else {"source": llm.source, "sha256": llm.hash, "layer": llm.layer},
            "slm": {"lens": isinstance(getattr(model.slm.base_model, "norm", None), LensNorm)},
            "weights_sha256": file_sha256(partial / "model.safetensors"),
            **(extra or {}),
        }
        (partial / "l2s.json").write_text(json.dumps(meta, indent=2))
    return path


def read_meta(path: str | Path) -> dict:
    recover_folder(path)
    meta_file = Path(path) / "l2s.json"
    if not meta_file.exists():
        raise BenchError(f"{path} is not an l2s-bench checkpoint (no l2s.json)")
    try:
        meta = json.loads(meta_file.read_text())
    except json.JSONDecodeError as e:
        raise BenchError(f"corrupt checkpoint {path}: l2s.json is not valid JSON ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BenchError(f"{path}: unsupported checkpoint format {meta.get('format')!r} v{meta.get('version')!r}")
    return meta


def load(path: str | Path, llm: pretrained.Pretrained | None = None) -> LLMToSLM:
    """The saved system in eval mode. `llm` may be passed when already loaded; it is hash-checked too."""
    path = Path(path)
    meta = read_meta(path)
    weights = path / "model.safetensors"
    if not weights.exists() or file_sha256(weights) != meta["weights_sha256"]:
        raise BenchError(f"corrupt checkpoint {path}: model.safetensors is missing or does not match its sha256")
    cfg = L2SConfig(**meta["l2s"])
    frozen = None
    if meta["llm"] is not None:
        llm = llm or pretrained.load(meta["llm"]["source"])
        if llm.hash != meta["llm"]["sha256"]:
            raise BenchError(
                f"{path} was trained against LLM weights {meta['llm']['sha256'][:16]}… ({meta['llm']['source']}), "
                f"but the LLM given has {llm.hash[:16]}… ({llm.source}); load it with the LLM it was trained on"
            )
        frozen = FrozenLLM(llm.model, llm.tokenizer, llm.source, llm.hash, meta["llm"]["layer"])
    config = AutoConfig.from_pretrained(path / "slm")
    auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
    slm = auto.from_config(config)
    if meta["slm"]["lens"]:
        install_lens(slm)
    lora = getattr(config, "l2s_lora", None)
    if lora:
        slm = add_lora(slm, lora["r"], lora["alpha"])
    model = LLMToSLM(cfg, slm, AutoTokenizer.from_pretrained(path / "slm"), frozen)
    try:
        load_model(model, str(weights), strict=True)
    except (RuntimeError, OSError, SafetensorError) as e:
        raise BenchError(f"corrupt checkpoint {path}: {e}") from None
    if lora:
        merge_lora(slm)
    return model.eval()


# ---------------------------------------------------------------- training state (optimizer, schedule, RNG)

def latest(run_dir: Path) -> Path | None:
    found = sorted((p for p in run_dir.glob("checkpoint-*[0-9]") if (p / "trainer.pt").exists()), key=lambda p: int(p.name.split("-")[1]))
    return found[-1] if found else None


def save_training_state(run_dir: Path, step: int, tokens_seen: int, model: LLMToSLM, opt, sched, meta: dict) -> None:
    path = save(model, run_dir / f"checkpoint-{step}", {"trainer": meta})
    state = {"step": step, "tokens_seen": tokens_seen, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "rng": torch.get_rng_state()}
    with replacing(path / "trainer.pt") as tmp:  # a checkpoint counts only once this exists
        torch.save(state, tmp)
    for old in run_dir.glob("checkpoint-*[0-9]"):
        if old != path:
            shutil.rmtree(old)


def restore_training_state(path: Path, model: LLMToSLM, opt, sched) -> tuple[int, int | None]:
    """(step, tokens_seen) of a training checkpoint, its state loaded; tokens_seen is None in
    checkpoints written before it was saved."""
    read_meta(path)
    load_model(model, str(path / "model.safetensors"), strict=True)
    state = torch.load(path / "trainer.pt", weights_only=True)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return int(state["step"]), state.get("tokens_seen")
