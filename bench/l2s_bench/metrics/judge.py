"""An optional LLM judge: reference-guided single-answer grading on MT-Bench's 1-10 scale, x 10.

The paper evaluated its Alpaca-tuned systems on MT-Bench with a strong judge; no such judge installs
offline here, so this metric is off unless a task names a judge model (`options: {source: ...}`,
any `hf-causal` source). Decoding is greedy, so a given judge gives the same grades every run. The
grade is only as good as the judge: its source, weights hash and prompt hash are in the signature,
and a reply without a 1-10 rating counts 0 (how many is kept in `unparsed`).
"""

from __future__ import annotations

import hashlib
import re
from typing import ClassVar

from l2s_bench.errors import BenchError
from l2s_bench.metrics.base import METRICS, MeanOfSegments, Option

PROMPT = (
    "Please act as an impartial judge. Compare the assistant's answer with the reference answer and "
    "rate its correctness and helpfulness on a scale of 1 to 10. Reply with the rating only, as "
    "\"Rating: N\".\n\n[Reference answer]\n{reference}\n\n[Assistant's answer]\n{answer}"
)
_RATING = re.compile(r"(?<!\d)(10|[1-9])(?!\d)")


def parse_rating(reply: str) -> int | None:
    """The first 1-10 rating in a reply ("Rating: 7", "[[7]]", "7/10"), else None."""
    marked = re.search(r"rating\W*(10|[1-9])(?!\d)", reply, re.IGNORECASE)
    found = marked or _RATING.search(reply)
    return int(found.group(1)) if found else None


@METRICS.register("judge")
class Judge(MeanOfSegments):
    name = "judge"
    higher_is_better = True
    OPTIONS: ClassVar[dict[str, Option]] = {
        "source": Option(None, (str, type(None))),  # the judge model: embedded name, local folder or Hub id
        "batch_size": Option(8, (int,)),
        "max_new_tokens": Option(8, (int,)),
    }

    def item_scores(self, hyps: list[str], refs: list[str]) -> None:
        """None: a report does not run the judge model again to browse outputs."""
        return None

    def __init__(self, **options) -> None:
        super().__init__(**options)
        if not self.options["source"]:
            raise BenchError("metric 'judge' needs options.source: the judge model (e.g. a local instruct model)")
        self._adapter = None
        self.unparsed = 0

    def _judge(self):
        if self._adapter is None:  # loaded on first use, so validating a task does not load a model
            from l2s_bench.models import FOR_JUDGE, get_adapter

            self._adapter = get_adapter(FOR_JUDGE, source=self.options["source"], chat=True,
                                        reserve_new_tokens=self.options["max_new_tokens"])
        return self._adapter

    def segment_scores(self, hyps: list[str], refs: list[str]) -> list[float]:
        from l2s_bench.models import GenSettings

        judge, size = self._judge(), self.options["batch_size"]
        prompts = [PROMPT.format(reference=r, answer=h) for h, r in zip(hyps, refs)]
        gen = GenSettings(max_new_tokens=self.options["max_new_tokens"])
        replies = [reply for i in range(0, len(prompts), size) for reply in judge.generate(prompts[i:i + size], gen)]
        ratings = [parse_rating(reply) for reply in replies]
        self.unparsed = sum(r is None for r in ratings)
        return [10.0 * (r or 0) for r in ratings]

    def signature_fields(self) -> list[tuple[str, str]]:
        judge = self._judge()
        return [("judge", self.options["source"]), ("weights", judge.hash[:12]),
                ("prompt", hashlib.sha256(PROMPT.encode()).hexdigest()[:8]), ("scale", "1-10x10")]
