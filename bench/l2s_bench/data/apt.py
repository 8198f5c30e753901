"""Installing the Debian packages an offline data builder reads (root only; otherwise say what to run)."""

import os
import subprocess

from l2s_bench.errors import BenchError


def apt_install(packages: list[str], why: str) -> None:
    """Install Debian packages when root (updating the lists if an install fails), else say what to run."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if os.geteuid() != 0:
        raise BenchError(f"{why} needs Debian packages; run: sudo {' '.join(command[:2])} {' '.join(packages)}")
    if subprocess.run(command, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True)  # a fresh image has no package lists yet
        if (done := subprocess.run(command, capture_output=True, text=True)).returncode != 0:
            raise BenchError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")
