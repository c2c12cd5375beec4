"""How large can a node AtP* did not flag be? A subset-sampling bound on false negatives.

Outline (AtP* paper, "Algorithm 1" as described by public implementations; see the course's
algorithms notes section 3.4):

1. Rank nodes by AtP*; verify the top ``K`` with real activation patching.
2. On the unverified remainder ``U``, draw random subsets ``S`` (each node in with
   probability ``p``) and patch each subset *jointly*: ``e(S) = M(clean with S := corrupt) - M(clean)``
   (batch mean, noising).
3. For every node ``n`` compare the samples with ``n in S`` and ``n not in S``:
   ``mean_in - mean_out`` estimates ``n``'s effect (exactly, if effects add up and every subset
   is enumerated), and a Welch t upper confidence bound ``|mean_in - mean_out| + t_q * se``
   bounds how large ``n``'s effect can be.

Limitation (stated by the method): interactions between jointly patched nodes break the
additivity the estimate relies on; the bound then covers the node's *average marginal*
effect over subsets, not its effect alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch

from workbook.arch import check_model
from workbook.attribution.atp_star import atp_star
from workbook.core.errors import WorkbookError, check_tokens
from workbook.core.runs import cache_activations, compute_dtype
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_specs, patch_nodes, run_copies

__all__ = [
    "FalseNegativeBound",
    "sample_masks",
    "subset_statistics",
    "welch_upper_bound",
    "patch_node_subsets",
    "false_negative_bound",
]


@dataclass
class FalseNegativeBound:
    """Result of :func:`false_negative_bound`.

    Attributes:
        verified: activation-patching :class:`Scores` of the top-``K`` nodes by the ranking.
        unverified: names of the remaining nodes.
        estimates: ``Tensor[n_unverified]`` point estimates ``|mean_in - mean_out|``.
        upper_bounds: ``Tensor[n_unverified]`` upper confidence bounds on ``|effect|``.
        max_bound: the largest upper bound (no unverified node is likely larger).
        n_samples: subsets patched; confidence: one-sided level of each bound; p: inclusion probability.
        effects: ``Tensor[n_samples]`` the subset effects; masks: ``BoolTensor[n_samples, n_unverified]``.
    """

    verified: Scores
    unverified: list[str]
    estimates: torch.Tensor
    upper_bounds: torch.Tensor
    max_bound: float
    n_samples: int
    confidence: float
    p: float
    effects: torch.Tensor
    masks: torch.Tensor

    def bound(self, name: str) -> float:
        """Upper bound on ``|effect|`` of an unverified node."""
        return float(self.upper_bounds[self.unverified.index(name)])

    def __repr__(self) -> str:
        return (f"FalseNegativeBound(verified={len(self.verified)}, unverified={len(self.unverified)}, "
                f"max_bound={self.max_bound:.3g}, n_samples={self.n_samples}, confidence={self.confidence})")


def sample_masks(n_samples: int, n_nodes: int, p: float = 0.5, seed: int = 0) -> torch.Tensor:
    """``BoolTensor[n_samples, n_nodes]`` of independent Bernoulli(``p``) memberships."""
    if not 0 < p < 1:
        raise WorkbookError(f"the inclusion probability p must be in (0, 1), got {p}.")
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n_samples, n_nodes, generator=g) < p


def subset_statistics(effects: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per node: count, mean and unbiased variance of ``effects`` over samples with it in / out.

    ``effects`` ``[N]``, ``masks`` ``[N, n]`` -> dict of ``[n]`` tensors
    ``n_in, n_out, mean_in, mean_out, var_in, var_out``.
    """
    e = effects.double()[:, None]
    m = masks.double()
    out = {}
    for tag, w in (("in", m), ("out", 1 - m)):
        n = w.sum(0)
        mean = (w * e).sum(0) / n.clamp(min=1)
        var = (w * (e - mean) ** 2).sum(0) / (n - 1).clamp(min=1)
        out[f"n_{tag}"], out[f"mean_{tag}"], out[f"var_{tag}"] = n, mean, var
    return out


def welch_upper_bound(stats: dict[str, torch.Tensor], confidence: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """``(point, upper)``: ``|mean_in - mean_out|`` and that plus a one-sided Welch t margin.

    Nodes with fewer than 2 samples in either group get an infinite bound.
    """
    from scipy.stats import t as student_t

    diff = (stats["mean_in"] - stats["mean_out"]).abs()
    a = stats["var_in"] / stats["n_in"].clamp(min=1)
    b = stats["var_out"] / stats["n_out"].clamp(min=1)
    se = (a + b).sqrt()
    dof_den = a ** 2 / (stats["n_in"] - 1).clamp(min=1) + b ** 2 / (stats["n_out"] - 1).clamp(min=1)
    dof = torch.where(dof_den > 0, (a + b) ** 2 / dof_den, torch.full_like(se, 1e9))
    q = torch.as_tensor(student_t.ppf(confidence, dof.clamp(min=1).numpy()), dtype=torch.float64)
    upper = diff + q * se
    few = (stats["n_in"] < 2) | (stats["n_out"] < 2)
    upper = torch.where(few, torch.full_like(upper, float("inf")), upper)
    return diff, upper


@torch.no_grad()
def patch_node_subsets(
    model,
    task: Task,
    what: str,
    nodes: Sequence[str],
    masks: torch.Tensor,
    per_position: bool = False,
    direction: str = "noising",
    max_rows: int = 512,
) -> torch.Tensor:
    """Patch each subset (a row of ``masks`` over ``nodes``) jointly; ``[n_subsets]`` batch-mean effects."""
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    run = oriented(task, direction)
    specs = node_specs(model, what, per_position, task.seq_len, nodes)
    if masks.ndim != 2 or masks.shape[1] != len(specs):
        raise WorkbookError(f"masks must have shape [n_subsets, {len(specs)}], got {tuple(masks.shape)}.")
    hooks = sorted({s.hook for s in specs})
    B = task.batch_size
    cd = compute_dtype(model)
    clean_logits, clean = cache_activations(model, run.clean, hooks, attention_mask=run.attention_mask)
    _, corr = cache_activations(model, run.corrupt, hooks, attention_mask=run.attention_mask)
    base = run.per_example(clean_logits).to(cd).mean()
    per = max(1, max_rows // B)
    dev = base.device
    out = torch.zeros(masks.shape[0], dtype=cd, device=dev)
    for lo in range(0, masks.shape[0], per):
        sub = masks[lo : lo + per]
        K = sub.shape[0]
        where: dict[str, torch.Tensor] = {
            h: torch.zeros((K,) + tuple(corr[h].shape[1:]), dtype=torch.bool, device=dev) for h in hooks
        }
        for j, s in enumerate(specs):
            rows = sub[:, j].nonzero()[:, 0]
            for r in rows.tolist():
                where[s.hook][(r,) + s.index] = True

        def make_hook(name: str):
            m = where[name][:, None]

            def fn(act, hook):
                shaped = act.reshape((K, B) + tuple(act.shape[1:]))
                return torch.where(m, corr[name][None], shaped).reshape(act.shape)

            return fn

        logits = run_copies(model, run, K, [(h, make_hook(h)) for h in hooks])
        out[lo : lo + K] = run.per_example(logits).reshape(K, B).to(cd).mean(1) - base
    return out


def false_negative_bound(
    model,
    task: Task,
    what: str = "head",
    per_position: bool = False,
    top_k: int = 5,
    n_samples: int = 64,
    p: float = 0.5,
    confidence: float = 0.95,
    ranking: Scores | None = None,
    seed: int = 0,
) -> FalseNegativeBound:
    """Verify the top-``top_k`` nodes by ``ranking`` (default: AtP*), bound the rest by subset sampling.

    Cost: ``top_k`` patched forwards for verification plus ``n_samples`` patched forwards.
    """
    t0 = time.perf_counter()
    if ranking is None:

        ranking = atp_star(model, task, what, per_position=per_position)
    order = ranking.order()
    if top_k >= len(order) - 1:
        raise WorkbookError(f"top_k={top_k} leaves fewer than 2 of {len(order)} nodes to bound; lower top_k.")
    top, rest = order[:top_k], order[top_k:]
    verified = (
        patch_nodes(model, task, what, per_position=per_position, nodes=top) if top else Scores([], torch.zeros(0))
    )
    masks = sample_masks(n_samples, len(rest), p, seed)
    effects = patch_node_subsets(model, task, what, rest, masks, per_position=per_position)
    stats = subset_statistics(effects, masks)
    point, upper = welch_upper_bound(stats, confidence)
    verified.info.update({"bound_seconds": time.perf_counter() - t0})
    return FalseNegativeBound(
        verified,
        rest,
        point.to(effects.dtype),
        upper.to(effects.dtype),
        float(upper.max()),
        n_samples,
        confidence,
        p,
        effects,
        masks,
    )
