"""Where a number came from: code version, library versions, machine and device."""

from __future__ import annotations

import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

from l2s_bench.machine import capability

REPO = Path(__file__).resolve().parents[3]  # a checkout: bench/l2s_bench/runner/provenance.py
PACKAGES = ("l2s-bench", "transformers", "tokenizers", "accelerate", "safetensors", "sacrebleu", "rouge-score",
            "lm-eval", "datasets", "numpy")


def git_state() -> dict:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    if not (REPO / "bench" / "l2s_bench").is_dir():  # an installed wheel: no checkout of ours to ask
        return {"sha": None, "dirty": None}
    sha = git("rev-parse", "HEAD")
    # dirty = the code differs from the commit; the committed outputs (results/, reports/) are not code, so
    # re-scoring one committed run does not mark the next one scored in the same checkout dirty
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results", ":!reports")
    return {"sha": sha, "dirty": bool(status) if status is not None else None}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device: str) -> dict:
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        return {"type": "cuda", "name": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}"}
    return {"type": "cpu", "name": cpu_model(), "threads": torch.get_num_threads()}


def machine() -> dict:
    """What makes timings comparable: host, CPU, accelerator, threads and torch build."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"host": platform.node(), "machine_id": machine_id(), "cpu": cpu_model(), "gpu": gpu,
            "threads": torch.get_num_threads(), "torch": torch.__version__}


def machine_id() -> str | None:
    """A short hash of systemd's /etc/machine-id: host names like "vm" repeat across machines."""
    try:
        return hashlib.sha256(Path("/etc/machine-id").read_bytes().strip()).hexdigest()[:12]
    except OSError:
        return None


def collect(device: str) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "git": git_state(),
        "host": platform.node(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.startswith("cuda") else None,
        "packages": versions,
        "device": device_info(device),
        "cpu": cpu_model(),
        "capability": capability(device),
        "platform": platform.platform(),
    }

