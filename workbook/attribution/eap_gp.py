"""EAP-GP (Zhang et al. 2025): EAP-IG along an adaptive "GradPath" instead of a straight line.

Straight-line IG can still be damped: if the segment from the corrupt to the clean embedding
crosses a broad saturated region, most of its sample points see ~0 gradient. EAP-GP bends the
path: starting at the clean input it repeatedly steps *down* the gradient of the distance
between the model's output and the corrupt output, so it moves toward corrupt-like behaviour
where the output actually changes. Scores then use the EAP-IG bookkeeping (noising)::

    gamma_0 = e_clean
    g_{j+1} = grad_gamma || G(gamma_j) - G(e_corrupt) ||^2        (G = all logits of the example)
    gamma_{j+1} = gamma_j - eta_j * g_{j+1} / ||g_{j+1}||           (per example, j = 0..k-1)
    EAP-GP(u->v) = sum_{p,d} (z_u(corrupt) - z_u(clean)) . (1/k) sum_{j=1..k} dM/d in_v |_{gamma_j}

The paper's code is not public. Choices, following the third-party reading in
algorithms.md section 5 (Brokttv/EAP-GP, Lexsi-Labs/CircuitKIT):

* **Step rule**: normalised gradient descent on the output distance, one step per path point.
* **Per-example normalisation** (CircuitKIT): ``||g||`` is taken per example over
  ``[positions, d_model]``, so the step length does not depend on which other prompts share
  the batch (Brokttv normalises over the whole batch tensor).
* **Step size** ``eta``: ``step_size="unit"`` (default, the reading: ``eta = 1``) or
  ``"scaled"`` (``eta = ||e_clean - e_corrupt|| / k`` per example, so k steps cover the same
  length as the straight segment; useful when embeddings are far smaller or larger than 1),
  or a float.
* **Points used**: ``gamma_1 .. gamma_k`` (the start ``gamma_0`` is excluded), all weighted
  equally: a plain mean of gradients as in EAP-IG, not IG2's displacement-weighted path sum.
* **End point**: the path is *not* forced to reach ``e_corrupt``; ``Scores.info`` logs
  ``||e_clean - e_corrupt||`` (``embed_distance``), the final embedding distance to
  ``e_corrupt`` (``final_embed_distance``) and the output distance before and after
  (``output_distance_start``, ``output_distance_end``), all batch means.
* **Only the embedding moves** (one joint path in input space, as EAP-IG-inputs), not one
  path per edge.

Cost: one corrupt caching forward, then k + 1 forwards at gamma_0 .. gamma_k with 2k backwards:
at gamma_0 (the clean input, whose source writes are cached on the way) the output distance's;
at gamma_1 .. gamma_{k-1} both the distance's (the next step) and the metric's (the scores) from
the same forward; at gamma_k the metric's (and the final distance is logged). The metric's
logits are recomputed at the read positions only. Edge scores are accumulated in head space
(:class:`~workbook.patching.edge_scorer.EdgeScorer`).
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from workbook.arch import check_model
from workbook.attribution.eap import edge_scores_to_scores
from workbook.core.budget import release_memory
from workbook.core.errors import WorkbookError, check_finite, check_tokens
from workbook.core.runs import (
    LEAF_HOOK,
    cache_activations,
    embeddings,
    frozen_params,
    fused_attention,
    is_long,
    model_device,
    progress,
    run_model,
)
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.edge_scorer import EdgeScorer

__all__ = ["eap_gp", "gradpath", "output_distance", "step_sizes"]


def output_distance(
    model,
    tokens: torch.Tensor,
    embed: torch.Tensor,
    target_logits: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``||G(embed) - target||^2`` per example ``[B]``: run ``tokens`` with ``hook_embed := embed``.

    With an ``attention_mask`` only real (unpadded) positions count, so a padded prompt follows
    the same path as the prompt alone."""
    with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook: embed.to(t.dtype))]):
        logits = run_model(model, tokens, attention_mask)
    sq = (logits - target_logits) ** 2
    if attention_mask is not None:
        sq = sq * attention_mask.to(sq.device, sq.dtype)[..., None]
    return sq.flatten(1).sum(1)


def step_sizes(step_size, e_clean: torch.Tensor, e_corrupt: torch.Tensor, steps: int) -> torch.Tensor:
    """GradPath's step length per example, ``[B]``: ``"unit"`` = 1, ``"scaled"`` =
    ``||e_clean - e_corrupt|| / steps`` (the straight path's length split into ``steps``), or a
    positive number for every example."""
    B = e_clean.shape[0]
    if step_size == "unit":
        return torch.ones(B, dtype=e_clean.dtype, device=e_clean.device)
    if step_size == "scaled":
        return (e_clean - e_corrupt).flatten(1).norm(dim=1) / steps
    if isinstance(step_size, (int, float)) and step_size > 0:
        return torch.full((B,), float(step_size), dtype=e_clean.dtype, device=e_clean.device)
    raise WorkbookError(f"step_size must be 'unit', 'scaled' or a positive number, got {step_size!r}.")


_step_sizes = step_sizes  # the old private name


def gradpath(
    model,
    task: Task,
    steps: int = 5,
    step_size: str | float = "unit",
    endpoints: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
    capture: Sequence[str] = (),
    final_distance: bool = True,
) -> tuple[torch.Tensor, dict]:
    """The GradPath from the clean toward the corrupt embedding (noising orientation).

    Returns ``(points [steps + 1, B, P, D], log)``: ``points[0]`` is ``e_clean``, ``points[j]``
    is gamma_j. ``log`` holds per-step output distances ``[steps + 1, B]`` (``objective``; only
    ``[steps, B]`` without ``final_distance``, which skips the forward at the last point),
    ``e_clean``, ``e_corrupt`` and the step lengths ``eta`` ``[B]``. ``endpoints`` =
    ``(e_clean, e_corrupt, corrupt_logits)`` skips the two caching runs when already known.
    ``capture``: hook names whose activations to keep from the first step, which runs the clean
    input unchanged (``log["clean_acts"]``).
    """
    if not isinstance(steps, int) or steps < 1:
        raise WorkbookError(f"steps must be a positive integer, got {steps!r}.")
    mask = task.attention_mask
    if endpoints is None:
        _, c = cache_activations(model, task.clean, [LEAF_HOOK], attention_mask=mask)
        target_logits, n = cache_activations(model, task.corrupt, [LEAF_HOOK], attention_mask=mask)
        e_clean, e_corr = c[LEAF_HOOK], n[LEAF_HOOK]
    else:
        e_clean, e_corr, target_logits = endpoints
    eta = step_sizes(step_size, e_clean, e_corr, steps)
    gamma = e_clean.clone()
    points, objective = [gamma], []
    clean_acts: dict[str, torch.Tensor] = {}

    def save(name):
        def fn(t, hook):
            clean_acts[name] = t.detach()

        return fn

    with frozen_params(model), torch.enable_grad():
        slow = is_long(model, task.batch_size, task.seq_len, 3 * steps)
        for j in progress(range(steps), total=steps, desc="EAP-GP GradPath", enabled=slow):
            leaf = gamma.detach().requires_grad_(True)
            with model.hooks(fwd_hooks=[(n, save(n)) for n in capture] if j == 0 else []):
                dist = output_distance(model, task.clean, leaf, target_logits, mask)
            (g,) = torch.autograd.grad(dist.sum(), leaf)  # per-example: examples are independent
            check_finite(g, "the GradPath gradient")
            norm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            gamma = (leaf - eta.view(-1, 1, 1) * g / norm).detach()
            objective.append(dist.detach())
            points.append(gamma)
            del dist, g
            release_memory()
    if final_distance:
        with torch.no_grad():
            objective.append(output_distance(model, task.clean, gamma, target_logits, mask))
    log = {
        "objective": torch.stack(objective),
        "e_clean": e_clean,
        "e_corrupt": e_corr,
        "eta": eta,
        "clean_acts": clean_acts,
    }
    return torch.stack(points), log


def _gp_pass(
    model,
    run: Task,
    sc: EdgeScorer,
    gamma: torch.Tensor,
    target: torch.Tensor,
    path: bool,
    attribute: bool,
    capture: Sequence[str] = (),
) -> dict:
    """One forward at embedding ``gamma`` serving both the path and the attribution.

    Returns ``dist`` (the output distance ``[B]``), ``g`` (its gradient at ``gamma``, if ``path``),
    ``acts``/``grads`` (the scorer's activations and the batch-mean metric's gradients, if ``attribute``:
    times B they are per example, which :meth:`EdgeScorer.add_pass` applies)
    and ``captured`` (activations at ``capture``). The metric's logits are recomputed from the
    final residual stream at the read positions only, so its backward skips the full unembedding."""
    mask = run.attention_mask
    U = run.logit_positions()
    leaf = gamma.detach().requires_grad_(True)
    acts: dict[str, torch.Tensor] = {}
    outs: dict[str, torch.Tensor] = {}

    def save(name):
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    def keep(name):
        def fn(t, hook):
            outs[name] = t.view_as(t)
            return outs[name]

        return fn

    fwd = [(LEAF_HOOK, lambda t, hook: leaf.to(t.dtype))] + [(n, save(n)) for n in capture]
    if attribute:
        fwd += [(n, save(n)) for n in sc.act_names()] + [(n, keep(n)) for n in sc.grad_names()]
        if U is not None:
            fwd.append(("ln_final.hook_in", keep("final")))
    out: dict = {}
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd):
        logits = run_model(model, run.clean, mask)
        sq = (logits - target) ** 2
        if mask is not None:
            sq = sq * mask.to(sq.device, sq.dtype)[..., None]
        dist = sq.flatten(1).sum(1)
        del sq
        if path:
            (out["g"],) = torch.autograd.grad(dist.sum(), leaf, retain_graph=attribute)
        if attribute:
            if U is None:
                metric = run.per_example(logits)
            else:
                lg = model.unembed(model.ln_final(outs.pop("final")[:, U.to(logits.device)]))
                metric = run.per_example(lg.float() if lg.dtype in (torch.float16, torch.bfloat16) else lg, U)
            names = [n for n in sc.grad_names() if n in outs]
            got = torch.autograd.grad(metric.mean(), [outs[n] for n in names], allow_unused=True)
            out["grads"] = {n: g.detach() for n, g in zip(names, got) if g is not None}  # times B: add_pass
            out["acts"] = {n: acts[n] for n in sc.act_names()}
    out["dist"] = dist.detach()
    out["captured"] = {n: acts[n] for n in capture}
    return out


def eap_gp(
    model,
    task: Task,
    steps: int = 5,
    step_size: str | float = "unit",
    direction: str = "noising",
) -> Scores:
    """EAP-GP edge scores (names ``"src->dst"``, batch means, noising by default); see module doc.

    The path (:func:`gradpath`'s steps, the same arithmetic) and the attribution share their
    forwards: the pass at gamma_j (0 < j < k) takes the output distance's gradient for the next
    step and the metric's gradients for the scores from one forward."""
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    if not isinstance(steps, int) or steps < 1:
        raise WorkbookError(f"steps must be a positive integer, got {steps!r}.")
    t0 = time.perf_counter()
    run = oriented(task, direction).to(model_device(model))
    sc = EdgeScorer(model)
    sc.expect(steps)
    graph = sc.graph
    mask = run.attention_mask
    with fused_attention(model):
        corr_logits, corr = cache_activations(model, run.corrupt, sc.source_names(), attention_mask=mask)
        e_clean, e_corr = embeddings(model, run.clean, mask), corr[LEAF_HOOK]
        eta = _step_sizes(step_size, e_clean, e_corr, steps)
        gamma = e_clean.clone()
        points, objective = [gamma], []
        slow = is_long(model, run.batch_size, run.seq_len, 3 * (steps + 1))
        for j in progress(range(steps + 1), total=steps + 1, desc="EAP-GP attribution", enabled=slow):
            res = _gp_pass(
                model,
                run,
                sc,
                gamma,
                corr_logits,
                path=j < steps,
                attribute=j > 0,
                capture=sc.source_names() if j == 0 else (),
            )
            objective.append(res["dist"])
            if j == 0:
                sc.set_deltas(corr, res["captured"])
                del corr
            if j > 0:
                sc.add_pass(res["acts"], res["grads"], 1, scale=run.batch_size)
            if j < steps:
                g = res["g"]
                check_finite(g, "the GradPath gradient")
                norm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
                gamma = (gamma - eta.view(-1, 1, 1) * g / norm).detach()
                points.append(gamma)
            del res
            release_memory()
    log = {"objective": torch.stack(objective), "e_clean": e_clean, "e_corrupt": e_corr}
    per_ex = sc.finish() / steps
    e_c, e_n = log["e_clean"], log["e_corrupt"]
    info = {
        "direction": direction,
        "steps": steps,
        "step_size": step_size,
        "embed_distance": float((e_c - e_n).flatten(1).norm(dim=1).mean()),
        "final_embed_distance": float((points[-1] - e_n).flatten(1).norm(dim=1).mean()),
        "output_distance_start": float(log["objective"][0].mean()),
        "output_distance_end": float(log["objective"][-1].mean()),
        "seconds": time.perf_counter() - t0,
        "passes": f"1 caching fwd + {steps + 1} forwards (path and attribution share {steps - 1}) "
        f"with {2 * steps} backwards",
        "forward_passes": steps + 2,
        "backward_passes": 2 * steps,
    }
    return edge_scores_to_scores(per_ex, graph, f"EAP-GP (k={steps})", info)
