"""Speedup of one system over another, measured on the same inputs, with a paired bootstrap CI.

Two definitions are in use and differ when output lengths differ (a lossy method changes them): the
ratio of total wall time (Leviathan et al., HF) is the headline `value`; the ratio of tokens/s
(EAGLE, Spec-Bench) is kept beside it as `tokens_per_s_ratio`.
"""

from __future__ import annotations

import numpy as np

from l2s_bench.errors import BenchError
from l2s_bench.metrics.base import resample_indices

DEFINITION = ("sum over shared inputs of the baseline's per-input median wall time divided by the same sum "
              "for the other system (ratio of total per-sample wall time, Leviathan et al.); CI: 2.5/97.5 "
              "percentiles of that ratio under a paired bootstrap over inputs")


def paired_speedup(base: dict[str, float], other: dict[str, float], n_bootstrap: int = 1000, seed: int = 12345,
                   base_tokens: dict[str, float] | None = None, other_tokens: dict[str, float] | None = None) -> dict:
    """`base` and `other` map input keys to seconds (e.g. `Measurement.per_key()`); > 1 means `other`
    is faster. `tokens_per_s_ratio` = other's tokens/s over base's (total tokens / total seconds over
    the shared inputs), null unless both token dicts are given."""
    keys = sorted(base.keys() & other.keys())
    if not keys:
        raise BenchError("no inputs in common between the two systems: cannot pair their timings")
    b = np.array([base[k] for k in keys], dtype=float)
    o = np.array([other[k] for k in keys], dtype=float)
    idx = resample_indices(len(keys), n_bootstrap, seed)  # the quality scores' bootstrap draw
    ratios = b[idx].sum(axis=1) / o[idx].sum(axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    tps_ratio = None
    if base_tokens is not None and other_tokens is not None:
        missing = [k for k in keys if k not in base_tokens or k not in other_tokens]
        if missing:
            raise BenchError(f"token counts missing for {len(missing)} inputs, e.g. {missing[0]!r}")
        base_tps = sum(base_tokens[k] for k in keys) / b.sum()
        other_tps = sum(other_tokens[k] for k in keys) / o.sum()
        tps_ratio = float(other_tps / base_tps) if base_tps > 0 else None
    return {"value": float(b.sum() / o.sum()), "ci": [float(low), float(high)], "n": len(keys),
            "definition": DEFINITION, "tokens_per_s_ratio": tps_ratio}
