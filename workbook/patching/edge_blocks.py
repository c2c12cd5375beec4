"""Plumbing of :class:`~workbook.patching.edge_scorer.EdgeScorer`: how its final contraction is blocked,
and the small batched products it uses.

The final contraction of the EAP family (per example ``b``)::

    out[b, u, v] = sum_{p,d} delta_u[b,p,d] * gbar_v[b,p,d]          (u upstream of v; 0 elsewhere)

runs as one matmul per *block* of consecutive destination columns, ``[rows, P*D] @ [P*D, columns]``,
each against the sources upstream of its last column (sources are ordered by layer, so those
are a prefix of the source list). :func:`contraction_blocks` chooses the blocks. Rows past a
column's own prefix are wasted work (masked to 0 afterwards); so are the columns added to round
a block up to a multiple of 16 (CPU matmuls with such a count run much faster). Exact: the same
sums in another order.
"""

from __future__ import annotations

import torch

__all__ = ["contraction_blocks", "pad16", "rowdot", "sum_copies"]

#: cost model of one block's matmul on CPU, ``(rows + ROW_COST) * (pad16(columns) + COLUMN_COST)``:
#: small ones run far below peak
ROW_COST, COLUMN_COST = 20, 22


def pad16(n: int) -> int:
    """``n`` rounded up to a multiple of 16."""
    return -(-n // 16) * 16


def contraction_blocks(units: list, n_up: list[int], max_cols: int) -> list[tuple[int, int, list]]:
    """Group consecutive destination units into blocks ``(first column, stop, units)``.

    ``units``: ``(kind, layer, first column, stop)`` in column order, covering the columns;
    ``n_up[c]``: how many sources (a prefix) are upstream of column ``c``. A block of columns
    ``c0:c1`` costs one matmul of ``max(n_up[c0:c1])`` rows by ``pad16(c1 - c0)`` columns, priced
    by the cost model above; the blocks minimise the total (dynamic programming over the unit
    boundaries), each at most ``max_cols`` columns (padded) unless it is a single unit.
    """
    starts = [u[2] for u in units] + [units[-1][3]]

    def cost(i: int, j: int) -> int:
        return (max(n_up[starts[i] : starts[j]]) + ROW_COST) * (pad16(starts[j] - starts[i]) + COLUMN_COST)

    best = [(0, 0)]  # per boundary j: least cost of the blocks before it, and where its last block begins
    for j in range(1, len(starts)):
        fits = [i for i in range(j) if i == j - 1 or pad16(starts[j] - starts[i]) <= max_cols]
        best.append(min((best[i][0] + cost(i, j), i) for i in fits))
    blocks, j = [], len(starts) - 1
    while j:
        i = best[j][1]
        blocks.insert(0, (starts[i], starts[j], units[i:j]))
        j = i
    return blocks


def rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum(a * b, -1)`` as a batched matmul (faster than an elementwise product and a sum on CPU)."""
    shape = a.shape[:-1]
    return torch.bmm(a.reshape(-1, 1, a.shape[-1]), b.reshape(-1, b.shape[-1], 1)).view(shape)


def sum_copies(g: torch.Tensor, acc: torch.Tensor | None, scale: float = 1.0) -> torch.Tensor:
    """``acc + scale * g.sum(0)`` (``g``: ``[copies, ...]``), in place when ``acc`` exists."""
    for x in g:
        if acc is None:
            acc = x * scale
        else:
            acc.add_(x, alpha=scale)
    return acc
