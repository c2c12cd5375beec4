"""Metrics that read *sets* of answer tokens at the read position (Hanna et al.'s probability differences).

Each is a per-example metric ``(logits[N, S, V], answer[N], wrong[N], pos[N]) -> [N]`` for
:class:`~workbook.core.task.Task`, reading only the logits at ``pos`` (``reads_only_pos``), and
offers ``answer_sets(answer, wrong, d_vocab) -> (good, bad)``, boolean ``[N, d_vocab]`` masks of
the tokens it counts as right and as wrong (used by :func:`workbook.tasks.summary.task_summary`
for top-1 accuracy). Sign: positive when the model prefers the right set.

==================  =========================================================================
``YearMetric``      greater-than, two-digit year tokens (GPT-2): p(YY' > YY) - p(YY' <= YY)
``DigitMetric``     greater-than, digit-by-digit tokenizers (SmolLM2): p(d' > d) - p(d' < d)
``NumberMetric``    subject-verb agreement: p(verbs of the subject's number) - p(the others)
==================  =========================================================================
"""

from __future__ import annotations

import torch

from workbook.core.errors import TaskError

__all__ = ["YearMetric", "DigitMetric", "NumberMetric", "single_token_id", "SINGULAR_VERBS", "PLURAL_VERBS"]

SINGULAR_VERBS = ("is", "was", "has")
PLURAL_VERBS = ("are", "were", "have")


def single_token_id(tok, text: str) -> int | None:
    """The id of ``text`` if the tokenizer writes it as one token (no special tokens), else ``None``."""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


class YearMetric:
    """``p(year > YY) - p(year <= YY)`` over the two-digit tokens "00".."99" (Hanna et al.'s prob diff).

    ``YY`` of each example is read from its ``wrong`` token (the clean prompt's start year,
    e.g. "32"); ``answer`` is a year after it (for labels only). Years that are not a single
    token in this tokenizer are left out of both sums.
    """

    reads_only_pos = True

    def __init__(self, tokenizer, d_vocab: int):
        found = [(y, single_token_id(tokenizer, f"{y:02d}")) for y in range(100)]
        found = [(y, i) for y, i in found if i is not None and i < d_vocab]
        if not found:
            raise TaskError("YearMetric: no two-digit year '00'..'99' is a single token in this tokenizer (it "
                            "writes every number digit by digit); use greater_than_task(variant='digits').")
        self.years = torch.tensor([y for y, _ in found], dtype=torch.long)
        self.ids = torch.tensor([i for _, i in found], dtype=torch.long)
        self.year_of = torch.full((d_vocab,), -1, dtype=torch.long)
        self.year_of[self.ids] = self.years

    def __call__(self, logits, answer, wrong, pos):
        dev = logits.device
        last = logits[torch.arange(logits.shape[0], device=dev), pos]
        probs = last.softmax(-1)[:, self.ids.to(dev)]
        later = self.years.to(dev)[None, :] > self.year_of.to(dev)[wrong][:, None]
        return (probs * later).sum(-1) - (probs * ~later).sum(-1)

    def answer_sets(self, answer, wrong, d_vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(good, bad)`` ``[N, d_vocab]`` masks: the year tokens after ``YY`` and those at or before it."""
        return _token_sets(self.ids, self.years, self.year_of.to(wrong.device)[wrong], d_vocab, strict_bad=False)

    def __repr__(self) -> str:
        return "p(later year) - p(same or earlier year)"


class DigitMetric:
    """``p(tens digit > d) - p(tens digit < d)`` over the digit tokens "0".."9" (digit-by-digit tokenizers).

    An adaptation of Hanna et al.'s greater-than prob diff to tokenizers that write every number
    digit by digit (SmolLM2, Llama 2): after "... from the year 1732 to the year 17" the next
    token is the end year's tens digit; ``d`` = 3 is the start year's. Digits above ``d`` are
    surely later, digits below surely earlier; ``d`` itself is ambiguous (1733 or 1731) and left
    out of both sums. ``d`` of each example is read from its ``wrong`` token; ``answer`` is a
    digit above it (for labels only).
    """

    reads_only_pos = True

    def __init__(self, tokenizer, d_vocab: int):
        ids = [single_token_id(tokenizer, str(k)) for k in range(10)]
        if any(i is None or i >= d_vocab for i in ids):
            raise TaskError(f"DigitMetric: the digits 0..9 are not all single tokens in this tokenizer ({ids}).")
        self.digits = torch.arange(10)
        self.ids = torch.tensor(ids, dtype=torch.long)
        self.digit_of = torch.full((d_vocab,), -1, dtype=torch.long)
        self.digit_of[self.ids] = self.digits

    def __call__(self, logits, answer, wrong, pos):
        dev = logits.device
        probs = logits[torch.arange(logits.shape[0], device=dev), pos].softmax(-1)[:, self.ids.to(dev)]
        d = self.digit_of.to(dev)[wrong][:, None]
        digits = self.digits.to(dev)[None, :]
        return (probs * (digits > d)).sum(-1) - (probs * (digits < d)).sum(-1)

    def answer_sets(self, answer, wrong, d_vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(good, bad)`` ``[N, d_vocab]`` masks: the digits above ``d`` and those below it."""
        return _token_sets(self.ids, self.digits, self.digit_of.to(wrong.device)[wrong], d_vocab, strict_bad=True)

    def __repr__(self) -> str:
        return "p(tens digit later) - p(tens digit earlier)"


def _token_sets(ids, values, ref, d_vocab: int, strict_bad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks ``[N, d_vocab]``: tokens ``ids`` whose ``values`` exceed ``ref[N]`` (good), and those below it
    (bad; at or below it unless ``strict_bad``)."""
    ids, values, ref = ids.to(ref.device), values.to(ref.device), ref[:, None]
    good = torch.zeros(ref.shape[0], d_vocab, dtype=torch.bool, device=ref.device)
    bad = good.clone()
    good[:, ids] = values[None, :] > ref
    bad[:, ids] = values[None, :] < ref if strict_bad else values[None, :] <= ref
    return good, bad


class NumberMetric:
    """``p(singular verbs) - p(plural verbs)`` at the read position, negated when the clean subject is plural.

    Verbs: " is"/" was"/" has" vs " are"/" were"/" have" (those that are single tokens). An
    example's number is read from its ``answer`` token (a singular verb or a plural one).
    """

    reads_only_pos = True

    def __init__(self, tokenizer, d_vocab: int):
        def ids(words):
            got = [single_token_id(tokenizer, " " + w) for w in words]
            return torch.tensor([i for i in got if i is not None and i < d_vocab], dtype=torch.long)

        self.singular, self.plural = ids(SINGULAR_VERBS), ids(PLURAL_VERBS)
        if not len(self.singular) or not len(self.plural):
            raise TaskError(f"NumberMetric: none of the verbs {SINGULAR_VERBS} or {PLURAL_VERBS} is one token here.")

    def __call__(self, logits, answer, wrong, pos):
        dev = logits.device
        probs = logits[torch.arange(logits.shape[0], device=dev), pos].softmax(-1)
        sing, plur = self.singular.to(dev), self.plural.to(dev)
        diff = probs[:, sing].sum(-1) - probs[:, plur].sum(-1)
        is_singular = (answer[:, None] == sing[None, :]).any(-1)
        return torch.where(is_singular, diff, -diff)

    def answer_sets(self, answer, wrong, d_vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(good, bad)`` ``[N, d_vocab]`` masks: the verbs of the subject's number and the others."""
        sing = torch.zeros(d_vocab, dtype=torch.bool, device=answer.device)
        sing[self.singular.to(answer.device)] = True
        plur = torch.zeros_like(sing)
        plur[self.plural.to(answer.device)] = True
        is_singular = sing[answer][:, None]
        return torch.where(is_singular, sing, plur), torch.where(is_singular, plur, sing)

    def __repr__(self) -> str:
        return "p(verb agrees) - p(verb disagrees)"
