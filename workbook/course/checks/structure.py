"""Structural probes: relations between the learner's slices and axes and the reference's.

Two axes swapped or one reversed, a shift by one (position, layer, head, path step), every slice
holding the first/last reference slice (a loop variable captured late), no dependence on an axis,
agreement on some groups or slices only. Each probe takes a :class:`~workbook.course.checks.case.Case`
and returns a :class:`~workbook.course.checks.case.Finding` (or a list, or None);
:func:`workbook.course.checks.diagnose_diff.diagnose` keeps a finding only when every failing case
agrees on its key.
"""

from __future__ import annotations

import torch

from workbook.course.checks.case import REL_PROBE, Case, Finding
from workbook.course.checks.case import close_to as _close

__all__ = ["probe_swap", "probe_diagonal", "probe_flat_index", "probe_shift", "probe_one_slice", "probe_flat_axis",
           "probe_groups", "probe_subset", "shift_text"]

def probe_swap(c: Case) -> Finding | None:
    n = c.want.dim()
    for i in range(n):
        for j in range(i + 1, n):
            if c.want.shape[i] != c.want.shape[j]:
                continue
            if c.close(c.want.transpose(i, j), REL_PROBE):
                return Finding(f"swap:{c.axes[i]}/{c.axes[j]}", f"your {c.axes[i]} and {c.axes[j]} axes are "
                                                                  "swapped (a transpose, or the wrong einsum letters).")
    if n >= 2 and c.want.shape[0] != c.want.shape[1] and c.want.shape[0] > 1 and c.want.shape[1] > 1:
        # a flat list filled in one loop order (axis 1 outer) and reshaped in the other
        reordered = c.want.transpose(0, 1).reshape(c.want.shape)
        if c.close(reordered, REL_PROBE):
            return Finding(f"reorder:{c.axes[0]}/{c.axes[1]}",
                           f"your values are the right ones in the wrong places: a flat list filled with the "
                           f"{c.axes[1]} loop outside and the {c.axes[0]} loop inside, then reshaped as "
                           f"[{c.axes[0]}, {c.axes[1]}] (the loop order and the reshape disagree): loop over "
                           f"{c.axes[0]}s outside, or write out[{c.axes[0][0]}, {c.axes[1][0]}] directly.")
    for i in range(n):
        if c.want.shape[i] > 1 and c.close(c.want.flip(i), REL_PROBE):
            found = [Finding(f"flip:{c.axes[i]}", f"your {c.axes[i]} axis is in reverse order.")]
            if c.want.shape[i] == 2:  # with two entries a shift by one (with wrap-around) is also a flip
                found += [Finding(f"shift:{c.axes[i]}:{s}", shift_text(c.axes[i], s)) for s in (1, -1)]
            return found
    return None


#: wrong slots of a flat buffer over the first two axes (i, j; counts a, b), last write winning; the right one
#: is i * b + j. Each is written with the axes' first letters.
FLAT_SLOTS = (
    ("{i} + {j}", lambda i, j, a, b: i + j),
    ("{i} * n_{I}s + {j}", lambda i, j, a, b: i * a + j),
    ("{j} * n_{J}s + {i}", lambda i, j, a, b: j * b + i),
    ("{j} * n_{I}s + {i}", lambda i, j, a, b: j * a + i),
)


def _stored_at(want, slot) -> object | None:
    """``want`` written entry by entry into a zero flat buffer at ``slot(i, j)`` (loops i outer, j inner) and
    viewed back; None when a slot falls outside the buffer (that index would crash)."""
    a, b = want.shape[:2]
    flat = want.new_zeros((a * b,) + tuple(want.shape[2:]))
    for i in range(a):
        for j in range(b):
            k = slot(i, j, a, b)
            if not 0 <= k < a * b:
                return None
            flat[k] = want[i, j]
    return flat.view(want.shape)


def probe_diagonal(c: Case) -> Finding | None:
    """Yours are the expected values with the entries [i, i] of the first two axes set to 0 (a fill_diagonal_)."""
    if c.want.dim() < 2 or min(c.want.shape[:2]) < 2:
        return None
    n = min(c.want.shape[:2])
    cleared = c.want.clone()
    cleared[torch.arange(n), torch.arange(n)] = 0
    if _close(cleared, c.want, REL_PROBE, c.scale) or not c.close(cleared, REL_PROBE):
        return None
    a, b = c.axes[0], c.axes[1]
    return Finding("diagonal", f"your values are the expected ones with the entries where {a} index = {b} index "
                               f"(the diagonal, [i, i]) set to 0: a fill_diagonal_ or an identity mask, which removes "
                               f"real entries ({a} i and {b} i are different things that happen to share an index).")


def probe_flat_index(c: Case) -> Finding | None:
    """Your values are the expected ones written into a flat buffer at a wrong slot (entries collide, the last write
    wins, other slots stay 0) and viewed back as [first axis, second axis]."""
    if c.want.dim() < 2 or min(c.want.shape[:2]) < 2:
        return None
    ax_i, ax_j = c.axes[0], c.axes[1]
    for text, slot in FLAT_SLOTS:
        stored = _stored_at(c.want, slot)
        if stored is None or _close(stored, c.want, REL_PROBE, c.scale) or not c.close(stored, REL_PROBE):
            continue
        expr = text.format(i=ax_i[0], j=ax_j[0], I=ax_i, J=ax_j)
        return Finding(f"flat_index:{text}",
                       f"your values are the expected ones stored at the wrong flat index: the entry of "
                       f"{ax_i} {ax_i[0]}, {ax_j} {ax_j[0]} goes to slot {expr} of a flat buffer, where "
                       f"{ax_i[0]} * n_{ax_j}s + {ax_j[0]} belongs, so entries collide (a later write overwrites "
                       f"an earlier one) and the slots nothing reaches stay 0 after the reshape to "
                       f"[{ax_i}, {ax_j}]. Compute the slot from both counts, or write out[{ax_i[0]}, {ax_j[0]}] "
                       f"directly.")
    return None


def shift_text(ax: str, s: int) -> str:
    way = "later" if s > 0 else "earlier"
    return (f"your {ax} axis is shifted by one: your value at {ax} i is the expected value at {ax} "
            f"i{'-' if s > 0 else '+'}1 (everything one {ax} {way}); look at the index or range that walks the {ax}s.")


def probe_shift(c: Case) -> Finding | None:
    for i, ax in enumerate(c.axes):
        n = c.want.shape[i]
        if n < 3:
            continue
        for s in (1, -1):
            a = c.got.narrow(i, max(s, 0), n - 1)
            b = c.want.narrow(i, max(-s, 0), n - 1)
            if b.abs().max().item() > REL_PROBE * c.scale and _close(a, b, REL_PROBE, c.scale):
                return Finding(f"shift:{ax}:{s}", shift_text(ax, s))
    return None


def probe_one_slice(c: Case) -> Finding | None:
    for i, ax in enumerate(c.axes):
        n = c.want.shape[i]
        if n < 2:
            continue
        for j in (n - 1, 0):
            ref = c.want.select(i, j).unsqueeze(i).expand_as(c.want)
            if ref.abs().max().item() > REL_PROBE * c.scale and c.close(ref, REL_PROBE):
                which = "last" if j == n - 1 else "first"
                return Finding(f"one_slice:{ax}:{which}", f"every {ax} of yours holds the expected values of the "
                                                          f"{which} {ax}: each iteration overwrote every {ax} (the "
                                                          f"whole row written at once, e.g. out[l] = ...), or "
                                                          f"one {ax} was used for all. Either a loop variable read "
                                                          f"after the loop ended (a lambda or hook defined in a loop "
                                                          f"captures it late; bind it with a default argument, e.g. "
                                                          f"`l=l`), or an index that writes every {ax} at once "
                                                          f"(out[:, :, s] where out[l, :, s] belongs)" + (
                                                              f", or a slice that writes every {ax} up to the "
                                                              f"current one (out[l, :, :s + 1] where out[l, :, s] "
                                                              "belongs: the last iteration writes them all)"
                                                              if which == "last" else "") + ".")
    return None


def _slice_match(c: Case, i: int) -> list[bool | None]:
    """Per index of axis ``i``: True (agrees), False (differs), None (both ~0: says nothing)."""
    out: list[bool | None] = []
    for j in range(c.want.shape[i]):
        g, w = c.got.select(i, j), c.want.select(i, j)
        trivial = max(g.abs().max().item(), w.abs().max().item()) <= REL_PROBE * c.scale
        out.append(None if trivial else _close(g, w, REL_PROBE, c.scale))
    return out


_THROUGH_LATER = (" Or is the effect that passes through later layers lost? In the last layer the direct effect is the "
                  "whole effect, in earlier ones it is not: later layers held at their clean values (patching), or the "
                  "graph cut at each hook (a .detach() or a fresh leaf tensor put in, so the gradient reaches each "
                  "layer only along its direct path to the logits).")


def _subset_last(ax: str, tail: str) -> Finding:
    if tail:  # every other slice is 0: the buffer made again in each iteration, or those entries never written
        return Finding(f"subset:{ax}:last", f"only the last {ax} is right and every other {ax} of yours is 0: the "
                                            f"output is re-created (torch.zeros) inside the {ax} loop, so each "
                                            f"iteration wipes the {ax}s written before and only the last one is left, "
                                            f"or the earlier {ax}s are never written (an index -1 or a fixed index).")
    return Finding(f"subset:{ax}:last", f"only the last {ax} is right{tail}; every other {ax} differs. Did you use "
                                        f"index -1 (or only the {ax} where the metric is read), is a {ax} index off by "
                                        f"one (clamped at the end), or were the earlier entries overwritten by later "
                                        f"iterations (a list holding the same tensor, edited in place: append a "
                                        f".clone())?" + (_THROUGH_LATER if ax == "layer" else ""))


def _subset_all_but_last(ax: str, tail: str) -> Finding:
    return Finding(f"subset:{ax}:all_but_last", f"every {ax} is right except the last one{tail}: the last {ax} is "
                                                f"missing, replaced or computed differently (a loop that stops one "
                                                f"{ax} early, range(n - 1), or a final entry overwritten after the "
                                                "loop).")


def _subset_all_but_first(ax: str, tail: str) -> Finding:
    nothing = (" If yours are 0 there, layer 0 may get no gradient at all: the point where the gradient is taken (a "
               "leaf, a hook) sits after it.") if ax == "layer" and tail else ""
    return Finding(f"subset:{ax}:all_but_first", f"every {ax} is right except the first one{tail}: the first {ax} is "
                                                 f"dropped, replaced or computed differently (a loop or slice that "
                                                 f"starts at 1, or a start value overwritten).{nothing}")


def _subset_first(ax: str, tail: str) -> Finding:
    per_layer = (" Or a per-layer quantity is computed once, for layer 0, outside the layer loop (such as the "
                 "attention scale attn_scale(model, 0), where each layer has its own: attn_scale(model, l))"
                 if ax == "layer" else "")
    return Finding(f"subset:{ax}:first", f"only the first {ax} is right{tail}; every later {ax} differs: something "
                                         f"carries over from one iteration of your loop to the next (an activation or "
                                         f"cache edited in place and reused, a hook that stays registered, a patch or "
                                         f"running sum never reset), the later {ax}s read another {ax}'s values (a "
                                         f"list of names indexed by {ax} that holds several names per {ax}, e.g. q "
                                         f"and k interleaved), or the loop stops early or an index is off by one."
                                         + per_layer + ("." if per_layer else ""))


def probe_subset(c: Case) -> list[Finding] | None:
    """Right on some slices of an axis, wrong on others: one finding per axis that splits, so that cases
    whose first axis happens to agree (a layer whose expected values are ~0) still share the axis that
    explains every case."""
    found: list[Finding] = []
    some: list[Finding] = []
    for i, ax in enumerate(c.axes):
        match = _slice_match(c, i)
        if not any(v is True for v in match) or not any(v is False for v in match):
            continue
        n = len(match)
        bad = [j for j in range(n) if match[j] is False]
        zero = all(c.got.select(i, j).abs().max().item() <= 1e-9 for j in bad)
        tail = " (yours are 0 where they differ)" if zero else ""
        ok = [bool(v) for v in match]  # a slice that is ~0 on both sides does not count as right
        if n == 2 and ok == [False, True]:  # two slices: "only the last" is also "all but the first"
            found += [_subset_last(ax, tail), _subset_all_but_first(ax, tail)]
        elif n == 2 and ok == [True, False]:
            found += [_subset_first(ax, tail), _subset_all_but_last(ax, tail)]
        elif ok == [j == n - 1 for j in range(n)]:
            found.append(_subset_last(ax, tail))
        elif n > 2 and ok == [j != n - 1 for j in range(n)]:
            found.append(_subset_all_but_last(ax, tail))
        elif n > 2 and ok == [j != 0 for j in range(n)]:
            found.append(_subset_all_but_first(ax, tail))
        elif ok == [j == 0 for j in range(n)]:
            found.append(_subset_first(ax, tail))
        elif not some:
            some.append(Finding(f"subset:{ax}:some", f"some {ax}s are right and others wrong{tail}: {ax}s "
                                                     f"{bad[:6]} differ, the rest match."))
    return found or some or None  # "some" only from the first axis that splits, and only without a named subset


def probe_groups(c: Case) -> list[Finding] | None:
    """Right on some groups, wrong on others; groups are tried by family (the word before "of"/"into").

    One finding per family that splits (edges by destination, edges by source), so that cases whose
    families split differently (a 1-layer model where MLP sources only feed the logits) still agree
    on the family that explains both."""
    families: dict[str, list[str]] = {}
    for g in c.groups:
        families.setdefault(" ".join(g.split()[:2]), []).append(g)
    found = []
    for members in families.values():
        ok = {g: _close(c.got[c.groups[g]], c.want[c.groups[g]], REL_PROBE, c.scale) for g in members
              if c.groups[g].any()}
        if not any(ok.values()) or all(ok.values()):
            continue
        good = [g for g, v in ok.items() if v]
        bad = [g for g, v in ok.items() if not v]
        zero = all(c.got[c.groups[g]].abs().max().item() <= 1e-9 for g in bad)
        found.append(Finding("groups:" + ",".join(sorted(bad)), f"right for {', '.join(good)} but wrong for "
                                                                 f"{', '.join(bad)}{' (0 there)' if zero else ''}."))
    return sorted(found, key=lambda f: f.key.count(",")) or None  # the family with the fewest wrong groups first


def probe_flat_axis(c: Case) -> Finding | None:
    """Your values do not change along an axis along which the expected ones do."""
    for i, ax in enumerate(c.axes):
        if c.want.shape[i] < 2:
            continue
        spread_got = (c.got - c.got.mean(i, keepdim=True)).abs().max().item()
        spread_want = (c.want - c.want.mean(i, keepdim=True)).abs().max().item()
        if spread_got <= 1e-6 * c.scale and spread_want > REL_PROBE * c.scale:
            if c.close(c.want.sum(i, keepdim=True).expand_as(c.want), REL_PROBE):
                whole = (" (such as the whole layer's output hook_attn_out, which sums its heads)" if ax == "head"
                         else "")
                return Finding(f"total:{ax}", f"every {ax} holds the TOTAL over all {ax}s: either one quantity for "
                                              f"all of them{whole} is written for each {ax}, or a running total is "
                                              f"never reset: added to in place (+=) and stored for each {ax}, every "
                                              f"stored entry is the same tensor and ends as the sum (start each {ax} "
                                              f"from zero, or .clone() what you store).")
            return Finding(f"flat:{ax}", f"your values do not depend on the {ax}: every {ax} gets the same number "
                                         f"(the {ax} index is not used where it should be, e.g. a whole layer patched "
                                         f"or summed for each {ax}, or a late-bound loop variable).")
    return None
