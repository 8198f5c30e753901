"""The embedded default on the real SmolLM2-135M-Instruct weights (installed by scripts/setup.sh)."""

import json
from pathlib import Path

import pytest

from l2s_bench.method import pretrained, train
from l2s_bench.models import GenSettings, get_adapter

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Overrides conftest's: the converted SmolLM2 stays in the user cache, converted once per machine."""


@pytest.fixture(scope="module")
def smollm2():
    return pretrained.load("smollm2-135m-instruct")


def test_embedded_model_loads_and_answers(smollm2):
    adapter = get_adapter("hf-causal", source="smollm2-135m-instruct", chat=True)
    out = adapter.generate(["What is the capital of France?"], GenSettings(max_new_tokens=12))
    assert "Paris" in out[0]
    assert smollm2.model.config.num_hidden_layers == 30


def test_default_config_trains_l2s_on_real_weights(smollm2, tmp_path, monkeypatch):
    config = tmp_path / "l2s.yaml"
    config.write_text(json.dumps({
        "include": str(ROOT / "configs/kjv-web.yaml"),
        "system": "l2s", "out": str(tmp_path / "run"),
        "data": {"data_dir": str(ROOT / "tests/fixtures/kjv-web"), "limit": 24, "valid_limit": 8},
        # the default heals for 800 steps on the prepared corpora; here 2 steps on the committed fixtures,
        # in this test's own cache, so a fresh machine needs neither apt nor the user cache
        "slm": {"heal": {"steps": 2, "eval_every": 1, "save_every": 1, "diagnostic_texts": 8,
                         "corpus": [str(ROOT / "tests/fixtures" / t) for t in ("kjv-web", "debian-sum")]}},
        "train": {"steps": 3, "batch_size": 4, "save_every": 3, "warmup_steps": 1},
    }))
    monkeypatch.setenv("L2S_BENCH_CACHE", str(tmp_path / "cache"))
    final = train.train(config, llm=smollm2)

    assert pretrained.weights_hash(smollm2.model) == smollm2.hash  # the LLM is bitwise untouched
    meta = json.loads((final / "l2s.json").read_text())
    params = meta["trainer"]["params"]
    assert params["llm_non_embedding"] >= 4 * params["slm_non_embedding"]
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    # A plain 4-layer truncation starts at loss 18-24; the fitted lens must bring the start far below.
    assert losses[0] < 9, losses
    assert meta["llm"] == {"source": "smollm2-135m-instruct", "sha256": smollm2.hash, "layer": 15}
    build = meta["trainer"]["slm_build"]
    assert build["steps"] == 2 and set(build["copying"]) == {"before", "after"}  # healed, with its diagnostic

    adapter = get_adapter("llm2slm", checkpoint=str(final))
    prompt = ["Rewrite this King James Bible verse in modern English:\nJesus wept."]
    outputs = adapter.generate(prompt, GenSettings(max_new_tokens=8))
    assert outputs[0].strip() and adapter.generate(prompt, GenSettings(max_new_tokens=8)) == outputs  # greedy
    assert len(adapter.output_tokenizer(outputs[0], add_special_tokens=False).input_ids) <= 8
