"""The metric interface, the shared bootstrap code, and the registry.

Modelled on sacreBLEU (`sacrebleu/metrics/base.py`): every metric is a small class; statistics are
kept apart from scoring, so confidence intervals and paired tests work for every metric without
per-metric code; and everything that changes a number is written into the score's signature.

Two families:

* sacreBLEU metrics (`bleu`, `chrf`) keep sacreBLEU's own corpus statistics, bootstrap and
  `PairedTest`; for clusters and the `centred` test, which sacreBLEU lacks, they resample sacreBLEU's
  statistics with the draw and the p-value below (see `l2s_bench.metrics.sacre`).
* "mean of per-segment scores" metrics (ROUGE, exact match, content-word F1) subclass
  `MeanOfSegments`, which owns the one implementation of their bootstrap CI and paired test.

Seeds: the numpy stream is `default_rng(seed).choice(n, size=(n_bootstrap, n), replace=True)`, the
call sacreBLEU makes, so for one seed every metric resamples the same segment sets. The seed must be
a positive int: sacreBLEU's `PairedTest` treats a seed of 0 as "unseeded", which would make p-values
unreproducible, so 0 is refused everywhere rather than for two metrics only.

Clusters: segments that are not independent (debian-sum's binary packages built from one source
package share their text) make a segment bootstrap's CI too narrow and its p too small. Given
`Clusters`, the bootstrap draws whole clusters with replacement (the same call, over clusters
instead of segments) and a resample's score is computed from the drawn clusters' summed statistics.
Clusters are numbered in order of first appearance, so one segment per cluster draws exactly what
the segment bootstrap draws. Clustered signatures say `cluster:<field>`, so clustered and
unclustered numbers never look alike.

Paired tests (`PAIRED_TESTS`, see `paired_bootstrap_p`): `sacrebleu`, the default, and `centred`.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from l2s_bench.errors import BenchError, did_you_mean
from l2s_bench.registry import Registry

# A corpus-level difference at or below this (on the 0-100 scale) counts as "no difference": the
# paired test then returns p = 1.0 instead of sacreBLEU's 1/(n_bootstrap + 1) (see `paired_bootstrap_p`).
ZERO_DIFFERENCE = 1e-9
PAIRED_TESTS = ("sacrebleu", "centred")  # the paired test statistics of `paired_bootstrap_p`; the first is the default


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


@dataclass(frozen=True)
class Clusters:
    """Which cluster each segment belongs to, and the record field that says so (the signature's
    `cluster:<field>`). Segments of one cluster are resampled together (see the module docstring)."""

    field: str
    labels: tuple[str, ...]

    def codes(self) -> np.ndarray:
        """Each segment's cluster as 0..k-1, numbered in order of first appearance (so that singleton
        clusters are numbered as the segments are, and draw what the segment bootstrap draws)."""
        number: dict[str, int] = {}
        return np.asarray([number.setdefault(label, len(number)) for label in self.labels], dtype=np.intp)

    def subset(self, keep: Sequence[int]) -> Clusters:
        """The clusters of the segments at `keep` (a slice of the items)."""
        return Clusters(self.field, tuple(self.labels[i] for i in keep))


class Metric(ABC):
    """A quality metric. Subclasses register with `@METRICS.register("name")`.

    Public methods validate their inputs once, here, and delegate to `_score` / `_paired_p`.
    """

    name: ClassVar[str]
    # The score's direction, as lm-eval's MetricSpec declares it: the task's `higher_is_better` in
    # results.json comes from its primary metric, and the trivial bar, verdicts, regression checks,
    # reports and Pareto fronts all read it. Every built-in metric declares True.
    higher_is_better: ClassVar[bool] = True
    OPTIONS: ClassVar[dict[str, Option]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = resolve_options(self.name, self.OPTIONS, options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.options.items())})"

    def score(self, hyps: list[str], refs: list[str], n_bootstrap: int = 1000, seed: int = 12345,
              clusters: Clusters | None = None) -> Score:
        """Corpus score of `hyps` against `refs` (one reference per segment), with a seeded 95% CI.

        `n_bootstrap=0` skips the CI (`ci` is None and the signature has no bs/seed). With `clusters`
        the CI resamples whole clusters and the signature says `cluster:<field>`.
        """
        hyps, refs = check_segments(hyps=hyps, refs=refs)
        check_bootstrap(n_bootstrap, seed, allow_zero=True)
        check_clusters(clusters, len(refs))
        return self._score(hyps, refs, n_bootstrap, seed, clusters)

    def paired_p(self, baseline: list[str], system: list[str], refs: list[str], n_bootstrap: int = 1000,
                 seed: int = 12345, clusters: Clusters | None = None, test: str = PAIRED_TESTS[0]) -> float:
        """p-value that `system` differs from `baseline` on the same segments (paired bootstrap).

        `test` names the statistic (`PAIRED_TESTS`, described at `paired_bootstrap_p`); a zero
        corpus-level difference (e.g. identical outputs) gives p = 1.0. With `clusters`, whole
        clusters are resampled.
        """
        baseline, system, refs = check_segments(baseline=baseline, system=system, refs=refs)
        check_bootstrap(n_bootstrap, seed, allow_zero=False)
        check_clusters(clusters, len(refs))
        check_paired_test(test)
        return self._paired_p(baseline, system, refs, n_bootstrap, seed, clusters, test)

    def item_scores(self, hyps: list[str], refs: list[str]) -> list[float] | None:
        """One score per item (0-100) where the metric has a meaningful one, for browsing outputs: the
        corpus score need not be their mean. None where it has none (BLEU is corpus-level only)."""
        return None

    @abstractmethod
    def _score(self, hyps: list[str], refs: list[str], n_bootstrap: int, seed: int,
               clusters: Clusters | None) -> Score: ...

    @abstractmethod
    def _paired_p(self, baseline: list[str], system: list[str], refs: list[str], n_bootstrap: int, seed: int,
                  clusters: Clusters | None, test: str) -> float: ...


METRICS: Registry[type[Metric]] = Registry("metric", "l2s_bench.metrics", base_cls=Metric)


class MeanOfSegments(Metric):
    """A metric whose corpus value is the mean of per-segment scores (0-100).

    Subclasses implement `segment_scores` and `signature_fields`; the CI and paired test live here:

    * CI: percentile bootstrap of the mean (`percentile_ci`).
    * paired p: the paired bootstrap on the per-segment differences (`paired_bootstrap_p`).

    Both resample through `bootstrap_means`, over segments or, with clusters, over whole clusters.
    """

    @abstractmethod
    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        """Per-segment scores on the 0-100 scale (inputs already validated)."""

    @abstractmethod
    def signature_fields(self) -> list[tuple[str, str]]:
        """The metric's leading signature fields, e.g. [("rouge", "rougeL"), ("stem", "yes")]."""

    def library_field(self) -> tuple[str, str]:
        """The trailing (name, version) field: the library that computes the segment scores."""
        from l2s_bench import __version__

        return ("l2s-bench", __version__)

    def signature(self, n_bootstrap: int, seed: int, clusters: Clusters | None = None) -> str:
        fields = [*self.signature_fields(), ("agg", "mean")]
        if n_bootstrap:
            fields += [("bs", str(n_bootstrap)), *cluster_field(clusters), ("seed", str(seed))]
        fields.append(self.library_field())
        return "|".join(f"{k}:{v}" for k, v in fields)

    def item_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        """The segment scores whose mean is the corpus score."""
        hyps, refs = check_segments(hyps=hyps, refs=refs)
        return [float(x) for x in self.segment_scores(hyps, refs)]

    def _array(self, hyps: list[str], refs: list[str]) -> np.ndarray:
        return np.asarray(self.segment_scores(hyps, refs), dtype=np.float64)

    def _score(self, hyps: list[str], refs: list[str], n_bootstrap: int, seed: int,
               clusters: Clusters | None) -> Score:
        scores = self._array(hyps, refs)
        ci = None
        if n_bootstrap:
            ci = percentile_ci(bootstrap_means(scores, unit_codes(len(scores), clusters), n_bootstrap, seed))
        return Score(self.name, float(scores.mean()), ci, self.signature(n_bootstrap, seed, clusters), len(scores))

    def _paired_p(self, baseline: list[str], system: list[str], refs: list[str], n_bootstrap: int, seed: int,
                  clusters: Clusters | None, test: str) -> float:
        diffs = self._array(system, refs) - self._array(baseline, refs)
        return paired_bootstrap_p(float(diffs.mean()), bootstrap_means(diffs, unit_codes(len(diffs), clusters),
                                                                      n_bootstrap, seed), test)


# ---------------------------------------------------------------- bootstrap (the one implementation)

def percentile_ci(resampled) -> tuple[float, float]:
    """The 95% percentile-bootstrap interval of a statistic from its resampled values: the values sorted,
    the bounds taken at sacreBLEU's indices (`n // 40` and `n - n // 40 - 1`). Every metric's CI is this
    one, so a CI never leaves the range the statistic itself can take (0-100)."""
    values = np.sort(np.asarray(resampled, dtype=np.float64))
    low = len(values) // 40
    return float(values[low]), float(values[len(values) - low - 1])


def resample_indices(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, n) indices of n units (segments, or clusters), drawn as sacreBLEU draws segments."""
    return np.random.default_rng(seed).choice(n, size=(n_bootstrap, n), replace=True)


def resample_units(codes: np.ndarray, n_bootstrap: int, seed: int) -> np.ndarray:
    """(n_bootstrap, k) indices of the k units numbered in `codes` (each segment's unit, 0..k-1)."""
    return resample_indices(int(codes.max()) + 1, n_bootstrap, seed)


def unit_codes(n: int, clusters: Clusters | None) -> np.ndarray:
    """The resampling unit of each of n segments: its cluster, or without clusters the segment itself."""
    return np.arange(n) if clusters is None else clusters.codes()


def bootstrap_means(values: np.ndarray, codes: np.ndarray, n_bootstrap: int, seed: int,
                    chunk: int = 128) -> np.ndarray:
    """The mean of `values` on each of n_bootstrap resamples of whole units (`codes`: each value's unit).

    A resample draws as many units as there are, with replacement, and its mean is the drawn units'
    summed values over their summed sizes (a cluster drawn twice counts twice). With one value per
    unit this is exactly the mean over resampled segments, sacreBLEU's resample. Rows are summed in
    chunks so memory stays ~ the size of the indices.
    """
    sums = np.bincount(codes, weights=values)
    sizes = np.bincount(codes).astype(np.float64)
    idx = resample_units(codes, n_bootstrap, seed)
    return np.concatenate([sums[rows].sum(axis=1) / sizes[rows].sum(axis=1)
                           for rows in (idx[i:i + chunk] for i in range(0, n_bootstrap, chunk))])


def paired_bootstrap_p(observed: float, resampled: np.ndarray, test: str) -> float:
    """Paired bootstrap p-value of a corpus difference (system - baseline), from `observed`
    (on all segments) and `resampled` (the same difference on each resample; both systems resampled
    with the same indices). Both statistics count resamples as extreme as the observed difference
    and smooth with sacreBLEU's +1, p = (count + 1) / (n_bootstrap + 1), so that p is never 0:

    * `sacrebleu`: the statistic of sacreBLEU's `_paired_bs_test` (after Moses'
      `bootstrap-hypothesis-difference-significance.pl`): take |resampled difference|, centre those
      on their own mean, count the centred values that exceed (strictly) |observed|. Once the
      observed difference is clear of 0 this counts one tail of the resampled differences only, so
      p is about half the centred test's, and a borderline p can change side of 0.05 with the seed.
    * `centred`: the two-sided test: centre the resampled differences on the observed one (the
      null of no difference), count those whose |value| >= |observed|, both tails.

    `test` is one of `PAIRED_TESTS` (checked by `Metric.paired_p`).

    One deliberate difference from sacreBLEU: when the observed difference is zero (identical
    systems), sacreBLEU's strict `>` counts nothing and returns 1/(n_bootstrap + 1), i.e.
    "significant"; here no observed difference gives p = 1.0 under either statistic.
    """
    observed_abs = abs(observed)
    if observed_abs <= ZERO_DIFFERENCE:
        return 1.0
    if test == "sacrebleu":
        sample = np.abs(resampled)
        count = int(np.sum(sample - sample.mean() > observed_abs))
    else:
        count = int(np.sum(np.abs(resampled - observed) >= observed_abs))
    return (count + 1) / (len(resampled) + 1)


def cluster_field(clusters: Clusters | None) -> list[tuple[str, str]]:
    """The signature field that marks clustered resampling, `cluster:<field>` (none without clusters)."""
    return [] if clusters is None else [("cluster", clusters.field)]


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


def check_clusters(clusters: Clusters | None, n: int) -> None:
    if clusters is not None and len(clusters.labels) != n:
        raise BenchError(f"{len(clusters.labels)} cluster labels ({clusters.field}) for {n} segments")


def check_paired_test(test: Any) -> None:
    if test not in PAIRED_TESTS:
        raise BenchError(f"unknown paired test {test!r}{did_you_mean(str(test), PAIRED_TESTS)} "
                         f"(tests: {', '.join(PAIRED_TESTS)})")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def resolve_options(metric: str, spec: dict[str, Option], given: dict[str, Any]) -> dict[str, Any]:
    """`given` checked against `spec`, defaults filled in.

    Unknown name -> BenchError with did-you-mean; wrong type or value -> BenchError.
    """
    for key, value in given.items():
        if key not in spec:
            hint = did_you_mean(key, spec)
            known = ", ".join(spec) if spec else "none"
            raise BenchError(f"metric {metric!r}: unknown option {key!r}{hint} (options: {known})")
        option = spec[key]
        ok_type = isinstance(value, option.types) and not (isinstance(value, bool) and bool not in option.types)
        if not ok_type:
            names = " or ".join("None" if t is type(None) else t.__name__ for t in option.types)
            raise BenchError(f"metric {metric!r}: option {key!r} must be {names}, got {value!r}")
        if option.choices is not None and value not in option.choices:
            hint = did_you_mean(value, option.choices)
            raise BenchError(f"metric {metric!r}: option {key!r} is {value!r}{hint} "
                             f"(one of: {', '.join(map(str, option.choices))})")
    return {key: given.get(key, option.default) for key, option in spec.items()}


# ---------------------------------------------------------------- entry points

def get_metric(name: str, **options: Any) -> Metric:
    """The metric registered as `name`, configured with `options` (BenchError with did-you-mean if unknown)."""
    return METRICS.get(name)(**options)

