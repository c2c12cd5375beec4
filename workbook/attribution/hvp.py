"""The second-order (Hessian-vector product) correction of AtP and its reliability score.

"When attribution patching lies" (Zhang & Wang 2026, arXiv 2606.09899): AtP's error is dominated
by the curvature of everything downstream of the patched node, and a Hessian-vector product
estimates it. Along the patch ``a_n -> a_n + t delta_n`` (noising: ``delta_n = n(corrupt) - n(clean)``)
the effect is ``phi_n(1) - phi_n(0)`` with ``phi_n(t) = M(clean with n := a_n + t delta_n)``, and::

    phi_n(1) - phi_n(0) = phi_n'(0) + phi_n''(0) / 2 + R_3        phi_n'(0) = AtP(n) = delta_n . g_n
                                                                  phi_n''(0) = delta_n^T H_nn delta_n

``H_nn`` is the Hessian of the metric with respect to the node's own activation (its diagonal
block; the node's interactions with other nodes do not enter a single-node patch). Returned:
the corrected estimate ``AtP(n) + delta_n^T H_nn delta_n / 2`` (exact when ``phi_n`` is quadratic,
e.g. a quadratic metric of a linear downstream path), and in ``info``:

* ``"first_order"`` (AtP), ``"second_order"`` (``delta^T H delta / 2``) as :class:`Scores`;
* ``"reliability"``: ``|second order| / |first order|`` per node (0 when both vanish): above ~0.5
  the linear estimate is not to be trusted (``info["flagged"]`` lists those nodes);
* ``"error_estimate"``: ``|second order|``, AtP's leading-order error. It is an estimate, not a
  rigorous bound: the remainder ``R_3`` needs third derivatives (it vanishes for quadratic ``phi_n``).

Two ways to get ``H delta`` (``block=``):

* ``"own"`` (default, exact diagonal blocks): every node gets its own tangent, in stacked copies of
  the batch (one scalar ``t`` per copy and example, so the Hessian in ``t`` is diagonal); cost about
  3 forward-equivalents per node, like patching itself: a check, not a speed-up.
* ``"joint"`` (the paper's cost, 2 fwd + 2 bwd): one double backward with every scored node moved at
  once: ``delta_n . (H delta)_n / 2``, which adds to the own block half of the node's cross terms
  ``sum_{m != n} delta_n^T H_nm delta_m`` (its share of the joint patch's curvature). The
  cross terms are not part of a single-node patch, so this is a further approximation.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from workbook.arch import check_model
from workbook.attribution.atp import node_hooks, node_products
from workbook.core.errors import WorkbookError, check_tokens
from workbook.core.runs import (
    cache_activations,
    compute_dtype,
    frozen_params,
    fused_attention,
    is_long,
    model_device,
    progress,
    run_model,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs

__all__ = ["atp_hvp", "RELIABILITY_FLAG"]

#: nodes whose ``|second order| / |first order|`` exceeds this are flagged as unreliable
RELIABILITY_FLAG = 0.5


def _metric(model, run: Task, tokens: torch.Tensor) -> torch.Tensor:
    P = run.logit_positions()
    return run.per_example(run_model(model, tokens, run.attention_mask, P), P)


def _joint(model, run: Task, hooks: list[str], corr: dict, clean: dict) -> tuple[dict, dict]:
    """Per-example ``(g, H delta)`` at every hook, ``delta`` all hooks' corrupt - clean at once."""
    eps = {h: torch.zeros_like(clean[h]).requires_grad_(True) for h in hooks}
    fwd = [(h, lambda a, hook, h=h: a + eps[h]) for h in hooks]
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd):
        f = _metric(model, run, run.clean).sum()  # a sum of per-example metrics: per-example derivatives
        g = torch.autograd.grad(f, [eps[h] for h in hooks], create_graph=True)
        s = sum((gi * (corr[h] - clean[h])).sum() for gi, h in zip(g, hooks))
        hd = torch.autograd.grad(s, [eps[h] for h in hooks], allow_unused=True)
    zero = torch.zeros_like
    return ({h: gi.detach() for h, gi in zip(hooks, g)},
            {h: zero(eps[h]) if x is None else x.detach() for h, x in zip(hooks, hd)})


def _own(model, run: Task, specs, corr: dict, clean: dict, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example ``(phi_n'(0), phi_n''(0))`` ``[B, n]`` for every spec, one tangent per stacked copy."""
    B = run.batch_size
    per = max(1, rows // B)
    first, second = [], []
    chunked = [specs[i : i + per] for i in range(0, len(specs), per)]
    long = is_long(model, len(specs) * B, run.seq_len, 3.0)
    for chunk in progress(chunked, total=len(chunked), desc="HVP (own blocks)", enabled=long):
        t = torch.zeros(len(chunk) * B, dtype=compute_dtype(model), device=model_device(model), requires_grad=True)
        by_hook: dict[str, list] = {}
        for j, s in enumerate(chunk):
            by_hook.setdefault(s.hook, []).append((j, s))

        def add(a, hook, items=None):
            a = a.clone()
            for j, s in items:
                d = (corr[s.hook] - clean[s.hook])[(slice(None),) + s.index]
                tj = t[j * B : (j + 1) * B].reshape((B,) + (1,) * (d.dim() - 1)).to(d.dtype)
                a[(slice(j * B, (j + 1) * B),) + s.index] += tj * d
            return a

        fwd = [(h, lambda a, hook, items=items: add(a, hook, items)) for h, items in by_hook.items()]
        with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd):
            f = _metric(model, run, run.clean.repeat(len(chunk), 1)).sum()
            (g,) = torch.autograd.grad(f, [t], create_graph=True)
            (h,) = torch.autograd.grad(g.sum(), [t])
        first.append(g.detach().reshape(len(chunk), B).T)
        second.append(h.reshape(len(chunk), B).T)
    return torch.cat(first, 1), torch.cat(second, 1)


def atp_hvp(
    model,
    task: Task,
    what: str | Sequence[str] = "head",
    per_position: bool = False,
    direction: str = "noising",
    block: str = "own",
    max_rows: int = 256,
) -> Scores:
    """AtP with its second-order correction for every node of the kind(s) in ``what``.

    Args:
        model, task, what, per_position, direction: as :func:`~workbook.attribution.atp.atp`.
        block: ``"own"`` (each node's own Hessian block, exact; patching's cost) or ``"joint"``
            (one extra backward; adds half the cross terms, see the module docstring).
        max_rows: stacked rows per pass for ``block="own"``.

    Returns:
        :class:`Scores` of ``AtP + delta^T H delta / 2`` (batch mean, ``per_example [B, n]``), with
        ``info["first_order"]``, ``info["second_order"]``, ``info["reliability"]`` (Scores),
        ``info["error_estimate"]`` and ``info["flagged"]`` (module docstring).
    """
    if block not in ("own", "joint"):
        raise WorkbookError(f"block must be 'own' or 'joint', got {block!r}.")
    kinds = node_kinds(what)
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    run = oriented(task, direction)
    hooks = node_hooks(model, kinds)
    names, a_cols, s_cols = [], [], []
    with fused_attention(model):
        _, corr = cache_activations(model, run.corrupt, hooks, attention_mask=run.attention_mask)
        _, clean = cache_activations(model, run.clean, hooks, attention_mask=run.attention_mask)
        if block == "joint":
            g, hd = _joint(model, run, hooks, corr, clean)
        for k in kinds:
            specs = node_specs(model, k, per_position, task.seq_len)
            names += [s.name for s in specs]
            if block == "joint":
                a_cols += node_products(model, k, per_position, corr, clean, g)
                s_cols += [0.5 * x for x in node_products(model, k, per_position, corr, clean, hd)]
            else:
                first, second = _own(model, run, specs, corr, clean, max_rows)
                a_cols.append(first)
                s_cols.append(0.5 * second)
    return _result(names, torch.cat(a_cols, 1), torch.cat(s_cols, 1), block, direction, time.perf_counter() - t0)


def _result(names, a: torch.Tensor, s: torch.Tensor, block: str, direction: str, seconds: float) -> Scores:
    first = Scores(names, a.mean(0), method="AtP", per_example=a)
    second = Scores(names, s.mean(0), method="second-order term", per_example=s)
    fa, fs = first.values.abs(), second.values.abs()
    rho = torch.where(fs == 0, torch.zeros_like(fs), fs / fa)
    flagged = [n for n, r in zip(names, rho.tolist()) if r > RELIABILITY_FLAG]
    passes = "2 fwd + 2 bwd (double backward)" if block == "joint" else "2 fwd + per node: fwd + 2 bwd (stacked)"
    info = {"direction": direction, "block": block, "seconds": seconds, "passes": passes,
            "first_order": first, "second_order": second,
            "reliability": Scores(names, rho, method="|second order| / |AtP|"),
            "error_estimate": Scores(names, fs, method="|second order|"), "flagged": flagged}
    return Scores(names, (a + s).mean(0), method=f"AtP + HVP ({block})", kind="node", per_example=a + s, info=info)
