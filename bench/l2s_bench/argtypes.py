"""Argument types the command modules share (`l2s_bench.cli` and the command modules it loads)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An argparse type: a bad count is a usage error before any work starts, not a traceback later."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
