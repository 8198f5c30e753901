"""ROUGE-1/2/L/Lsum through Google's rouge-score, averaged per segment.

Each segment is scored with `rouge_scorer.RougeScorer([type], use_stemmer=..., split_summaries=False)`
as `scorer.score(target=ref, prediction=hyp)`; the segment score is the F-measure x 100 and the
corpus value their mean (rouge-score's `BootstrapAggregator` reports the same mean, but its CI is
unseeded, so the CI and paired test here come from `MeanOfSegments`).

rouge-score's tokenizer lowercases and keeps only ASCII letters and digits (`[^a-z0-9]+` becomes a
space): accented letters split words ("niño" -> "ni o") and other scripts score 0. Use chrF for
non-English text. An empty hypothesis or reference scores 0 (rouge-score's own rule).

rougeLsum (summary-level LCS) treats every line as a sentence: text without newlines is one
sentence and rougeLsum then equals rougeL. rouge-score's own splitter (`split_summaries=True`)
needs NLTK's punkt model, which cannot be downloaded here, so sentences are put on their own lines
before scoring, by the `split` option:

* `auto` (default): `punkt` if NLTK's punkt model is installed, else `regex`. The signature
  records which one ran (`split:punkt-<nltk version>` or `split:regex`), so numbers from machines
  with and without punkt are told apart.
* `punkt`: `nltk.sent_tokenize` (BenchError if the model is missing).
* `regex`: a break after `.`, `!`, `?` or `…` (and any closing quotes/brackets) followed by
  whitespace, unless the next character is a lowercase letter ("e.g. the" stays whole, "3.5" is
  never split). Abbreviations before a capital ("Mr. Smith") are split, unlike punkt.
* `newline`: only the newlines already in the text.

Existing newlines are kept as breaks in every mode.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import version
from typing import Any, ClassVar

from l2s_bench.errors import BenchError
from l2s_bench.metrics.base import METRICS, MeanOfSegments, Option

_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*\s+")


def regex_sentences(text: str) -> list[str]:
    """Sentences of one line by the `regex` rule in the module docstring."""
    sentences, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() < len(text) and text[m.end()].islower():
            continue
        sentences.append(text[start:m.end()].strip())
        start = m.end()
    sentences.append(text[start:].strip())
    return [s for s in sentences if s]


@functools.cache
def punkt_available() -> bool:
    """Whether NLTK can split English sentences offline (its punkt model is installed)."""
    import nltk

    try:
        nltk.sent_tokenize("One. Two.")
    except LookupError:
        return False
    return True


class Rouge(MeanOfSegments):
    """F-measure x 100 of one rouge-score type, averaged over segments. Options: `stemmer`
    (Porter stemming, default on) and `tokenizer` (only None, rouge-score's default tokenizer)."""

    ROUGE_TYPE: ClassVar[str]
    higher_is_better = True  # an F-measure (rouge1, rouge2, rougeL, rougeLsum)
    OPTIONS: ClassVar[dict[str, Option]] = {
        "stemmer": Option(True, (bool,)),
        "tokenizer": Option(None, (type(None),)),
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        from rouge_score import rouge_scorer  # here, not at import: `speed` and training need no rouge-score

        self._scorer = rouge_scorer.RougeScorer([self.ROUGE_TYPE], use_stemmer=self.options["stemmer"],
                                                split_summaries=False)

    def prepare(self, text: str) -> str:
        return text

    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        score = self._scorer.score
        kind = self.ROUGE_TYPE
        return [100.0 * score(self.prepare(r), self.prepare(h))[kind].fmeasure for h, r in zip(hyps, refs)]

    def signature_fields(self) -> list[tuple[str, str]]:
        return [("rouge", self.ROUGE_TYPE), ("stem", "yes" if self.options["stemmer"] else "no")]

    def library_field(self) -> tuple[str, str]:
        return ("rouge-score", version("rouge-score"))


@METRICS.register("rouge1")
class Rouge1(Rouge):
    name = ROUGE_TYPE = "rouge1"


@METRICS.register("rouge2")
class Rouge2(Rouge):
    name = ROUGE_TYPE = "rouge2"


@METRICS.register("rougeL")
class RougeL(Rouge):
    name = ROUGE_TYPE = "rougeL"


@METRICS.register("rougeLsum")
class RougeLsum(Rouge):
    """Summary-level ROUGE-L over sentences (one per line); see the module docstring for `split`.
    Without newlines (one sentence) it equals rougeL."""

    name = ROUGE_TYPE = "rougeLsum"
    OPTIONS = {**Rouge.OPTIONS, "split": Option("auto", (str,), ("auto", "punkt", "regex", "newline"))}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        split = self.options["split"]
        if split == "auto":
            split = "punkt" if punkt_available() else "regex"
        elif split == "punkt" and not punkt_available():
            raise BenchError("metric 'rougeLsum': split 'punkt' needs NLTK's punkt model "
                             "(nltk.download('punkt_tab')); use split 'regex' or 'auto'")
        self.splitter = split

    def prepare(self, text: str) -> str:
        lines = text.split("\n")
        if self.splitter == "newline":
            return text
        if self.splitter == "punkt":
            import nltk

            return "\n".join(s for line in lines for s in nltk.sent_tokenize(line))
        return "\n".join(s for line in lines for s in regex_sentences(line))

    def signature_fields(self) -> list[tuple[str, str]]:
        split = self.splitter
        if split == "punkt":
            split = f"punkt-{version('nltk')}"
        return [*super().signature_fields(), ("split", split)]
