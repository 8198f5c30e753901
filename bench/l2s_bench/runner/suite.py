"""Suites: which systems run on which tasks, with what budgets, on which device and backends.

A suite is a YAML file in `suites/` (or any path)::

    suite: default
    device: cpu
    tasks: [kjv-web, debian-sum, instruct-mix]
    systems:
      llm: {role: llm, adapter: hf-causal, args: {source: smollm2-135m-instruct}}
      slm: {role: slm, train: "configs/{task}.yaml"}      # trained if missing, then `llm2slm`
      l2s: {role: l2s, train: "configs/{task}.yaml"}      # one config per task: the role says what to train
      assisted: {role: assisted, target: llm, assistant: slm}  # speculative decoding
      lookup: {role: assisted, target: llm, lookup: 10}        # prompt lookup decoding
      slm-8: {role: slm, train: "configs/{task}.yaml", overrides: {slm: {layers: 8}}}   # a second SLM size ...
      l2s-8: {role: l2s, train: "configs/{task}.yaml", overrides: {slm: {layers: 8}}, baseline: slm-8}  # ... its L2S
    quality: {limit: 200, batch_size: 16}
    speed: {n: 5, max_new_tokens: 32, backends: [eager]}
    curve: {every: 100, split: valid, limit: 64}              # optional: learning curves (l2s_bench.runner.curves)

`{task}` in a string is replaced by each task's name. A training config may leave `system` and `out`
to the role that runs it (`l2s_bench.method.train.role_defaults`: the role's system, `runs/<task>/<name>`). The trivial baseline of every task is always
added. Every key is checked when the file loads (a typo fails at once, with a did-you-mean).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from l2s_bench import builtin
from l2s_bench.config import config_hash, from_dict, load_yaml
from l2s_bench.errors import BenchError, did_you_mean
from l2s_bench.names import check_name
from l2s_bench.runner.verdict import ROLES



@dataclass
class SystemDef:
    role: Literal["llm", "llm-ft", "slm", "l2s", "assisted"]  # l2s_bench.runner.verdict.ROLES, less the trivial one
    adapter: str | None = None  # a registered adapter (`l2s-bench list models`)
    args: dict = field(default_factory=dict)  # adapter arguments
    train: str | None = None  # a training config: trained (or reused) first, then run as `llm2slm`
    overrides: dict = field(default_factory=dict)  # merged over the training config, e.g. {train: {steps: 9000}}
    target: str | None = None  # assisted: the system it speeds up (the LLM, or the tuned LLM `llm-ft`)
    assistant: str | None = None  # assisted: the SLM-baseline system that drafts (speculative decoding)
    lookup: int | None = None  # assisted without an assistant: prompt lookup decoding, this many draft tokens
    llm: str | None = None  # l2s: the llm-ft system whose tuned LLM it reads features from (frozen, as ever)
    teacher: str | None = None  # slm, l2s: the system whose labels they learn from (l2s_bench.method.teacher)
    baseline: str | None = None  # l2s: its SLM baseline (same SLM size), for p_vs_slm; default: the suite's one slm

    @property
    def paired(self) -> bool:
        """An assisted system: made from two others (`target`, `assistant`) rather than named or trained."""
        return self.role == "assisted"


@dataclass
class QualitySpec:
    split: str = "test"
    limit: int | None = None  # a seeded sample of this many items; None = the task's own limit
    batch_size: int = 16
    n_bootstrap: int = 1000
    seed: int = 12345  # bootstrap seed (sacreBLEU's default)
    # the paired test statistic (l2s_bench.metrics.base.paired_bootstrap_p): sacreBLEU's, or the two-sided centred one
    paired: Literal["sacrebleu", "centred"] = "sacrebleu"


@dataclass
class SpeedSpec:
    enabled: bool = True
    n: int = 5  # the first n quality items, the same for every system
    batch_size: int = 1
    mode: Literal["fixed", "natural"] = "fixed"  # fixed: min_new_tokens = max_new_tokens (no early EOS)
    max_new_tokens: int | None = None  # None = the task's
    backends: list[str] = field(default_factory=lambda: ["eager"])
    warmup: int = 1
    min_runs: int = 5
    min_seconds: float = 2.0
    max_runs: int | None = None
    n_bootstrap: int = 1000


@dataclass
class CurveSpec:
    """Learning curves: every `every` optimizer steps each trained system generates for a fixed seeded
    subset of `split` from its in-memory weights (`l2s_bench.runner.curves`); 0 = off."""

    every: int = 0
    split: str = "valid"
    limit: int = 64  # task.samples(split, limit): the same items at every point, for every system
    batch_size: int = 16
    n_bootstrap: int = 200  # per point: a curve has 20+ points per system


@dataclass
class Suite:
    suite: str
    tasks: list[str]
    systems: dict[str, SystemDef]
    description: str = ""
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = None  # torch threads (CPU)
    train_jobs: int = 1  # trainings run side by side as subprocesses, the cores split between them
    data_dir: str | None = None  # read each task's split files from here (`{task}` substituted)
    quality: QualitySpec = field(default_factory=QualitySpec)
    speed: SpeedSpec = field(default_factory=SpeedSpec)
    curve: CurveSpec = field(default_factory=CurveSpec)

    def for_task(self, task: str) -> dict[str, SystemDef]:
        """The systems with `{task}` substituted in every string."""
        return {name: from_dict(SystemDef, _fill(asdict(s), task), f"suite {self.suite}: systems.{name}")
                for name, s in self.systems.items()}

    def task_data_dir(self, task: str) -> str | None:
        return self.data_dir.replace("{task}", task) if self.data_dir else None

    def to_dict(self) -> dict:
        return asdict(self)

    def hash(self) -> str:
        return config_hash(self.to_dict())


def _fill(value, task: str):
    if isinstance(value, str):
        return value.replace("{task}", task)
    if isinstance(value, dict):
        return {k: _fill(v, task) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, task) for v in value]
    return value


def suite_files() -> dict[str, Path]:
    """Suite name -> file, from the suite folders (`l2s_bench.builtin`); the first folder holding a name wins."""
    found: dict[str, Path] = {}
    for folder in builtin.folders("suites"):
        for path in sorted(folder.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def suite_names() -> list[str]:
    return sorted(suite_files())


def load_suite(name_or_path: str | Path, **overrides) -> Suite:
    """A suite by name (a suite folder's NAME.yaml) or path; `overrides` replace top-level keys (CLI flags)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = suite_files().get(str(name_or_path), path)
        if not path.is_file():
            hint = did_you_mean(str(name_or_path), suite_names())
            raise BenchError(f"unknown suite '{name_or_path}'{hint} (suites: {', '.join(suite_names())})")
    raw = load_yaml(path)
    for key, value in overrides.items():
        if value is not None:
            section, _, sub = key.partition(".")
            if sub:
                raw.setdefault(section, {})[sub] = value
            else:
                raw[key] = value
    suite = from_dict(Suite, raw, str(path))
    check(suite, str(path))
    return suite


def parse_system(text: str) -> tuple[str, SystemDef]:
    """`NAME[@ROLE]=ADAPTER[:k=v,...]`, e.g. `l2s=llm2slm:checkpoint=runs/x/final`; ROLE defaults to NAME."""
    from l2s_bench.models import parse_model_args

    head, sep, body = text.partition("=")
    if not sep or not body:
        raise BenchError(f"--system expects NAME[@ROLE]=ADAPTER[:k=v,...], got {text!r}")
    name, _, role = head.partition("@")
    role = role or name
    roles = [r for r in ROLES if r not in ("trivial", "assisted")]
    if role not in roles:
        raise BenchError(f"system '{name}': role '{role}' is not one of {', '.join(roles)} (write NAME@ROLE=...)"
                         f"{did_you_mean(role, roles)}")
    adapter, _, args = body.partition(":")
    return name, SystemDef(role=role, adapter=adapter, args=parse_model_args(args))


def one_task(task: str, systems: list[str], device: str = "cpu", data_dir: str | None = None,
             quality: QualitySpec | None = None, dtype: str | None = None, threads: int | None = None) -> Suite:
    """The suite behind `l2s-bench evaluate`: named systems on one task, quality only, no speed pass."""
    defs: dict[str, SystemDef] = {}
    for text in systems:
        name, system = parse_system(text)
        if name in defs:
            raise BenchError(f"system name '{name}' is used twice")
        defs[name] = system
    suite = Suite(suite=f"evaluate-{Path(task).stem}", tasks=[task], systems=defs, device=device, data_dir=data_dir,
                  threads=threads, **({"dtype": dtype} if dtype else {}),  # else the Suite's default
                  quality=quality or QualitySpec(), speed=SpeedSpec(enabled=False),
                  description="one-off evaluation: quality of the named systems, no speed pass")
    check(suite, "evaluate")
    return suite


def check(suite: Suite, where: str) -> None:
    check_name("suite", suite.suite, f"{where}: suite")
    if not suite.tasks:
        raise BenchError(f"{where}: tasks is empty")
    roles = [s.role for s in suite.systems.values()]
    for role in ("llm", "llm-ft"):  # several SLM sizes, each with its L2S, may share a suite (`baseline:`)
        if roles.count(role) > 1:
            raise BenchError(f"{where}: more than one system has role '{role}'")
    if suite.speed.enabled and "llm" not in roles and any(r != "llm" for r in roles):
        raise BenchError(f"{where}: speedups are measured against the LLM; add a system with role 'llm'")
    for name, s in suite.systems.items():
        here = f"{where}: systems.{name}"
        check_name("system", name, here)
        if name == "trivial":
            raise BenchError(f"{here}: 'trivial' is added to every task; choose another name")
        if s.paired:
            if (s.assistant is None) == (s.lookup is None):
                raise BenchError(f"{here}: an assisted system needs exactly one of assistant (speculative decoding) "
                                 "and lookup (prompt lookup decoding)")
            for key in ("target", "assistant"):
                ref = getattr(s, key)
                if (ref is not None or key == "target") and ref not in suite.systems:
                    hint = did_you_mean(str(ref), list(suite.systems))
                    raise BenchError(f"{here}.{key}: '{ref}' is not a system of this suite{hint}")
            if suite.systems[s.target].role not in ("llm", "llm-ft"):
                raise BenchError(f"{here}.target: '{s.target}' must be the LLM or the tuned LLM (role llm or llm-ft)")
            if s.assistant is not None and suite.systems[s.assistant].train is None:
                raise BenchError(f"{here}.assistant: '{s.assistant}' must be a trained SLM baseline (train: ...)")
            if s.lookup is not None and s.lookup < 1:
                raise BenchError(f"{here}.lookup: the number of draft tokens must be >= 1, got {s.lookup}")
        elif (s.adapter is None) == (s.train is None):
            raise BenchError(f"{here}: give exactly one of adapter, train")
        _check_sources(suite, name, s, here)
    for name, base in slm_baselines(suite.systems, where).items():
        l2s, slm = suite.systems[name], suite.systems[base]
        if l2s.teacher != slm.teacher:
            raise BenchError(f"{where}: L2S '{name}' and its SLM baseline '{base}' learn from different teachers "
                             f"({l2s.teacher}, {slm.teacher}); whatever labels L2S gets, its baseline gets too")
    if suite.quality.limit is not None and suite.quality.limit < 1 or suite.quality.batch_size < 1:
        raise BenchError(f"{where}: quality.limit and quality.batch_size must be >= 1 "
                         f"(got {suite.quality.limit}, {suite.quality.batch_size})")
    if suite.threads is not None and suite.threads < 1:
        raise BenchError(f"{where}: threads must be >= 1, got {suite.threads}")
    if suite.speed.batch_size < 1 or suite.speed.n < 1:
        raise BenchError(f"{where}: speed.n and speed.batch_size must be >= 1")
    curve = suite.curve
    if curve.every < 0 or curve.limit < 1 or curve.batch_size < 1 or curve.n_bootstrap < 0:
        raise BenchError(f"{where}: curve.every and curve.n_bootstrap must be >= 0, curve.limit and "
                         "curve.batch_size >= 1")
    if curve.every and suite.train_jobs > 1:
        raise BenchError(f"{where}: curve.every needs train_jobs: 1 (curve points are taken from the model in "
                         f"memory, so trainings run in this process), got train_jobs: {suite.train_jobs}")


def slm_baselines(systems: dict[str, SystemDef], where: str = "suite") -> dict[str, str]:
    """{l2s system: its SLM baseline}: the one its `baseline:` names, else the suite's only slm system
    (none: an L2S without a baseline, so no p_vs_slm). Several SLM sizes need `baseline:` on each L2S."""
    slms = [n for n, s in systems.items() if s.role == "slm"]
    out = {}
    for name, s in systems.items():
        if s.baseline is not None and s.role != "l2s":
            raise BenchError(f"{where}: systems.{name}.baseline: only an l2s system takes baseline:")
        if s.role != "l2s":
            continue
        if s.baseline is not None:
            if s.baseline not in slms:
                raise BenchError(f"{where}: systems.{name}.baseline: '{s.baseline}' is not an slm system of this suite"
                                 f"{did_you_mean(s.baseline, slms)}")
            out[name] = s.baseline
        elif len(slms) > 1:
            raise BenchError(f"{where}: systems.{name}: the suite has several SLM baselines ({', '.join(slms)}); "
                             "name this L2S's with baseline:")
        elif slms:
            out[name] = slms[0]
    return out


def _check_sources(suite: Suite, name: str, s: SystemDef, here: str) -> None:
    """`llm:` names a trained llm-ft system (L2S reads its tuned LLM); `teacher:` a trained llm-ft or an
    `llm` system with an adapter source; each only on the trained small systems that use it."""
    for key, roles in (("llm", ("l2s",)), ("teacher", ("slm", "l2s"))):
        ref = getattr(s, key)
        if ref is None:
            continue
        if s.role not in roles or s.train is None:
            raise BenchError(f"{here}.{key}: only a trained {' or '.join(roles)} system takes {key}:")
        other = suite.systems.get(ref)
        if other is None:
            raise BenchError(f"{here}.{key}: '{ref}' is not a system of this suite{did_you_mean(ref, list(suite.systems))}")
        tuned = other.role == "llm-ft" and other.train is not None
        plain = key == "teacher" and other.role == "llm" and "source" in other.args
        if not (tuned or plain):
            wanted = "a trained llm-ft system" + (" or an llm system with args.source" if key == "teacher" else "")
            raise BenchError(f"{here}.{key}: '{ref}' must be {wanted}")
