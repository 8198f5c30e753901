"""`llm2slm` for lm-evaluation-harness: a trained checkpoint behind lm-eval's `LM` API.

    import l2s_bench.lmeval                     # registers "llm2slm" with lm-eval
    lm_eval.simple_evaluate(model="llm2slm", model_args="checkpoint=runs/x/final", tasks=[...])

Model args: `checkpoint` (required), `batch_size` (8; "auto" means 8), `max_gen_toks` (256, the
default a request may override), `device` (cuda where available, else the CPU, also when cuda is
asked for but absent: lm-eval's CLI asks for cuda:0 by default), `chat` (render prompts through
the chat template; default: as the checkpoint was trained), `max_prompt_tokens` (1024).

Every request type goes through the same pieces as l2s-bench's own evaluation, so LLM conditioning
always applies:
- generate_until: the `llm2slm` adapter's `encode` (prompt rendering, LLM encode, projector), then the
  SLM's greedy `generate`, stopped at EOS, at `until` strings (cut off, as lm-eval expects) or after
  `max_gen_toks`. Outputs are stripped of surrounding whitespace, as the adapter's are.
- loglikelihood(context, continuation): the context is the *prompt* (rendered and tokenized as for
  generation, read by the LLM + projector); the continuation is the *response*, tokenized alone by
  the SLM's tokenizer without special tokens (as responses are in training; a leading space is kept
  as given), scored from the logits of `LLMToSLM.forward(..., labels=False)`. An empty context is one prefix token (below).
- loglikelihood_rolling: the text scored as the response to an empty prompt, i.e. one prefix token
  of the prompt tokenizer (BOS, else EOS; never chat-rendered), which the LLM still reads: this is
  the L2S system's own unconditional distribution. Texts longer than the SLM's positions are scored
  in disjoint windows of the response, each restarting after the prefix, the last one with full
  context (lm-eval's rolling scheme): every token is scored exactly once.
Prompts are rendered by the model itself (`chat`), so lm-eval's `--apply_chat_template` is refused.
"""

from __future__ import annotations

import logging
import sys

import torch
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from l2s_bench.method.pretrained import prompt_budget
from l2s_bench.models.base import render_prompt, strip_generated, tokenize_prompts
from l2s_bench.models.llm2slm import LLM2SLMAdapter
from l2s_bench.tokens import left_pad, pad_id, right_pad

log = logging.getLogger(__name__)


@register_model(LLM2SLMAdapter.name)
class LLM2SLMLM(LM):
    """lm-eval's three request types over one `llm2slm` adapter (see the module docstring)."""

    def __init__(self, checkpoint: str = "", batch_size: int | str = 8, max_gen_toks: int = 256,
                 device: str | None = None, chat: bool | None = None, max_prompt_tokens: int = 1024,
                 max_batch_size: int | None = None):  # max_batch_size: passed by lm-eval, unused (no "auto")
        super().__init__()
        if device is None or (device.startswith("cuda") and not torch.cuda.is_available()):
            if device is not None:  # lm-eval's CLI asks for cuda:0 unless told otherwise
                log.warning("device %s is not available; using the CPU", device)
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.adapter = LLM2SLMAdapter(checkpoint=checkpoint, chat=chat, max_prompt_tokens=int(max_prompt_tokens),
                                      reserve_new_tokens=int(max_gen_toks), device=device)
        self.model = self.adapter.model
        self._device = torch.device(device)
        self.batch_size = 8 if str(batch_size).startswith("auto") else int(batch_size)
        self.max_gen_toks = int(max_gen_toks)
        self.max_prompt_tokens = int(max_prompt_tokens)
        tok, out = self.adapter.tokenizer, self.adapter.output_tokenizer
        self.prefix_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        self.prompt_pad, self.response_pad = pad_id(tok), pad_id(out)

    # ------------------------------------------------------------------------------- generation

    def generate_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        groups: dict[tuple[tuple[str, ...], int], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault(self._gen_settings(request.args[1]), []).append(i)
        results: list[str] = [""] * len(requests)
        bar = tqdm(total=len(requests), desc="generate_until", disable=disable_tqdm)
        for (until, max_new), indices in groups.items():
            indices.sort(key=lambda i: len(requests[i].args[0]))  # similar lengths share a batch
            for start in range(0, len(indices), self.batch_size):
                batch = indices[start:start + self.batch_size]
                texts = self._generate([requests[i].args[0] for i in batch], list(until), max_new)
                for i, text in zip(batch, texts):
                    results[i] = text
                    self.cache_hook.add_partial("generate_until", requests[i].args, text)
                bar.update(len(batch))
        bar.close()
        return results

    def _gen_settings(self, kwargs: dict | None) -> tuple[tuple[str, ...], int]:
        kwargs = dict(kwargs or {})
        until = kwargs.pop("until", None) or []
        until = [until] if isinstance(until, str) else list(until)
        if kwargs.get("do_sample"):
            log.warning("llm2slm decodes greedily; do_sample=True is ignored")
        return tuple(until), int(kwargs.get("max_gen_toks", self.max_gen_toks))

    def _generate(self, contexts: list[str], until: list[str], max_new_tokens: int) -> list[str]:
        out_tok = self.adapter.output_tokenizer
        kwargs = {"max_new_tokens": max_new_tokens, "do_sample": False, "num_beams": 1}
        if until:  # stop each row early; the text is still cut below, as lm-eval expects
            kwargs.update(stop_strings=until, tokenizer=out_tok)
        # prompts are cut (from the left) to leave a decoder-only SLM positions for this request's tokens
        self.adapter.max_prompt_tokens = self.model.prompt_budget(self.max_prompt_tokens, max_new_tokens)
        ids = self.model.generate(self.adapter.encode(contexts).inputs, **kwargs)
        texts = [out_tok.decode(row, skip_special_tokens=True) for row in strip_generated(ids, out_tok)]
        return [cut_at(text, until).strip() for text in texts]

    # ---------------------------------------------------------------------------- log-likelihood

    def loglikelihood(self, requests: list, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        contexts = [r.args[0] for r in requests]
        responses = [self._response_ids(r.args[1]) for r in requests]
        prompts = self._prompt_ids(contexts, [len(x) for x in responses])
        results = self._score(prompts, responses, [0] * len(requests), disable_tqdm)
        for request, result in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", request.args, result)
        return results

    def loglikelihood_rolling(self, requests: list, disable_tqdm: bool = False) -> list[float]:
        width = prompt_budget(self.model.slm.config, sys.maxsize, 1)  # response tokens after the prefix
        prompts, responses, skips, owners = [], [], [], []
        for k, request in enumerate(requests):
            for window, skip in rolling_windows(self._response_ids(request.args[0]), width):
                prompts.append([self.prefix_id])
                responses.append(window)
                skips.append(skip)
                owners.append(k)
        totals = [0.0] * len(requests)
        for k, (logprob, _) in zip(owners, self._score(prompts, responses, skips, disable_tqdm)):
            totals[k] += logprob
        for request, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    def _response_ids(self, text: str) -> list[int]:
        return self.adapter.output_tokenizer(text, add_special_tokens=False).input_ids

    def _prompt_ids(self, contexts: list[str], response_lengths: list[int]) -> list[list[int]]:
        """Prompt token ids as for generation, each cut from the left so that a decoder-only SLM
        still has positions for its response; an empty prompt becomes the prefix token."""
        a = self.adapter
        rendered = [render_prompt(a.tokenizer, c, a.chat) for c in contexts]
        seqs, _ = tokenize_prompts(a.tokenizer, rendered, self.max_prompt_tokens, a.chat)
        return [s[-self.model.prompt_budget(self.max_prompt_tokens, n):] or [self.prefix_id]
                for s, n in zip(seqs, response_lengths)]

    @torch.no_grad()
    def _score(self, prompts: list[list[int]], responses: list[list[int]], skips: list[int],
               disable_tqdm: bool) -> list[tuple[float, bool]]:
        """(sum of log-probs, all greedy) of responses[i][skips[i]:] given prompts[i] and responses[i][:skips[i]]."""
        results: list[tuple[float, bool]] = [(0.0, True)] * len(prompts)  # empty responses stay so
        order = sorted((i for i in range(len(prompts)) if responses[i]),
                       key=lambda i: -(len(prompts[i]) + len(responses[i])))
        for start in tqdm(range(0, len(order), self.batch_size), desc="loglikelihood", disable=disable_tqdm):
            batch = order[start:start + self.batch_size]
            ids, mask = left_pad([prompts[i] for i in batch], self.prompt_pad)
            resp, resp_mask = right_pad([responses[i] for i in batch], self.response_pad)
            resp = resp.to(self._device)
            logits, _ = self.model(ids.to(self._device), mask.to(self._device), resp, resp_mask.to(self._device),
                                   labels=False)
            token_logprobs = logits.log_softmax(-1).gather(-1, resp.unsqueeze(-1)).squeeze(-1)
            greedy = logits.argmax(-1) == resp
            for row, i in enumerate(batch):
                scored = slice(skips[i], len(responses[i]))
                results[i] = (float(token_logprobs[row, scored].sum()), bool(greedy[row, scored].all()))
        return results

    # ------------------------------------------------------------------------------------ misc

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        raise NotImplementedError("llm2slm renders prompts itself: drop --apply_chat_template and pass "
                                  "model_args chat=true|false (default: as the checkpoint was trained)")


def cut_at(text: str, until: list[str]) -> str:
    """The text before the first occurrence of any stop string."""
    for stop in until:
        if stop:
            text = text.split(stop, 1)[0]
    return text


def rolling_windows(tokens: list[int], width: int) -> list[tuple[list[int], int]]:
    """(window, skip) pairs covering `tokens`: window[skip:] is scored, window[:skip] is context only.
    Windows are disjoint except the last, which takes up to `width` tokens of context."""
    windows, start = [], 0
    while start < len(tokens):
        end = min(start + width, len(tokens))
        first = max(0, end - width)
        windows.append((tokens[first:end], start - first))
        start = end
    return windows
