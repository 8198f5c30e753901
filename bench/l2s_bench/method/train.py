"""`l2s-bench train CONFIG.yaml`: fine-tune SLM + projector with the LLM frozen, or the SLM baseline.

One code path for both systems: `system: slm` only switches conditioning off, so the baseline sees
the same data, steps, batches and optimizer (the comparison the method's claim rests on). LLM features
are cached on disk once; the loss is on response tokens only; checkpoints every `save_every` steps
carry optimizer, scheduler and RNG state, so `--resume` continues exactly where a run stopped.
An optional `curve` hook hands the in-memory model to a callback every few steps (learning curves
without a checkpoint on disk per point; see `l2s_bench.runner.curves`) and cannot change what is trained.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tqdm.auto import tqdm

from l2s_bench import folder_lock, machine, parallel
from l2s_bench.config import config_hash, from_dict, load_yaml
from l2s_bench.data import load_records, subsample
from l2s_bench.errors import BenchError, did_you_mean
from l2s_bench.files import write_atomic
from l2s_bench.method import checkpoint, copying, heal, pretrained, slm, teacher
from l2s_bench.method.features import cached_features
from l2s_bench.method.l2s import FrozenLLM, L2SConfig, LLMToSLM
from l2s_bench.models.base import render_prompt, tokenize_prompts
from l2s_bench.tasks import get_task
from l2s_bench.tokens import left_pad, pad_id, right_pad

log = logging.getLogger(__name__)
CurveCallback = Callable[[int, int, LLMToSLM], None]  # (optimizer steps done, tokens seen, the model)


@dataclass
class DataSpec:
    task: str | None = None  # a task (tasks/*.yaml): its data, "decoder" prompt, reference and chat setting
    source: str | None = None  # or a prepared data set name, a folder of split files, or a JSONL file
    data_dir: str | None = None  # with task: read its <split>.jsonl files from here instead
    split: str = "train"
    limit: int | None = None
    prompt: str = "{source}"  # str.format template over a record's fields
    response: str = "{target}"
    chat: bool = True  # wrap the prompt in the LLM tokenizer's chat template
    max_words: int | None = None  # drop items whose prompt or response text is longer (short items learn faster)
    valid_split: str | None = "valid"
    valid_limit: int = 64
    seed: int = 0  # which records `limit` samples
    # more tasks trained in the same run, each with its own data settings: a multi-task model (one tuned LLM
    # for every task of a suite, as the paper's T5 was); batches draw from all, in proportion to their sizes
    mix: list[DataSpec] = field(default_factory=list)

    def parts(self) -> list[DataSpec]:
        """This spec and the specs it mixes in, in order."""
        return [self, *self.mix]


@dataclass
class OptimSpec:
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-4  # SLM
    projector_lr: float = 1e-3  # projector and prompt-side linear, which start from scratch
    warmup_steps: int = 30
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0
    save_every: int = 100
    max_prompt_tokens: int = 256
    max_response_tokens: int = 96
    copy_rows: int = 0  # per step, rows besides the task's batch that repeat a text of the healing corpus (train split)
    threads: int | None = None  # torch CPU threads, set explicitly; None = the process's (a suite's --threads, else torch's default)
    autocast: Literal["auto", "float32", "bfloat16"] = "auto"  # SLM forward/backward; auto: bf16 where native
    device: str = "cpu"  # "cuda" on a GPU machine


@dataclass
class TrainConfig:
    system: Literal["l2s", "slm", "llm-lora"]  # llm-lora: the LLM baseline fine-tuned with LoRA (peft)
    out: str  # run folder: checkpoints, log.jsonl, final/
    data: DataSpec
    llm: str = "smollm2-135m-instruct"
    slm: slm.SLMSpec = field(default_factory=slm.SLMSpec)
    l2s: L2SConfig = field(default_factory=L2SConfig)
    train: OptimSpec = field(default_factory=OptimSpec)
    teacher: teacher.TeacherSpec = field(default_factory=teacher.TeacherSpec)  # the LLM's labels (l2s_bench.method.teacher)


# A trained role -> the system `train` builds for it. A config may leave `system` and `out` to the role that
# runs it (`role_defaults`), so one file per task serves its SLM, L2S and fine-tuned LLM alike.
ROLE_SYSTEMS = {"slm": "slm", "l2s": "l2s", "llm-ft": "llm-lora"}


def role_defaults(path: str | Path, role: str, name: str | None = None, overrides: dict | None = None,
                  task: str | None = None) -> dict:
    """`system` (the role's) and `out` (`runs/<task>/<name or role>`; a config that mixes several tasks,
    `runs/<config stem>/<name or role>` whatever task asks, so it trains once) where the config and overrides
    leave them out, as overrides to merge underneath the caller's. Where they are set nothing is added, so a
    config that names them hashes as before."""
    if role not in ROLE_SYSTEMS:
        raise BenchError(f"role '{role}' is not trained{did_you_mean(role, ROLE_SYSTEMS)} "
                         f"(trained roles: {', '.join(ROLE_SYSTEMS)})")
    raw = load_yaml(path, overrides)
    filled: dict = {}
    if "system" not in raw:
        filled["system"] = ROLE_SYSTEMS[role]
    if "out" not in raw:
        data = raw.get("data") or {}
        if data.get("mix"):  # a multi-task model: one training for every task of a suite, named for its config
            task = Path(path).stem
        else:
            task = task or Path(str(data.get("task") or data.get("source") or path)).stem  # a task YAML's path: its stem
        filled["out"] = f"runs/{task}/{name or role}"
    return filled


def load_config(path: str | Path, overrides: dict | None = None) -> tuple[TrainConfig, dict]:
    raw = load_yaml(path, overrides)
    if "system" not in raw:
        raise BenchError(f"{path} names no `system`: a suite fills it from the system's role; to train it "
                         f"alone, pass --role ({', '.join(ROLE_SYSTEMS)})")
    cfg = from_dict(TrainConfig, raw, str(path))
    for k, spec in enumerate(cfg.data.parts()):
        where = f"{path}: data" + (f".mix[{k - 1}]" if k else "")
        if (spec.task is None) == (spec.source is None):
            raise BenchError(f"{where} needs exactly one of task, source")
        if k and spec.mix:
            raise BenchError(f"{where}.mix: a mixed-in data spec mixes in nothing itself")
        if spec.task:  # train on exactly what the task evaluates: its prompt, reference and rendering
            task = get_task(spec.task)
            spec.prompt, spec.response, spec.chat = task.prompts.get("decoder", "{source}"), "{reference}", task.chat
    if cfg.train.copy_rows < 0:
        raise BenchError(f"{path}: train.copy_rows must be >= 0, got {cfg.train.copy_rows}")
    teacher.check(cfg.teacher, str(path))
    if cfg.teacher.used and cfg.system == "llm-lora":
        raise BenchError(f"{path}: the fine-tuned LLM is the teacher; it learns from the references")
    if cfg.system == "llm-lora":
        cfg.slm = dataclasses.replace(cfg.slm, init="pretrained", source=cfg.slm.source or cfg.llm,
                                      lora_r=cfg.slm.lora_r or 8, freeze_embeddings=False)
    if cfg.system in ("slm", "llm-lora"):
        cfg.l2s.conditioning = "none"
    elif cfg.l2s.conditioning == "none":
        raise BenchError(f"{path}: system 'l2s' needs l2s.conditioning 'add' or 'replace'")
    return cfg, raw


def finished(config_path: str | Path, out: str | None = None, overrides: dict | None = None) -> Path | None:
    """The final checkpoint of this exact config, if it was trained; a finished run of another config
    in the same folder is an error (it would be silently mixed up)."""
    cfg, raw = load_config(config_path, overrides)
    done = Path(out or cfg.out) / "final" / "l2s.json"
    if not done.exists():
        return None
    if json.loads(done.read_text()).get("trainer", {}).get("config_hash") != config_hash(raw):
        raise BenchError(f"{done.parent.parent} holds a finished run of a different config; choose another out")
    return done.parent


@dataclass
class Batch:
    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor
    features: torch.Tensor | None

    def to(self, device: str) -> Batch:
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return Batch(**{k: v.to(device) if v is not None else None for k, v in moved.items()})


class Examples:
    """Tokenized (prompt, response) pairs with their cached LLM features."""

    def __init__(self, model: LLMToSLM, records: list[dict], spec: DataSpec, optim: OptimSpec):
        tok = model.prompt_tokenizer
        prompts, responses = render_records(spec, records)
        prompts = [render_prompt(tok, p, spec.chat) for p in prompts]
        limit = model.prompt_budget(optim.max_prompt_tokens, optim.max_response_tokens)
        self.prompts, cut = tokenize_prompts(tok, prompts, limit, spec.chat)
        self.truncated = sum(cut)
        self.out_tok, self.max_response_tokens = model.slm_tokenizer, optim.max_response_tokens
        self.responses = self.tokenize_responses(responses)
        self.features = cached_features(model, self.prompts) if model.uses_llm else None
        self.pad, self.response_pad = pad_id(tok), pad_id(self.out_tok)

    def __len__(self) -> int:
        return len(self.prompts)

    def tokenize_responses(self, texts: list[str]) -> list[list[int]]:
        """Response ids, ending in EOS; a response cut at the limit gets none (it would teach stopping
        mid-sentence)."""
        limit, eos = self.max_response_tokens, self.out_tok.eos_token_id
        return [ids[:limit] if len(ids) >= limit else ids + [eos]
                for ids in self.out_tok(texts, add_special_tokens=False).input_ids]

    def extend(self, other: Examples) -> range:
        """Append another set's examples; returns their indices here."""
        first = len(self)
        self.prompts, self.responses = self.prompts + other.prompts, self.responses + other.responses
        self.truncated += other.truncated
        if self.features is not None:
            self.features = self.features + other.features
        return range(first, len(self))

    def batch(self, indices: list[int]) -> Batch:
        prompt_ids, prompt_mask = left_pad([self.prompts[i] for i in indices], self.pad)
        response_ids, response_mask = right_pad([self.responses[i] for i in indices], self.response_pad)
        features = None
        if self.features is not None:
            per_token = self.features[indices[0]].shape[1:]  # (d,), or (k, d) for fused layers
            features = torch.zeros(len(indices), prompt_ids.shape[1], *per_token)
            for row, i in enumerate(indices):
                features[row, prompt_ids.shape[1] - len(self.prompts[i]):] = self.features[i].float()
        return Batch(prompt_ids, prompt_mask, response_ids, response_mask, features)


def mixed_examples(model: LLMToSLM, specs: list[DataSpec], parts: list[list[dict]], optim: OptimSpec,
                   used: list[int] | None = None) -> Examples:
    """The examples of several data specs in one set, in the order of their records laid end to end
    (`parts[0]`, then `parts[1]`, ...), each rendered by its own spec; `used`: only these indices of that
    concatenation (sorted), else all."""
    combined, start = None, 0
    for spec, part in zip(specs, parts):
        keep = range(len(part)) if used is None else [i - start for i in used if start <= i < start + len(part)]
        start += len(part)
        if not keep:
            continue
        chunk = Examples(model, [part[i] for i in keep], spec, optim)
        if combined is None:
            combined = chunk
        else:
            combined.extend(chunk)
    if combined is None:
        raise BenchError("no training examples: every data spec selected nothing")
    return combined


def render_records(spec: DataSpec, records: list[dict]) -> tuple[list[str], list[str]]:
    """(prompt texts, response texts) from the data templates."""
    try:
        return [spec.prompt.format_map(r) for r in records], [spec.response.format_map(r) for r in records]
    except KeyError as e:
        raise BenchError(f"data template names field {e} that the records of '{spec.task or spec.source}' lack") from None


def select_records(spec: DataSpec, split: str, limit: int | None) -> list[dict]:
    """The split's records within `max_words`, then a seeded sample of `limit`."""
    if spec.task:
        records = get_task(spec.task).samples(split, limit=None, data_dir=spec.data_dir)
    else:
        records = load_records(spec.source, split)
    if spec.max_words:
        records = [r for r, p, t in zip(records, *render_records(spec, records))
                   if len(p.split()) <= spec.max_words and len(t.split()) <= spec.max_words]
        if not records:
            raise BenchError(f"{spec.task or spec.source} [{split}]: no record within max_words={spec.max_words}")
    return subsample(records, limit, spec.seed)


def copy_examples(model: LLMToSLM, cfg: TrainConfig, optim: OptimSpec) -> Examples:
    """The `copy_rows` rows: "Repeat this text exactly" over texts of the healing corpus's train splits
    (the healing's own copy rows), rendered as the task's prompts are and LLM-encoded like them. Task
    training alone unlearns the healed SLM's copying in its first 100 steps (the `long` curves); these
    rows keep asking for it."""
    spec = cfg.slm.heal
    texts = heal.corpus_texts(spec, "train")
    keep = subsample(list(range(len(texts))), optim.steps * optim.copy_rows, optim.seed)
    records = [{"text": " ".join(texts[i].split()[:spec.copy_words])} for i in keep]
    data = dataclasses.replace(cfg.data, prompt=copying.COPY_PROMPT, response="{text}")
    return Examples(model, records, data, optim)


def copy_indices(step: int, rows: range, per_step: int) -> list[int]:
    """The copy rows of `step`: the next `per_step` of `rows`, cycling; a function of the step alone."""
    return [rows[(step * per_step + r) % len(rows)] for r in range(per_step)]


def batch_indices(step: int, n: int, batch_size: int, seed: int) -> list[int]:
    """The examples of `step`: a fresh seeded permutation per epoch, so resuming needs only the step."""
    first, last = step * batch_size, (step + 1) * batch_size
    indices: list[int] = []
    for epoch in range(first // n, (last - 1) // n + 1):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
        lo, hi = max(first - epoch * n, 0), min(last - epoch * n, n)
        indices.extend(order[lo:hi])
    return indices


def build_model(cfg: TrainConfig, llm: pretrained.Pretrained, fit_texts: list[str]) -> LLMToSLM:
    """The SLM cut (and healed) from `llm`; L2S reads the features of `l2s.llm_source` where set (the
    task-tuned LLM, `l2s_bench.method.tuned`), else of `llm` itself."""
    small, tokenizer = slm.build(cfg.slm, llm, fit_texts)
    reader = pretrained.load(cfg.l2s.llm_source) if cfg.l2s.llm_source and cfg.system == "l2s" else llm
    frozen = FrozenLLM(reader.model, reader.tokenizer, reader.source, reader.hash, cfg.l2s.llm_layer)
    return LLMToSLM(cfg.l2s, small, tokenizer, frozen)


def optimizer_for(model: LLMToSLM, optim: OptimSpec) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    slm_params = [p for p in model.slm.parameters() if p.requires_grad]
    new_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("slm.")]
    groups = [{"params": slm_params, "lr": optim.lr}]
    if new_params:
        groups.append({"params": new_params, "lr": optim.projector_lr})
    opt = torch.optim.AdamW(groups, betas=(0.9, 0.98), weight_decay=optim.weight_decay)

    def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 10%
        if step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        progress = (step - optim.warmup_steps) / max(1, optim.steps - optim.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


@torch.no_grad()
def mean_loss(model: LLMToSLM, examples: Examples, optim: OptimSpec) -> float:
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), optim.batch_size):
        idx = list(range(start, min(start + optim.batch_size, len(examples))))
        b = examples.batch(idx).to(optim.device)
        n = int(b.response_mask.sum())
        with _autocast(optim):
            total += n * float(model(b.prompt_ids, b.prompt_mask, b.response_ids, b.response_mask, b.features)[1])
        count += n
    model.train()
    return total / max(count, 1)


def train(config_path: str | Path, resume: bool = False, out: str | None = None,
          llm: pretrained.Pretrained | None = None, overrides: dict | None = None,
          curve: tuple[int, CurveCallback] | None = None) -> Path:
    """Train the configured system (`overrides` merged over the file); returns the final checkpoint's folder.

    `curve` = (every, callback): `callback(step, tokens_seen, model)` runs at step 0 and after every
    `every`-th optimizer step, and first at the step a resumed run restarts from when that is a
    multiple of `every` (so the callback must be idempotent). `tokens_seen` (prompt + response tokens
    of every batch so far) counts the whole run, across resumes. The hook is no part of the config
    (it does not change the weights, see `_curve_point`), so it leaves `config_hash` alone."""
    if curve and curve[0] < 1:
        raise BenchError(f"curve: every must be >= 1, got {curve[0]}")
    cfg, raw = load_config(config_path, overrides)
    run_dir = Path(out or cfg.out)
    machine.set_threads(cfg.train.threads or torch.get_num_threads())  # explicit; a suite's --threads holds
    optim = dataclasses.replace(cfg.train, autocast=machine.resolve_dtype(cfg.train.autocast, cfg.train.device))
    if finished(config_path, out, overrides):
        log.info("%s is already trained with this config; reusing it", run_dir / "final")
        return run_dir / "final"
    main = parallel.is_main()  # with several ranks (l2s_bench.parallel) rank 0 writes, all train (DDP)
    lock = folder_lock.hold(run_dir, "training") if main else None  # noqa: F841  (held until this returns)
    latest = checkpoint.latest(run_dir)
    if latest and not resume:
        raise BenchError(f"{run_dir} already holds {latest.name}; pass --resume to continue it or choose another out")
    parts = [select_records(spec, spec.split, spec.limit) for spec in cfg.data.parts()]
    records = [r for part in parts for r in part]
    torch.manual_seed(optim.seed)
    llm = llm or pretrained.load(cfg.llm)
    fit_texts = [f"{p}\n{r}" for spec, part in zip(cfg.data.parts(), parts)
                 for p, r in zip(*render_records(spec, part[:512 // len(parts)]))]
    if not main:
        parallel.barrier()  # rank 0 builds first: healing a cut, if needed, happens once and is cached
    model = build_model(cfg, llm, fit_texts).to(optim.device)
    if main:
        parallel.barrier()
    # Only the records the step budget reaches are tokenized and LLM-encoded; batches keep the
    # order they would have over all records (same permutation), so a larger budget extends a run.
    used = sorted({i for step in range(optim.steps) for i in batch_indices(step, len(records), optim.batch_size, optim.seed)})
    position = {index: k for k, index in enumerate(used)}
    examples = mixed_examples(model, cfg.data.parts(), parts, optim, used)
    if model.uses_llm:
        model.norm.fit(examples.features, skip_first=not model.llm.is_seq2seq)
    tutor = teacher.load(cfg.teacher, [model.prompt_tokenizer, model.slm_tokenizer], optim.device) if cfg.teacher.used else None
    if tutor is not None and cfg.teacher.sequence:  # sequence-level distillation: the teacher's outputs are the targets
        labels = teacher.sequence_labels(tutor, examples.prompts, optim.max_response_tokens, cfg.teacher.batch_size)
        examples.responses = examples.tokenize_responses(labels)
    copy_rows = examples.extend(copy_examples(model, cfg, optim)) if optim.copy_rows else range(0)
    valid, held_out = None, []
    if cfg.data.valid_split:
        specs = [spec for spec in cfg.data.parts() if spec.valid_split]
        valid_parts = [select_records(spec, spec.valid_split, spec.valid_limit) for spec in specs]
        valid = mixed_examples(model, specs, valid_parts, optim)
        held_out = [" ".join(str(r.get("source") or p).split()[:40]) for spec, part in zip(specs, valid_parts)
                    for r, p in zip(part, render_records(spec, part)[0])]
    copy_check = _copy_diagnostic(model, held_out, optim)
    opt, sched = optimizer_for(model, optim)
    step, tokens_seen = 0, 0
    if latest and resume:
        trained_with = _trained_meta(latest).get("config_hash")
        if trained_with != config_hash(raw):
            raise BenchError(f"{latest} was trained with another config; resume it with the same one")
        step, saved_tokens = checkpoint.restore_training_state(latest, model, opt, sched)
        # A checkpoint from before tokens_seen was saved: the batches of its steps are known, count them.
        tokens_seen = saved_tokens if saved_tokens is not None else sum(
            len(examples.prompts[position[i]]) + len(examples.responses[position[i]])
            for s in range(step) for i in batch_indices(s, len(records), optim.batch_size, optim.seed))
        log.info("resumed %s at step %d", run_dir, step)
    if main:  # lines past the checkpoint (or, killed before the first one, every line) run again
        _truncate_log(run_dir / "log.jsonl", step)
    run_dir.mkdir(parents=True, exist_ok=True)
    copy_before = _trained_meta(latest).get("copying", {}).get("before") if step else copy_check() if main else None
    meta = {"system": cfg.system, "config": raw, "config_hash": config_hash(raw), "train_examples": len(examples) - len(copy_rows),
            "copy_examples": len(copy_rows),
            "train_pool": len(records), "machine": {**machine.capability(optim.device), "autocast": optim.autocast,
                                                    "llm_autocast": model.llm_dtype if model.uses_llm else None},
            "slm_build": slm.build_info(cfg.slm, llm), "copying": {"before": copy_before},
            "llm": {"source": llm.source, "sha256": llm.hash}, "params": _param_counts(model),
            "prompts_truncated": examples.truncated, "data": {"task": cfg.data.task, "source": cfg.data.source, "split": cfg.data.split,
                                                            "chat": cfg.data.chat,
                                                            **({"mix": [m.task or m.source for m in cfg.data.mix],
                                                                "pools": [len(p) for p in parts]} if cfg.data.mix else {})},
            "labels": cfg.teacher.labels(), "features_llm": model.llm.source if model.uses_llm else None}
    model.train()
    tokens, started, curve_seconds = 0, time.perf_counter(), 0.0
    if curve and step % curve[0] == 0:
        curve_seconds += _curve_point(curve[1], step, tokens_seen, model, optim.device)
    bar = tqdm(total=optim.steps, initial=step, desc=f"train {cfg.system}", unit="step", disable=not main)
    forward = parallel.ddp(model)
    with open(run_dir / "log.jsonl" if main else os.devnull, "a") as logf:
        while step < optim.steps:
            picked = [position[i] for i in batch_indices(step, len(records), optim.batch_size, optim.seed)]
            picked += copy_indices(step, copy_rows, optim.copy_rows)
            b = examples.batch(parallel.rows(picked)).to(optim.device)
            with _autocast(optim):
                logits, loss = forward(b.prompt_ids, b.prompt_mask, b.response_ids, b.response_mask, b.features)
                if tutor is not None and cfg.teacher.kd_weight > 0:  # token-level distillation
                    loss = teacher.kd_loss(logits, teacher.response_logits(tutor.model, b.prompt_ids, b.prompt_mask,
                                                                           b.response_ids, b.response_mask), loss, cfg.teacher)
            share = parallel.token_share(int(b.response_mask.sum()), sum(len(examples.responses[i]) for i in picked))
            (loss * share).backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], optim.grad_clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            batch_tokens = sum(len(examples.prompts[i]) + len(examples.responses[i]) for i in picked)
            tokens, tokens_seen = tokens + batch_tokens, tokens_seen + batch_tokens
            rate = tokens / (time.perf_counter() - started - curve_seconds)
            batch_loss = parallel.global_mean(loss, share)
            bar.update(1)
            bar.set_postfix(loss=f"{batch_loss:.3f}", tok_s=f"{rate:.0f}")
            logf.write(json.dumps({"step": step, "loss": batch_loss, "lr": sched.get_last_lr()[0],
                                   "tokens_per_s": round(rate, 1), "tokens_seen": tokens_seen}) + "\n")
            if main and (step % optim.save_every == 0 or step == optim.steps):
                logf.flush()  # the log reaches the checkpoint's step before the checkpoint exists
                os.fsync(logf.fileno())
                checkpoint.save_training_state(run_dir, step, tokens_seen, model, opt, sched, meta)
            if curve and step % curve[0] == 0:  # after the save: a point belongs to a step a resume can reach
                logf.flush()
                curve_seconds += _curve_point(curve[1], step, tokens_seen, model, optim.device)
    bar.close()
    elapsed = time.perf_counter() - started - curve_seconds  # training time: curve points left out
    meta["train"] = {"steps": step, "tokens": tokens, "tokens_seen": tokens_seen, "seconds": round(elapsed, 1),
                     "tokens_per_s": round(tokens / elapsed, 1) if elapsed else None,
                     "threads": torch.get_num_threads()}
    if curve:
        meta["train"]["curve_seconds"] = round(curve_seconds, 1)
    if parallel.state():
        meta["train"]["processes"] = parallel.world()  # tokens/s: all ranks together; threads: per rank
    if not main:
        parallel.barrier()  # until rank 0 has saved the final checkpoint
        return run_dir / "final"
    if valid is not None:
        meta["train"]["valid_loss"] = round(mean_loss(model, valid, optim), 4)
    meta["copying"]["after"] = copy_check()
    final = checkpoint.save(model.eval(), run_dir / "final", {"trainer": meta})
    log.info("saved %s: %s", final, meta["train"])
    parallel.barrier()
    return final


def _curve_point(callback: CurveCallback, step: int, tokens_seen: int, model: LLMToSLM, device: str) -> float:
    """Call a curve callback so that nothing it does reaches training: torch's RNG state (CPU, and the
    training GPU's) and the model's train/eval mode are restored after it, and it runs without
    gradients, so a run with a curve trains bitwise the weights of one without. Returns its wall
    time, which the trainer keeps out of its own seconds and tokens/s."""
    began, training = time.perf_counter(), model.training
    gpus = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=gpus), torch.no_grad():
        callback(step, tokens_seen, model)
    model.train(training)
    return time.perf_counter() - began


def _trained_meta(path: Path) -> dict:
    return checkpoint.read_meta(path).get("trainer", {})


def _copy_diagnostic(model: LLMToSLM, texts: list[str], optim: OptimSpec):
    """A call that measures the SLM's own copying (l2s_bench.method.copying) on held-out texts; None where it
    does not apply (an encoder-decoder SLM, or no held-out split)."""
    if model.slm.config.is_encoder_decoder or not texts:
        return lambda: None
    return lambda: copying.diagnose(model.slm, model.slm_tokenizer, texts, optim.autocast)


def _autocast(optim: OptimSpec) -> torch.autocast:
    dtype = getattr(torch, optim.autocast)
    return torch.autocast(torch.device(optim.device).type, dtype=dtype, enabled=dtype != torch.float32)


def _param_counts(model: LLMToSLM) -> dict[str, int]:
    """What the size claims (SLM >= 4x smaller than the LLM) rest on; embeddings counted apart."""
    def count(module, trainable=False):
        return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)
    emb = model.slm.get_input_embeddings().weight.numel()
    counts = {"slm_total": count(model.slm), "slm_non_embedding": count(model.slm) - emb,
              "trainable": count(model, trainable=True)}
    if model.llm is not None:
        llm = model.llm.model
        counts["llm_total"] = count(llm)
        counts["llm_non_embedding"] = counts["llm_total"] - llm.get_input_embeddings().weight.numel()
    return counts


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past the resumed checkpoint: those steps are about to run again."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        write_atomic(path, "".join(line + "\n" for line in lines))
