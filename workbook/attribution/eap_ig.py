"""EAP-IG (Hanna, Pezzelle & Belinkov, COLM 2024): EAP with the gradient averaged along a path.

EAP takes the gradient at the clean point only. Where the metric is flat there (a saturated
softmax, a GELU tail), that gradient is ~0 although the edge matters. EAP-IG averages the
destination-input gradient over ``m`` points between the corrupt and the clean input (noising,
per example, shapes ``[B, P, d_model]``)::

    EAP-IG(u->v) = sum_{p,d} (z_u(corrupt) - z_u(clean)) . (1/m) sum_{k=1..m} dM/d in_v |_{e(k/m)}
    e(a) = e_corrupt + a (e_clean - e_corrupt)          (the token embedding, ``hook_embed``)

Two variants:

* ``variant="inputs"`` (the paper's method): only the embedding is interpolated; every later
  activation is what the model computes from it.
* ``variant="activations"`` (hannamw's ``EAP-IG-activations``): for one *group* of sources at a
  time (the embedding, one attention layer, one MLP) its output is replaced by the constant
  ``a * clean + (1 - a) * corrupt``; every backward updates every edge; the result is divided
  by ``#groups * m``. The replaced output is a constant, so paths through it are cut in its own
  passes.

Step indexing: we use the paper's ``k = 1..m`` (``a`` in ``{1/m, ..., 1}``), which includes the
clean endpoint, so ``m = 1`` is exactly EAP. hannamw's current edge code (``attribute.py`` since
commit 13c0033) uses ``k = 0..m-1``, which includes the corrupt endpoint instead; pass
``alphas="corrupt_end"`` to reproduce it.

Scaling: hannamw sums over the batch and divides by the number of items; we report the batch
mean of per-example scores, the same number. ``Scores.per_example`` holds ``[B, n_edges]``.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from workbook.arch import check_model
from workbook.arch.graph import Graph
from workbook.attribution.eap import edge_scores_to_scores
from workbook.core.budget import MemoryGuard, copies_per_pass
from workbook.core.errors import WorkbookError, check_tokens
from workbook.core.runs import (
    LEAF_HOOK,
    NO_LOGITS,
    cache_activations,
    cache_activations_and_grads,
    embeddings,
    fused_attention,
    is_long,
    model_device,
    progress,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.edge_scorer import EdgeScorer

__all__ = ["eap_ig", "ig_alphas", "source_groups"]


def ig_alphas(steps: int, alphas: str | Sequence[float] = "paper") -> torch.Tensor:
    """Interpolation weights ``a_k`` toward clean (point ``e_corrupt + a_k (e_clean - e_corrupt)``).

    ``paper`` -> ``k/m, k=1..m``; ``corrupt_end`` -> ``k/m, k=0..m-1``; a sequence of ``m``
    numbers -> those points (any real values: outside [0, 1] extrapolates), averaged with equal
    weights like the others.
    """
    if not isinstance(steps, int) or steps < 1:
        raise WorkbookError(f"steps must be a positive integer, got {steps!r}.")
    if isinstance(alphas, str):
        if alphas == "paper":
            return torch.arange(1, steps + 1, dtype=torch.float64) / steps
        if alphas == "corrupt_end":
            return torch.arange(0, steps, dtype=torch.float64) / steps
        raise WorkbookError(f"alphas must be 'paper', 'corrupt_end' or a sequence of numbers, got {alphas!r}.")
    a = torch.as_tensor(alphas, dtype=torch.float64).reshape(-1)
    if a.numel() != steps or not bool(torch.isfinite(a).all()):
        raise WorkbookError(f"alphas must hold steps = {steps} finite numbers, got {list(a.tolist())}.")
    return a


def _replace_with(values: torch.Tensor) -> Callable:
    """Forward hook that swaps the activation for ``values`` (straight-through, so grads still flow)."""

    def fn(t, hook):
        return t + (values.to(t.dtype) - t).detach()

    return fn


def source_groups(graph: Graph) -> list[str]:
    """Hooks interpolated one at a time by the activations variant: embed, each attn layer, each MLP."""
    out = [LEAF_HOOK]
    for l in range(graph.n_layers):
        out += [f"blocks.{l}.hook_attn_out", f"blocks.{l}.hook_mlp_out"]
    return out


def _path_passes(
    model,
    run: Task,
    scorer: EdgeScorer,
    hook: str,
    clean: torch.Tensor,
    corr: torch.Tensor,
    a: torch.Tensor,
    constant: bool,
    per_pass: int,
    corr_sources: dict | None = None,
) -> None:
    """Run the path points ``corr + a_k (clean - corr)`` at ``hook`` through fused forward+backward
    passes of ``per_pass`` points each and add them to ``scorer``. With ``corr_sources`` (the
    scorer has no deltas yet) the clean source writes are read off the rows of the point
    ``a_k = 1``, which is the clean run itself, and the deltas are set from them."""
    capture = scorer.source_names() if corr_sources is not None else []
    B = run.batch_size
    captured = False
    guard = MemoryGuard()
    order = sorted(range(len(a)), key=lambda i: float(a[i]) != 1.0)  # the clean point first
    chunks = _chunks(order, per_pass)
    slow = is_long(model, B * per_pass, run.seq_len, 3 * len(chunks))
    for chunk in progress(chunks, total=len(chunks), desc=f"EAP-IG path points ({hook})", enabled=slow):
        w = a[chunk].to(clean.device, clean.dtype).view(-1, 1, 1, 1)
        pts = torch.where(w == 1, clean[None], corr[None] + w * (clean - corr)[None])  # exactly clean at a = 1
        flat = pts.reshape((-1,) + tuple(clean.shape[1:]))
        repl = (
            (lambda f: lambda t, hook: f.to(t.dtype).detach().clone().requires_grad_(True))(flat)
            if constant
            else _replace_with(flat)
        )
        one = [i for i, k in enumerate(chunk) if float(a[k]) == 1.0]
        names = scorer.act_names() + (list(capture) if one and not captured else [])
        _, acts, grads = cache_activations_and_grads(
            model,
            run,
            names,
            scorer.grad_names(),
            tokens=run.clean.repeat(len(chunk), 1),
            extra_fwd_hooks=[(hook, repl)],
            check="logits",  # the scorer checks what it reads (add_pass, set_deltas)
            per_example=False,  # the scorer multiplies by the rows in its own products
        )
        if one and not captured and capture:
            rows = slice(one[0] * B, (one[0] + 1) * B)
            scorer.set_deltas(corr_sources, {n: acts[n][rows] for n in capture})
            captured = True
        scorer.add_pass(acts, grads, len(chunk), scale=B * len(chunk))
        del acts, grads
        guard.after_pass()
    if capture and not captured:
        raise RuntimeError("no path point a = 1 to read the clean run from")


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]


def eap_ig(
    model,
    task: Task,
    steps: int = 5,
    variant: str = "inputs",
    direction: str = "noising",
    alphas: str | Sequence[float] = "paper",
    batch_steps: int | None = None,
) -> Scores:
    """EAP-IG scores for every edge (names ``"src->dst"``; batch means, noising by default).

    ``steps`` = m. ``batch_steps`` runs that many path points per forward/backward; by default
    it is chosen from the memory budget (:mod:`workbook.core.budget`): as many as fit, up to all m
    (on a CPU at most about a thousand token rows a pass), spread evenly over the passes. The
    result does not depend on it. ``direction="denoising"`` swaps clean and corrupt.

    Cost (inputs variant): one corrupt caching forward and m path points in batched fused
    forward+backward passes; the clean activations come from the point ``a = 1`` (the clean
    run itself) when the alphas include it. Edge scores are accumulated in head space
    (:class:`~workbook.patching.edge_scorer.EdgeScorer`).
    """
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    if variant not in ("inputs", "activations"):
        raise WorkbookError(f"variant must be 'inputs' or 'activations', got {variant!r}.")
    a = ig_alphas(steps, alphas)
    t0 = time.perf_counter()
    run = oriented(task, direction).to(model_device(model))
    sc = EdgeScorer(model)
    graph = sc.graph
    group_hooks = source_groups(graph) if variant == "activations" else [LEAF_HOOK]
    sc.expect(steps * len(group_hooks))
    mask = run.attention_mask
    with fused_attention(model):
        cache = sc.source_names() + [h for h in group_hooks if h not in sc.source_names()]
        _, corr = cache_activations(model, run.corrupt, cache, attention_mask=mask, positions=NO_LOGITS)
        if variant == "inputs" and bool((a == 1).any()):
            clean = {LEAF_HOOK: embeddings(model, run.clean, mask)}
        else:
            _, clean = cache_activations(model, run.clean, cache, attention_mask=mask, positions=NO_LOGITS)
            sc.set_deltas(corr, clean)
        reserved = sc.nbytes() + steps * len(group_hooks) * graph.n_layers * corr[LEAF_HOOK].numel() * 4
        per_pass = batch_steps or copies_per_pass(model, run, steps, backward=True, reserved=reserved)
        if not batch_steps:  # as many passes, evenly filled (5 points at 4 per pass: 3 + 2)
            per_pass = -(-steps // -(-steps // per_pass))
        n_fb = 0
        for hook in group_hooks:
            _path_passes(
                model,
                run,
                sc,
                hook,
                clean[hook],
                corr[hook],
                a,
                variant == "activations",
                per_pass,
                corr_sources=corr if not sc.has_deltas else None,
            )
            n_fb += -(-steps // per_pass)
    per_ex = sc.finish() / (steps * len(group_hooks))
    passes = steps * len(group_hooks)
    n_fwd = passes + (1 if variant == "inputs" and bool((a == 1).any()) else 2)
    return edge_scores_to_scores(
        per_ex,
        graph,
        f"EAP-IG (m={steps})" + ("" if variant == "inputs" else " activations"),
        {
            "direction": direction,
            "variant": variant,
            "steps": steps,
            "alphas": a.tolist(),
            "seconds": time.perf_counter() - t0,
            "points_per_pass": per_pass,
            "passes": f"{n_fwd - passes} caching fwd + {passes} path points in {n_fb} batched fwd+bwd",
            "forward_passes": n_fwd,
            "backward_passes": passes,
        },
    )
