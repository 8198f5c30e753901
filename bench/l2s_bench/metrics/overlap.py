"""Exact match and content-word F1: per-segment scores x 100, averaged (CI and p from `MeanOfSegments`).

Why content-word F1: on the WordNet-gloss instruction task ROUGE-L rewarded the *style* of a
gloss ("a person who ...") about as much as a correct answer, because the shared function words
form a long common subsequence. Scoring only content words separated the systems better.

Punctuation here means every character in Unicode categories P* and S* (punctuation and symbols:
`string.punctuation` and its Unicode counterparts such as "¿", "’", "€"); the categories come from
Python's `unicodedata`, whose version is in the signature.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from typing import ClassVar

from l2s_bench.metrics.base import METRICS, MeanOfSegments, Option

IMPLEMENTATION = "v1"  # bump when a change here alters a number


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def normalise(text: str, lowercase: bool = True, strip_punctuation: bool = True,
              strip_whitespace: bool = True) -> str:
    """SQuAD-style answer normalisation (without its article removal): lowercase, delete
    punctuation ("U.S." -> "us"), trim and collapse runs of whitespace to one space."""
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        text = "".join(ch for ch in text if not _is_punct(ch))
    if strip_whitespace:
        text = " ".join(text.split())
    return text


@METRICS.register("exact_match")
class ExactMatch(MeanOfSegments):
    """100 if the normalised hypothesis equals the normalised reference, else 0; averaged.

    Options (all on by default): `lowercase`, `strip_punctuation`, `strip_whitespace` (see
    `normalise`). An empty hypothesis matches only a reference that normalises to empty.
    """

    name = "exact_match"
    higher_is_better = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "lowercase": Option(True, (bool,)),
        "strip_punctuation": Option(True, (bool,)),
        "strip_whitespace": Option(True, (bool,)),
    }

    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        o = self.options
        return [100.0 if normalise(h, **o) == normalise(r, **o) else 0.0 for h, r in zip(hyps, refs)]

    def signature_fields(self) -> list[tuple[str, str]]:
        yn = {True: "yes", False: "no"}
        return [("exact_match", IMPLEMENTATION), ("lc", yn[self.options["lowercase"]]),
                ("punct", yn[self.options["strip_punctuation"]]), ("ws", yn[self.options["strip_whitespace"]]),
                ("unicode", unicodedata.unidata_version)]


# NLTK's English stopword list (the 179-word `stopwords.words("english")` of NLTK 3.x), kept here
# because NLTK's corpora cannot be downloaded offline. Punctuation becomes a space before lookup,
# so its apostrophe forms ("don't", "you're") arrive as pieces ("don" "t", "you" "re") which the
# list already holds; they are left out. Note that it holds negations ("no", "not", "nor", "isn"
# + "t"): content F1 does not see "is not X" vs "is X".
STOPWORDS: frozenset[str] = frozenset("""
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
hers herself it its itself they them their theirs themselves what which who whom this that these
those am is are was were be been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through during before after
above below to from up down in out on off over under again further then once here there when where
why how all any both each few more most other some such no nor not only own same so than too very s
t can will just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma
mightn mustn needn shan shouldn wasn weren won wouldn
""".split())
STOPWORDS_ID = f"en{len(STOPWORDS)}.{hashlib.sha256(' '.join(sorted(STOPWORDS)).encode()).hexdigest()[:8]}"


def content_words(text: str) -> list[str]:
    """Lowercased words, punctuation replaced by spaces, stopwords removed ("a person who rides" -> person, rides)."""
    text = "".join(" " if _is_punct(ch) else ch for ch in text.lower())
    return [w for w in text.split() if w not in STOPWORDS]


def token_f1(hyp: list[str], ref: list[str]) -> float:
    """SQuAD token F1 over multisets; both empty -> 1.0, one empty -> 0.0."""
    if not hyp or not ref:
        return float(hyp == ref)
    common = sum((Counter(hyp) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(hyp), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@METRICS.register("content_f1")
class ContentF1(MeanOfSegments):
    """Token F1 over content words (`content_words`: lowercased, punctuation stripped, `STOPWORDS`
    removed), per segment x 100, averaged. No stemming. A segment whose hypothesis and reference
    both have no content words scores 100 (SQuAD's rule); one side empty scores 0. No options."""

    name = "content_f1"
    higher_is_better = True

    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        return [100.0 * token_f1(content_words(h), content_words(r)) for h, r in zip(hyps, refs)]

    def signature_fields(self) -> list[tuple[str, str]]:
        return [("content_f1", IMPLEMENTATION), ("stop", STOPWORDS_ID), ("unicode", unicodedata.unidata_version)]
