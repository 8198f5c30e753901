"""`l2s-bench speed` end to end on the tiny shapes (CPU, eager), and the public shapes' sizes."""

import json

import pytest
import torch

from l2s_bench import cli
from l2s_bench.errors import BenchError
from l2s_bench.speed.sweep import PAIRS, build, parse_pairs

TINY = "tiny-t5:tiny-llama,tiny-llama:tiny-t5"  # seq2seq LLM and decoder-only LLM


@pytest.fixture
def speed_cli(monkeypatch):
    """The CLI with only this sub-command registered, so the test does not depend on other commands."""
    assert "l2s_bench.speed.sweep" in cli.COMMAND_MODULES
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("l2s_bench.speed.sweep",))
    return cli.main


def test_speed_sweep_tiny_cpu(speed_cli, tmp_path, capsys):
    out = tmp_path / "speed.json"
    code = speed_cli(["speed", "--pairs", TINY, "--batch-sizes", "1,2", "--backends", "eager", "--device", "cpu",
                      "--dtype", "float32", "--prompt-tokens", "8", "--new-tokens", "4", "--samples", "2",
                      "--min-runs", "2", "--min-seconds", "0", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "l2s" in printed and "wrote" in printed
    data = json.loads(out.read_text())
    assert data["kind"] == "speed-sweep" and data["schema_version"] == 1
    prov = data["provenance"]
    assert prov["torch"] == torch.__version__ and prov["dtype"] == "float32" and prov["device"]["type"] == "cpu"
    assert prov["transformers"] and prov["backends"]["eager"] == {"cache": "dynamic", "torch_compile": None}
    rows = data["rows"]
    assert len(rows) == 2 * 2 * 3
    assert {(r["pair"], r["batch_size"], r["system"]) for r in rows} == {
        (p, b, s) for p in TINY.split(",") for b in (1, 2) for s in ("llm", "slm", "l2s")}
    for r in rows:
        s = r["speed"]
        assert s["n_samples"] == 2 and s["runs"] >= 2 and s["latency_ms"]["median"] > 0
        # prefill was measured (values only: on a shared CPU, tiny models' TTFT noise can exceed their decode)
        assert s["ttft_ms"] > 0 and isinstance(s["tpot_ms"], float)
        # every call generated exactly the forced 4 tokens per sequence (2 keys: their median is their mean)
        assert s["tokens_per_s_e2e"] == pytest.approx(4 * r["batch_size"] / (s["latency_ms"]["median"] / 1000))
        assert s["peak_mem_mb"]["rss"] > 0 and s["weights_mb"] > 0
        assert r["ms_per_token"] == pytest.approx(s["latency_ms"]["median"] / 4)
        if r["system"] == "llm":
            assert r["speedup_vs_llm"] is None and s["stages_ms"] == {}
        else:
            gain = r["speedup_vs_llm"]
            assert gain["value"] > 0 and gain["ci"][0] <= gain["ci"][1] and gain["n"] == 2
        if r["system"] == "l2s":
            assert list(s["stages_ms"]) == ["llm_encode", "projector", "slm_decode"]
            assert all(v > 0 for v in s["stages_ms"].values())
            assert sum(s["stages_ms"].values()) <= 2 * s["latency_ms"]["median"]
    l2s = {r["llm"]: r for r in rows if r["system"] == "l2s"}
    assert l2s["tiny-t5"]["llm_layer"] is None  # the whole encoder
    assert l2s["tiny-llama"]["llm_layer"] == 1  # half of its 2 layers


@pytest.mark.parametrize("argv, message", [
    (["--pairs", "t5-large:t5-smal"], "did you mean 't5-small'"),
    (["--pairs", "t5-large"], "a pair is LLM:SLM"),
    (["--pairs", TINY, "--backends", "compiled"], "needs CUDA"),
    (["--pairs", TINY, "--backends", "eagr"], "did you mean 'eager'"),
    (["--pairs", TINY, "--prompt-tokens", "500", "--new-tokens", "64"], "tiny-llama has 512 positions"),
])
def test_speed_errors_exit_2(speed_cli, capsys, argv, message):
    assert speed_cli(["speed", "--device", "cpu", *argv]) == 2
    assert message in capsys.readouterr().err


def test_default_pairs_parse():
    assert parse_pairs(",".join(PAIRS))[0] == ("t5-large", "t5-small")
    with pytest.raises(BenchError):
        parse_pairs(" , ")


@pytest.mark.parametrize("name, params", [
    ("t5-small", 60_506_624), ("t5-base", 222_903_552), ("t5-large", 737_668_096), ("gpt2", 124_439_808),
    ("smollm2-135m", 134_515_008),
    # flan-t5 checkpoints have an untied lm_head (vocab x d_model more); transformers 5 always ties T5's,
    # which changes the parameter count but not the work per step (the same matmul reads the same bytes)
    ("flan-t5-large", 783_150_080 - 32128 * 1024), ("flan-t5-xl", 2_849_757_184 - 32128 * 2048),
])
def test_public_shapes(name, params):
    model = build(name, "meta", "float32")  # no memory, no init cost
    assert sum(p.numel() for p in model.parameters()) == params


@pytest.mark.parametrize("pair, side", [("tiny-t5:tiny-llama", "llm"), ("tiny-llama:tiny-llama", "slm")])
def test_l2s_is_a_real_llmtoslm_timed_through_encode_and_generate(monkeypatch, pair, side):
    """`l2s-bench speed` times the method's own code, not a copy: a `l2s_bench.method.l2s.LLMToSLM` around the two
    random models (prompt side by the shapes' tokenizers), through the `encode` + `generate` path the
    llm2slm adapter runs, with the adapter's stage marks."""
    from l2s_bench.method.l2s import LLMToSLM
    from l2s_bench.speed.sweep import Pair, forced

    calls = []
    for name in ("encode", "generate"):
        real = getattr(LLMToSLM, name)
        monkeypatch.setattr(LLMToSLM, name, lambda self, *a, _real=real, _name=name, **k: calls.append(_name)
                            or _real(self, *a, **k))
    p = Pair(*pair.split(":"), device="cpu", dtype="float32")
    assert isinstance(p.l2s, LLMToSLM) and p.l2s.slm is p.slm and p.l2s.llm.model is p.llm
    assert p.l2s.prompt_side == side and (p.l2s.prompt_proj is None) == (side == "slm")
    assert p.l2s.llm.layer == 1 or p.l2s.llm.is_seq2seq
    (_, x), = p.inputs(2, 8, 4, 1)
    marks = []
    assert p.call("l2s", x, forced(4))(marks.append) == 2 * 4
    assert marks == ["llm_encode", "projector", "slm_decode"] and calls == ["encode", "generate"]
    parts = (p.llm, p.slm, p.l2s.projector, *([p.l2s.prompt_proj] if p.l2s.prompt_proj is not None else []))
    assert p.weights_mb("l2s") == pytest.approx(sum(q.numel() * q.element_size() for m in parts
                                                    for q in m.parameters()) / 2**20)


def test_speed_runs_where_rouge_score_and_lm_eval_are_not_installed(tmp_path):
    """A GPU machine may have torch and transformers but no rouge-score or lm-eval (H200 images seen here):
    `speed` must not import them (it once did through l2s_bench.metrics)."""
    import subprocess
    import sys

    block = ("import importlib.abc, sys\n"
             "class Block(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path, target=None):\n"
             "        if name.split('.')[0] in ('rouge_score', 'nltk', 'lm_eval'):\n"
             "            raise ImportError('not installed: ' + name)\n"
             "sys.meta_path.insert(0, Block())\n"
             "import l2s_bench.cli as c\n"
             "c.COMMAND_MODULES = ('l2s_bench.speed.sweep',)\n"
             "sys.exit(c.main(sys.argv[1:]))\n")
    argv = ["speed", "--pairs", "tiny-llama:tiny-llama", "--device", "cpu", "--dtype", "float32", "--prompt-tokens",
            "4", "--new-tokens", "2", "--samples", "2", "--min-runs", "1", "--min-seconds", "0", "--out",
            str(tmp_path / "s.json")]
    done = subprocess.run([sys.executable, "-c", block, *argv], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((tmp_path / "s.json").read_text())["rows"]
