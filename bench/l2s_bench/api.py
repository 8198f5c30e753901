"""The Python API: `l2s_bench.evaluate` (one task, named systems; lm-eval's `simple_evaluate` shape) and
`l2s_bench.run` (a whole suite). Both return the results dict that is also written to
`RESULTS_DIR/RUN_ID/results.json` (its fields: docs/results-schema.md); the CLI's `evaluate` and `run`
are these calls.

    import l2s_bench
    results = l2s_bench.evaluate("kjv-web", ["llm=hf-causal:source=smollm2-135m-instruct"], limit=5)
    results["results"][1]["quality"]["chrf"]   # {"value": ..., "ci": [low, high], "signature": ...}
"""

from __future__ import annotations

from pathlib import Path

from l2s_bench.names import check_name
from l2s_bench.runner.run import run_suite
from l2s_bench.runner.suite import QualitySpec, Suite, load_suite, one_task


def evaluate(task: str, systems: list[str], *, split: str = "test", limit: int | None = None, batch_size: int = 16,
             n_bootstrap: int = 1000, device: str = "cpu", dtype: str | None = None, threads: int | None = None,
             data_dir: str | None = None, results_dir: str | Path = "results", run_id: str | None = None,
             resume: bool = False) -> dict:
    """Quality of `systems` (each `NAME[@ROLE]=ADAPTER[:k=v,...]`, as `--system`) on one task (a name or a
    task YAML path), with the task's trivial baselines and their verdicts; no speed pass."""
    quality = QualitySpec(split=split, limit=limit, batch_size=batch_size, n_bootstrap=n_bootstrap)
    suite = one_task(task, systems, device, data_dir, quality, dtype, threads)
    return run_suite(suite, Path(results_dir) / check_name("run id", run_id or suite.suite), resume=resume)


def run(suite: str | Path | Suite, *, results_dir: str | Path = "results", run_id: str | None = None,
        resume: bool = False, **overrides) -> dict:
    """A suite (a name, a YAML path or a loaded `Suite`) into `results_dir/run_id` (default SUITE-DEVICE);
    `overrides` replace the suite's top-level keys (e.g. `device="cuda"`, `tasks=["kjv-web"]`)."""
    if not isinstance(suite, Suite):
        suite = load_suite(suite, **overrides)
    run_id = check_name("run id", run_id or f"{suite.suite}-{suite.device.split(':')[0]}")
    return run_suite(suite, Path(results_dir) / run_id, resume=resume)
