"""One latency tracker for every system: it times a call, never knowing what the call does.

Method (optimum-benchmark's, with vLLM's names): the first call is the cold call and is reported
apart (it holds compilation, CUDA-graph capture, allocator growth); `warmup` more calls are discarded;
then the calls are cycled until every input was timed at least once and both a minimum count and a
minimum duration are met. On CUDA the clock synchronizes the device before every reading, so a
reading means "the GPU finished", not "the kernels were queued".

A call is `call(mark) -> tokens`: it returns how many generated token ids it produced (all sequences
of the batch together) and may call `mark("stage")` after each stage; a stage lasts from the previous
mark (or the call's start) to its own. Prefill is measured by the caller as a one-token generate of
the same inputs, and decode = generate - prefill (conventions.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import median
from typing import Callable, Iterator

import numpy as np

from l2s_bench.errors import BenchError

log = logging.getLogger(__name__)

Mark = Callable[[str], None]
Call = Callable[[Mark], int]


class Clock:
    """`perf_counter`, after `torch.cuda.synchronize(device)` when the device is CUDA."""

    def __init__(self, device: str):
        self.device = device
        self.cuda = device.startswith("cuda")
        if self.cuda:
            import torch

            self._sync = lambda: torch.cuda.synchronize(device)

    def now(self) -> float:
        if self.cuda:
            self._sync()
        return time.perf_counter()


@dataclass
class Run:
    key: str  # which input (sample id) this call timed
    seconds: float  # end-to-end wall time of the call
    tokens: int  # generated token ids the call returned, all sequences of the batch together
    batch: int  # sequences in the call
    marks: dict[str, float] = field(default_factory=dict)  # stage -> seconds since the call started


@dataclass
class Measurement:
    cold: Run
    runs: list[Run]

    def per_key(self) -> dict[str, float]:
        """Median seconds per input: each sample counts once, however often it was repeated."""
        return {key: median(r.seconds for r in self.runs if r.key == key) for key in self._keys()}

    def tokens_per_key(self) -> dict[str, float]:
        """Median generated token ids per input (constant for forced-length runs)."""
        return {key: median(r.tokens for r in self.runs if r.key == key) for key in self._keys()}

    def batch_per_key(self) -> dict[str, int]:
        return {r.key: r.batch for r in self.runs}

    def _keys(self) -> list[str]:
        return list(dict.fromkeys(r.key for r in self.runs))


class Tracker:
    def __init__(self, device: str = "cpu", warmup: int = 1, min_runs: int = 5, min_seconds: float = 1.0,
                 max_runs: int | None = None):
        if warmup < 0 or min_runs < 0 or min_seconds < 0:
            raise BenchError("warmup, min_runs and min_seconds must be >= 0")
        if max_runs is not None and max_runs < 1:
            raise BenchError(f"max_runs must be >= 1, got {max_runs}")
        self.clock = Clock(device)
        self.warmup, self.min_runs, self.min_seconds, self.max_runs = warmup, min_runs, min_seconds, max_runs

    def time(self, key: str, call: Call, batch: int = 1) -> Run:
        marks: dict[str, float] = {}
        start = self.clock.now()

        def mark(name: str) -> None:
            marks[name] = self.clock.now() - start

        tokens = call(mark)
        seconds = self.clock.now() - start
        return Run(key, seconds, int(tokens), batch, marks)

    def measure(self, calls: list[tuple[str, Call]], batch: int = 1) -> Measurement:
        """Cold call (the first input), `warmup` discarded calls, then timed calls cycling through the
        inputs until all were timed, `min_runs` and `min_seconds` are both met, or `max_runs` is hit."""
        if not calls:
            raise BenchError("nothing to measure: no calls given")
        n = len(calls)
        cold = self.time(*calls[0], batch=batch)
        for i in range(self.warmup):
            self.time(*calls[(1 + i) % n], batch=batch)
        runs: list[Run] = []
        total = 0.0
        while not (len(runs) >= n and len(runs) >= self.min_runs and total >= self.min_seconds):
            if self.max_runs is not None and len(runs) >= self.max_runs:
                break
            run = self.time(*calls[len(runs) % n], batch=batch)
            runs.append(run)
            total += run.seconds
        return Measurement(cold, runs)


def summarize(full: Measurement, prefill: Measurement | None = None) -> dict:
    """The JSON speed dict, in milliseconds. Latency statistics are over per-input medians (each input
    counts once); TTFT, TPOT and tokens/s need the prefill measurement and are null without it."""
    e2e, tokens, batch = full.per_key(), full.tokens_per_key(), full.batch_per_key()
    values = np.array(list(e2e.values())) * 1000
    out = {
        "latency_ms": {
            "median": float(np.percentile(values, 50)),
            "p90": float(np.percentile(values, 90)),
            "p99": float(np.percentile(values, 99)),
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else None,  # sample std; undefined for one input
        },
        "cold_ms": full.cold.seconds * 1000,
        "runs": len(full.runs),
        "n_samples": len(e2e),
        "ttft_ms": None, "tpot_ms": None, "tokens_per_s": None,
        "tokens_per_s_e2e": sum(tokens.values()) / sum(e2e.values()),
        "stages_ms": stages_ms(full.runs),
    }
    if prefill is None:
        return out
    ttft = prefill.per_key()
    keys = [k for k in e2e if k in ttft]
    if not keys:
        raise BenchError("the prefill measurement timed none of the inputs of the full one")
    out["ttft_ms"] = median(ttft[k] for k in keys) * 1000
    decode = {k: e2e[k] - ttft[k] for k in keys}
    per_seq = {k: tokens[k] / batch[k] for k in keys}
    tpots = [decode[k] / (per_seq[k] - 1) for k in keys if per_seq[k] > 1]
    out["tpot_ms"] = median(tpots) * 1000 if tpots else None
    decode_tokens = sum(tokens[k] - batch[k] for k in keys)  # each sequence's first token belongs to TTFT
    decode_seconds = sum(decode.values())
    out["tokens_per_s"] = decode_tokens / decode_seconds if decode_tokens > 0 and decode_seconds > 0 else None
    return out


def stages_ms(runs: list[Run]) -> dict[str, float]:
    """Median duration per stage over runs; a stage runs from the previous mark to its own."""
    durations: dict[str, list[float]] = {}
    for run in runs:
        previous = 0.0
        for name, at in sorted(run.marks.items(), key=lambda item: item[1]):
            durations.setdefault(name, []).append(at - previous)
            previous = at
    return {name: median(values) * 1000 for name, values in durations.items()}


@contextmanager
def peak_memory(device: str) -> Iterator[dict[str, float]]:
    """Peak memory (MB) of the block, in the dict yielded (filled on exit).

    CUDA: `allocated` (tensors) and `reserved` (the caching allocator's pool) after
    `reset_peak_memory_stats`; they mean different things, so both are kept. CPU: `rss`, the peak
    resident set of this whole process (Linux VmHWM, reset at the start by writing 5 to
    /proc/self/clear_refs). Where that reset is not possible it falls back to `ru_maxrss`, the
    process's lifetime peak, and says so with `rss_is_lifetime_peak: true`.
    """
    result: dict[str, float] = {}
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield result
        torch.cuda.synchronize(device)
        result["allocated"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["reserved"] = torch.cuda.max_memory_reserved(device) / 2**20
        return
    resettable = _reset_peak_rss()
    yield result
    peak = _vm_hwm_mb() if resettable else None
    if peak is None:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        result["rss_is_lifetime_peak"] = True
    result["rss"] = peak


BUSY_SHARE = 0.1  # other processes' share of the CPUs above which a timing is reported as disturbed


@contextmanager
def cpu_contention(what: str) -> Iterator[dict[str, float]]:
    """How much of the machine's CPU time other processes used during the block, in the dict yielded
    (filled on exit): `others_cpu_share`, from /proc/stat's busy time less this process's own (threads
    and children), over wall time x CPUs. Above BUSY_SHARE a warning names `what`: its times are
    inflated by the other load. Nothing is filled where /proc/stat is not available."""
    result: dict[str, float] = {}
    before = _cpu_busy_seconds()
    mine, start = _own_cpu_seconds(), time.perf_counter()
    yield result
    after = _cpu_busy_seconds()
    if before is None or after is None:
        return
    wall = time.perf_counter() - start
    others = max(0.0, (after[0] - before[0]) - (_own_cpu_seconds() - mine))
    share = round(others / (wall * after[1]), 3) if wall > 0 else 0.0
    result["others_cpu_share"] = share
    if share > BUSY_SHARE:
        log.warning("%s: other processes used %.0f%% of the %d CPUs while it was timed; its times are "
                    "inflated (rerun on a quiet machine)", what, 100 * share, after[1])


def _cpu_busy_seconds() -> tuple[float, int] | None:
    """(seconds all CPUs spent busy since boot, number of CPUs), from /proc/stat; None elsewhere."""
    try:
        lines = open("/proc/stat", encoding="ascii").read().splitlines()
    except OSError:
        return None
    fields = [float(x) for x in lines[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), cpus


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpu_sharing(device: str) -> list[dict]:
    """Other processes computing on the GPU (pid, used_memory_mb): they skew timings, so the caller
    warns and records them. [] on CPU, without nvidia-smi, or when it fails."""
    if not device.startswith("cuda") or shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory,gpu_uuid",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    ours = _gpu_uuid(device)
    others = []
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[0].isdigit() or int(parts[0]) == os.getpid():
            continue
        if ours and len(parts) > 2 and ours not in parts[2]:
            continue  # a process on another GPU of this machine
        try:
            used = float(parts[1])
        except ValueError:
            used = None
        others.append({"pid": int(parts[0]), "used_memory_mb": used})
    return others


def _gpu_uuid(device: str) -> str | None:
    try:
        import torch

        return str(torch.cuda.get_device_properties(torch.device(device).index or 0).uuid)
    except Exception:  # older torch has no uuid: then processes on every GPU count
        return None
