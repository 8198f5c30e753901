"""Quality metrics: corpus score, seeded 95% bootstrap CI, paired significance and a signature.

    from l2s_bench.metrics import get_metric
    chrf = get_metric("chrf")                      # options as in task YAML, e.g. word_order=2
    s = chrf.score(hyps, refs)                     # Score(metric, value, ci, signature, n)
    p = chrf.paired_p(baseline_hyps, system_hyps, refs)

Registered: bleu, chrf (sacreBLEU); rouge1, rouge2, rougeL, rougeLsum (rouge-score);
exact_match, content_f1; judge (optional, needs a judge model). Third-party metrics plug in through the `l2s_bench.metrics` entry-point
group (see `l2s_bench.registry`). The design and the statistics are described in `l2s_bench.metrics.base`.
"""

from l2s_bench.metrics.base import METRICS, MeanOfSegments, Metric, Option, Score, get_metric
from l2s_bench.metrics.judge import Judge
from l2s_bench.metrics.overlap import ContentF1, ExactMatch
from l2s_bench.metrics.rouge import Rouge1, Rouge2, RougeL, RougeLsum
from l2s_bench.metrics.sacre import Bleu, Chrf

__all__ = ["METRICS", "Metric", "MeanOfSegments", "Option", "Score", "get_metric",
           "Bleu", "Chrf", "Rouge1", "Rouge2", "RougeL", "RougeLsum", "ExactMatch", "ContentF1", "Judge"]
