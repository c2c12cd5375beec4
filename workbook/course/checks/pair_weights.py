"""How a learner's batch result weighs the prompt pairs: a probe of :func:`.properties.batch_mean`.

A method's estimate on a batch is the mean of its estimates on each prompt pair alone, so the result on the
batch is ``sum_b w_b f(pair b)`` with every ``w_b = 1/B``. Many slips in a loop over the pairs keep that linear
form with other weights: an accumulator overwritten instead of added to keeps only the last pair, one started
from the first pair's value and then added to for every pair counts that pair twice, a loop that stops one early
drops a pair, a sum divided by ``B - 1`` weighs each pair ``1/(B - 1)``, a mean of the means of chunks of
unequal size weighs the pairs of a small chunk more. :func:`pair_weights` fits the weights
by least squares (float64) and, when they reproduce the learner's batch result exactly (up to float32
rounding), says which pairs are weighted how. Nothing is approximated beyond the fit's rounding.
"""

from __future__ import annotations

import torch

__all__ = ["pair_weights", "FIT_REL"]

FIT_REL = 1e-4  # the weighted sum reproduces the batch result up to float32 rounding, relative to its scale


def _fit(full: torch.Tensor, singles: list[torch.Tensor]) -> torch.Tensor | None:
    """Weights ``w`` [B] with ``full == sum_b w_b singles[b]`` (entry by entry), or None when no such weights
    exist or they are not determined (fewer entries than pairs, or pairs with proportional results)."""
    S = torch.stack([s.flatten().double() for s in singles], 1)  # [n, B]
    y = full.flatten().double()
    n, B = S.shape
    scale = max(y.abs().max().item(), S.abs().max().item())
    if n < B + 2 or scale == 0 or not torch.isfinite(S).all() or not torch.isfinite(y).all():
        return None
    sv = torch.linalg.svdvals(S / scale)
    if sv[-1].item() < 1e-6 * sv[0].item():
        return None
    w = torch.linalg.lstsq(S, y.unsqueeze(1)).solution.squeeze(1)
    if (S @ w - y).abs().max().item() > FIT_REL * scale:
        return None
    return w


def pair_weights(full: torch.Tensor, singles: list[torch.Tensor]) -> str | None:
    """What the weights of the pairs in the learner's batch result say, or None when the result is no weighted
    sum of the pairs' own results, or is their mean. ``full``: the result on the batch; ``singles[b]``: the
    result on pair ``b`` alone (same shape)."""
    w = _fit(full, singles)
    B = len(singles)
    if w is None or B < 2:
        return None
    near = lambda a, b: abs(a - b) <= 1e-3 * max(abs(b), 1e-12)  # noqa: E731 - float32 weights, relative
    if all(near(x, 1 / B) for x in w.tolist()):
        return None
    ws = [0.0 if abs(x) <= 1e-3 / B else x for x in w.tolist()]
    shown = "[" + ", ".join(f"{x:.3g}" for x in ws) + "]"
    lead = f"your batch result is a weighted sum of each prompt pair's own result, with weights {shown} where " \
           f"every pair should weigh 1/B = {1 / B:.3g} (the mean over the {B} pairs): "
    zero = [b for b, x in enumerate(ws) if x == 0.0]
    kept = [b for b in range(B) if b not in zero]
    if len(kept) == 1:
        b = kept[0]
        which = "last" if b == B - 1 else "first" if b == 0 else f"number {b}"
        return lead + (f"only the {which} pair counts. An accumulator in a loop over the pairs is overwritten "
                       "(`x = ...` where `x = x + ...` or `+=` belongs), or one pair is indexed where the loop's "
                       "index or the whole batch belongs.")

    def divisor(c: float, also: str = " also") -> str:
        if near(c, 1 / B):
            return ""
        k = 1 / c
        return f" Each pair is{also} divided by {k:.4g} instead of B = {B}" + (
            " (B - 1: the wrong count as denominator)." if near(k, B - 1) else ".")

    if not zero and all(near(x, ws[0]) for x in ws):
        return lead + f"every pair has the same weight, but not 1/B.{divisor(ws[0], also='')}"
    for b in kept:  # one pair twice as heavy as every other kept pair
        others = [ws[c] for c in kept if c != b]
        if others and all(near(x, others[0]) for x in others) and near(ws[b], 2 * others[0]):
            name = "the first pair (pair 0)" if b == 0 else "the last pair" if b == B - 1 else f"pair {b}"
            return lead + (f"{name} is counted twice: the running total starts from that pair's value and the "
                           f"loop over the pairs adds it again (start the total at 0).{divisor(others[0])}")
    if zero and all(near(ws[b], ws[kept[0]]) for b in kept):
        return lead + (f"pair(s) {zero} are left out: a loop over the pairs that skips them (e.g. range(1, B) or "
                       f"range(B - 1)), or a slice of the batch.{divisor(ws[kept[0]])}")
    return _chunks(ws, near, lead)


def _chunks(ws: list[float], near, lead: str) -> str | None:
    """Weights that are a mean of per-chunk means: consecutive chunks of sizes ``s_c``, each pair weighing
    ``1/(n * s_c)`` for ``n`` chunks; said only when the chunks are not all of one size (then it is the mean)."""
    B = len(ws)
    if any(x <= 0 for x in ws):
        return None
    for n in range(2, B):
        sizes, b = [], 0
        while b < B:
            s = 1 / (n * ws[b])
            if abs(s - round(s)) > 1e-3 * s or round(s) < 1 or b + round(s) > B or not all(
                    near(x, ws[b]) for x in ws[b:b + round(s)]):
                break
            sizes.append(round(s))
            b += round(s)
        if b == B and len(sizes) == n and len(set(sizes)) > 1:
            return lead + (f"it is the mean of {n} chunk means, chunks of {sizes} pairs in order: a mean of means "
                           "weighs a pair of a small chunk more than one of a big chunk. Weight each chunk's mean by "
                           "its size (or add up the chunks' sums and divide by B once).")
    return None  # weights without one of these patterns: too easily a coincidence of few distinct entries
