"""The speed tracker, its summary, the paired speedup and the backend kwargs.

Arithmetic is checked exactly on hand-made runs; the tracker's own timing is checked on a fake model
that sleeps known delays (sleep only overshoots, so bounds are one-sided-tight, generous above).
"""

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from l2s_bench.errors import BenchError
from l2s_bench.speed.backends import BACKENDS, generate_kwargs
from l2s_bench.speed.speedup import paired_speedup
from l2s_bench.speed.tracker import Measurement, Run, Tracker, gpu_sharing, summarize

TTFT, PER_TOKEN, TOKENS = 0.030, 0.010, 5


def fake_generate(batch: int = 1):
    """A 'model': 30 ms to the first token, 10 ms per further token, 5 tokens per sequence."""

    def full(mark):
        time.sleep(TTFT)
        mark("prefill")
        for _ in range(TOKENS - 1):
            time.sleep(PER_TOKEN)
        mark("decode")
        return TOKENS * batch

    def first(mark):
        time.sleep(TTFT)
        return batch

    return full, first


def measure_fake(batch: int):
    full, first = fake_generate(batch)
    tracker = Tracker("cpu", warmup=1, min_runs=3, min_seconds=0)
    keys = ["a", "b"]
    return (tracker.measure([(k, full) for k in keys], batch), tracker.measure([(k, first) for k in keys], batch))


def within(value, expected, rel=0.2):
    """Sleep never undershoots; allow 20% over for a loaded machine."""
    return expected * 0.99 <= value <= expected * (1 + rel)


@pytest.mark.parametrize("batch", [1, 4])
def test_fake_model_timings(batch):
    full, prefill = measure_fake(batch)
    s = summarize(full, prefill)
    assert within(s["ttft_ms"], 30)
    # TPOT is a difference, (E2E - TTFT) / (n - 1), of two separately timed calls: an overshoot of the
    # TTFT call alone (a loaded machine) pulls it below 10 ms, so its bound is two-sided
    assert 10 * 0.8 <= s["tpot_ms"] <= 10 * 1.3
    assert within(s["latency_ms"]["median"], 70)
    # decode tokens/s counts (tokens - first token) per sequence: 4 * batch tokens in 40 ms
    assert 100 * batch / 1.3 <= s["tokens_per_s"] <= 100 * batch * 1.01
    assert list(s["stages_ms"]) == ["prefill", "decode"]
    assert within(s["stages_ms"]["prefill"], 30)
    assert within(s["stages_ms"]["decode"], 40, rel=0.3)
    assert s["n_samples"] == 2 and s["runs"] == 3
    assert all(r.tokens == TOKENS * batch and r.batch == batch for r in full.runs)


def run(key, seconds, tokens=5, batch=1, marks=None):
    return Run(key, seconds, tokens, batch, marks or {})


def test_summarize_exact():
    # per-key medians: a -> 0.1 (of 0.1, 0.1, 0.5), b -> 0.2, c -> 0.3, d -> 0.4
    runs = [run("a", 0.1), run("a", 0.5), run("a", 0.1), run("b", 0.2), run("c", 0.3), run("d", 0.4)]
    full = Measurement(cold=run("a", 9.0), runs=runs)
    prefill = Measurement(cold=run("a", 1.0), runs=[run(k, 0.02, tokens=1) for k in "abcd"])
    s = summarize(full, prefill)
    values = [100, 200, 300, 400]
    assert s["latency_ms"]["median"] == pytest.approx(250)
    assert s["latency_ms"]["p90"] == pytest.approx(np.percentile(values, 90))  # 370, linear
    assert s["latency_ms"]["p99"] == pytest.approx(397)
    assert s["latency_ms"]["mean"] == pytest.approx(250)
    assert s["latency_ms"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert s["cold_ms"] == pytest.approx(9000) and s["runs"] == 6 and s["n_samples"] == 4
    assert s["ttft_ms"] == pytest.approx(20)
    # TPOT per key: (E2E - 20 ms) / 4 -> 20, 45, 70, 95 ms; median 57.5
    assert s["tpot_ms"] == pytest.approx(57.5)
    # 4 keys x 4 decode tokens over (1.0 - 0.08) s of decode
    assert s["tokens_per_s"] == pytest.approx(16 / 0.92)
    assert s["tokens_per_s_e2e"] == pytest.approx(20 / 1.0)
    assert s["stages_ms"] == {}


def test_summarize_batch_and_stages_exact():
    marks = [{"llm_encode": 0.01, "projector": 0.012, "slm_decode": 0.1},
             {"llm_encode": 0.03, "projector": 0.033, "slm_decode": 0.2},
             {"llm_encode": 0.02, "projector": 0.024, "slm_decode": 0.3}]
    runs = [run(k, m["slm_decode"], tokens=4 * 8, batch=4, marks=m) for k, m in zip("xyz", marks)]
    full = Measurement(run("x", 1.0, tokens=32, batch=4), runs)
    prefill = Measurement(run("x", 1.0, tokens=4, batch=4), [run(k, 0.03, tokens=4, batch=4) for k in "xyz"])
    s = summarize(full, prefill)
    assert list(s["stages_ms"]) == ["llm_encode", "projector", "slm_decode"]
    assert s["stages_ms"]["llm_encode"] == pytest.approx(20)
    assert s["stages_ms"]["projector"] == pytest.approx(3)  # durations 2, 3, 4 ms
    assert s["stages_ms"]["slm_decode"] == pytest.approx(167)  # durations 88, 167, 276 ms
    # 8 tokens per sequence: TPOT = (E2E - 30 ms) / 7 per key -> median of (70, 170, 270) / 7
    assert s["tpot_ms"] == pytest.approx(170 / 7)
    assert s["tokens_per_s"] == pytest.approx(3 * (32 - 4) / (0.6 - 0.09))


def test_summarize_without_prefill_or_with_one_token():
    full = Measurement(run("a", 1.0), [run("a", 0.5, tokens=10)])
    s = summarize(full)
    assert s["ttft_ms"] is None and s["tpot_ms"] is None and s["tokens_per_s"] is None
    assert s["tokens_per_s_e2e"] == pytest.approx(20) and s["latency_ms"]["std"] is None
    one = Measurement(run("a", 1.0), [run("a", 0.5, tokens=1)])
    s = summarize(one, Measurement(run("a", 1.0), [run("a", 0.5, tokens=1)]))
    assert s["tpot_ms"] is None and s["tokens_per_s"] is None
    with pytest.raises(BenchError):
        summarize(full, Measurement(run("zz", 1.0), [run("zz", 0.1)]))


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t


def clocked(tracker, log, cold=1.0, each=0.25):
    """Calls that advance the tracker's fake clock: the first call made is slow (the 'compile')."""
    clock = tracker.clock = FakeClock()

    def make(key):
        def call(mark):
            clock.t += cold if not log else each
            log.append(key)
            return 3
        return key, call

    return make


@pytest.mark.parametrize("keys, min_runs, min_seconds, max_runs, expected", [
    ("abc", 1, 1.0, None, 4),  # 4 x 0.25 s reaches min_seconds
    ("abc", 6, 1.0, None, 6),  # min_runs dominates
    ("abc", 1, 1.0, 2, 2),  # max_runs caps
    ("abcde", 1, 0.0, None, 5),  # every one of the 5 inputs is timed at least once
])
def test_stopping_rules(keys, min_runs, min_seconds, max_runs, expected):
    tracker = Tracker("cpu", warmup=2, min_runs=min_runs, min_seconds=min_seconds, max_runs=max_runs)
    log = []
    make = clocked(tracker, log)
    m = tracker.measure([make(k) for k in keys])
    assert len(m.runs) == expected
    assert log[:3] == ["a", "b", "c"]  # cold (first input), then warm-up cycling on
    assert len(log) == 1 + 2 + expected


def test_cold_call_kept_apart_and_per_key_medians():
    tracker = Tracker("cpu", warmup=0, min_runs=4, min_seconds=0)
    log = []
    make = clocked(tracker, log, cold=5.0, each=0.5)
    m = tracker.measure([make(k) for k in "ab"])
    assert m.cold.key == "a" and m.cold.seconds == pytest.approx(5.0)
    assert all(r.seconds == pytest.approx(0.5) for r in m.runs)
    assert m.per_key() == pytest.approx({"a": 0.5, "b": 0.5})
    assert summarize(m)["cold_ms"] == pytest.approx(5000)
    assert summarize(m)["latency_ms"]["median"] == pytest.approx(500)


def test_tracker_rejects_bad_settings():
    with pytest.raises(BenchError):
        Tracker(max_runs=0)
    with pytest.raises(BenchError):
        Tracker().measure([])


def test_paired_speedup_exact_ratio():
    other = {"a": 0.1, "b": 0.25, "c": 0.4}
    base = {k: 3 * v for k, v in other.items()}
    s = paired_speedup(base, other)
    assert s["value"] == pytest.approx(3) and s["ci"] == pytest.approx([3, 3]) and s["n"] == 3
    assert "wall time" in s["definition"] and s["tokens_per_s_ratio"] is None


def test_paired_speedup_ci_and_tokens():
    base, other = {"a": 2.0, "b": 4.0, "x": 9.0}, {"a": 1.0, "b": 1.0, "y": 1.0}  # x, y unpaired: ignored
    s = paired_speedup(base, other, n_bootstrap=2000)
    assert s["value"] == pytest.approx(3) and s["n"] == 2
    assert 2 <= s["ci"][0] < 3 < s["ci"][1] <= 4  # resamples range from all-a (2x) to all-b (4x)
    assert s == paired_speedup(base, other, n_bootstrap=2000)  # seeded
    tokens, doubled = {"a": 10, "b": 10}, {"a": 20, "b": 20}  # doubled: twice the tokens in the same time
    assert paired_speedup(base, other, base_tokens=tokens, other_tokens=tokens)["tokens_per_s_ratio"] == 3
    assert paired_speedup(base, other, base_tokens=tokens, other_tokens=doubled)["tokens_per_s_ratio"] == 6
    with pytest.raises(BenchError):
        paired_speedup({"a": 1.0}, {"b": 1.0})


def test_backends():
    assert BACKENDS == ("eager", "compiled")
    assert generate_kwargs("eager", "cpu") == {}
    with pytest.raises(BenchError, match="needs CUDA"):
        generate_kwargs("compiled", "cpu")
    with pytest.raises(BenchError, match="did you mean 'compiled'"):
        generate_kwargs("compild", "cuda")
    kwargs = generate_kwargs("compiled", "cpu", allow_cpu_compile=True)
    assert kwargs["cache_implementation"] == "static"
    assert kwargs["compile_config"].mode == "reduce-overhead"


PEAK_PROBE = """
import json, numpy as np
from l2s_bench.speed.tracker import peak_memory
with peak_memory("cpu") as base:
    pass
with peak_memory("cpu") as peak:
    block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
    del block
print(json.dumps([base, peak]))
"""


def test_peak_memory_cpu_and_gpu_sharing():
    # In a fresh process: in the test process, memory that earlier tests freed may still be resident in
    # the allocator's pool, and a new block then raises no peak (seen once in a full run: 1495 -> 1495 MB).
    out = subprocess.run([sys.executable, "-c", PEAK_PROBE], capture_output=True, text=True, check=True).stdout
    base, peak = json.loads(out.splitlines()[-1])
    assert base["rss"] > 0
    assert peak["rss"] >= base["rss"] + 150
    assert gpu_sharing("cpu") == []


def test_paired_speedup_resamples_with_the_one_bootstrap(monkeypatch):
    """Speedup CIs draw their resamples from `l2s_bench.metrics.base.resample_indices` (the quality
    scores' draw), so one seed means one stream everywhere; the numbers equal the former
    `default_rng(seed).integers(...)` draw, which is the same stream."""
    import numpy as np

    from l2s_bench.metrics.base import resample_indices
    import l2s_bench.speed.speedup as speedup

    drawn = []
    monkeypatch.setattr(speedup, "resample_indices", lambda n, b, seed: drawn.append((n, b, seed))
                        or resample_indices(n, b, seed))
    base, other = {"a": 2.0, "b": 4.0, "c": 3.0, "d": 5.5}, {"a": 1.0, "b": 1.5, "c": 1.2, "d": 2.0}
    s = paired_speedup(base, other, n_bootstrap=500, seed=7)
    assert drawn == [(4, 500, 7)]
    b, o = np.array([2.0, 4.0, 3.0, 5.5]), np.array([1.0, 1.5, 1.2, 2.0])
    idx = np.random.default_rng(7).integers(0, 4, size=(500, 4))  # the draw before the change
    assert s["ci"] == list(np.percentile(b[idx].sum(1) / o[idx].sum(1), [2.5, 97.5]))


def test_cpu_contention_sees_another_process_and_not_our_own_work(caplog):
    import subprocess
    import sys
    import time as clock

    from l2s_bench.speed.tracker import cpu_contention

    with cpu_contention("ours") as ours:
        end = clock.perf_counter() + 1.0
        while clock.perf_counter() < end:  # this process busy: not "other" load
            pass
    spin = "import time\nend = time.perf_counter() + 1.5\nwhile time.perf_counter() < end: pass"
    other = subprocess.Popen([sys.executable, "-c", spin])  # not our child's time until waited for
    with cpu_contention("theirs") as theirs:
        clock.sleep(1.0)
    other.wait()
    assert 0.0 <= ours["others_cpu_share"] <= 1.0
    assert theirs["others_cpu_share"] > ours["others_cpu_share"] and theirs["others_cpu_share"] > 0.2
    assert any("theirs: other processes used" in r.message for r in caplog.records)
