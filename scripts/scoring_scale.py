"""How scoring grows with the number of items: `score_task` (every metric's value, its bootstrap CI, the
paired tests against the LLM, the SLM and the trivial bar) on n items of kjv-web's train split, for three
systems and the trivial baseline, at the suites' default of 1,000 resamples. Prints one Markdown row per n.

    .venv/bin/python scripts/scoring_scale.py 200 1000 4000
"""

import sys
import time

from l2s_bench.runner import provenance
from l2s_bench.runner.score_task import score_task
from l2s_bench.tasks import get_task
from l2s_bench.trivial import trivial_predictions


def main(sizes: list[int]) -> None:
    task = get_task("kjv-web")
    records = task.samples("train", limit=max(sizes))
    print(f"machine: {provenance.cpu_model()}; {provenance.machine()['threads']} torch threads; task kjv-web "
          f"(chrF, BLEU), 3 systems + trivial, 1,000 resamples")
    print("| items | score_task s | s per 1,000 items |")
    print("|---|---|---|")
    for n in sizes:
        part = records[:n]
        refs = [r["reference"] for r in part]
        copy = trivial_predictions(part, "copy_source")
        outputs = {"trivial": copy, "llm": [c.lower() for c in copy], "slm": [" ".join(r.split()[:-1]) for r in refs],
                   "l2s": [r.replace(" the ", " a ") for r in refs]}
        roles = {"trivial": "trivial", "llm": "llm", "slm": "slm", "l2s": "l2s"}
        started = time.perf_counter()
        score_task(task, refs, outputs, roles, n_bootstrap=1000)
        seconds = time.perf_counter() - started
        print(f"| {n:,} | {seconds:.1f} | {1000 * seconds / n:.1f} |", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [200, 1000, 4000])
