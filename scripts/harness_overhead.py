"""Harness overhead: the suite's timed path vs a bare `generate` call on the same model and inputs.

    .venv/bin/python scripts/harness_overhead.py CHECKPOINT [--runs 20] [--new-tokens 32]

The timed path is what a speed pass runs: adapter.generate_ids (tokenize, LLM encode + projector with
stage marks, generate, strip) inside l2s_bench.speed.tracker.Tracker. The bare path is the same model work
by hand on pre-tokenized ids (LLMToSLM.encode, then the SLM's `generate`) timed with perf_counter. Both alternate run by run (ABAB...) so drift on a shared
machine hits both alike; the overhead is the ratio of the medians, with a bootstrap CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from l2s_bench.metrics.base import resample_indices
from l2s_bench.models import GenSettings, get_adapter
from l2s_bench.speed.tracker import Tracker


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--prompt", default="Rewrite this King James Bible verse in modern English:\nJesus wept.")
    args = p.parse_args()

    adapter = get_adapter("llm2slm", checkpoint=args.checkpoint)
    gen = GenSettings(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    ids, mask, _, _ = adapter.prompt_batch([args.prompt])
    kwargs = {**gen.generate_kwargs(), "pad_token_id": adapter.output_tokenizer.eos_token_id}
    tracker = Tracker("cpu", warmup=0, min_runs=1, min_seconds=0.0)

    def bare() -> float:
        with torch.inference_mode():
            start = time.perf_counter()
            adapter.model.slm.generate(**adapter.model.encode(ids, mask), **kwargs)
            return time.perf_counter() - start

    def harness() -> float:
        with torch.inference_mode():
            measured = tracker.measure([("x", lambda mark: sum(map(len, adapter.generate_ids([args.prompt], gen, mark))))])
        return measured.runs[0].seconds

    bare(), harness()  # warm-up
    a, b = [], []
    for _ in range(args.runs):
        a.append(bare())
        b.append(harness())
    ratios = np.array(b) / np.array(a)
    boot = np.median(ratios[resample_indices(len(ratios), 1000, seed=0)], axis=1)  # 1,000 resamples of the runs
    print(json.dumps({
        "what": "timed path (tokenize + encode + generate + strip, inside the tracker) / bare encode + generate on pre-tokenized ids",
        "checkpoint": args.checkpoint, "runs": args.runs, "new_tokens": args.new_tokens,
        "threads": torch.get_num_threads(), "bare_ms_median": round(statistics.median(a) * 1000, 2),
        "harness_ms_median": round(statistics.median(b) * 1000, 2),
        "overhead_pct_median": round((float(np.median(ratios)) - 1) * 100, 2),
        "overhead_pct_ci95": [round((float(q) - 1) * 100, 2) for q in np.percentile(boot, [2.5, 97.5])],
    }, indent=1))


if __name__ == "__main__":
    main()
