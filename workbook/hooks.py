"""Forward and backward passes with hooks: the plumbing every method shares.

* :func:`cache_activations` — one no-grad forward, activations at the named hooks.
* :func:`cache_activations_and_grads` — one forward + one backward of the task metric,
  activations at some hooks and metric gradients at others.
* :func:`progress` — tqdm for long sweeps (silence with ``WORKBOOK_PROGRESS=0``).

Gradients are *per example*: the metric is the batch mean, so every gradient is multiplied
by the batch size to undo the ``1/B``. Parameters are frozen for the backward pass (only
activation gradients are needed), which makes it cheaper than a training step.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterable, Iterator, Sequence

import torch

from workbook.validate import check_finite

__all__ = ["cache_activations", "cache_activations_and_grads", "frozen_params", "progress", "LEAF_HOOK"]

LEAF_HOOK = "hook_embed"


def progress(iterable: Iterable, total: int | None = None, desc: str = "", enabled: bool | None = None):
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` (default: long sweeps, unless WORKBOOK_PROGRESS=0)."""
    if enabled is None:
        enabled = (total or 0) >= 16
    if os.environ.get("WORKBOOK_PROGRESS", "1") == "0":
        enabled = False
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


@contextlib.contextmanager
def frozen_params(model) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on every parameter (restored on exit)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _leaf(t: torch.Tensor, hook) -> torch.Tensor:
    # With parameters frozen, make the embedding a grad-requiring leaf so a graph is built.
    return t.detach().requires_grad_(True)


@torch.no_grad()
def cache_activations(model, tokens: torch.Tensor, names: Sequence[str], check: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``tokens`` once; return ``(logits, {name: activation})`` for the hooks in ``names``."""
    acts: dict[str, torch.Tensor] = {}

    def save(name: str) -> Callable:
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    with model.hooks(fwd_hooks=[(n, save(n)) for n in dict.fromkeys(names)]):
        logits = model(tokens)
    if check:
        check_finite(logits, "the logits")
        for n, a in acts.items():
            check_finite(a, f"activation {n}")
    return logits, acts


def cache_activations_and_grads(
    model,
    task,
    act_names: Sequence[str],
    grad_names: Sequence[str],
    tokens: torch.Tensor | None = None,
    extra_fwd_hooks: Sequence = (),
    extra_bwd_hooks: Sequence = (),
    check: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One forward on ``tokens`` (default ``task.clean``) and one backward of the task metric.

    Returns ``(per_example_metric[B], activations, gradients)``. Gradients are per example:
    ``d metric_b / d act_b`` (the batch-mean's ``1/B`` is undone). A gradient that never
    arrives (the hook is not upstream of the metric) is returned as zeros.
    """
    tokens = task.clean if tokens is None else tokens
    B = tokens.shape[0]
    acts: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}

    def save_act(name: str) -> Callable:
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    def save_grad(name: str) -> Callable:
        def fn(g, hook):
            grads[name] = g.detach() * B if name not in grads else grads[name] + g.detach() * B

        return fn

    fwd = [(LEAF_HOOK, _leaf)] + [(n, save_act(n)) for n in dict.fromkeys(act_names)] + list(extra_fwd_hooks)
    bwd = [(n, save_grad(n)) for n in dict.fromkeys(grad_names)] + list(extra_bwd_hooks)
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        logits = model(tokens)
        per_ex = task.per_example(logits)
        per_ex.mean().backward()
    if check:
        check_finite(logits, "the logits")
        for n, a in acts.items():
            check_finite(a, f"activation {n}")
        for n, g in grads.items():
            check_finite(g, f"the gradient at {n}")
    for n in grad_names:
        if n not in grads:
            grads[n] = torch.zeros_like(acts[n]) if n in acts else None
    return per_ex.detach(), acts, grads
