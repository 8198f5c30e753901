"""`l2s-bench export-lm-eval` and `l2s-bench lm-eval`: the command line of `l2s_bench.lmeval`, kept apart
from that package so that building the parser never imports lm-eval (seconds of imports).

    l2s-bench export-lm-eval kjv-web debian-sum --out lm-eval-tasks [--limit 100]
    l2s-bench lm-eval --model llm2slm --model_args checkpoint=runs/x/final \
        --include_path lm-eval-tasks --tasks l2s_kjv-web --output_path results/lm-eval
"""

from __future__ import annotations

import argparse
import sys


def cmd_export(args: argparse.Namespace) -> None:
    from l2s_bench.lmeval.tasks import export
    from l2s_bench.tasks import get_task, task_files

    tasks = [get_task(name) for name in args.tasks or sorted(task_files())]
    for path in export(tasks, args.out, args.limit, args.data_dir, args.prompt_family):
        print(f"wrote {path}")
    print(f"run: l2s-bench lm-eval --model llm2slm --model_args checkpoint=PATH --include_path {args.out} "
          f"--tasks {','.join('l2s_' + t.task for t in tasks)}")


def cmd_lm_eval(args: argparse.Namespace) -> None:
    import l2s_bench.lmeval  # noqa: F401  (registers the llm2slm model with lm-eval)
    from lm_eval.__main__ import cli_evaluate

    saved = sys.argv
    sys.argv = ["lm-eval", *args.args]  # lm-eval's CLI reads sys.argv itself
    try:
        cli_evaluate()
    finally:
        sys.argv = saved


def register(subparsers: argparse._SubParsersAction) -> None:
    x = subparsers.add_parser("export-lm-eval", help="write tasks as lm-evaluation-harness tasks (YAML + JSONL)")
    x.add_argument("tasks", nargs="*", metavar="TASK", help="task names (default: every task)")
    x.add_argument("--out", required=True, help="folder for lm-eval's --include_path")
    x.add_argument("--limit", type=int, help="a seeded sample of this many test items (default: the task's limit)")
    x.add_argument("--data-dir", help="read <split>.jsonl from here (one task only)")
    x.add_argument("--prompt-family", default="decoder", help="which of the task's prompt templates (decoder, t5)")
    x.set_defaults(func=cmd_export)

    # Every argument, dashes included, belongs to lm-eval: no prefix character is ours.
    e = subparsers.add_parser("lm-eval", add_help=False, prefix_chars="\0",
                              help="run lm-eval's own CLI with the llm2slm model registered (args passed through)")
    e.add_argument("args", nargs=argparse.REMAINDER, help="lm-eval's own arguments, passed through")
    e.set_defaults(func=cmd_lm_eval)
