"""A task-tuned LLM (a suite's `llm-ft`: the LLM with its LoRA adapters merged) as a plain model source.

The paper's frozen LLM could already do its tasks (T5, multi-task trained on WMT and CNN/DM); ours, the
zero-shot SmolLM2, cannot. Exporting the tuned LLM once as a Hugging Face folder lets everything that
takes an LLM *source* take it instead: L2S reads its features (`l2s.llm`), speculative decoding and
prompt lookup speed it up, and the small models learn from its labels (`teacher`). Its source is
`tuned:<first 16 hex digits of the checkpoint's weights sha256>` (`l2s_bench.method.pretrained`): content
addressed, so a config hash that names it is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

from l2s_bench.errors import BenchError
from l2s_bench.files import recover_folder, replacing_folder
from l2s_bench.method import checkpoint
from l2s_bench.method.pretrained import TUNED, tuned_dir


def source_of(final: str | Path) -> str:
    """The `tuned:` source of a finished llm-lora checkpoint, without exporting it."""
    meta = checkpoint.read_meta(final)
    system = meta.get("trainer", {}).get("system")
    if system != "llm-lora":
        raise BenchError(f"{final} is a '{system}' checkpoint; a tuned LLM comes from an llm-ft (llm-lora) training")
    return TUNED + meta["weights_sha256"][:16]


def export(final: str | Path) -> str:
    """Export a finished llm-lora checkpoint (LoRA merged) once to the model cache; returns its source."""
    source = source_of(final)
    target = recover_folder(tuned_dir(source))
    if (target / "config.json").exists():
        return source
    model = checkpoint.load(final)  # merges the adapters into the base weights
    if checkpoint.read_meta(final)["slm"]["lens"]:
        raise BenchError(f"{final}: a model with a fitted lens is no plain Hugging Face model to export")
    with replacing_folder(target) as partial:
        model.slm.save_pretrained(partial)
        model.slm_tokenizer.save_pretrained(partial)
    return source
