"""The metric interface, the shared bootstrap code, and the registry.

Modelled on sacreBLEU (`sacrebleu/metrics/base.py`): every metric is a small class; statistics are
kept apart from scoring, so confidence intervals and paired tests work for every metric without
per-metric code; and everything that changes a number is written into the score's signature.

Two families:

* sacreBLEU metrics (`bleu`, `chrf`) keep sacreBLEU's own corpus statistics, bootstrap and
  `PairedTest` (see `bench.metrics.sacre`).
* "mean of per-segment scores" metrics (ROUGE, exact match, content-word F1) subclass
  `MeanOfSegments`, which owns the one implementation of their bootstrap CI and paired test.

Seeds: the numpy stream is `default_rng(seed).choice(n, size=(n_bootstrap, n), replace=True)`, the
call sacreBLEU makes, so for one seed every metric resamples the same segment sets. The seed must be
a positive int: sacreBLEU's `PairedTest` treats a seed of 0 as "unseeded", which would make p-values
unreproducible, so 0 is refused everywhere rather than for two metrics only.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bench.errors import BenchError
from bench.registry import Registry

METRICS: Registry[type[Metric]] = Registry("metric", "l2s_bench.metrics")

# A corpus-level difference at or below this (on the 0-100 scale) counts as "no difference": the
# paired test then returns p = 1.0 instead of sacreBLEU's 1/(n_bootstrap + 1) (see `paired_bootstrap_p`).
ZERO_DIFFERENCE = 1e-9


@dataclass
class Score:
    """One metric on one system's output: corpus value, 95% bootstrap CI, and how it was computed."""

    metric: str  # registry name, e.g. "chrf", "bleu", "rougeL"
    value: float  # corpus score, 0-100 scale
    ci: tuple[float, float] | None  # 95% bootstrap CI (low, high); None when n_bootstrap == 0
    signature: str  # everything that changes the number, incl. n_bootstrap and seed
    n: int  # number of segments scored

    def to_dict(self) -> dict:
        return {"value": self.value, "ci": list(self.ci) if self.ci is not None else None,
                "signature": self.signature, "n": self.n}


@dataclass(frozen=True)
class Option:
    """A metric option as task YAML may set it: default value and accepted types."""

    default: Any
    types: tuple[type, ...]
    choices: tuple[Any, ...] | None = None


class Metric(ABC):
    """A quality metric. Subclasses register with `@METRICS.register("name")`.

    Public methods validate their inputs once, here, and delegate to `_score` / `_paired_p`.
    """

    name: ClassVar[str]
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = resolve_options(self.name, self.OPTIONS, options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def score(self, hyps: list[str], refs: list[str], n_bootstrap: int = 1000, seed: int = 12345) -> Score:
        """Corpus score of `hyps` against `refs` (one reference per segment), with a seeded 95% CI.

        `n_bootstrap=0` skips the CI (`ci` is None and the signature has no bs/seed).
        """
        hyps, refs = check_segments(hyps=hyps, refs=refs)
        check_bootstrap(n_bootstrap, seed, allow_zero=True)
        return self._score(hyps, refs, n_bootstrap, seed)

    def paired_p(self, baseline: list[str], system: list[str], refs: list[str],
                 n_bootstrap: int = 1000, seed: int = 12345) -> float:
        """p-value that `system` differs from `baseline` on the same segments (paired bootstrap).

        Two-sided, sacreBLEU's paired bootstrap statistic (see `paired_bootstrap_p`), except that
        a zero corpus-level difference (e.g. identical outputs) gives p = 1.0.
        """
        baseline, system, refs = check_segments(baseline=baseline, system=system, refs=refs)
        check_bootstrap(n_bootstrap, seed, allow_zero=False)
        return self._paired_p(baseline, system, refs, n_bootstrap, seed)

    @abstractmethod
    def _score(self, hyps: list[str], refs: list[str], n_bootstrap: int, seed: int) -> Score: ...

    @abstractmethod
    def _paired_p(self, baseline: list[str], system: list[str], refs: list[str],
                  n_bootstrap: int, seed: int) -> float: ...


class MeanOfSegments(Metric):
    """A metric whose corpus value is the mean of per-segment scores (0-100).

    Subclasses implement `segment_scores` and `signature_fields`; the CI and paired test live here:

    * CI: percentile bootstrap of the mean: the resampled means sorted, the 95% bounds taken at
      sacreBLEU's indices (`n_bootstrap // 40` and `n_bootstrap - n_bootstrap // 40 - 1`).
    * paired p: sacreBLEU's paired bootstrap on the per-segment differences (`paired_bootstrap_p`).
    """

    @abstractmethod
    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        """Per-segment scores on the 0-100 scale (inputs already validated)."""

    @abstractmethod
    def signature_fields(self) -> list[tuple[str, str]]:
        """The metric's leading signature fields, e.g. [("rouge", "rougeL"), ("stem", "yes")]."""

    def library_field(self) -> tuple[str, str]:
        """The trailing (name, version) field: the library that computes the segment scores."""
        import bench

        return ("l2s-bench", bench.__version__)

    def signature(self, n_bootstrap: int, seed: int) -> str:
        fields = [*self.signature_fields(), ("agg", "mean")]
        if n_bootstrap:
            fields += [("bs", str(n_bootstrap)), ("seed", str(seed))]
        fields.append(self.library_field())
        return "|".join(f"{k}:{v}" for k, v in fields)

    def _array(self, hyps: list[str], refs: list[str]) -> np.ndarray:
        return np.asarray(self.segment_scores(hyps, refs), dtype=np.float64)

    def _score(self, hyps: list[str], refs: list[str], n_bootstrap: int, seed: int) -> Score:
        scores = self._array(hyps, refs)
        ci = None
        if n_bootstrap:
            means = np.sort(resampled_means(scores, resample_indices(len(scores), n_bootstrap, seed)))
            low = n_bootstrap // 40
            ci = (float(means[low]), float(means[n_bootstrap - low - 1]))
        return Score(self.name, float(scores.mean()), ci, self.signature(n_bootstrap, seed), len(scores))

    def _paired_p(self, baseline: list[str], system: list[str], refs: list[str],
                  n_bootstrap: int, seed: int) -> float:
        return paired_bootstrap_p(self._array(system, refs) - self._array(baseline, refs), n_bootstrap, seed)


# ---------------------------------------------------------------- bootstrap (the one implementation)

def resample_indices(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n) segment indices, drawn exactly as sacreBLEU draws them for the same seed."""
    return np.random.default_rng(seed).choice(n, size=(n_bootstrap, n), replace=True)


def resampled_means(values: np.ndarray, idx: np.ndarray, chunk: int = 128) -> np.ndarray:
    """Mean of `values` over each row of `idx`, in row chunks so memory stays ~ the size of `idx`."""
    return np.concatenate([values[idx[i:i + chunk]].mean(axis=1) for i in range(0, len(idx), chunk)])


def paired_bootstrap_p(diffs: np.ndarray, n_bootstrap: int, seed: int) -> float:
    """Two-sided paired bootstrap p-value for per-segment differences `diffs` (system - baseline).

    The statistic of sacreBLEU's `_paired_bs_test` (after Moses'
    `bootstrap-hypothesis-difference-significance.pl`), for a corpus score that is a mean:
    resample segments n_bootstrap times (same indices for both systems); on each resample take the
    absolute difference of the two means, |mean(diffs[idx])|; centre those on their own mean (the
    null of no difference); count the resamples whose centred difference exceeds (strictly) the
    observed |mean(diffs)|; p = (count + 1) / (n_bootstrap + 1), the +1 smoothing sacreBLEU uses so
    that p is never 0.

    One deliberate difference: when the observed difference is zero (identical systems),
    sacreBLEU's strict `>` counts nothing and returns 1/(n_bootstrap + 1), i.e. "significant";
    here no observed difference gives p = 1.0.
    """
    observed = abs(float(diffs.mean()))
    if observed <= ZERO_DIFFERENCE:
        return 1.0
    sample = np.abs(resampled_means(diffs, resample_indices(len(diffs), n_bootstrap, seed)))
    centred = sample - sample.mean()
    count = int(np.sum(centred > observed))
    return (count + 1) / (n_bootstrap + 1)


@contextlib.contextmanager
def sacrebleu_seed(seed: int) -> Iterator[None]:
    """Set `SACREBLEU_SEED` (read by sacreBLEU's bootstrap and PairedTest) for the block, then restore it.

    Process-global: do not score from several threads at once.
    """
    old = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SACREBLEU_SEED", None)
        else:
            os.environ["SACREBLEU_SEED"] = old


# ---------------------------------------------------------------- validation

def check_segments(**streams: Any) -> tuple[list[str], ...]:
    """Each named stream as a list of str, all of one non-zero length; BenchError otherwise."""
    out = []
    for label, stream in streams.items():
        if isinstance(stream, (str, bytes)) or not isinstance(stream, Sequence):
            raise BenchError(f"{label} must be a list of strings, not {type(stream).__name__}")
        stream = list(stream)
        for i, seg in enumerate(stream):
            if seg is None:
                raise BenchError(f"{label}[{i}] is None (a missing output?); use '' for an empty segment")
            if not isinstance(seg, str):
                raise BenchError(f"{label}[{i}] is {type(seg).__name__}, not str: {seg!r:.60}")
        out.append(stream)
    lengths = {label: len(s) for label, s in zip(streams, out)}
    if len(set(lengths.values())) > 1:
        raise BenchError("segment counts differ: " + ", ".join(f"{k}={v}" for k, v in lengths.items()))
    if not out[0]:
        raise BenchError("no segments to score")
    return tuple(out)


def check_bootstrap(n_bootstrap: Any, seed: Any, allow_zero: bool) -> None:
    if not _is_int(n_bootstrap) or n_bootstrap < 0 or n_bootstrap == 1 or (n_bootstrap == 0 and not allow_zero):
        need = "0 (no CI) or an int >= 2" if allow_zero else "an int >= 2"
        raise BenchError(f"n_bootstrap must be {need}, got {n_bootstrap!r}")
    if not _is_int(seed) or seed < 1:
        raise BenchError(f"seed must be a positive int (sacreBLEU's PairedTest treats 0 as unseeded), got {seed!r}")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def resolve_options(metric: str, spec: dict[str, Option], given: dict[str, Any]) -> dict[str, Any]:
    """`given` checked against `spec`, defaults filled in.

    Unknown name -> BenchError with did-you-mean; wrong type or value -> BenchError.
    """
    for key, value in given.items():
        if key not in spec:
            close = difflib.get_close_matches(key, list(spec), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(spec) if spec else "none"
            raise BenchError(f"metric {metric!r}: unknown option {key!r}{hint} (options: {known})")
        option = spec[key]
        ok_type = isinstance(value, option.types) and not (isinstance(value, bool) and bool not in option.types)
        if not ok_type:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in option.types)
            raise BenchError(f"metric {metric!r}: option {key!r} must be {names}, got {value!r}")
        if option.choices is not None and value not in option.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in option.choices], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise BenchError(f"metric {metric!r}: option {key!r} is {value!r}{hint} "
                             f"(one of: {', '.join(map(str, option.choices))})")
    return {key: given.get(key, option.default) for key, option in spec.items()}


# ---------------------------------------------------------------- entry points

def get_metric(name: str, **options: Any) -> Metric:
    """The metric registered as `name`, configured with `options` (BenchError with did-you-mean if unknown)."""
    return METRICS.get(name)(**options)


def score_all(metrics: list[Metric], hyps: list[str], refs: list[str],
              n_bootstrap: int = 1000, seed: int = 12345) -> dict[str, Score]:
    """Every metric on one system, keyed by metric name (names must be distinct)."""
    names = [m.name for m in metrics]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise BenchError(f"metric(s) listed twice: {', '.join(duplicated)}")
    return {m.name: m.score(hyps, refs, n_bootstrap=n_bootstrap, seed=seed) for m in metrics}
