"""`results/<run-id>/results.json`: one file per suite run, the contract reports and gates read.

Schema (schema_version 1)::

    {
      "schema_version": 1,
      "suite": "default",                  # the suite's name
      "run_id": "default-cpu",
      "created": "2026-11-27T21:30:00+00:00",
      "provenance": {
        "git": {"sha": "...", "dirty": false},
        "python": "3.11.2", "torch": "2.13.0", "cuda": null,
        "packages": {"transformers": "5.24.0", "sacrebleu": "2.6.0", ...},
        "device": {"type": "cpu", "name": "AMD EPYC ...", "threads": 2},
        "cpu": "AMD EPYC ...",
        "seeds": {"bootstrap": 12345, "generation": 0},
        "statistics": {"n_bootstrap": 1000, "seed": 12345,   # how the quality CIs and p were computed
                       "paired_test": "sacrebleu",           # the suite's quality.paired (l2s_bench.metrics.base)
                       "clusters": {"debian-sum": "family", "kjv-web": null}},   # per task: the cluster field
        "config_hash": "...",                # of the suite config below
        "suite_config": {...},                # the suite YAML as loaded
        "data": {"kjv-web": "<sha256 of the test items scored>"},
        "code": {"sittings": 3, "shas": ["..."], "mixed": false,   # from each sitting's own git and packages
                 "dirty": 0, "unrecorded": 0},       # (l2s_bench.runner.sittings): one version or several
        "models": {"kjv-web/l2s": "<checkpoint or weights sha256>", ...}
      },
      "tasks": {"kjv-web": {"split": "test", "n": 200, "primary_metric": "chrf",
                            "metrics": ["chrf", "bleu"],
                            "higher_is_better": true,          # the primary metric's (Metric.higher_is_better)
                            "trivial": "copy_source",          # optional: the trivial rule, or a list of rules
                            "max_words": {"limit": 30, "dropped": 41},   # optional: items over the word budget
                            "slice_field": "kind",             # optional, sliced tasks only: the record field
                            "slices": ["answer", "define"]}},  # ... and its values (see `slices` below)
      "results": [                            # one entry per (task, system)
        {
          "task": "kjv-web", "system": "l2s", "role": "l2s", "n": 200,   # roles: l2s_bench.runner.verdict.ROLES
          "config_hash": "...",                # the system's config: the per-sample resume key uses it
          "empty_predictions": 0,
          "prompts_truncated": 0,              # prompts cut from the left to fit the model (per-sample
          "prompt_tokens": {"max": 61, "mean": 38.2},   # rows); both null where rows do not say (older
                                               # runs, an adapter that does not report it), absent for trivial
          "learned": true,                     # trained roles (llm-ft, slm, l2s): verdict == "above trivial";
                                               # null for the LLM and assisted; absent for trivial ones
          "vs_trivial": {"verdict": "above trivial",  # | "not distinguishable" | "below trivial" (every role;
                                               # files before 2026-12-08: "learned" | "not learned" for trained
                                               # roles); rule: l2s_bench.runner.verdict
                         "bar": "trivial", "bar_value": 28.1,   # the strongest trivial system, its value
                         "p_vs_trivial": 0.001,                 # paired bootstrap, primary metric, vs the bar
                         "ci_low": 31.6, "ci_high": 34.2,       # the system's primary-metric CI
                         "paired_test": "sacrebleu"},           # the test p_vs_trivial comes from (null: no p)
          "trivial_rule": {"rule": "lead_words", "k": 7, "k_from": "..."},   # trivial systems only
          "trained": {"features_llm": "smollm2-135m-instruct", "labels": "references", "layers": 4},
                                               # trained systems: features read (L2S), labels, SLM depth
          "baseline": "slm",                   # an L2S with an SLM baseline: the system p_vs_slm is against
          "quality": {"chrf": {"value": 32.9, "ci": [31.6, 34.2], "signature": "nrefs:1|...",
                               "p_vs_llm": 0.165, "p_vs_slm": 0.001,
                               "paired_test": "sacrebleu"}},   # with any p: the test that gave it
                                               # a clustered task's signatures carry `cluster:<field>`
          "slices": {"define": {"n": 50, "quality": {...}, "learned": .., "vs_trivial": {...}}},
                                               # sliced tasks only: the same scores over each slice's items,
                                               # with the slice's own bar (and no speed)
          "speed": {                           # the suite's first backend; null for `trivial`
            "backend": "eager", "device": "cpu", "dtype": "float32", "mode": "fixed",
            "batch_size": 1, "new_tokens": 32, "n_samples": 5, "runs": 10,
            "latency_ms": {"median": .., "p90": .., "p99": .., "mean": .., "std": ..},
            "cold_ms": .., "ttft_ms": .., "tpot_ms": .., "tokens_per_s": ..,
            "peak_mem_mb": {"rss": ..} or {"allocated": .., "reserved": ..},
            "stages_ms": {"llm_encode": .., "projector": .., "slm_decode": ..},   # L2S only
            "gpu_shared": false
          },
          "speedup_vs_llm": {"value": 3.9, "ci": [3.7, 4.1], "definition": "...",
                             "tokens_per_s_ratio": 4.1},
          "speedup_vs_own_llm": {"system": "llm-ft", "value": 3.8, "ci": [..], ...},   # only where a system
                                               # reads (L2S, `llm: llm-ft`) or speeds up (lookup, `target: llm-ft`)
                                               # the tuned LLM: the same paired speedup against that system
          "backends": {"eager": {"speed": {...}, "speedup_vs_llm": {...}}, ...},
          "examples": [{"id": "..", "prediction": "..", "reference": ".."}]   # optional: a few outputs
        }
      ],
      "curves": {                             # optional: runs of a suite with curve.every > 0 (l2s_bench.runner.curves)
        "kjv-web": {
          "split": "valid", "n": 64, "metric": "chrf",          # the curve items; the task's primary metric
          "trivial": {"system": "trivial", "value": 55.2, "ci": [53.0, 57.4]},   # the bar on these items
          "llm": {"value": 30.1, "ci": [27.5, 32.8]},            # the LLM on the same items (null: none)
          "systems": {"l2s": {"role": "l2s",                     # every trained system of the run
                              "points": [{"step": 0, "tokens": 0, "value": 21.4, "ci": [..],
                                          "verdict": "below trivial",   # vs the bar, as `vs_trivial` above
                                          "p_vs_trivial": 0.001}, ...],  # points by optimizer step;
                                                                         # tokens: prompt + response seen
                              "crosses_trivial_at": 700,         # the first step whose verdict passes, or null
                              "missing": ".."}}                  # only without points (a reused checkpoint)
        }
      }
    }

Values are on the metric's own scale (sacreBLEU and ROUGE x 100). A missing measurement is `null`,
never a made-up number. `examples` holds raw model output: reports show it, always HTML-escaped.
"""

from __future__ import annotations

import json
from pathlib import Path

from l2s_bench.errors import BenchError

SCHEMA_VERSION = 1


def check_not_newer(path: str | Path) -> None:
    """Refuse to overwrite a results file that a newer l2s-bench wrote (its fields would be lost)."""
    path = Path(path)
    try:
        version = json.loads(path.read_text(encoding="utf-8")).get("schema_version")
    except (OSError, ValueError, AttributeError):
        return  # absent or unreadable: nothing to keep
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise BenchError(f"{path} was written with schema_version {version} by a newer l2s-bench; this one "
                         f"writes {SCHEMA_VERSION} and would drop its fields; upgrade l2s-bench or use another folder")


def load(path: str | Path) -> dict:
    """A results file (or the run folder holding one), checked for the schema version it was written with."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BenchError(f"no results at {path} (give a run folder or its results.json)") from None
    except json.JSONDecodeError as e:
        raise BenchError(f"{path} is not valid JSON: {e}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise BenchError(f"{path}: schema_version {version!r}; this l2s-bench reads version {SCHEMA_VERSION}")
    for key in ("suite", "run_id", "provenance", "tasks", "results"):
        if key not in data:
            raise BenchError(f"{path}: missing top-level key '{key}'")
    return data


def entry(data: dict, task: str, system: str) -> dict | None:
    return next((e for e in data["results"] if e["task"] == task and e["system"] == system), None)
