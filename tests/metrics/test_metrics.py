"""Metrics: exact values from sacreBLEU's and rouge-score's own examples, cross-checks against the
libraries called directly, seeded CIs and paired tests, and bad input."""

import os

import numpy as np
import pytest
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric as SacreMetric
from sacrebleu.metrics.base import Score as SacreScore
from sacrebleu.significance import PairedTest

from l2s_bench.errors import BenchError
from l2s_bench.metrics import METRICS, Score, get_metric
from l2s_bench.metrics.base import PAIRED_TESTS, Clusters
from l2s_bench.metrics.overlap import STOPWORDS, content_words, normalise
import l2s_bench.metrics.rouge as rouge_mod
from l2s_bench.metrics.rouge import regex_sentences

ALL = ["bleu", "chrf", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "content_f1"]
PER_SEGMENT = ["rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match", "content_f1"]

# sacreBLEU's README example, first reference stream
README_HYPS = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
README_REFS = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."]
README_REFS2 = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."]

ADJ = ["old", "young", "quiet", "angry", "small", "tall"]
NOUN = ["shepherd", "king", "river", "servant", "prophet"]
VERB = ["saw", "followed", "blessed", "crossed", "called", "fed", "judged"]


def corpus(n: int = 30) -> tuple[list[str], list[str], list[str]]:
    """(refs, good, bad): `good` is exact on a third of the segments and one word off elsewhere;
    `bad` shares little with the references."""
    refs, good, bad = [], [], []
    for i in range(n):
        a, s, v, o = ADJ[i % 6], NOUN[i % 5], VERB[i % 7], NOUN[(i + 2) % 5]
        refs.append(f"The {a} {s} {v} the {o} near the water.")
        if i % 3 == 0:
            good.append(refs[-1])
        elif i % 3 == 1:
            good.append(f"The {a} {s} {v} a {o} near the water.")
        else:
            good.append(f"The {ADJ[(i + 1) % 6]} {s} {v} the {o} by the water.")
        bad.append(f"Someone went somewhere on day {i}, it seems.")
    return refs, good, bad


def close_call(good: list[str], refs: list[str]) -> list[str]:
    """A system a little better than `good` on some segments and worse on others."""
    out = []
    for i, (g, r) in enumerate(zip(good, refs)):
        if i % 5 == 0:
            out.append(r)
        elif i % 5 == 1:
            out.append(" ".join(g.split()[:-2]) + " somewhere.")
        elif i % 5 == 2:
            out.append(g.replace("The ", "A ", 1))
        else:
            out.append(g)
    return out


# ---------------------------------------------------------------- sacreBLEU: values and signatures

def test_bleu_readme_example_value_and_signature():
    s = get_metric("bleu").score(README_HYPS, README_REFS)
    direct = BLEU().corpus_score(README_HYPS, [README_REFS])
    assert s.value == pytest.approx(direct.score)
    assert round(s.value, 2) == 45.07  # one reference stream; the README's 48.53 uses both streams:
    assert round(BLEU().corpus_score(README_HYPS, [README_REFS, README_REFS2]).score, 2) == 48.53
    assert s.n == 3 and s.metric == "bleu"
    assert s.signature == "nrefs:1|bs:1000|seed:12345|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def test_chrf_readme_example_value_and_signature():
    s = get_metric("chrf").score(README_HYPS, README_REFS, seed=7)
    assert s.value == pytest.approx(CHRF().corpus_score(README_HYPS, [README_REFS]).score)
    assert round(s.value, 2) == 50.04
    assert s.signature == "nrefs:1|bs:1000|seed:7|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"
    plus = get_metric("chrf", word_order=2).score(README_HYPS, README_REFS)
    assert plus.value == pytest.approx(CHRF(word_order=2).corpus_score(README_HYPS, [README_REFS]).score)
    assert round(plus.value, 2) == 51.73 and "|nw:2|" in plus.signature


def test_options_missing_from_sacrebleus_signature_are_added():
    h, r = ["a b c d e"], ["a b c d f"]
    two = get_metric("bleu", max_ngram_order=2).score(h, r, n_bootstrap=0)
    assert two.value == pytest.approx(BLEU(max_ngram_order=2).corpus_score(h, [r]).score)
    assert two.value != pytest.approx(get_metric("bleu").score(h, r, n_bootstrap=0).value)
    assert two.signature == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|ngram:2|version:2.6.0"
    assert get_metric("chrf", beta=1).score(h, r, n_bootstrap=0).signature == \
        "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|beta:1|version:2.6.0"


def test_sacrebleu_ci_is_the_percentile_interval_of_sacrebleus_own_resamples():
    """The same resamples as sacreBLEU's bootstrap: the interval's half-width is the half-width sacreBLEU
    prints (mu +- half), and it lies around the corpus score rather than centred on mu."""
    refs, good, _ = corpus()
    for name, cls in [("bleu", BLEU), ("chrf", CHRF)]:
        s = get_metric(name).score(good, refs, n_bootstrap=500, seed=99)
        os.environ["SACREBLEU_SEED"] = "99"
        try:
            metric = cls()
            direct = metric.corpus_score(good, [refs], n_bootstrap=500)
        finally:
            del os.environ["SACREBLEU_SEED"]
        assert (s.ci[1] - s.ci[0]) / 2 == pytest.approx(direct._ci, abs=1e-4)
        assert s.ci[0] <= s.value <= s.ci[1] and s.value == pytest.approx(direct.score)
        assert s.signature == metric.get_signature().format() and "bs:500|seed:99" in s.signature


def test_a_tiny_corpus_gets_a_ci_inside_the_metrics_range():
    """On 5 items sacreBLEU's mu +- half leaves 0-100 (chrF of near-empty output); the percentile CI does not."""
    refs = ["the cat sat on the mat", "a dog barked", "it rains", "we left early", "birds sing"]
    hyps = ["the cat sat on the mat", "", "", "", ""]
    for name in ("bleu", "chrf"):
        s = get_metric(name).score(hyps, refs, n_bootstrap=1000, seed=1)
        os.environ["SACREBLEU_SEED"] = "1"
        try:  # sacreBLEU's object as ours builds it (its chrF with a float32 zero: see sacre._CHRF)
            direct = get_metric(name)._make().corpus_score(hyps, [refs], n_bootstrap=1000)
        finally:
            del os.environ["SACREBLEU_SEED"]
        assert direct._mean - direct._ci < 0  # what sacreBLEU's symmetric interval does here
        assert 0 <= s.ci[0] <= s.ci[1] <= 100


def test_no_bootstrap_means_no_ci_and_no_bs_in_signature_even_after_a_bootstrap_call():
    refs, good, _ = corpus()
    for name in ALL:
        m = get_metric(name)
        m.score(good, refs, n_bootstrap=200)  # sacreBLEU objects remember this; a fresh one is used per call
        s = m.score(good, refs, n_bootstrap=0)
        assert s.ci is None and "bs:" not in s.signature and "seed:" not in s.signature, name


@pytest.mark.parametrize("before", [None, "777"])
def test_sacrebleu_seed_env_is_restored(monkeypatch, before):
    if before is None:
        monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    else:
        monkeypatch.setenv("SACREBLEU_SEED", before)
    refs, good, bad = corpus()
    get_metric("bleu").score(good, refs, seed=5)
    get_metric("chrf").paired_p(bad, good, refs, n_bootstrap=100, seed=5)
    assert os.environ.get("SACREBLEU_SEED") == before


# ---------------------------------------------------------------- ROUGE

def test_rouge_readme_example():
    # rouge-score's README: score(target, prediction)
    target, prediction = "The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log."
    direct = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(target, prediction)
    expected = {"rouge1": 70.58823529411765, "rouge2": 26.666666666666668, "rougeL": 58.82352941176471}
    for name, value in expected.items():
        s = get_metric(name).score([prediction], [target], n_bootstrap=0)
        assert s.value == pytest.approx(value, abs=1e-9)
        assert s.value == pytest.approx(100 * direct[name].fmeasure)


def test_rouge_corpus_value_is_mean_of_rouge_score_f():
    refs, good, _ = corpus()
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    direct = [scorer.score(r, h) for h, r in zip(good, refs)]
    for name in ["rouge1", "rouge2", "rougeL"]:
        s = get_metric(name).score(good, refs, n_bootstrap=0)
        assert s.value == pytest.approx(100 * np.mean([d[name].fmeasure for d in direct]))


def test_rouge_stemmer_option():
    hyps, refs = ["the dogs were running"], ["the dog was run"]
    assert get_metric("rouge1").score(hyps, refs, n_bootstrap=0).value == pytest.approx(75.0)
    off = get_metric("rouge1", stemmer=False).score(hyps, refs, n_bootstrap=0)
    assert off.value == pytest.approx(25.0) and off.signature.startswith("rouge:rouge1|stem:no|")


def test_rouge_signature():
    s = get_metric("rougeLsum", split="regex").score(["A b."], ["A b."])
    assert s.signature == "rouge:rougeLsum|stem:yes|split:regex|agg:mean|bs:1000|seed:12345|rouge-score:0.1.2"
    assert get_metric("rougeL").score(["A b."], ["A b."], seed=3).signature == \
        "rouge:rougeL|stem:yes|agg:mean|bs:1000|seed:3|rouge-score:0.1.2"


def test_rougelsum_differs_from_rougel_on_several_sentences_only():
    # rouge-score's testRougeLSumSentenceSplitting, without the newlines: our splitter supplies them
    hyp, ref = "Second sentence. First Sentence.", "First sentence. Second Sentence."
    lsum = get_metric("rougeLsum").score([hyp], [ref], n_bootstrap=0).value
    l_ = get_metric("rougeL").score([hyp], [ref], n_bootstrap=0).value
    assert (lsum, l_) == (pytest.approx(100.0), pytest.approx(50.0))
    # newline mode adds no breaks: without newlines rougeLsum is rougeL
    assert get_metric("rougeLsum", split="newline").score([hyp], [ref], n_bootstrap=0).value == pytest.approx(50.0)
    one_h, one_r = "The quick brown dog jumps on the log.", "The quick brown fox jumps over the lazy dog"
    assert get_metric("rougeLsum").score([one_h], [one_r], n_bootstrap=0).value == \
        pytest.approx(get_metric("rougeL").score([one_h], [one_r], n_bootstrap=0).value)


def test_regex_sentence_splitter():
    assert regex_sentences("One two. Three four! Five? Six") == ["One two.", "Three four!", "Five?", "Six"]
    assert regex_sentences('He said "Go." Then left.') == ['He said "Go."', "Then left."]
    no_break = "It costs 3.5 dollars, e.g. the cheap one."
    assert regex_sentences(no_break) == [no_break]
    assert regex_sentences("Mr. Smith came.") == ["Mr.", "Smith came."]  # documented limitation (punkt keeps it)
    assert regex_sentences("") == [] and regex_sentences("  ") == []


def test_rougelsum_uses_punkt_when_installed(monkeypatch):
    import nltk

    monkeypatch.setattr(rouge_mod, "punkt_available", lambda: True)
    monkeypatch.setattr(nltk, "sent_tokenize", lambda text: [p for p in text.split(" | ") if p])
    m = get_metric("rougeLsum")
    assert m.splitter == "punkt" and f"|split:punkt-{nltk.__version__}|" in m.score(["a | b"], ["b | a"]).signature
    assert m.score(["a b | c d"], ["c d | a b"], n_bootstrap=0).value == pytest.approx(100.0)
    monkeypatch.setattr(rouge_mod, "punkt_available", lambda: False)
    assert get_metric("rougeLsum").splitter == "regex"
    with pytest.raises(BenchError, match="punkt"):
        get_metric("rougeLsum", split="punkt")


def test_rouge_tokenizer_option_accepts_only_none():
    get_metric("rougeL", tokenizer=None)
    with pytest.raises(BenchError, match="tokenizer"):
        get_metric("rougeL", tokenizer="whitespace")


# ---------------------------------------------------------------- exact match and content F1

def test_exact_match_normalisation_and_options():
    hyps, refs = ["  The  Cat, sat! ", "¿Qué tal?", "no"], ["the cat sat", "qué tal", "yes"]
    assert get_metric("exact_match").score(hyps, refs, n_bootstrap=0).value == pytest.approx(200 / 3)
    assert normalise("U.S.  Army") == "us army"
    case = get_metric("exact_match", lowercase=False).score(["The cat"], ["the cat"], n_bootstrap=0)
    assert case.value == 0.0 and "|lc:no|punct:yes|ws:yes|" in case.signature
    assert get_metric("exact_match", strip_punctuation=False).score(["cat!"], ["cat"], n_bootstrap=0).value == 0.0
    ws = get_metric("exact_match", strip_whitespace=False)
    assert ws.score(["the  cat"], ["the cat"], n_bootstrap=0).value == 0.0
    assert get_metric("exact_match").score(["", "x"], ["a", "x"], n_bootstrap=0).value == pytest.approx(50.0)


def test_content_f1_ignores_stopwords():
    m = get_metric("content_f1")
    assert content_words("A person who rides.") == ["person", "rides"]
    # function words differ, content words agree: content F1 100, exact match 0, ROUGE-L well below
    same = m.score(["a person who rides horses"], ["the person that rides the horses"], n_bootstrap=0)
    assert same.value == pytest.approx(100.0)
    assert get_metric("rougeL").score(["a person who rides horses"], ["the person that rides the horses"],
                                      n_bootstrap=0).value < 90
    # gloss style shared, content not: ROUGE-L rewards it, content F1 does not
    style_h, style_r = "a person who is in charge of the sheep", "a person who is skilled at the harp"
    assert get_metric("rougeL").score([style_h], [style_r], n_bootstrap=0).value > 50
    assert m.score([style_h], [style_r], n_bootstrap=0).value == pytest.approx(100 * 2 * (1 / 3) * (1 / 3) / (2 / 3))
    # {person, rides} vs {rider, person}: P = R = 1/2
    assert m.score(["a person who rides"], ["the rider person"], n_bootstrap=0).value == pytest.approx(50.0)
    # multiset counts, punctuation, case
    assert m.score(["Sheep, sheep and GOATS!"], ["sheep goats goats"], n_bootstrap=0).value == pytest.approx(
        100 * 2 / 3)
    assert m.score([""], ["a shepherd"], n_bootstrap=0).value == 0.0
    assert {"the", "a", "who", "is", "t", "don"} <= STOPWORDS and "person" not in STOPWORDS
    assert m.score(["x"], ["x"]).signature.startswith("content_f1:v1|stop:en153.")


# ---------------------------------------------------------------- bootstrap CI

@pytest.mark.parametrize("name", ALL)
def test_ci_seeded_and_contains_value(name):
    refs, good, _ = corpus()
    m = get_metric(name)
    a = m.score(good, refs, n_bootstrap=300, seed=1)
    assert a.ci == m.score(good, refs, n_bootstrap=300, seed=1).ci
    assert a.ci != m.score(good, refs, n_bootstrap=300, seed=2).ci
    assert a.ci[0] <= a.value <= a.ci[1] and a.ci[0] < a.ci[1]
    assert "bs:300|seed:1" in a.signature and a.n == 30


class MeanOfNumbers(SacreMetric):
    """A sacreBLEU metric whose hypotheses are per-segment scores written as text and whose corpus
    score is their mean: runs sacreBLEU's own bootstrap and PairedTest on per-segment scores."""

    def _preprocess_segment(self, sent):
        return sent

    def _extract_reference_info(self, refs):
        return {}

    def _compute_segment_statistics(self, hypothesis, ref_kwargs):
        return [float(hypothesis), 1.0]

    def _compute_score_from_stats(self, stats):
        return SacreScore("mean", float(stats[0]) / float(stats[1]))

    def _aggregate_and_compute(self, stats):
        return self._compute_score_from_stats(np.sum(np.asarray(stats, dtype=np.float64), axis=0))


def test_per_segment_ci_resamples_as_sacrebleu_does():
    refs, good, _ = corpus()
    m = get_metric("content_f1")
    ours = m.score(good, refs, n_bootstrap=400, seed=11)
    per_seg = [repr(x) for x in m.segment_scores(good, refs)]
    os.environ["SACREBLEU_SEED"] = "11"
    try:
        direct = MeanOfNumbers().corpus_score(per_seg, [refs], n_bootstrap=400)
    finally:
        del os.environ["SACREBLEU_SEED"]
    assert direct.score == pytest.approx(ours.value)
    # sacreBLEU keeps half the 2.5%..97.5% width; same resamples and indices -> same width
    assert ours.ci[1] - ours.ci[0] == pytest.approx(2 * direct._ci, abs=1e-4)


# ---------------------------------------------------------------- paired test

@pytest.mark.parametrize("name", ALL)
def test_paired_p_identical_systems_is_one(name):
    refs, good, _ = corpus()
    assert get_metric(name).paired_p(good, list(good), refs, n_bootstrap=200) == 1.0


def test_sacrebleu_paired_test_says_identical_systems_differ():
    """Why paired_p special-cases a zero difference: sacreBLEU counts `> 0` and returns 1/(n+1)."""
    refs, good, _ = corpus()
    _, res = PairedTest([("a", good), ("b", good)], {"BLEU": BLEU()}, [refs], test_type="bs", n_samples=200)()
    assert res["BLEU"][1].p_value == pytest.approx(1 / 201)


@pytest.mark.parametrize("name", ALL)
def test_paired_p_clearly_better_system(name):
    refs, good, bad = corpus()
    m = get_metric(name)
    assert m.paired_p(bad, good, refs, n_bootstrap=500) < 0.05
    assert m.paired_p(good, bad, refs, n_bootstrap=500) < 0.05  # two-sided
    assert m.paired_p(bad, good, refs, n_bootstrap=500, seed=3) == \
        m.paired_p(bad, good, refs, n_bootstrap=500, seed=3)


@pytest.mark.parametrize("name,cls,key", [("bleu", BLEU, "BLEU"), ("chrf", CHRF, "chrF2")])
def test_sacrebleu_paired_p_agrees_with_paired_test(name, cls, key, monkeypatch):
    refs, good, _ = corpus()
    other = close_call(good, refs)  # p is neither the floor 1/(n+1) nor 1
    monkeypatch.setenv("SACREBLEU_SEED", "4242")
    _, res = PairedTest([("baseline", good), ("system", other)], {key: cls()}, [refs],
                        test_type="bs", n_samples=300)()
    p = get_metric(name).paired_p(good, other, refs, n_bootstrap=300, seed=4242)
    assert p == pytest.approx(res[key][1].p_value)
    assert 0.1 < p < 0.9


def test_per_segment_paired_p_agrees_with_sacrebleu_paired_test(monkeypatch):
    refs, good, _ = corpus()
    other = close_call(good, refs)
    for name in ["content_f1", "rouge2"]:
        m = get_metric(name)
        base = [repr(x) for x in m.segment_scores(good, refs)]
        sys_ = [repr(x) for x in m.segment_scores(other, refs)]
        monkeypatch.setenv("SACREBLEU_SEED", "4242")
        _, res = PairedTest([("b", base), ("s", sys_)], {"mean": MeanOfNumbers()}, [refs], test_type="bs",
                            n_samples=300)()
        p = m.paired_p(good, other, refs, n_bootstrap=300, seed=4242)
        assert p == pytest.approx(res["mean"][1].p_value), name
        assert 0.1 < p < 0.9


def test_zero_corpus_difference_gives_p_one():
    # different outputs, equal exact-match rate (10/30 each): no observed difference, p = 1
    refs, good, _ = corpus()
    other = close_call(good, refs)
    m = get_metric("exact_match")
    assert other != good and m.score(other, refs).value == m.score(good, refs).value
    assert m.paired_p(good, other, refs) == 1.0


def test_centred_paired_test_is_the_two_sided_statistic_and_about_twice_sacrebleus():
    """`centred`: p = (#{|d_b - d| >= |d|} + 1) / (B + 1) over resampled differences d_b, computed here by
    hand from per-segment scores (content_f1) and from sacreBLEU corpus scores of each resample (bleu)."""
    refs, good, _ = corpus()
    other = close_call(good, refs)
    n, n_boot, seed = len(refs), 300, 4242
    idx = np.random.default_rng(seed).choice(n, size=(n_boot, n), replace=True)

    def centred(observed, resampled):
        return (np.sum(np.abs(resampled - observed) >= abs(observed)) + 1) / (n_boot + 1)

    m = get_metric("content_f1")
    diffs = np.asarray(m.segment_scores(other, refs)) - np.asarray(m.segment_scores(good, refs))
    p = m.paired_p(good, other, refs, n_bootstrap=n_boot, seed=seed, test="centred")
    assert p == centred(diffs.mean(), diffs[idx].mean(axis=1))
    sacre = m.paired_p(good, other, refs, n_bootstrap=n_boot, seed=seed)
    assert sacre < p and p == pytest.approx(2 * sacre, rel=0.25)  # sacreBLEU's counts one tail

    bleu = get_metric("bleu")
    observed = BLEU().corpus_score(other, [refs]).score - BLEU().corpus_score(good, [refs]).score
    resampled = np.array([BLEU().corpus_score([other[i] for i in row], [[refs[i] for i in row]]).score -
                          BLEU().corpus_score([good[i] for i in row], [[refs[i] for i in row]]).score for row in idx])
    assert bleu.paired_p(good, other, refs, n_bootstrap=n_boot, seed=seed, test="centred") == \
        pytest.approx(centred(observed, resampled))
    assert bleu.paired_p(good, list(good), refs, n_bootstrap=n_boot, test="centred") == 1.0


# ---------------------------------------------------------------- cluster bootstrap

def clustered_corpus() -> tuple[list[str], list[str], list[str], Clusters]:
    """(refs, hyps, other, clusters) shaped like debian-sum: 12 source packages with 1-6 binary packages
    each, whose items repeat one text (a package and its -dev, -doc, ... say the same), so the items of a
    cluster score alike and the segment bootstrap counts one package's luck several times."""
    refs, good, _ = corpus(12)
    other = close_call(good, refs)
    sizes = [1, 6, 2, 1, 5, 3, 1, 4, 2, 6, 1, 3]
    rows = [(r, g, o, f"src{k}") for k, (r, g, o, size) in enumerate(zip(refs, good, other, sizes))
            for _ in range(size)]
    r, g, o, labels = zip(*rows)
    return list(r), list(g), list(o), Clusters("family", labels)


@pytest.mark.parametrize("name", ALL)
def test_one_item_per_cluster_draws_exactly_the_segment_bootstrap(name):
    """Clusters numbered in order of first appearance: singleton clusters give the same CI and p, to the
    last bit, as today's segment bootstrap (for bleu/chrf: sacreBLEU's `corpus_score` and `PairedTest`)."""
    refs, good, _ = corpus()
    other = close_call(good, refs)
    single = Clusters("id", tuple(f"item{i}" for i in range(len(refs))))
    m = get_metric(name)
    plain, clustered = m.score(other, refs, n_bootstrap=300, seed=1), m.score(other, refs, n_bootstrap=300, seed=1,
                                                                             clusters=single)
    assert clustered.ci == plain.ci and clustered.value == plain.value
    assert "cluster" not in plain.signature and "|bs:300|cluster:id|seed:1|" in clustered.signature
    assert clustered.signature.replace("cluster:id|", "") == plain.signature
    assert m.paired_p(good, other, refs, n_bootstrap=300, seed=5, clusters=single) == \
        m.paired_p(good, other, refs, n_bootstrap=300, seed=5)
    no_ci = m.score(other, refs, n_bootstrap=0, clusters=single)
    assert no_ci.signature == m.score(other, refs, n_bootstrap=0).signature  # no resampling, nothing to say


@pytest.mark.parametrize("name", ALL)
def test_cluster_bootstrap_widens_the_ci_of_clustered_items(name):
    refs, hyps, other, clusters = clustered_corpus()
    m = get_metric(name)
    plain, clustered = m.score(hyps, refs, n_bootstrap=500, seed=3), m.score(hyps, refs, n_bootstrap=500, seed=3,
                                                                             clusters=clusters)
    assert clustered.value == plain.value and clustered.n == plain.n == 35
    assert clustered.ci[1] - clustered.ci[0] > 1.2 * (plain.ci[1] - plain.ci[0])
    assert clustered.ci == m.score(hyps, refs, n_bootstrap=500, seed=3, clusters=clusters).ci  # seeded
    assert "|bs:500|cluster:family|seed:3|" in clustered.signature
    assert m.paired_p(hyps, list(hyps), refs, n_bootstrap=100, clusters=clusters) == 1.0
    for test in PAIRED_TESTS:
        p = m.paired_p(hyps, other, refs, n_bootstrap=300, seed=2, clusters=clusters, test=test)
        assert p == m.paired_p(hyps, other, refs, n_bootstrap=300, seed=2, clusters=clusters, test=test)
        assert 0 < p <= 1


def test_cluster_bootstrap_is_the_ratio_of_drawn_cluster_sums():
    """By hand: draw 12 of 12 clusters with sacreBLEU's call, pool the drawn clusters' items (a cluster
    drawn twice counts twice), take their mean; the CI is the sorted means at sacreBLEU's bounds."""
    refs, hyps, other, clusters = clustered_corpus()
    m = get_metric("rougeL")
    scores = np.asarray(m.segment_scores(hyps, refs))
    members = [[i for i, c in enumerate(clusters.labels) if c == f"src{k}"] for k in range(12)]
    draws = np.random.default_rng(7).choice(12, size=(400, 12), replace=True)
    means = np.sort([scores[[i for k in row for i in members[k]]].mean() for row in draws])
    ci = m.score(hyps, refs, n_bootstrap=400, seed=7, clusters=clusters).ci
    assert ci == pytest.approx((means[10], means[400 - 10 - 1]))

    diffs = np.asarray(m.segment_scores(other, refs)) - scores
    resampled = np.array([diffs[[i for k in row for i in members[k]]].mean() for row in draws])
    for test, count in [("sacrebleu", np.abs(resampled) - np.abs(resampled).mean() > abs(diffs.mean())),
                        ("centred", np.abs(resampled - diffs.mean()) >= abs(diffs.mean()))]:
        assert m.paired_p(hyps, other, refs, n_bootstrap=400, seed=7, clusters=clusters, test=test) == \
            pytest.approx((count.sum() + 1) / 401), test


@pytest.mark.parametrize("name,cls", [("bleu", BLEU), ("chrf", CHRF)])
def test_sacrebleu_cluster_bootstrap_scores_pooled_clusters_with_sacrebleu(name, cls):
    """BLEU/chrF over clusters: each resample is the corpus of the drawn clusters' items, scored by
    sacreBLEU itself; the CI is the 2.5% and 97.5% of those scores."""
    refs, hyps, other, clusters = clustered_corpus()
    members = [[i for i, c in enumerate(clusters.labels) if c == f"src{k}"] for k in range(12)]
    draws = np.random.default_rng(9).choice(12, size=(80, 12), replace=True)
    pooled = [[i for k in row for i in members[k]] for row in draws]
    scores = np.sort([cls().corpus_score([hyps[i] for i in rows], [[refs[i] for i in rows]]).score for rows in pooled])
    s = get_metric(name).score(hyps, refs, n_bootstrap=80, seed=9, clusters=clusters)
    assert s.value == pytest.approx(cls().corpus_score(hyps, [refs]).score)
    assert s.ci == pytest.approx((scores[2], scores[80 - 2 - 1]), abs=1e-3)
    resampled = np.array([cls().corpus_score([other[i] for i in rows], [[refs[i] for i in rows]]).score -
                          cls().corpus_score([hyps[i] for i in rows], [[refs[i] for i in rows]]).score
                          for rows in pooled])
    observed = cls().corpus_score(other, [refs]).score - s.value
    count = np.sum(np.abs(resampled - observed) >= abs(observed))
    assert get_metric(name).paired_p(hyps, other, refs, n_bootstrap=80, seed=9, clusters=clusters,
                                     test="centred") == pytest.approx((count + 1) / 81)


def test_bad_clusters_and_paired_test_are_refused():
    refs, good, _ = corpus()
    m = get_metric("chrf")
    with pytest.raises(BenchError, match=r"2 cluster labels \(family\) for 30 segments"):
        m.score(good, refs, clusters=Clusters("family", ("a", "b")))
    with pytest.raises(BenchError, match="unknown paired test 'centered'; did you mean 'centred'"):
        m.paired_p(good, good, refs, test="centered")


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("name", ALL)
def test_bad_inputs(name):
    m = get_metric(name)
    with pytest.raises(BenchError, match="segment counts differ: hyps=2, refs=1"):
        m.score(["a", "b"], ["a"])
    with pytest.raises(BenchError, match="no segments to score"):
        m.score([], [])
    with pytest.raises(BenchError, match=r"hyps\[1\] is None"):
        m.score(["a", None], ["a", "b"])
    with pytest.raises(BenchError, match=r"refs\[0\] is int"):
        m.score(["a"], [3])
    with pytest.raises(BenchError, match="must be a list of strings"):
        m.score("abc", "abc")
    with pytest.raises(BenchError, match=r"system\[0\] is None"):
        m.paired_p(["a"], [None], ["a"])
    with pytest.raises(BenchError, match="segment counts differ"):
        m.paired_p(["a"], ["a", "b"], ["a"])
    with pytest.raises(BenchError, match="seed must be a positive int"):
        m.score(["a"], ["a"], seed=0)
    with pytest.raises(BenchError, match="n_bootstrap"):
        m.score(["a"], ["a"], n_bootstrap=1)
    with pytest.raises(BenchError, match="n_bootstrap"):
        m.paired_p(["a"], ["b"], ["a"], n_bootstrap=0)


ODD = ["caf\u00e9 \ud800 x", "\udcff\udcfe", "\x00\u200b\ufeff", "e\u0301 ok.\n\nNew line", "", "\U0001F4A5 emoji",
       "\u202e rtl \u2028 sep", "\u4e2d\u6587\u3002\u5b57", "ni\u00f1o coraz\u00f3n"]


@pytest.mark.parametrize("name", ALL)
def test_empty_and_odd_unicode_do_not_crash(name):
    m = get_metric(name)
    refs = ["cafe x", "abc", "zero", "é ok", "something", "emoji", "rtl", "中文", "niño corazón"]
    s = m.score(ODD, refs, n_bootstrap=50)
    assert 0.0 <= s.value <= 100.0 and s.n == len(ODD)
    assert m.score(["", ""], ["a b", "c"], n_bootstrap=0).value == 0.0
    assert 0.0 < m.paired_p(ODD, refs, refs, n_bootstrap=50) <= 1.0


@pytest.mark.parametrize("name", ALL)
def test_mostly_empty_outputs_bootstrap(name):
    """Resamples that hold only empty outputs score 0 (sacreBLEU's chrF returned a Python 0.0 among
    float32 scores there, and its bootstrap mean raised a TypeError)."""
    refs = ["A revelation about Nineveh.", "Then the word came", "Speak to the governor", "For it is right"]
    s = get_metric(name).score(["", "Then", "", ""], refs, n_bootstrap=20, seed=12345)
    assert s.ci[0] <= s.ci[1] and 0.0 <= s.value <= 100.0


# ---------------------------------------------------------------- registry, options, helpers

def test_registry_has_every_metric():
    assert set(ALL) <= set(METRICS.names())
    assert all(get_metric(n).name == n for n in ALL)


def test_unknown_metric_did_you_mean():
    with pytest.raises(BenchError, match="unknown metric 'rougel'; did you mean 'rougeL'"):
        get_metric("rougel")


@pytest.mark.parametrize("name,options,message", [
    ("chrf", {"wordorder": 2}, "unknown option 'wordorder'; did you mean 'word_order'"),
    ("rougeL", {"stemming": False}, "unknown option 'stemming'; did you mean 'stemmer'"),
    ("exact_match", {"lower_case": False}, "did you mean 'lowercase'"),
    ("content_f1", {"stopwords": "en"}, r"unknown option 'stopwords' \(options: none\)"),
    ("bleu", {"tokenize": "13b"}, "did you mean '13a'"),
    ("rougeLsum", {"split": "regexp"}, "did you mean 'regex'"),
    ("rouge1", {"stemmer": "yes"}, "option 'stemmer' must be bool"),
    ("chrf", {"word_order": True}, "option 'word_order' must be int"),
])
def test_bad_options(name, options, message):
    with pytest.raises(BenchError, match=message):
        get_metric(name, **options)


def test_score_to_dict():
    refs, good, _ = corpus()
    score = get_metric("exact_match").score(good, refs, n_bootstrap=100)
    assert isinstance(score, Score)
    d = score.to_dict()
    assert set(d) == {"value", "ci", "signature", "n"} and d["value"] == pytest.approx(100 / 3)
    assert isinstance(d["ci"], list) and len(d["ci"]) == 2 and d["n"] == 30
    assert get_metric("bleu").score(good, refs, n_bootstrap=0).to_dict()["ci"] is None
