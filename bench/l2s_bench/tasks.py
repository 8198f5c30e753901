"""Tasks as YAML: one file per task in a task folder (`l2s_bench.builtin.folders`), found automatically (lm-eval's shape, our size).

A task names its family, where its data comes from (a registered offline builder, a local JSONL or
Parquet file or folder, or a Hugging Face dataset), how record fields map to source and reference,
one prompt template per model family, its metrics, generation settings and subsampling. Adding a
task needs one YAML file and no Python. Files whose name starts with `_` hold shared defaults for
`include:` and are not tasks. Other packages add task folders through the `l2s_bench.tasks`
entry-point group (an entry point that loads to a folder path).
"""

from __future__ import annotations

import logging
import string
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from l2s_bench import builtin
from l2s_bench.config import from_dict, load_yaml
from l2s_bench.data import SPLITS, prepared_split, read_jsonl, subsample
from l2s_bench.errors import BenchError, MissingData, did_you_mean
from l2s_bench.names import check_name
from l2s_bench.trivial import TRIVIAL_RULES

if TYPE_CHECKING:
    from l2s_bench.metrics.base import Clusters

BROKEN: dict[Path, str] = {}  # task files the last `task_files()` skipped, with why
ENTRY_POINT_GROUP = "l2s_bench.tasks"
log = logging.getLogger(__name__)


@dataclass
class DatasetSpec:
    builder: str | None = None  # an offline data set: `l2s-bench data prepare NAME`
    path: str | None = None  # a .jsonl/.parquet file, or a folder of <split>.jsonl/.parquet
    hf: str | None = None  # a Hugging Face dataset path, e.g. "wmt14" (where the Hub is reachable)
    hf_config: str | None = None  # its configuration, e.g. "de-en"
    splits: dict[str, str] = field(default_factory=lambda: {s: s for s in SPLITS})  # ours -> the dataset's
    holdout: dict[str, int] = field(default_factory=dict)  # carve {"valid": n, "test": n} out of train


@dataclass
class Fields:
    source: str = "source"  # dotted paths reach nested fields, e.g. translation.en
    reference: str = "target"
    id: str | None = "id"  # None: ids are the row index


@dataclass
class MetricSpec:
    name: str
    options: dict = field(default_factory=dict)


@dataclass
class Generation:
    max_new_tokens: int = 64
    num_beams: int = 1


@dataclass
class Task:
    task: str
    family: Literal["translation", "summarization", "instruction"]
    dataset: DatasetSpec
    prompts: dict[str, str]  # model family ("decoder", "t5", ...) -> str.format template over the record
    metrics: list[MetricSpec]
    description: str = ""
    fields: Fields = field(default_factory=Fields)
    chat: bool = True  # decoder-only chat models see the prompt as one user turn
    generation: Generation = field(default_factory=Generation)
    limit: int | None = None  # evaluate a seeded sample of this many test items
    seed: int = 0
    # the floor a system must beat: one rule or several (copy_source, first_sentence, lead_words, empty);
    # with several, each is its own system and the strongest is the bar (`l2s_bench.runner.verdict`)
    trivial: str | list[str] = "copy_source"
    slices: str | None = None  # a record field (e.g. `kind`): also score each of its values on its own
    # a record field naming each item's cluster (debian-sum: `family`, the source package): items of one
    # cluster share their text, so the bootstrap resamples whole clusters (`l2s_bench.metrics.base`)
    clusters: str | None = None
    max_words: int | None = None  # drop items whose source or reference is longer, in every split
    file: str = ""  # set by the loader
    dropped: dict[str, int] = field(default_factory=dict, init=False, repr=False)  # per split, by max_words

    @property
    def trivial_rules(self) -> list[str]:
        return [self.trivial] if isinstance(self.trivial, str) else list(self.trivial)

    def prompt(self, record: dict, family: str = "decoder") -> str:
        if family not in self.prompts:
            raise BenchError(f"task '{self.task}' has no prompt for model family '{family}' "
                             f"(has: {', '.join(self.prompts)})")
        try:
            return self.prompts[family].format_map(record)
        except KeyError as e:
            raise BenchError(f"{self.file}: prompts.{family} names field {e}, absent from the records") from None

    def samples(self, split: str = "test", limit: int | None = None, data_dir: str | Path | None = None) -> list[dict]:
        """Records of `split` with `id`, `source`, `reference` set from the field mapping; test
        defaults to the task's `limit`. `data_dir` reads `<split>.jsonl|parquet` there instead.

        With `max_words`, items whose source or reference has more words are dropped before sampling
        (a reference longer than `max_new_tokens` can produce makes every system look bad); how many
        is kept in `self.dropped[split]` for the run's manifest."""
        rows = self._rows(split, data_dir)
        out = []
        for i, row in enumerate(rows):
            sample = dict(row)
            sample["source"] = _get(row, self.fields.source, self.file, i)
            sample["reference"] = _get(row, self.fields.reference, self.file, i)
            sample["id"] = str(_get(row, self.fields.id, self.file, i)) if self.fields.id else f"{self.task}/{split}/{i}"
            out.append(sample)
        if self.max_words:
            kept = [s for s in out if max(len(str(s["source"]).split()), len(str(s["reference"]).split())) <= self.max_words]
            self.dropped[split] = len(out) - len(kept)
            if not kept and out:
                raise BenchError(f"task '{self.task}' [{split}]: no record within max_words={self.max_words}")
            out = kept
        out = subsample(out, limit if limit is not None else (self.limit if split == "test" else None), self.seed)
        if not out:
            raise BenchError(f"task '{self.task}' [{split}] has no records")
        return out

    def check_data(self, data_dir: str | Path | None = None, splits: tuple[str, ...] = SPLITS) -> str | None:
        """Every split at hand read as `samples` reads it (encoding, JSON, empty split, the field mapping
        and `max_words` on every record), then the id, slice and cluster fields and every prompt template
        rendered for every record: what evaluate would refuse, refused here, with the same message and
        before any model loads. A split not at hand is skipped (nothing is prepared or downloaded here);
        returns what was checked, or None when no split was at hand."""
        if self.dataset.hf and data_dir is None:
            return None  # reading it may mean the Hub
        checked = []
        for split in splits:
            try:
                samples = self.samples(split, limit=sys.maxsize, data_dir=data_dir)  # every record, not test's sample
            except MissingData:
                continue
            for i, sample in enumerate(samples):
                for dotted in (self.fields.id, self.slices, self.clusters):
                    if dotted:
                        _get(sample, dotted, self.file, i)
                for family in self.prompts:
                    self.prompt(sample, family)
            checked.append(f"{split} {len(samples)}")
        if not checked:
            return None
        return f"fields and {len(self.prompts)} prompt template(s) checked on every record ({', '.join(checked)})"

    def slice_values(self, samples: list[dict]) -> list[str] | None:
        """Each item's value of the `slices` field (None when the task has no slices)."""
        return self._values(self.slices, samples)

    def cluster_values(self, samples: list[dict]) -> list[str] | None:
        """Each item's value of the `clusters` field (None when the task has no clusters)."""
        return self._values(self.clusters, samples)

    def item_clusters(self, samples: list[dict]) -> Clusters | None:
        """The items' clusters as scoring takes them (None when the task has no clusters)."""
        from l2s_bench.metrics.base import Clusters  # lazily, as in `load_task_file`: listing tasks loads no metric

        values = self.cluster_values(samples)
        return None if values is None else Clusters(self.clusters, tuple(values))

    def _values(self, dotted: str | None, samples: list[dict]) -> list[str] | None:
        if dotted is None:
            return None
        return [str(_get(s, dotted, self.file, i)) for i, s in enumerate(samples)]

    def item_notes(self, samples: list[dict], split: str) -> dict:
        """What a run's manifest records about its items besides their ids: each item's slice and
        cluster, and how many items `max_words` dropped. Scoring reads only stored files, so slices
        and clusters must be stored."""
        notes = {}
        if self.slices is not None:
            notes["slices"] = {"field": self.slices, "values": self.slice_values(samples)}
        if self.clusters is not None:
            notes["clusters"] = {"field": self.clusters, "values": self.cluster_values(samples)}
        if self.max_words:
            notes["max_words"] = {"limit": self.max_words, "dropped": self.dropped.get(split, 0)}
        return notes

    def _rows(self, split: str, data_dir: str | Path | None) -> list[dict]:
        spec = self.dataset
        if split not in SPLITS:
            raise BenchError(f"unknown split '{split}'; expected one of {', '.join(SPLITS)}")
        if spec.holdout:
            return _holdout(self._raw(spec.splits.get("train", "train"), data_dir), spec.holdout, split, self.seed)
        return self._raw(spec.splits.get(split, split), data_dir)

    def _raw(self, their_split: str, data_dir: str | Path | None) -> list[dict]:
        spec = self.dataset
        if data_dir is not None:
            return _read_local(Path(data_dir), their_split)
        if spec.builder:
            return prepared_split(spec.builder, their_split)
        if spec.path:
            return _read_local(Path(spec.path), their_split)
        return _load_hf(spec.hf, spec.hf_config, their_split)


def _get(row: dict, dotted: str, file: str, index: int):
    value = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise BenchError(f"{file}: field '{dotted}' missing from record {index} (keys: {', '.join(row)})")
        value = value[part]
    return value


def _read_local(path: Path, split: str) -> list[dict]:
    if path.is_dir():
        found = [path / f"{split}{ext}" for ext in (".jsonl", ".parquet") if (path / f"{split}{ext}").exists()]
        if not found:
            raise MissingData(f"no {split}.jsonl or {split}.parquet in {path}")
        path = found[0]
    if not path.exists():
        raise MissingData(f"data file {path} does not exist")
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    return read_jsonl(path)


def _load_hf(path: str, config: str | None, split: str) -> list[dict]:
    import datasets

    try:
        return list(datasets.load_dataset(path, config, split=split))
    except Exception as e:  # offline, unknown dataset, missing config: all end the same way for the user
        raise BenchError(f"cannot load Hugging Face dataset '{path}' ({config}) [{split}] ({type(e).__name__}: {e}); "
                         "where the Hub is unreachable, pass --data-dir with local <split>.jsonl files") from None


def _holdout(rows: list[dict], sizes: dict[str, int], split: str, seed: int) -> list[dict]:
    """Deterministic valid/test slices of a train-only dataset (Alpaca); train keeps the rest."""
    import random

    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    taken, start = {}, 0
    for name in ("test", "valid"):
        taken[name] = sorted(order[start:start + sizes.get(name, 0)])
        start += sizes.get(name, 0)
    taken["train"] = sorted(order[start:])
    return [rows[i] for i in taken[split]]


def task_files() -> dict[str, Path]:
    """Task name -> YAML file, from the task folders (`--include-path`, ./tasks, the shipped ones) and
    every `l2s_bench.tasks` entry point's folder. A name in an earlier folder hides the same name in a
    later one (a user's copy of a shipped task wins); twice in one folder is an error."""
    folders = builtin.folders("tasks")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
        except Exception as e:
            raise BenchError(f"task entry point '{ep.value}' failed to load: {type(e).__name__}: {e}") from None
        folders.append(Path(loaded() if callable(loaded) else loaded))
    found: dict[str, Path] = {}
    BROKEN.clear()
    for folder in folders:
        for path in sorted(folder.rglob("*.yaml")):
            if path.name.startswith("_"):
                continue
            try:
                name = load_yaml(path).get("task") or path.stem
            except BenchError as e:  # one bad file must not take every other task down with it
                log.warning("skipping broken task file %s: %s", path, e)
                BROKEN[path] = str(e)
                continue
            if name in found and found[name].is_relative_to(folder):
                raise BenchError(f"task '{name}' is defined twice: {found[name]} and {path}")
            found.setdefault(name, path)  # an earlier folder (the user's) wins over a later one (the shipped)
    return found


def load_task_file(path: str | Path) -> Task:
    """Parse and check one task file; every problem names the file and the key."""
    raw = load_yaml(path)
    where = str(path)
    task = from_dict(Task, raw, where)
    check_name("task", task.task, f"{where}: task")
    task.file = where
    if task.dataset.path and not Path(task.dataset.path).is_absolute():
        task.dataset.path = str(Path(path).resolve().parent / task.dataset.path)  # like include:, not the cwd
    sources = [s for s in (task.dataset.builder, task.dataset.path, task.dataset.hf) if s]
    if len(sources) != 1:
        raise BenchError(f"{where}: dataset needs exactly one of builder, path, hf (got {len(sources)})")
    for family, template in task.prompts.items():
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        except ValueError as e:
            raise BenchError(f"{where}: prompts.{family} is not a valid template ({e})") from None
        if not names:
            raise BenchError(f"{where}: prompts.{family} uses no record field; it should contain {{source}}")
    if not task.metrics:
        raise BenchError(f"{where}: metrics is empty")
    _check_trivial(task, where)
    if task.max_words is not None and task.max_words < 1:
        raise BenchError(f"{where}: max_words must be a positive number of words, got {task.max_words}")
    from l2s_bench.metrics import METRICS

    for i, spec in enumerate(task.metrics):
        if spec.name not in METRICS:
            hint = did_you_mean(spec.name, METRICS.names()) or f" (known: {', '.join(METRICS.names())})"
            raise BenchError(f"{where}: metrics[{i}].name: unknown metric '{spec.name}'{hint}")
        try:
            METRICS.get(spec.name)(**spec.options)
        except (TypeError, BenchError) as e:
            raise BenchError(f"{where}: metrics[{i}].options: {e}") from None
    return task


def _check_trivial(task: Task, where: str) -> None:
    """Every rule known (the rules live with their code, in `l2s_bench.trivial`), none twice."""
    rules = task.trivial_rules
    if not rules:
        raise BenchError(f"{where}: trivial is empty; name a rule ({', '.join(TRIVIAL_RULES)})")
    for i, rule in enumerate(rules):
        if rule not in TRIVIAL_RULES:
            key = "trivial" if isinstance(task.trivial, str) else f"trivial[{i}]"
            raise BenchError(f"{where}: {key}: unknown rule '{rule}'{did_you_mean(rule, TRIVIAL_RULES)} "
                             f"(rules: {', '.join(TRIVIAL_RULES)})")
    if len(set(rules)) != len(rules):
        raise BenchError(f"{where}: trivial names a rule twice: {', '.join(rules)}")


def get_task(name: str) -> Task:
    files = task_files()
    if name not in files:
        if Path(name).suffix == ".yaml" and Path(name).exists():
            return load_task_file(name)
        broken = next((f"{p}: {why}" for p, why in BROKEN.items() if p.stem == name), None)
        if broken:
            raise BenchError(f"task '{name}' cannot be read: {broken}")
        hint = did_you_mean(name, files)
        raise BenchError(f"unknown task '{name}'{hint} (see `l2s-bench list tasks`)")
    return load_task_file(files[name])
