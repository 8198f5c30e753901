"""The tiny suite on a CUDA GPU, end to end through the CLI: the suite's device reaches training (SLM and
L2S train on the GPU), the quality pass generates there, and the speed pass times both backends, eager and
compiled (static cache + CUDA graphs), with L2S's stages. Skipped where torch sees no GPU (CI); run on a
GPU machine by `scripts/gpu_bench.sh`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from l2s_bench.cli import main
from l2s_bench.runner.results import entry, load
from conftest import tiny_training, write_tiny_task

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

SYSTEMS = ("trivial", "llm", "slm", "l2s", "assisted")


@pytest.fixture(scope="module")
def gpu_run(tiny, tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda")
    task = write_tiny_task(root, max_new_tokens=8, metrics=("chrf",))
    folder = root / "configs" / "tiny-kjv"
    folder.mkdir(parents=True)
    for system in ("slm", "l2s"):  # no device here: the suite's `device: cuda` must reach training
        (folder / f"{system}.yaml").write_text(yaml.safe_dump(tiny_training(
            tiny["llama"], task, steps=2, system=system, out=str(root / "runs" / system))))
    suite = root / "tiny-cuda.yaml"
    suite.write_text(yaml.safe_dump({
        "suite": "tiny-cuda", "device": "cuda", "tasks": [str(task)],
        "systems": {"llm": {"role": "llm", "adapter": "hf-causal", "args": {"source": tiny["llama"]}},
                    "slm": {"role": "slm", "train": str(folder.parent / "{task}" / "slm.yaml")},
                    "l2s": {"role": "l2s", "train": str(folder.parent / "{task}" / "l2s.yaml")},
                    "assisted": {"role": "assisted", "target": "llm", "assistant": "slm"}},
        "quality": {"limit": 8, "batch_size": 4, "n_bootstrap": 50},
        "speed": {"n": 2, "max_new_tokens": 8, "warmup": 1, "min_runs": 2, "min_seconds": 0, "n_bootstrap": 50,
                  "backends": ["eager", "compiled"]}}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("L2S_BENCH_CACHE", str(root / "cache"))
        assert main(["run", str(suite), "--results-dir", str(root / "results"), "--run-id", "gpu"]) == 0
    return root


def test_training_ran_on_the_gpu(gpu_run):
    for system in ("slm", "l2s"):
        trainer = json.loads((gpu_run / "runs" / system / "final" / "l2s.json").read_text())["trainer"]
        assert trainer["config"]["train"]["device"] == "cuda", system
        assert trainer["machine"]["device"] == "cuda" and trainer["machine"]["gpu"], system


def test_quality_and_both_backends_are_measured_on_the_gpu(gpu_run):
    data = load(gpu_run / "results" / "gpu")
    assert data["provenance"]["device"]["type"] == "cuda"
    assert sorted(e["system"] for e in data["results"]) == sorted(SYSTEMS)
    for e in data["results"]:
        q = e["quality"]["chrf"]
        assert q["value"] is not None and 0 <= q["value"] <= 100
        if e["role"] in ("trivial", "assisted"):
            continue
        assert set(e["backends"]) == {"eager", "compiled"}, e["system"]
        for backend, measured in e["backends"].items():
            speed = measured["speed"]
            assert speed["backend"] == backend and speed["tokens_per_s"] > 0 and speed["new_tokens"] == 8
            assert speed["peak_mem_mb"]["allocated"] > 0
    l2s = entry(data, "tiny-kjv", "l2s")
    assert {"llm_encode", "projector", "slm_decode"} <= set(l2s["backends"]["compiled"]["speed"]["stages_ms"])
    assisted = entry(data, "tiny-kjv", "assisted")
    assert assisted["agreement_with_llm"]["same"] == assisted["agreement_with_llm"]["n"]  # greedy: lossless
