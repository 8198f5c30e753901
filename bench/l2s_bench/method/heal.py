"""Heal a depth-pruned SLM so that it copies again; done once per (LLM, cut, recipe) and cached.

Why: every SLM cut from SmolLM2's layers had lost copying (`l2s_bench.method.copying`), and translation and
summarization need it. The field makes a small model from a large one by pruning, then healing it by
knowledge distillation from the unpruned model on generic text (Minitron, Sheared-LLaMA). Measured
here, distillation alone taught the cut the teacher's next-token distribution long before copying (300
steps: repeat loss 16.0 -> 14.5), and copy sequences alone left it at the uniform guess, so the recipe
mixes three kinds of rows in every batch:

* `distill`: generic text (the prepared data sets' *train* splits, never test), loss = KL(teacher || SLM)
  over the full vocabulary, the teacher being the whole LLM;
* `copy`: "Repeat this text exactly" with a text as the response (cross-entropy on the response);
* `repeat`: random token sequences said twice (cross-entropy on the second copy), plus, when
  `attention` > 0, a loss that points one head of the last layer at the token after the earlier
  occurrence of the current token: an induction head, the circuit copying rests on (supervised
  rather than waited for: the plateau before such heads form on their own outlasted our budgets).

The result is cached in `$L2S_BENCH_CACHE/slms/<key>/final` (key: LLM weights hash, cut, lens and
recipe), with `heal.json` holding the recipe, the copy diagnostic before and after, the curve and the
time it took on which machine. The SLM baseline and L2S load the same healed weights. Interrupted
healing resumes from its last checkpoint (optimizer, scheduler and step-seeded data: an exact resume).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from l2s_bench import machine
from l2s_bench.data import SPLITS, load_records, prepare
from l2s_bench.errors import BenchError
from l2s_bench.method import copying
from l2s_bench.files import recover_folder, replacing_folder, write_atomic
from l2s_bench.paths import cache_dir, cache_path, save_weights
from l2s_bench.tokens import pad_id

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclass
class HealSpec:
    steps: int = 0  # 0: no healing (the plain cut)
    batch_size: int = 16
    seq_len: int = 128  # distill rows: tokens of generic text
    copy_words: int = 40  # copy rows: words of the text to repeat
    repeat_len: list[int] = field(default_factory=lambda: [10, 40])  # repeat rows: random tokens, min..max
    mix: dict[str, float] = field(default_factory=lambda: {"distill": 0.25, "copy": 0.25, "repeat": 0.5})
    attention: float = 1.0  # weight of the induction-attention loss on repeat rows; 0 = off
    lr: float = 1e-3
    warmup_steps: int = 20
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    corpus: list[str] = field(default_factory=lambda: ["kjv-web", "debian-sum", "instruct-mix"])  # train splits
    diagnostic_texts: int = 48  # held-out texts (valid splits) for the copy diagnostic
    eval_every: int = 50
    save_every: int = 100
    autocast: str = "auto"
    seed: int = 0


def cache_key(llm_hash: str, layers: int, lens: bool, spec: HealSpec) -> str:
    text = json.dumps({"llm": llm_hash, "layers": layers, "lens": lens, "heal": dataclasses.asdict(spec),
                       "version": FORMAT_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def folder_for(llm_hash: str, layers: int, lens: bool, spec: HealSpec) -> Path:
    return cache_dir("slms", cache_key(llm_hash, layers, lens, spec))


def read_info(folder: Path) -> dict | None:
    info = recover_folder(folder / "final") / "heal.json"
    return json.loads(info.read_text()) if info.exists() else None


def load_healed(small: PreTrainedModel, folder: Path) -> dict:
    """Load the healed weights into `small` (the same cut, lens installed); returns heal.json."""
    info = read_info(folder)
    if info is None:
        raise BenchError(f"{folder} holds no finished healing")
    try:
        load_model(small, str(folder / "final" / "model.safetensors"), strict=True)
    except (RuntimeError, OSError, SafetensorError) as e:
        raise BenchError(f"corrupt healed SLM {folder}: {e}; delete the folder to heal again") from None
    return info


# ---------------------------------------------------------------- text

def corpus_texts(spec: HealSpec, split: str) -> list[str]:
    """Every `source` and `target` text of the corpus's `split`: registered data sets (prepared on first
    use) or folders of <split>.jsonl files."""
    if split == "test" or split not in SPLITS:
        raise BenchError(f"healing reads train/valid splits only, not '{split}'")
    texts: list[str] = []
    for name in spec.corpus:
        if not Path(name).exists() and not (cache_path("data", name) / f"{split}.jsonl").exists():
            log.info("healing corpus: preparing data set %s (first use)", name)
            prepare(name)
        for row in load_records(name, split):
            texts += [str(row[k]).strip() for k in ("source", "target") if str(row.get(k, "")).strip()]
    if not texts:
        raise BenchError(f"healing corpus {spec.corpus} [{split}] has no text")
    return texts


def diagnostic_texts(spec: HealSpec) -> list[str]:
    """Held-out texts (valid splits), spread over the corpus, cut to `copy_words` words."""
    texts = corpus_texts(spec, "valid")
    step = max(1, len(texts) // spec.diagnostic_texts)
    return [" ".join(t.split()[:spec.copy_words]) for t in texts[::step][:spec.diagnostic_texts]]


# ---------------------------------------------------------------- the three kinds of rows

class Rows:
    """Step-seeded batches: step s always gets the same rows, so a resumed run matches an uninterrupted one."""

    def __init__(self, spec: HealSpec, tokenizer, texts: list[str], vocab: int):
        self.spec, self.tok, self.texts, self.vocab = spec, tokenizer, texts, vocab
        total = sum(spec.mix.values())
        unknown = set(spec.mix) - {"distill", "copy", "repeat"}
        if unknown or total <= 0:
            raise BenchError(f"heal.mix needs weights for distill, copy, repeat (got {spec.mix})")
        counts = {k: int(round(spec.batch_size * spec.mix.get(k, 0) / total)) for k in ("copy", "repeat")}
        self.counts = {"distill": max(0, spec.batch_size - sum(counts.values())), **counts}
        self.pad = pad_id(tokenizer)

    def at(self, step: int) -> dict[str, tuple]:
        rng = random.Random(self.spec.seed * 1_000_003 + step)
        gen = torch.Generator().manual_seed(self.spec.seed * 1_000_003 + step)
        out = {}
        if self.counts["distill"]:
            items = []
            for _ in range(self.counts["distill"]):
                ids = self.tok(rng.choice(self.texts), add_special_tokens=False).input_ids[:self.spec.seq_len]
                items.append((ids, 0))
            out["distill"] = copying.pad_items(items, self.pad)
        if self.counts["copy"]:
            items = [copying.copy_item(self.tok, " ".join(rng.choice(self.texts).split()[:self.spec.copy_words]))
                     for _ in range(self.counts["copy"])]
            out["copy"] = copying.pad_items(items, self.pad)
        if self.counts["repeat"]:
            low, high = self.spec.repeat_len
            lengths = [rng.randint(low, high) for _ in range(self.counts["repeat"])]
            items = [copying.repeat_item(self.tok, copying.random_tokens(self.vocab, n, gen)) for n in lengths]
            out["repeat"] = (*copying.pad_items(items, self.pad), lengths)
        return out


def induction_targets(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row, query, key) positions in BOS + s + s: query n+k (token s_k again) -> key k+1 (what followed it)."""
    rows, queries, keys = [], [], []
    for row, n in enumerate(lengths):
        for k in range(1, n):
            rows.append(row), queries.append(n + k), keys.append(k + 1)
    return torch.tensor(rows), torch.tensor(queries), torch.tensor(keys)


def induction_scores(model: PreTrainedModel, batch: tuple) -> torch.Tensor:
    """Mean attention of each last-layer head from query to induction target (eager attention only)."""
    ids, mask, _, lengths = batch
    attentions = model.base_model(input_ids=ids, attention_mask=mask, output_attentions=True,
                                  use_cache=False).attentions[-1]
    rows, queries, keys = induction_targets(lengths)
    return attentions[rows, :, queries, keys].float().mean(0)


# ---------------------------------------------------------------- losses

def batch_losses(student: PreTrainedModel, teacher: PreTrainedModel, rows: dict, head: int | None,
                 spec: HealSpec) -> dict[str, torch.Tensor]:
    """Per-kind losses of one batch, unweighted (see `total_loss`)."""
    losses = {}
    if "distill" in rows:
        ids, mask, labels = rows["distill"]
        where = labels[:, 1:] != -100
        with torch.no_grad():
            target = teacher(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1][where].float()
        hidden = student.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state[:, :-1]
        logits = student.get_output_embeddings()(hidden[where]).float()
        kl = nn.functional.kl_div(logits.log_softmax(-1), target.log_softmax(-1), log_target=True, reduction="batchmean")
        losses["distill"] = kl
    if "copy" in rows:
        losses["copy"] = copying.lm_loss(student, *rows["copy"])
    if "repeat" in rows:
        ids, mask, labels, lengths = rows["repeat"]
        out = student.base_model(input_ids=ids, attention_mask=mask, output_attentions=head is not None,
                                 use_cache=False)
        where = labels[:, 1:] != -100
        logits = student.get_output_embeddings()(out.last_hidden_state[:, :-1][where]).float()
        losses["repeat"] = nn.functional.cross_entropy(logits, labels[:, 1:][where])
        if head is not None:
            r, q, k = induction_targets(lengths)
            attention = out.attentions[-1][r, head, q, k].float()
            losses["attention"] = -attention.clamp_min(1e-6).log().mean()
    return losses


def total_loss(losses: dict[str, torch.Tensor], rows: dict, spec: HealSpec) -> torch.Tensor:
    """Each kind weighted by its share of the batch's rows (so the three make a mean over rows), plus
    the attention loss weighted by `spec.attention`."""
    total = sum(len(batch[0]) for batch in rows.values())
    return sum(spec.attention * loss if kind == "attention" else loss * len(rows[kind][0]) / total
               for kind, loss in losses.items())


# ---------------------------------------------------------------- the run

def heal(small: PreTrainedModel, teacher: PreTrainedModel, tokenizer, spec: HealSpec, folder: Path,
         info: dict) -> dict:
    """Heal `small` in place (resuming from `folder` when interrupted); write `folder/final`; return heal.json."""
    device = next(small.parameters()).device.type
    autocast = machine.resolve_dtype(spec.autocast, device)
    texts = corpus_texts(spec, "train")
    held_out = diagnostic_texts(spec)
    vocab = small.get_output_embeddings().weight.shape[0]
    rows = Rows(spec, tokenizer, texts, vocab)
    before = copying.diagnose(small, tokenizer, held_out, autocast)
    log.info("healing %s: copy diagnostic before %s", folder.name, before)
    attn_impl = small.config._attn_implementation
    supervised = spec.attention > 0 and rows.counts["repeat"] > 0
    if supervised:
        small.set_attn_implementation("eager")  # attention weights are returned by eager attention only
    params = [p for p in small.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec.lr, betas=(0.9, 0.98), weight_decay=spec.weight_decay)

    def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 10%
        if step < spec.warmup_steps:
            return (step + 1) / spec.warmup_steps
        progress = (step - spec.warmup_steps) / max(1, spec.steps - spec.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    step, curve, seconds, head = _restore(folder, small, opt, sched)
    if step == 0:
        curve = [{"step": 0, **{k: before[k] for k in ("copy_source", "repeat")}}]
        if supervised:  # the head that already looks most like an induction head
            with torch.no_grad():
                scores = induction_scores(small, rows.at(-1)["repeat"])
            head = int(scores.argmax())
            log.info("healing: supervising last-layer head %d (induction scores %s)", head,
                     [round(float(s), 3) for s in scores])
    small.train()
    bar = tqdm(total=spec.steps, initial=step, desc="heal SLM", unit="step")
    started = time.perf_counter() - seconds
    tokens = 0
    with open(folder / "log.jsonl", "a") as logf:
        while step < spec.steps:
            batch = rows.at(step)
            with torch.autocast(device, dtype=getattr(torch, autocast), enabled=autocast != "float32"):
                losses = batch_losses(small, teacher, batch, head, spec)
            total_loss(losses, batch, spec).backward()
            nn.utils.clip_grad_norm_(params, spec.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            tokens += sum(int(b[1].sum()) for b in batch.values())
            record = {"step": step, **{k: round(v.item(), 4) for k, v in losses.items()},
                      "lr": sched.get_last_lr()[0], "seconds": round(time.perf_counter() - started, 1)}
            if step % spec.eval_every == 0 or step == spec.steps:
                diag = copying.diagnose(small, tokenizer, held_out, autocast)
                point = {"step": step, "copy_source": diag["copy_source"], "repeat": diag["repeat"],
                         "seconds": record["seconds"]}
                curve.append(point)
                record.update(diagnostic={k: point[k] for k in ("copy_source", "repeat")})
                bar.set_postfix(copy=diag["copy_source"], repeat=diag["repeat"])
            logf.write(json.dumps(record) + "\n")
            logf.flush()
            bar.update(1)
            if step % spec.save_every == 0 and step < spec.steps:
                _save_state(folder, step, small, opt, sched, curve, time.perf_counter() - started, head)
    bar.close()
    small.set_attn_implementation(attn_impl)
    small.eval()
    after = copying.diagnose(small, tokenizer, held_out, autocast)
    elapsed = time.perf_counter() - started
    result = {**info, "recipe": dataclasses.asdict(spec), "induction_head": head, "autocast": autocast,
              "copying": {"before": before, "after": after}, "curve": curve,
              "seconds": round(elapsed, 1), "steps": step, "machine": machine.capability(device),
              "tokens_per_s_last_sitting": round(tokens / max(elapsed - seconds, 1e-9), 1)}
    _finish(folder, small, result)
    return result


def _save_state(folder: Path, step: int, model: nn.Module, opt, sched, curve: list, seconds: float,
                head: int | None) -> None:
    with replacing_folder(folder / "checkpoint") as tmp:
        save_weights(model, tmp / "model.safetensors")
        torch.save({"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "curve": curve,
                    "seconds": seconds, "head": head}, tmp / "trainer.pt")


def _restore(folder: Path, model: nn.Module, opt, sched) -> tuple[int, list, float, int | None]:
    state_dir = recover_folder(folder / "checkpoint")
    if not (state_dir / "trainer.pt").exists():
        (folder / "log.jsonl").unlink(missing_ok=True)
        return 0, [], 0.0, None
    load_model(model, str(state_dir / "model.safetensors"), strict=True)
    state = torch.load(state_dir / "trainer.pt", weights_only=True)
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    step = int(state["step"])
    log_file = folder / "log.jsonl"
    if log_file.exists():  # drop lines past the checkpoint: those steps run again
        kept = [line for line in log_file.read_text().splitlines() if json.loads(line)["step"] <= step]
        write_atomic(log_file, "".join(line + "\n" for line in kept))
    log.info("healing resumed at step %d", step)
    return step, state["curve"], float(state["seconds"]), state["head"]


def _finish(folder: Path, model: nn.Module, result: dict) -> None:
    with replacing_folder(folder / "final") as partial:
        save_weights(model, partial / "model.safetensors")
        (partial / "heal.json").write_text(json.dumps(result, indent=2))
    shutil.rmtree(folder / "checkpoint", ignore_errors=True)

