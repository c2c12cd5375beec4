"""Ranks with float-noise ties: the ranking maths under :class:`~workbook.core.scores.Scores`.

Magnitudes closer than ``TIE_TOL x max|value|`` count as tied: they differ only by float
rounding, which depends on the CPU (vector width) and the thread count, so an order decided
by it would differ between machines. Ties keep the original (name) order.
"""

from __future__ import annotations

import torch

__all__ = ["TIE_TOL", "tie_order", "worst_ranks", "average_ranks", "pearson"]

#: relative tolerance under which two values are a tie (float32 rounding is ~1e-7 relative)
TIE_TOL = 1e-5


def tie_order(key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(order, group)``: indices from largest to smallest ``key``, and each position's tie group.

    Consecutive sorted values closer than ``TIE_TOL x max|key|`` share a group; inside a group
    the original (name) order is kept, so the result does not depend on float noise.
    """
    n, dev = key.numel(), key.device
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=dev), torch.zeros(0, dtype=torch.long, device=dev)
    k = key.double()
    scale = float(k.abs().max())
    idx = torch.argsort(k, descending=True, stable=True)
    ks = k[idx]
    new_group = torch.zeros(n, dtype=torch.long, device=dev)
    new_group[1:] = ((ks[:-1] - ks[1:]) > TIE_TOL * scale).long()
    group_sorted = torch.cumsum(new_group, 0)
    group = torch.empty(n, dtype=torch.long, device=dev)
    group[idx] = group_sorted
    order = torch.argsort(group * n + torch.arange(n, device=dev), stable=True)
    return order, group[order]


def worst_ranks(key: torch.Tensor) -> torch.Tensor:
    """1-based rank of every entry (largest ``key`` first), a tie taking the last place of its group."""
    order, group = tie_order(key)
    n, dev = key.numel(), key.device
    ranks = torch.empty(n, dtype=torch.long, device=dev)
    if n:
        last = torch.zeros(int(group.max()) + 1, dtype=torch.long, device=dev)
        last.scatter_reduce_(0, group, torch.arange(1, n + 1, device=dev), reduce="amax")
        ranks[order] = last[group]
    return ranks


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (largest first), ties (within ``TIE_TOL x max|x|``) sharing their mean rank."""
    order, group = tie_order(x)
    n, dev = x.numel(), x.device
    pos = torch.arange(1, n + 1, dtype=torch.float64, device=dev)
    total = torch.zeros(int(group.max()) + 1 if n else 0, dtype=torch.float64, device=dev).index_add_(0, group, pos)
    count = torch.zeros_like(total).index_add_(0, group, torch.ones(n, dtype=torch.float64, device=dev))
    ranks = torch.empty(n, dtype=torch.float64, device=dev)
    ranks[order] = (total / count)[group]
    return ranks


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two 1-D tensors in float64 (``nan`` when one is constant)."""
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")
