"""Tiny random-init model pairs with real (small, trained-here) tokenizers, saved in Hugging Face layout,
so tests exercise the same loading code as real models, offline and in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

FIXTURES = Path(__file__).parent / "fixtures"

CORPUS = [
    "In the beginning God created the heaven and the earth.",
    "And the earth was without form, and void; and darkness was upon the face of the deep.",
    "And God said, Let there be light: and there was light.",
    "The quick brown fox jumps over the lazy dog.",
    "Define the word river: a large natural stream of water flowing in a channel.",
    "Rewrite this verse in modern English: Thou shalt not steal.",
    "You shall not steal. You shall not murder. Honor your father and your mother.",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def train_tokenizer(vocab_size: int, specials: list[str], eos: str, pad: str, **extra) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", *specials],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 5, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token=eos, pad_token=pad, **extra)


def _save(model, tokenizer, path: Path) -> str:
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict[str, str]:
    """Model sources: 'llama' (4 layers, chat template), 't5', 't5_slm', 'gpt2' (its own tokenizer)."""
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    llama_tok = train_tokenizer(400, ["<pad>", "<|end|>", "<|user|>", "<|assistant|>"], "<|end|>", "<pad>",
                                chat_template=CHAT_TEMPLATE)
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(llama_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=96, tie_word_embeddings=True,
        pad_token_id=llama_tok.pad_token_id, eos_token_id=llama_tok.eos_token_id, bos_token_id=None))
    t5_tok = train_tokenizer(300, ["<pad>", "</s>"], "</s>", "<pad>")
    t5_tok._tokenizer.post_processor = __import__("tokenizers").processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", t5_tok.convert_tokens_to_ids("</s>"))])

    def t5(layers: int, d: int) -> T5ForConditionalGeneration:
        return T5ForConditionalGeneration(T5Config(
            vocab_size=len(t5_tok), d_model=d, d_kv=8, d_ff=2 * d, num_layers=layers, num_heads=4,
            dropout_rate=0.0, pad_token_id=t5_tok.pad_token_id, eos_token_id=t5_tok.eos_token_id,
            decoder_start_token_id=t5_tok.pad_token_id))

    gpt2_tok = train_tokenizer(350, ["<|endoftext|>"], "<|endoftext|>", "<|endoftext|>")
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=len(gpt2_tok), n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                      bos_token_id=gpt2_tok.eos_token_id, eos_token_id=gpt2_tok.eos_token_id))
    return {
        "llama": _save(llama.eval(), llama_tok, root / "llama"),
        "t5": _save(t5(3, 48).eval(), t5_tok, root / "t5"),
        "t5_slm": _save(t5(1, 32).eval(), t5_tok, root / "t5_slm"),
        "gpt2": _save(gpt2.eval(), gpt2_tok, root / "gpt2"),
    }


@pytest.fixture(scope="session")
def pairs_jsonl(tmp_path_factory) -> Path:
    """A folder with train/valid JSONL splits of short real-looking (source, target) pairs."""
    root = tmp_path_factory.mktemp("pairs")
    rows = [{"id": f"p{i}", "source": CORPUS[i % len(CORPUS)], "target": CORPUS[(i + 1) % len(CORPUS)]}
            for i in range(40)]
    for split, part in (("train", rows[:32]), ("valid", rows[32:])):
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return root


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own feature/model cache, so no test sees another's files."""
    monkeypatch.setenv("L2S_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a busy 2-core machine: more than one torch thread only spins (50x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_tiny_task(root: Path, max_new_tokens: int, metrics=("chrf", "bleu")) -> Path:
    """A task YAML over the committed kjv-web fixture, for suites of the tiny models."""
    import yaml

    task = root / "tiny-kjv.yaml"
    task.write_text(yaml.safe_dump({
        "task": "tiny-kjv", "family": "translation", "dataset": {"path": str(FIXTURES / "kjv-web")},
        "prompts": {"decoder": "Rewrite in modern English: {source}"},
        "metrics": [{"name": m} for m in metrics], "generation": {"max_new_tokens": max_new_tokens}, "chat": True}))
    return task


def tiny_training(llm: str, task: Path, steps: int, **keys) -> dict:
    """A training config of the tiny llama's 1-layer SLM on that task (`keys`: system, out, ... on top)."""
    return {"llm": llm, "slm": {"init": "truncate", "layers": 1}, "l2s": {"llm_layer": 2},
            "data": {"task": str(task), "limit": 16, "valid_limit": 4},
            "train": {"steps": steps, "batch_size": 4, "save_every": 2, "warmup_steps": 1, "max_response_tokens": 16},
            **keys}
