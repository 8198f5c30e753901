"""Export l2s-bench tasks as lm-evaluation-harness tasks (`l2s-bench export-lm-eval`).

Per task, the output folder gets
    l2s_<task>.jsonl   the test items l2s-bench itself evaluates (same sample, same `limit`): id, source,
                       reference and `text`, the prompt already rendered from the task's template
    l2s_<task>.yaml    an lm-eval `generate_until` task over that file (`lm_eval --include_path DIR
                       --tasks l2s_<task>`)
and once, `utils.py`, the metric functions the YAML files name with `!function`.

Metrics: bleu and chrf are lm-eval's own (corpus-level sacreBLEU with its defaults, which are
l2s-bench's defaults too; tasks that change their options cannot be exported). ROUGE, exact_match
and content_f1 are per-segment scores computed by `l2s_bench.metrics` (ROUGE through Google's
rouge-score, as l2s-bench does; lm-eval's built-in rouge needs the Hub) and averaged by lm-eval's
`mean`, which is how l2s-bench aggregates them. `judge` needs a judge model and is left out.

Prompts are stored rendered but not chat-templated: rendering a chat turn is the model's job
(`llm2slm`: its `chat` arg; lm-eval's hf model: `--apply_chat_template`). The task's generation
settings become `max_gen_toks` and an empty `until` (l2s-bench generates until EOS).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import yaml

from l2s_bench.errors import BenchError
from l2s_bench.metrics import METRICS, get_metric
from l2s_bench.tasks import Task

log = logging.getLogger(__name__)

SACREBLEU = ("bleu", "chrf")  # lm-eval's own metrics and aggregations of the same name
SEGMENT = ("rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "content_f1")
UTILS = '''"""Metric functions for the l2s-bench tasks in this folder (written by `l2s-bench export-lm-eval`)."""

from l2s_bench.lmeval.tasks import content_f1, exact_match, rouge1, rouge2, rougeL, rougeLsum  # noqa: F401
'''


@functools.cache
def _metric(name: str, options: tuple):
    return get_metric(name, **dict(options))


def _segment_metric(name: str):
    """An lm-eval metric function (`references=[gold], predictions=[pred], **options` -> float)
    returning l2s-bench's per-segment score; lm-eval names the metric by the function's name."""

    def score(references: list[str], predictions: list[str], **options) -> float:
        return _metric(name, tuple(sorted(options.items()))).segment_scores(predictions, references)[0]

    score.__name__ = score.__qualname__ = name
    return score


rouge1, rouge2, rougeL, rougeLsum, exact_match, content_f1 = map(_segment_metric, SEGMENT)


class _Function(str):
    """A YAML scalar written with lm-eval's `!function` tag."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, lambda dumper, value: dumper.represent_scalar("!function", str(value)))


def lm_eval_name(task: Task) -> str:
    return f"l2s_{task.task}"


def metric_list(task: Task) -> list[dict]:
    """lm-eval `metric_list` entries for the task's metrics (see the module docstring)."""
    entries = []
    for spec in task.metrics:
        if spec.name in SACREBLEU:
            if get_metric(spec.name, **spec.options).options != get_metric(spec.name).options:
                raise BenchError(f"task '{task.task}': lm-eval's {spec.name} takes no options, "
                                 f"but the task sets {spec.options}")
            entries.append({"metric": spec.name, "aggregation": spec.name,
                            "higher_is_better": METRICS.get(spec.name).higher_is_better})
        elif spec.name in SEGMENT:
            entries.append({"metric": _Function(f"utils.{spec.name}"), "aggregation": "mean",
                            "higher_is_better": METRICS.get(spec.name).higher_is_better, **spec.options})
        else:
            log.warning("task '%s': metric '%s' has no lm-eval export and is left out", task.task, spec.name)
    if not entries:
        raise BenchError(f"task '{task.task}': none of its metrics can be exported to lm-eval")
    return entries


def export_task(task: Task, out: str | Path, limit: int | None = None, data_dir: str | Path | None = None,
                family: str = "decoder") -> Path:
    """Write the task's test items and lm-eval YAML into `out`; returns the YAML path."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "utils.py").write_text(UTILS)
    name = lm_eval_name(task)
    rows = [{"id": s["id"], "source": str(s["source"]), "reference": str(s["reference"]),
             "text": task.prompt(s, family)} for s in task.samples("test", limit, data_dir)]
    data = out / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "text",
        "doc_to_target": "reference",
        "generation_kwargs": {"until": [], "max_gen_toks": task.generation.max_new_tokens, "do_sample": False},
        "metric_list": metric_list(task),
        "metadata": {"version": 1.0, "l2s_task": task.task, "l2s_task_file": task.file, "prompt_family": family,
                     "items": len(rows)},
    }
    path = out / f"{name}.yaml"
    path.write_text(yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True))
    return path


def export(tasks: list[Task], out: str | Path, limit: int | None = None, data_dir: str | Path | None = None,
           family: str = "decoder") -> list[Path]:
    """Export several tasks into one folder. `data_dir` (local <split>.jsonl files) needs a single task."""
    if data_dir is not None and len(tasks) != 1:
        raise BenchError("--data-dir holds one task's splits: export one task at a time with it")
    return [export_task(task, out, limit, data_dir, family) for task in tasks]
