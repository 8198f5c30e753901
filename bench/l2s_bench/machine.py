"""What this machine's processor does natively, so that defaults follow the hardware, not one machine's flags.

Measured on two 2-core AMD EPYC machines: where the CPU lists `avx512_bf16` (or `amx_bf16`), bf16
autocast trained 1.9x faster than fp32; where it does not (AVX2 only, bf16 emulated), the same
forward ran 3.6x *slower* than fp32, the LLM encode 5.9x slower, and CI's smoke training took most of
its 90 minutes. So "auto" dtypes resolve per machine, and every checkpoint and run records what they
resolved to and why (`capability()`). Thread counts are set explicitly (with the load above the core
count, 2 threads ran 12x slower than 1).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)

BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 CPU flags for native bf16 arithmetic
AUTO = "auto"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_native(device: str = "cpu") -> bool:
    """Does `device` compute bf16 in hardware (rather than emulate it)?"""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return any(flag in cpu_flags() for flag in BF16_FLAGS)


def resolve_dtype(requested: str, device: str = "cpu") -> str:
    """An autocast dtype name: `auto` is bfloat16 where the device does it natively, else float32.
    An explicit bfloat16 on a CPU that emulates it is honoured, with a warning (it is slow there)."""
    if requested == AUTO:
        return "bfloat16" if bf16_native(device) else "float32"
    if requested == "bfloat16" and not device.startswith("cuda") and not bf16_native(device):
        log.warning("bfloat16 autocast on a CPU without %s is emulated (3-6x slower than float32 on one "
                    "measured AVX2 machine); use 'auto'", " or ".join(BF16_FLAGS))
    return requested


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_threads(requested: int | None) -> int:
    """Set torch's CPU threads explicitly (`None`: every available core) and return the count."""
    threads = requested or available_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def capability(device: str = "cpu") -> dict:
    """What decides speed and the auto dtypes here, recorded beside every number and checkpoint."""
    found = {"device": device, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
             "bf16_native": bf16_native(device), "bf16_flags": sorted(set(BF16_FLAGS) & cpu_flags()),
             "cores": available_cores(), "threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        found.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                     compute_capability=".".join(map(str, torch.cuda.get_device_capability(device))))
    return found
