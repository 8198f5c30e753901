"""`l2s-bench`: a thin command line over the Python API (every command is one call into `l2s_bench`)."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

from l2s_bench import __version__, builtin, parallel
from l2s_bench.argtypes import positive_int
from l2s_bench.errors import BenchError
from l2s_bench.runner.verdict import TRAINED


def cmd_train(args: argparse.Namespace) -> None:
    from l2s_bench.config import deep_merge
    from l2s_bench.method import train
    from l2s_bench.models import GenSettings, get_adapter

    overrides = json.loads(args.set) if args.set else None
    if args.role:  # what a suite fills in for a config that leaves `system` and `out` to the role
        overrides = deep_merge(train.role_defaults(args.config, args.role, overrides=overrides), overrides or {})
    if parallel.launched():  # under torchrun / accelerate launch: one rank of a DDP training
        parallel.setup(train.load_config(args.config, overrides)[0].train.device)
    final = train.train(args.config, resume=args.resume, out=args.out, overrides=overrides)
    meta = json.loads((final / "l2s.json").read_text())["trainer"]
    if not parallel.is_main():
        return
    print(f"trained {meta['system']}: {final}")
    print(json.dumps(meta.get("train", {})))
    if args.samples:
        cfg, _ = train.load_config(args.config, overrides)
        split = cfg.data.valid_split or cfg.data.split
        records = train.select_records(cfg.data, split, args.samples)
        prompts, refs = train.render_records(cfg.data, records)
        gen = GenSettings(max_new_tokens=48)
        adapter = get_adapter("llm2slm", checkpoint=str(final), reserve_new_tokens=gen.max_new_tokens)
        outputs = adapter.generate(prompts, gen)
        for prompt, ref, out in zip(prompts, refs, outputs):
            print(f"\n[prompt] {prompt}\n[reference] {ref}\n[{meta['system']}] {out}")


def cmd_generate(args: argparse.Namespace) -> None:
    from l2s_bench.models import GenSettings, get_adapter, parse_model_args

    adapter = get_adapter(args.model, **parse_model_args(args.model_args))
    gen = GenSettings(max_new_tokens=args.max_new_tokens, num_beams=args.num_beams, do_sample=args.sample,
                      temperature=args.temperature, seed=args.seed)
    for prompt, out in zip(args.prompt, adapter.generate(args.prompt, gen)):
        print(json.dumps({"model": args.model, "prompt": prompt, "output": out}, ensure_ascii=False))


def cmd_evaluate(args: argparse.Namespace) -> None:
    from l2s_bench.api import evaluate
    from l2s_bench.runner.console import console_table

    started = time.perf_counter()
    results = evaluate(args.task, args.system, split=args.split, limit=args.limit, batch_size=args.batch_size,
                       n_bootstrap=args.n_bootstrap, device=args.device, dtype=args.dtype,
                       threads=args.threads, data_dir=args.data_dir,
                       results_dir=args.results_dir, run_id=args.run_id, resume=args.resume)
    print(console_table(results))
    print(f"wrote {Path(args.results_dir) / results['run_id'] / 'results.json'} ({time.perf_counter() - started:.1f} s)")


def cmd_run(args: argparse.Namespace) -> None:
    from l2s_bench.api import run
    from l2s_bench.runner.console import console_table
    from l2s_bench.runner.suite import check as check_suite
    from l2s_bench.runner.suite import load_suite

    split = lambda text: [x.strip() for x in text.split(",") if x.strip()] if text else None  # noqa: E731
    suite = load_suite(args.suite, device=args.device, dtype=args.dtype, threads=args.threads,
                       tasks=split(args.tasks), **{"quality.limit": args.limit, "speed.n": args.speed_n,
                                                   "speed.backends": split(args.backends)})
    if args.no_speed:
        suite.speed.enabled = False
    if args.systems:
        keep = split(args.systems)
        unknown = [s for s in keep if s not in suite.systems]
        if unknown:
            raise BenchError(f"--systems: {', '.join(unknown)} not in suite {suite.suite} ({', '.join(suite.systems)})")
        suite.systems = {k: v for k, v in suite.systems.items() if k in keep}
        check_suite(suite, f"suite {suite.suite} with --systems {args.systems}")
    if suite.curve.every and (args.processes > 1 or parallel.launched()):
        raise BenchError(f"suite {suite.suite} takes learning curves (curve.every), which run in one process; "
                         "drop --processes")
    if args.processes > 1 and not parallel.launched():  # all checks above passed once: now start the ranks
        parallel.launch(without_option(args.argv, "--processes"), args.processes)
        return
    started = time.perf_counter()
    results = run(suite, results_dir=args.results_dir, run_id=args.run_id, resume=args.resume)
    if parallel.is_main():
        print(console_table(results))
        print(f"wrote {Path(args.results_dir) / results['run_id'] / 'results.json'} "
              f"({time.perf_counter() - started:.1f} s)")  # this sitting's: not sittings[-1], where another began later


def without_option(argv: list[str], option: str) -> list[str]:
    """`argv` less `option VALUE` / `option=VALUE`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def cmd_score(args: argparse.Namespace) -> None:
    from l2s_bench.runner.collect import collect_results
    from l2s_bench.runner.console import console_table
    from l2s_bench.files import write_json
    from l2s_bench.runner.results import check_not_newer

    check_not_newer(Path(args.run) / "results.json")
    results = collect_results(args.run, n_bootstrap=args.n_bootstrap)
    print(console_table(results))
    print(f"wrote {write_json(results, Path(args.run) / 'results.json')}")


def cmd_list(args: argparse.Namespace) -> None:
    from l2s_bench.data import DATASETS
    from l2s_bench.method import pretrained
    from l2s_bench.models import MODELS
    from l2s_bench.tasks import load_task_file, task_files

    if args.what == "suites":
        from l2s_bench.runner.suite import suite_names

        print("\n".join(suite_names()))
    elif args.what == "models":
        print("adapters: " + ", ".join(MODELS.names()))
        print("embedded model sources: " + ", ".join(pretrained.EMBEDDED))
    elif args.what == "datasets":
        print("\n".join(DATASETS.names()))
    else:
        from l2s_bench.tasks import BROKEN

        for name, path in sorted(task_files().items()):
            try:
                task = load_task_file(path)
            except BenchError as e:
                print(f"{name:<16} BROKEN: {e}")
                continue
            d = task.dataset
            source = f"builder:{d.builder}" if d.builder else f"path:{d.path}" if d.path else f"hf:{d.hf}"
            metrics = ",".join(m.name for m in task.metrics)
            print(f"{name:<16} {task.family:<14} {source:<28} {metrics}")
        for path, why in BROKEN.items():
            print(f"{path.stem:<16} BROKEN: {why}")


def cmd_validate(args: argparse.Namespace) -> None:
    from l2s_bench.validate import check

    if len(args.paths) == 1:  # one file: its error is the one message
        print(check(args.paths[0]))
        return
    failed = []
    for ref in args.paths:  # every file is checked, then one error names all that failed
        try:
            print(check(ref))
        except BenchError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            failed.append(ref)
    if failed:
        raise BenchError(f"{len(failed)} of {len(args.paths)} failed validation: {', '.join(failed)}")


def cmd_data(args: argparse.Namespace) -> None:
    from l2s_bench.data import prepare

    print(prepare(args.name, args.out))


# Modules with a `register(subparsers)` function adding one sub-command each.
COMMAND_MODULES: tuple[str, ...] = ("l2s_bench.heal_cli", "l2s_bench.report", "l2s_bench.check", "l2s_bench.speed.sweep", "l2s_bench.lmeval_cli")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="l2s-bench", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages and show tracebacks")
    p.add_argument("--version", action="version", version=f"l2s-bench {__version__}")
    include_path(p)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train an L2S system or its SLM baseline from a YAML config")
    t.add_argument("config", help="a training YAML, e.g. configs/kjv-web.yaml (looked up in the config folders too)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    t.add_argument("--role", choices=TRAINED,
                   help="what to train where the config leaves it to the role (as a suite does): its system, "
                        "and the run folder runs/<task>/<role> unless the config sets `out`")
    t.add_argument("--out", help="run folder (default: the config's `out`)")
    t.add_argument("--samples", type=int, default=3, help="generate this many validation samples afterwards")
    t.add_argument("--set", help='JSON merged over the config, e.g. \'{"train": {"steps": 50}}\'')
    t.set_defaults(func=cmd_train)

    g = sub.add_parser("generate", help="generate with any registered model adapter")
    g.add_argument("--model", required=True, help="adapter name, e.g. hf-causal, llm2slm")
    g.add_argument("--model-args", default="", help="k=v,... e.g. checkpoint=runs/x/final or source=...,chat=true")
    g.add_argument("--max-new-tokens", type=int, default=64, help="tokens to generate at most (default 64)")
    g.add_argument("--num-beams", type=int, default=1, help="beam search width (default 1: greedy)")
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (with --sample)")
    g.add_argument("--seed", type=int, default=0, help="random seed (with --sample)")
    g.add_argument("prompt", nargs="+", help="the prompt text (several words are joined by spaces)")
    g.set_defaults(func=cmd_generate)

    e = sub.add_parser("evaluate", help="a one-off run: each system's quality on a task's test items, scored together "
                                           "(no speed pass; the same results.json as `run`)")
    e.add_argument("task", help="a task name (`l2s-bench list tasks`) or a task YAML file")
    e.add_argument("--system", action="append", required=True, metavar="NAME[@ROLE]=ADAPTER[:k=v,...]",
                   help="e.g. llm=hf-causal:source=smollm2-135m-instruct or l2s=llm2slm:checkpoint=runs/x/final; "
                        "the trivial baseline is always included")
    e.add_argument("--split", default="test", help="train, valid or test (default test)")
    e.add_argument("--limit", type=positive_int, help="a seeded sample of this many items (default: the task's limit)")
    e.add_argument("--batch-size", type=positive_int, default=16, help="prompts generated together (default 16)")
    e.add_argument("--data-dir", help="read <split>.jsonl from here (e.g. a local copy of a Hub dataset)")
    e.add_argument("--n-bootstrap", type=positive_int, default=1000,
                   help="bootstrap resamples for CIs and paired p-values (default 1000)")
    e.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 (default cpu)")
    compute_flags(e, "float32")
    e.add_argument("--results-dir", default="results", help="where run folders go (default ./results)")
    e.add_argument("--run-id", help="folder under --results-dir (default: evaluate-TASK)")
    e.add_argument("--resume", action="store_true", help="continue that folder's run, redoing nothing finished")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("run", help="run a suite: train what is missing, then quality and speed for every system")
    r.add_argument("suite", help="a suite name (`l2s-bench list suites`) or a suite YAML file")
    r.add_argument("--run-id", help="folder under --results-dir (default: SUITE-DEVICE)")
    r.add_argument("--results-dir", default="results", help="where run folders go (default ./results)")
    r.add_argument("--resume", action="store_true", help="continue a run: finished samples and speed passes are kept")
    r.add_argument("--device", help="cpu, cuda, cuda:1 (default: the suite's)")
    compute_flags(r, "the suite's")
    r.add_argument("--tasks", help="comma-separated subset of the suite's tasks")
    r.add_argument("--systems", help="comma-separated subset of the suite's systems")
    r.add_argument("--limit", type=positive_int, help="quality items per task (a seeded sample)")
    r.add_argument("--speed-n", type=positive_int, help="items timed per task and system")
    r.add_argument("--backends", help="comma-separated: eager, compiled")
    r.add_argument("--no-speed", action="store_true", help="quality only")
    r.add_argument("--processes", type=positive_int, default=1,
                   help="data-parallel ranks on this machine (torchrun; gloo on CPU, one GPU each with CUDA): "
                        "training, feature caching and the quality pass are sharded, results equal one process's")
    r.set_defaults(func=cmd_run)

    sc = sub.add_parser("score", help="re-score a run from its stored samples (no inference)")
    sc.add_argument("run", help="a run folder, e.g. results/default-cpu")
    sc.add_argument("--n-bootstrap", type=int, help="bootstrap resamples (default: what the run used)")
    sc.set_defaults(func=cmd_score)

    ls = sub.add_parser("list", help="list registered components")
    ls.add_argument("what", choices=["models", "tasks", "datasets", "suites"], help="what to list")
    ls.set_defaults(func=cmd_list)

    v = sub.add_parser("validate", help="check task, suite and training-config files or names (no model runs)")
    v.add_argument("paths", nargs="+", metavar="FILE_OR_NAME",
                   help="a task or suite name, or a YAML file; `_*.yaml` include files are skipped")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("data", help="build offline data sets")
    dsub = d.add_subparsers(dest="action", required=True)
    prep = dsub.add_parser("prepare", help="export, clean, align and split a data set into the data cache")
    prep.add_argument("name", help="a data set (`l2s-bench list datasets`)")
    prep.add_argument("--out", help="folder (default: the data cache)")
    prep.set_defaults(func=cmd_data)
    for module in COMMAND_MODULES:  # each adds its own sub-command; heavy imports stay inside its handler
        importlib.import_module(module).register(sub)
    return p


def compute_flags(p: argparse.ArgumentParser, dtype_default: str) -> None:
    """The flags `run` and `evaluate` share for how the models compute."""
    p.add_argument("--dtype", help=f"float32, bfloat16, float16 (default: {dtype_default})")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: the available cores)")


def include_path(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include-path", action="append", default=[], metavar="DIR",
                   help="also search DIR for tasks (DIR/tasks, DIR/suites, DIR/configs where they exist, else DIR "
                        "itself holds tasks); before ./tasks, ./suites, ./configs and the shipped ones; repeatable, "
                        "anywhere on the command line")


def parse_command(argv: list[str]) -> argparse.Namespace:
    """The parsed command line; `--include-path`, a flag of every command, is taken out before the command
    parses (argparse exits on a usage error, as for any command line)."""
    pre = argparse.ArgumentParser(add_help=False)
    include_path(pre)
    found, rest = pre.parse_known_args(argv)
    args = parser().parse_args(rest)
    args.include_path = found.include_path
    return args


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_command(argv)
    args.argv = argv  # `run --processes` starts its ranks with these
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("sacrebleu", "absl"):  # absl: rouge-score logs every scorer it builds
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        builtin.include(args.include_path)
        args.func(args)
        sys.stdout.flush()  # a pipe's reader that left shows here, inside the handlers below
    except BenchError as e:
        print(f"l2s-bench: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `l2s-bench list tasks | head`: the reader left; say nothing more, as a Unix tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        if e.errno != errno.ENOSPC or args.verbose:
            raise
        print(f"l2s-bench: error: no space left on device writing {e.filename or 'a file'}; finished samples, "
              "checkpoints and speed passes are kept; free space and rerun with --resume", file=sys.stderr)
        return 28
    except KeyboardInterrupt:
        print("l2s-bench: interrupted; finished checkpoints are kept (rerun with --resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
