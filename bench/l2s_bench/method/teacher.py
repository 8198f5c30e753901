"""The LLM's labels for the small models: sequence-level and token-level distillation from a teacher.

- **Sequence level** (Kim & Rush 2016: +4.2 BLEU greedy for a small NMT student): the student trains on
  the teacher's greedy outputs for the training prompts instead of the references. The outputs are
  generated once per teacher, prompt and length, cached in the model cache as JSONL (one line per
  prompt, appended and fsynced per batch, so a killed generation resumes where it stopped).
- **Token level** (Minitron: logit distillation alone suffices to retrain a pruned model): the loss
  adds the KL from the teacher's next-token distribution on the training response, at temperature T,
  `(1 - w) CE + w T^2 KL`, the teacher run frozen alongside each step.

A suite gives the SLM baseline and L2S the same teacher (`teacher: llm-ft`), so the difference between
them stays the LLM's features alone. Validation loss is always on the references.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from l2s_bench.config import config_hash
from l2s_bench.errors import BenchError
from l2s_bench.files import write_atomic
from l2s_bench.method import pretrained
from l2s_bench.method.l2s import positions
from l2s_bench.paths import cache_dir
from l2s_bench.tokens import left_pad, pad_id

log = logging.getLogger(__name__)


@dataclass
class TeacherSpec:
    source: str | None = None  # a model source (a suite's `teacher: llm-ft` fills in `tuned:<sha>`); None = none
    sequence: bool = False  # train on the teacher's greedy outputs for the training prompts, not the references
    kd_weight: float = 0.0  # token level: loss = (1 - w) CE + w T^2 KL(teacher || student) on the response
    temperature: float = 1.0
    batch_size: int = 16  # prompts per generation batch (sequence labels)

    @property
    def used(self) -> bool:
        return self.source is not None and (self.sequence or self.kd_weight > 0)

    def labels(self) -> str:
        """What a system trained with this teacher learned from, in words (every results row says it)."""
        if not self.used:
            return "references"
        kinds = (["teacher outputs"] if self.sequence else ["references"]) + \
            ([f"teacher logits (w {self.kd_weight:g}, T {self.temperature:g})"] if self.kd_weight > 0 else [])
        return " + ".join(kinds) + f" of {self.source}"


def check(spec: TeacherSpec, where: str) -> None:
    if not 0.0 <= spec.kd_weight <= 1.0:
        raise BenchError(f"{where}: teacher.kd_weight must be in [0, 1], got {spec.kd_weight}")
    if spec.temperature <= 0 or spec.batch_size < 1:
        raise BenchError(f"{where}: teacher.temperature must be > 0 and teacher.batch_size >= 1")
    if (spec.sequence or spec.kd_weight > 0) and spec.source is None:
        raise BenchError(f"{where}: teacher.sequence / teacher.kd_weight need teacher.source (a suite's `teacher:`)")


def load(spec: TeacherSpec, tokenizers: list, device: str) -> pretrained.Pretrained:
    """The teacher, frozen. It reads the student's prompt ids and scores its response ids, so its
    vocabulary must be that of each of the student's `tokenizers`."""
    teacher = pretrained.load(spec.source)
    if teacher.model.config.is_encoder_decoder:
        raise BenchError(f"teacher {spec.source}: only decoder-only teachers are supported")
    if any(tok.get_vocab() != teacher.tokenizer.get_vocab() for tok in tokenizers):
        raise BenchError(f"teacher {spec.source}: its vocabulary differs from the student's")
    teacher.model.to(device).eval().requires_grad_(False)
    return teacher


def sequence_labels(teacher: pretrained.Pretrained, prompts: list[list[int]], max_new_tokens: int,
                    batch_size: int) -> list[str]:
    """The teacher's greedy output for each tokenized prompt (rendered as the student reads it), cached
    per teacher, prompt and length; only prompts not in the cache are generated."""
    tok = teacher.tokenizer
    key = config_hash({"teacher": teacher.hash, "max_new_tokens": max_new_tokens})
    path = cache_dir("labels", key) / "labels.jsonl"
    done = _read(path)
    shas = [_sha(ids) for ids in prompts]
    todo = sorted({sha: i for i, sha in enumerate(shas) if sha not in done}.values())
    if todo:
        log.info("teacher %s: labelling %d of %d training prompts (cached in %s)", teacher.source, len(todo),
                 len(prompts), path)
    model = teacher.model
    device = next(model.parameters()).device
    with open(path, "a", encoding="utf-8") as out, torch.no_grad():
        for start in tqdm(range(0, len(todo), batch_size), desc="teacher labels", unit="batch", disable=not todo):
            batch = todo[start:start + batch_size]
            ids, mask = left_pad([prompts[i] for i in batch], pad_id(tok))
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=tok.eos_token_id, pad_token_id=pad_id(tok))
            for i, row in zip(batch, gen[:, ids.shape[1]:].tolist()):
                stops = {tok.eos_token_id, tok.pad_token_id} - {None}
                row = row[:next((k for k, t in enumerate(row) if t in stops), len(row))]
                done[shas[i]] = tok.decode(row, skip_special_tokens=True).strip()
                out.write(json.dumps({"prompt_sha": shas[i], "label": done[shas[i]]}, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
    return [done[sha] for sha in shas]


def _sha(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()


def _read(path) -> dict[str, str]:
    """The cached labels; a last line torn by a kill is dropped (and its prompt generated again)."""
    done: dict[str, str] = {}
    if not path.exists():
        return done
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for n, line in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if n < len(lines) - 1:
                raise BenchError(f"{path}:{n + 1}: corrupt teacher label; delete the file to regenerate it") from None
            lines.pop()
            break
        done[row["prompt_sha"]] = row["label"]
    if text and not text.endswith("\n") or len(lines) < len(text.splitlines()):
        write_atomic(path, "".join(line + "\n" for line in lines))
    return done


@torch.no_grad()
def response_logits(teacher: nn.Module, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                    response_ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """The teacher's logits (N, V) at the labelled response positions, in the order `LLMToSLM.forward`
    returns the student's (row-major over `response_mask`)."""
    ids, mask = torch.cat([prompt_ids, response_ids], 1), torch.cat([prompt_mask, response_mask], 1)
    hidden = teacher.base_model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                                use_cache=False).last_hidden_state
    predictors = hidden[:, prompt_ids.shape[1] - 1:-1][response_mask.bool()]
    return teacher.get_output_embeddings()(predictors).float()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, ce: torch.Tensor, spec: TeacherSpec) -> torch.Tensor:
    """`(1 - w) CE + w T^2 KL(teacher || student)`, the KL averaged over labelled tokens."""
    t = spec.temperature
    kl = nn.functional.kl_div(nn.functional.log_softmax(student_logits / t, -1),
                              nn.functional.log_softmax(teacher_logits / t, -1), log_target=True,
                              reduction="batchmean") * t * t
    return (1 - spec.kd_weight) * ce + spec.kd_weight * kl
