"""BLEU and chrF through sacreBLEU's own metric objects, bootstrap and paired test.

By default (no clusters, the `sacrebleu` paired test) the value comes from sacreBLEU's corpus
score, the signature from `get_signature().format()` (with `bs` and `seed` when a CI was computed, as
`corpus_score(..., n_bootstrap=...)` writes them), and p from `sacrebleu.significance.PairedTest(test_type="bs")`,
which reads its seed from the environment variable `SACREBLEU_SEED` (set for each call, then restored).

The CI is a percentile bootstrap over sacreBLEU's own resamples: the 2.5% and 97.5% resampled
scores (`base.percentile_ci`), the two scores whose half-distance sacreBLEU prints as "μ = mu ± half".
sacreBLEU centres that half-width on the resamples' mean, which on small corpora puts a bound below
0 or above 100; the percentile interval has the same width and never leaves the metric's range.

Two options change the number but are missing from sacreBLEU 2.6's signature (sacreBLEU puts
chrF's beta in the score's name, "chrF2", which `Score.metric` does not carry): BLEU's
`max_ngram_order` and chrF's `beta`. When set to a non-default value they are added before the
version field (`ngram:2`, `beta:1`); with defaults the signature is exactly sacreBLEU's.

BLEU is corpus-level only: no per-segment BLEU is offered or averaged.

The resamples are built from sacreBLEU's own pieces, the ones its bootstrap and paired test use: the
metric object's per-segment sufficient statistics (`_extract_corpus_statistics`, as float32), summed
per unit (a segment, or with clusters a whole cluster), resampled with `base.resample_units`, and scored
with `_compute_score_from_stats`. With one segment per unit these are exactly `corpus_score`'s resampled
scores (tests/metrics/test_metrics.py checks that the interval's half-width is sacreBLEU's), and for
the cluster bootstrap and the `centred` paired test, which sacreBLEU lacks, p comes from
`base.paired_bootstrap_p` over them. With clusters the signature also carries `cluster`.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric as SacreMetric
from sacrebleu.metrics.base import Score as SacreScore
from sacrebleu.significance import PairedTest

from l2s_bench.errors import BenchError
from l2s_bench.metrics.base import (METRICS, PAIRED_TESTS, ZERO_DIFFERENCE, Clusters, Metric, Option, Score,
                                check_segments, cluster_field, paired_bootstrap_p, percentile_ci, resample_units, sacrebleu_seed,
                                unit_codes)


def _options_from(cls: type[SacreMetric], types: dict[str, tuple[type, ...]],
                  choices: dict[str, tuple[Any, ...]] | None = None) -> dict[str, Option]:
    """Options = the sacreBLEU constructor's keyword arguments (except `references`), its defaults."""
    params = inspect.signature(cls.__init__).parameters
    choices = choices or {}
    return {name: Option(params[name].default, types[name], choices.get(name)) for name in params if name in types}


class SacreBleuMetric(Metric):
    """A sacreBLEU metric object configured from the options; a fresh one per call, because
    sacreBLEU objects remember the last call's n_bootstrap/seed and would put them in the signature."""

    SACRE_CLASS: ClassVar[type[SacreMetric]]
    UNSIGNED: ClassVar[dict[str, str]] = {}  # option -> signature key, for options sacreBLEU's signature omits

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._make()  # fail at construction (task validation), not at scoring time

    def _make(self) -> SacreMetric:
        try:
            return self.SACRE_CLASS(**self.options)
        except (KeyError, ValueError, AssertionError, TypeError, ImportError, OSError, RuntimeError) as e:
            # e.g. a mecab tokenizer not installed, or spm/flores models that need a download
            given = {k: v for k, v in self.options.items() if v != self.OPTIONS[k].default}
            raise BenchError(f"metric {self.name!r}: sacreBLEU rejected options {given}: "
                             f"{type(e).__name__}: {e}") from None

    def _score(self, hyps: list[str], refs: list[str], n_bootstrap: int, seed: int,
               clusters: Clusters | None) -> Score:
        metric = self._make()
        stats = metric._extract_corpus_statistics(hyps, [refs])
        result = metric._aggregate_and_compute(stats)  # what corpus_score returns
        ci = None
        if n_bootstrap:
            codes = unit_codes(len(hyps), clusters)
            resampled = _resampled_scores(metric, stats, codes, resample_units(codes, n_bootstrap, seed))
            ci = percentile_ci([s.score for s in resampled])
        return Score(self.name, float(result.score), ci, self._signature(metric, n_bootstrap, seed, clusters),
                     len(hyps))

    def _signature(self, metric: SacreMetric, n_bootstrap: int, seed: int, clusters: Clusters | None) -> str:
        signature = metric.get_signature()
        if n_bootstrap:  # the fields corpus_score(..., n_bootstrap) would write
            signature.update("bs", n_bootstrap)
            signature.update("seed", str(seed))
        fields = signature.format().split("|")
        if clusters is not None and n_bootstrap:
            at = next(i for i, f in enumerate(fields) if f.startswith("bs:")) + 1
            fields[at:at] = [f"{k}:{v}" for k, v in cluster_field(clusters)]
        extra = [f"{key}:{self.options[opt]}" for opt, key in self.UNSIGNED.items()
                 if self.options[opt] != self.OPTIONS[opt].default]
        at = next((i for i, f in enumerate(fields) if f.startswith("version:")), len(fields))
        return "|".join(fields[:at] + extra + fields[at:])

    def _paired_p(self, baseline: list[str], system: list[str], refs: list[str], n_bootstrap: int, seed: int,
                  clusters: Clusters | None, test: str) -> float:
        """sacreBLEU's own `PairedTest` where it applies (segments, its statistic); otherwise the
        same resamples built from its statistics (module docstring)."""
        if baseline == system:
            return 1.0
        if clusters is None and test == PAIRED_TESTS[0]:
            return self._sacrebleu_paired_p(baseline, system, refs, n_bootstrap, seed)
        metric = self._make()
        base_stats = metric._extract_corpus_statistics(baseline, [refs])
        sys_stats = metric._extract_corpus_statistics(system, [refs])
        observed = metric._aggregate_and_compute(sys_stats).score - metric._aggregate_and_compute(base_stats).score
        codes = unit_codes(len(refs), clusters)
        idx = resample_units(codes, n_bootstrap, seed)
        resampled = np.array([s.score for s in _resampled_scores(metric, sys_stats, codes, idx)]) - \
            np.array([s.score for s in _resampled_scores(metric, base_stats, codes, idx)])
        return paired_bootstrap_p(observed, resampled, test)

    def _sacrebleu_paired_p(self, baseline: list[str], system: list[str], refs: list[str],
                            n_bootstrap: int, seed: int) -> float:
        """sacreBLEU's `PairedTest` (paired bootstrap, its own statistic) on segments."""
        with sacrebleu_seed(seed):
            test = PairedTest([("baseline", baseline), ("system", system)], {self.name: self._make()}, [refs],
                              test_type="bs", n_samples=n_bootstrap)
            _, results = test()
        # keys: 'System' plus the sacreBLEU score name ('BLEU', 'chrF2', 'chrF2++'); [0] = baseline
        (key,) = [k for k in results if k != "System"]
        base, sys_ = results[key]
        if abs(base.score - sys_.score) <= ZERO_DIFFERENCE:
            return 1.0  # PairedTest would say 1/(n+1): see base.paired_bootstrap_p
        return float(sys_.p_value)


def _resampled_scores(metric: SacreMetric, stats: list, codes: np.ndarray, idx: np.ndarray) -> list[SacreScore]:
    """sacreBLEU's score of each resample: rows of `idx` draw units (clusters), whose float32 summed
    segment statistics are summed and scored, as `significance._bootstrap_resample` does for segments."""
    units = np.zeros((int(codes.max()) + 1, len(stats[0])), dtype="float32")
    np.add.at(units, codes, np.array(stats, dtype="float32"))
    return [metric._compute_score_from_stats(units[row].sum(0)) for row in idx]


@METRICS.register("bleu")
class Bleu(SacreBleuMetric):
    """sacreBLEU BLEU (default: 13a tokenizer, exp smoothing, mixed case). Options: sacreBLEU's."""

    name = "bleu"
    higher_is_better = True
    SACRE_CLASS = BLEU
    UNSIGNED = {"max_ngram_order": "ngram"}
    OPTIONS = _options_from(BLEU, {
        "lowercase": (bool,), "force": (bool,), "tokenize": (str, type(None)), "smooth_method": (str,),
        "smooth_value": (int, float, type(None)), "max_ngram_order": (int,), "effective_order": (bool,),
        "trg_lang": (str,),
    }, {"tokenize": (None, *BLEU.TOKENIZERS), "smooth_method": tuple(BLEU.SMOOTH_DEFAULTS)})


class _CHRF(CHRF):
    """sacreBLEU 2.6's chrF with a score of nothing as a float32 zero, like every other resampled
    score: its bootstrap scores resamples from float32 statistics but returns a Python 0.0 for a
    resample that matches nothing, and `statistics.mean` cannot mix the two (a TypeError on small
    corpora with mostly empty outputs, e.g. early learning-curve points). No number changes."""

    def _compute_f_score(self, statistics) -> float:
        score = super()._compute_f_score(statistics)
        return np.float32(0.0) if type(score) is float and score == 0.0 else score


@METRICS.register("chrf")
class Chrf(SacreBleuMetric):
    """sacreBLEU chrF: chrF2 by default; `word_order: 2` gives chrF++. Options: sacreBLEU's."""

    name = "chrf"
    higher_is_better = True
    SACRE_CLASS = _CHRF
    UNSIGNED = {"beta": "beta"}

    def item_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        """sacreBLEU's sentence-level chrF of each item (the corpus chrF pools statistics instead)."""
        hyps, refs = check_segments(hyps=hyps, refs=refs)
        metric = self._make()
        return [float(metric.sentence_score(h, [r]).score) for h, r in zip(hyps, refs)]
    OPTIONS = _options_from(CHRF, {
        "char_order": (int,), "word_order": (int,), "beta": (int,), "lowercase": (bool,),
        "whitespace": (bool,), "eps_smoothing": (bool,),
    })
