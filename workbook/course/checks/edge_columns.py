"""Edge scores in the wrong destination's column: destination gradients stacked in another order, or one used twice.

An edge method's result is ``[n_sources, n_destinations]`` with the destinations in ``graph.destinations`` order
(per layer: each head's query, key and value inputs, then the MLP; the logits last). A learner who stacks the
destination gradients by hand can put them in another order (head by head, q/k/v interleaved), use one input's
gradient for another (the query input's for the key and value inputs), or append a gradient more than once (inside
a loop). Then a column of theirs holds, exactly, the expected scores of ANOTHER destination.

:func:`columns_message` finds such columns: a column of the learner's that differs from the expected one of its own
destination but equals, on the sources both destinations read from, the expected column of another destination
(whose scores differ from its own). It speaks only when most wrong columns are explained so, and names the pattern:
a query input's gradient used for the key and value inputs, one destination's scores in several columns, a constant
shift, or another order. :func:`row_offset_message` finds scores off by one number per source (something added to
every destination's gradient alike).
"""

from __future__ import annotations

import re

import torch

from workbook.course.checks.case import Case

__all__ = ["columns_message", "row_offset_message"]

_TOL = 1e-3  # a column equals another's when it reproduces it to this share of that column's own size


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    size = max(a.abs().max().item(), b.abs().max().item())
    return size > 0 and (a - b).abs().max().item() <= _TOL * size


def _moved(case: Case) -> dict[int, int]:
    """{your column j: the expected column i (i != j) that it holds}, for the columns that differ from their own."""
    got, want = case.got, case.want
    live = want.abs() > 1e-9 * case.scale  # the sources each destination reads from (the edge mask, where nonzero)
    found: dict[int, int] = {}
    for j in range(want.shape[1]):
        if _same(got[:, j], want[:, j]) or got[:, j].abs().max().item() <= 1e-6 * case.scale:
            continue
        for i in range(want.shape[1]):
            both = live[:, i] & live[:, j]
            if i == j or int(both.sum()) < 2 or want[both, i].abs().max().item() < 1e-5 * case.scale:
                continue
            if _same(got[both, j], want[both, i]) and not _same(want[both, i], want[both, j]):
                found[j] = i
                break
    return found


def _wrong_columns(case: Case) -> list[int]:
    return [j for j in range(case.want.shape[1]) if not _same(case.got[:, j], case.want[:, j])
            and max(case.got[:, j].abs().max().item(), case.want[:, j].abs().max().item()) > 1e-6 * case.scale]


def _pattern(moved: dict[int, int], names: list[str]) -> str:
    """What the mapping of columns says, in words."""
    held = [names[i] for i in moved.values()]
    repeated = max(set(held), key=held.count)
    into = {names[j][-1] for j in moved if re.search(r"\.(k|v)$", names[j])}
    if into and all(re.search(r"\.q$", names[i]) and names[i][:-2] == names[j][:-2] for j, i in moved.items()):
        kinds = " and ".join(sorted({"key" if v == "k" else "value" for v in into}))
        return (f"the query gradient used for the {kinds} inputs as well: the gradient at hook_q_input stacked "
                "where those of hook_k_input and hook_v_input belong")
    if held.count(repeated) >= 2:
        return (f"the expected scores of edges into {repeated} appear in {held.count(repeated)} of your columns: that "
                "destination's gradient is stacked more than once (appended once per layer, inside a loop?)")
    shifts = {j - i for j, i in moved.items()}
    if len(shifts) == 1:
        return f"the destination columns shifted by {shifts.pop()} against graph.destinations"
    return ("the destination columns out of order: your destination order differs from graph.destinations (a "
            "destination's gradient stacked in another's place)")


def columns_message(cases: list[Case]) -> str | None:
    """On the first case where most wrong columns hold another destination's expected scores, what that says (see
    the module docstring); None otherwise."""
    for case in cases:
        if case.got.dim() != 2 or case.got.shape != case.want.shape or case.name_of is None:
            continue
        wrong = _wrong_columns(case)
        moved = _moved(case)
        if len(moved) < 2 or len(moved) < 0.5 * len(wrong):
            continue
        names = [case.name_of((0, j)).split("->", 1)[1] for j in range(case.want.shape[1])]
        examples = "; ".join(f"your column for edges into {names[j]} holds the expected scores of edges into "
                             f"{names[i]}" for j, i in list(moved.items())[:2])
        return (f"{_pattern(moved, names)} ({len(moved)} of your "
                f"{len(wrong)} wrong columns hold another destination's scores on {case.label}: {examples}). "
                "Stack the destination gradients with graph.stack_dest_grads, or in exactly graph.destinations' order.")
    return None


def row_offset_message(cases: list[Case]) -> str | None:
    """On the first failing case: when the learner's scores differ from the expected ones by an amount that depends
    on the source only (one number per source row, on every edge it has, not the same for all rows), what that
    says; None otherwise."""
    case = next((c for c in cases if not c.passes and c.got.dim() == 2 and c.got.shape == c.want.shape), None)
    if case is None:
        return None
    diff = case.got - case.want
    live = (case.want.abs() > 0) | (case.got.abs() > 0)
    offsets = []
    for s in range(diff.shape[0]):
        row = diff[s][live[s]]
        if row.numel() < 2:
            continue
        if (row.max() - row.min()).item() > 1e-3 * max(row.abs().max().item(), 1e-12):
            return None
        offsets.append(row.mean().item())
    big = [o for o in offsets if abs(o) > 1e-3 * case.scale]
    if len(big) < 2 or max(big) - min(big) <= 1e-3 * max(abs(o) for o in big):
        return None
    return (f"your scores differ from the expected ones by an amount that depends on the source only (the same on "
            f"every edge out of a source, another for each source, on {case.label}): something is added to every "
            "destination's gradient alike, such as a running total of the gradients that starts at 1 instead of 0 "
            "(then each source's summed delta lands on all of its edges).")
