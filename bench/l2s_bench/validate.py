"""`l2s-bench validate`: check task, suite and training-config files (or names) without running a model.

What a file is follows from its keys: a suite names `suite:`, a task has `prompts:` or `family:`, anything
else is a training config. Files whose name starts with `_` are include files (shared defaults), checked
through the files that include them.
"""

from __future__ import annotations

from pathlib import Path

from l2s_bench import builtin
from l2s_bench.config import load_yaml
from l2s_bench.errors import BenchError, did_you_mean


def resolve(ref: str) -> Path:
    """A file path as given (or found in the search folders), or a task or suite name."""
    from l2s_bench.runner.suite import suite_files
    from l2s_bench.tasks import task_files

    if Path(ref).suffix in (".yaml", ".yml"):
        path = builtin.locate(ref)
        if not path.is_file():
            raise BenchError(f"no such file: {ref}")
        return path
    tasks, suites = task_files(), suite_files()
    if ref in tasks:
        return tasks[ref]
    if ref in suites:
        return suites[ref]
    raise BenchError(f"unknown task or suite '{ref}'{did_you_mean(ref, [*tasks, *suites])}")


def check(ref: str) -> str:
    """One line saying what `ref` is and what was checked; a BenchError naming the problem otherwise."""
    path = resolve(ref)
    if path.name.startswith("_"):
        return f"skipped: {path} (an include file: checked through the files that include it)"
    raw = load_yaml(path)
    if "suite" in raw:
        from l2s_bench.runner.suite import load_suite

        suite = load_suite(path)
        return f"ok: {path} (suite '{suite.suite}', {len(suite.tasks)} tasks, {len(suite.systems)} systems)"
    if "prompts" in raw or "family" in raw:
        from l2s_bench.tasks import load_task_file

        task = load_task_file(path)
        checked = task.check_data()
        against = checked or "no data at hand: templates not checked against a record (prepare it first)"
        return f"ok: {path} (task '{task.task}', {task.family}, {len(task.metrics)} metrics; {against})"
    from l2s_bench.method.train import load_config, role_defaults

    filled = role_defaults(path, "l2s")  # what a suite's l2s system would fill in
    if "data" not in raw:  # a base config that others include (and `heal` reads): every other key is checked
        cfg, _ = load_config(path, {**filled, "data": {"source": "(given by the including config)"}})
        return f"ok: {path} (base training config, no data: of its own; system {cfg.system}, SLM {cfg.slm.init})"
    cfg, _ = load_config(path, filled)
    return f"ok: {path} (training config, system {cfg.system}, {cfg.train.steps} steps)"
