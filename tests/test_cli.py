"""The command line: one clear message and a non-zero exit on bad input; commands call the API."""

import json

from l2s_bench.cli import main


def test_list_models(capsys):
    assert main(["list", "models"]) == 0
    out = capsys.readouterr().out
    assert "llm2slm" in out and "smollm2-135m-instruct" in out


def test_unknown_adapter_exits_2_with_did_you_mean(capsys):
    assert main(["generate", "--model", "hf-casual", "hello"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'hf-causal'" in err


def test_generate_prints_json_lines(tiny, capsys):
    assert main(["generate", "--model", "hf-causal", "--model-args", f"source={tiny['llama']},chat=true,reserve_new_tokens=16",
                 "--max-new-tokens", "3", "one", "two"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["prompt"] for line in lines] == ["one", "two"]


def test_train_bad_config_key_exits_2(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("system: l2s\nout: x\ndata: {source: x}\ntrain: {stpes: 3}\n")
    assert main(["train", str(cfg)]) == 2
    assert "did you mean 'steps'" in capsys.readouterr().err


def test_train_then_samples(tiny, pairs_jsonl, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"system": "slm", "out": str(tmp_path / "run"), "llm": tiny["llama"],
                               "slm": {"init": "truncate", "layers": 1}, "data": {"source": str(pairs_jsonl)},
                               "train": {"steps": 2, "batch_size": 4, "warmup_steps": 1, "max_response_tokens": 24}}))
    assert main(["train", str(cfg), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("[reference]") == 2 and "trained slm" in out
    # a finished run of the same config is reused, not retrained or refused
    final, log = tmp_path / "run" / "final", tmp_path / "run" / "log.jsonl"
    before = (final / "model.safetensors").stat().st_mtime_ns, log.read_text()
    assert main(["train", str(cfg), "--samples", "0"]) == 0
    assert ((final / "model.safetensors").stat().st_mtime_ns, log.read_text()) == before


def test_run_systems_subset_is_rechecked(tmp_path, capsys):
    # assisted without its target LLM: refused before any training or inference
    assert main(["run", "smoke", "--systems", "assisted,slm", "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--systems" in err and "'llm'" in err
    assert not any(tmp_path.iterdir())


def test_run_unknown_suite_did_you_mean(capsys):
    assert main(["run", "smoek"]) == 2
    assert "did you mean 'smoke'" in capsys.readouterr().err


def test_list_suites(capsys):
    assert main(["list", "suites"]) == 0
    assert {"smoke", "default", "full", "paper"} <= set(capsys.readouterr().out.split())


import pytest


@pytest.mark.parametrize("flag, value", [("--limit", "-3"), ("--limit", "0"), ("--speed-n", "0"), ("--threads", "x")])
def test_bad_counts_are_refused_before_any_work(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "smoke", "--results-dir", str(tmp_path), flag, value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # no run folder for a run that never started


def test_a_suite_with_a_bad_quality_limit_is_one_clear_error(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks: [kjv-web]\nquality: {limit: 0}\n"
                     "systems: {llm: {role: llm, adapter: hf-causal}}\n")
    assert main(["run", str(suite), "--results-dir", str(tmp_path / "r")]) == 2
    assert "quality.limit" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_a_full_disk_is_one_message_and_keeps_what_was_done(monkeypatch, capsys):
    import errno

    import l2s_bench.cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "results/x/samples/kjv-web/l2s.jsonl")

    monkeypatch.setattr(l2s_bench.cli, "cmd_list", full)
    assert main(["list", "tasks"]) == 28
    err = capsys.readouterr().err
    assert "no space left on device writing results/x/samples/kjv-web/l2s.jsonl" in err
    assert "--resume" in err and "Traceback" not in err


def test_score_refuses_to_overwrite_a_newer_schema(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"schema_version": 99}))
    assert main(["score", str(run)]) == 2
    assert "newer l2s-bench" in capsys.readouterr().err
    assert json.loads((run / "results.json").read_text()) == {"schema_version": 99}


def test_every_command_argument_and_flag_has_help():
    import argparse

    from l2s_bench.cli import parser

    def missing(p: argparse.ArgumentParser, path: str) -> list[str]:
        out = []
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                out += [m for name, sub in a.choices.items() for m in missing(sub, f"{path} {name}")]
            elif not a.help and not isinstance(a, argparse._HelpAction):
                out.append(f"{path} {'/'.join(a.option_strings) or a.dest}")
        return out

    assert missing(parser(), "l2s-bench") == []


def test_read_only_commands_create_no_cache_folders(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    monkeypatch.setenv("L2S_BENCH_CACHE", str(cache))
    for argv in (["list", "tasks"], ["list", "datasets"], ["list", "suites"], ["validate", "kjv-web", "default"]):
        assert main(argv) == 0, argv
    assert not cache.exists()


def test_a_reader_that_leaves_early_gets_no_traceback():
    import subprocess
    import sys

    cmd = [sys.executable, "-c", "import sys; from l2s_bench.cli import main; sys.exit(main())", "list", "tasks"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader leaves before the first line (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err and "BrokenPipe" not in err
