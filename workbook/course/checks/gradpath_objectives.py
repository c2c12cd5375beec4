"""Which objective a learner's GradPath step descends, when its direction is not the reference's.

GradPath's first step from ``e_clean`` goes along minus the gradient, with respect to the input
embedding, of the output distance ``||logits(x) - logits(corrupt)||^2`` summed over every position
and logit. A learner who descends another objective (a cosine or L1 distance, probabilities or
log-probabilities instead of logits, the last position only, the final residual stream instead
of the logits, the task metric, the distance in embedding space) or who feeds the point in
another way (added to the embedding instead of replacing it) takes a first step of the right
length in another direction. :func:`objective_of_first_step` computes each of those directions
at ``e_clean`` and names the one the learner's step follows (cosine >= 0.999 on every example of
every case), with :data:`OBJECTIVE_TEXT` saying it in words.
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.core.runs import LEAF_HOOK, cache_activations, frozen_params
from workbook.core.task import Task

__all__ = ["objective_of_first_step", "OBJECTIVE_TEXT"]

OBJECTIVE_TEXT = {
    "cosine": "a cosine distance between the logits (1 - cos per position) instead of the squared L2 distance",
    "l1": "an L1 distance |logits - target| instead of the squared L2 distance",
    "probs": "the distance between probabilities (softmax of the logits) instead of between the logits",
    "log_probs": "the distance between log-probabilities (log_softmax) instead of between the logits",
    "last_position": "the distance at the last position only instead of summed over every position",
    "residual": "the distance between the final residual streams instead of between the logits",
    "added": "the model run with the point ADDED to the token embedding (a hook returning t + point) instead of "
             "the point replacing it",
    "metric": "the task metric (the logit difference) instead of the output distance to the corrupt run",
    "centred": "the distance between centred logits (each position's mean over the vocabulary subtracted) instead "
               "of between the raw logits",
    "embedding": "the distance to e_corrupt in embedding space (a straight line) instead of the output distance",
}


def _run(model, task: Task, x: torch.Tensor, add: bool = False, names: tuple[str, ...] = ()) -> tuple:
    cache: dict[str, torch.Tensor] = {}
    fwd = [(LEAF_HOOK, lambda t, hook: (t + x) if add else x.to(t.dtype))]
    fwd += [(n, lambda t, hook, n=n: cache.__setitem__(n, t)) for n in names]
    with model.hooks(fwd_hooks=fwd):
        logits = model(task.clean)
    return logits, cache


def _objectives(model, task: Task) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    resid = f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    target, c = cache_activations(model, task.corrupt, [resid, LEAF_HOOK])
    e_corrupt = c[LEAF_HOOK]
    target = target.detach()

    def out(x, add=False):
        return _run(model, task, x, add)[0]

    return {
        "cosine": lambda x: (1 - torch.nn.functional.cosine_similarity(out(x), target, dim=-1)).sum(),
        "l1": lambda x: (out(x) - target).abs().sum(),
        "probs": lambda x: (out(x).softmax(-1) - target.softmax(-1)).square().sum(),
        "log_probs": lambda x: (out(x).log_softmax(-1) - target.log_softmax(-1)).square().sum(),
        "last_position": lambda x: (out(x)[:, -1] - target[:, -1]).square().sum(),
        "residual": lambda x: (_run(model, task, x, names=(resid,))[1][resid] - c[resid]).square().sum(),
        "added": lambda x: (out(x, add=True) - target).square().sum(),
        "metric": lambda x: task.metric_value(out(x)) * task.batch_size,
        "embedding": lambda x: (x - e_corrupt).square().sum(),
        "centred": lambda x: (_centred(out(x)) - _centred(target)).square().sum(),
    }


def _centred(logits: torch.Tensor) -> torch.Tensor:
    return logits - logits.mean(-1, keepdim=True)


def _directions(model, task: Task, start: torch.Tensor) -> dict[str, torch.Tensor]:
    """Minus the gradient of each objective at ``start``, per example, unit length: ``{name: [B, P*D]}``."""
    out = {}
    with frozen_params(model), torch.enable_grad():
        for name, objective in _objectives(model, task).items():
            leaf = start.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(objective(leaf), leaf, allow_unused=True)
            if g is None:
                continue
            g = -g.flatten(1).double()
            out[name] = g / g.norm(dim=1, keepdim=True).clamp_min(1e-30)
    return out


def objective_of_first_step(runs: list[tuple[object, Task, torch.Tensor]]) -> str | None:
    """``runs``: ``(model, task, points [2, B, P, D])`` of the learner's one-step GradPath; the objective
    whose descent direction the first step follows on every run, in words, or None."""
    common: set[str] | None = None
    for model, task, points in runs:
        step = (points[1] - points[0]).flatten(1).double()
        n = step.norm(dim=1, keepdim=True)
        if bool((n <= 1e-12).any()):
            return None
        step = step / n
        hits = {name for name, d in _directions(model, task, points[0]).items()
                if d.shape == step.shape and bool(((d * step).sum(1) >= 0.999).all())}
        common = hits if common is None else common & hits
        if not common:
            return None
    if not common:
        return None
    name = sorted(common)[0]
    return (f"your first step has the right length but follows {OBJECTIVE_TEXT[name]}. GradPath descends the "
            "squared L2 distance between the model's logits at the current point (the point replacing the token "
            "embedding) and the corrupt run's logits, summed over every position and logit.")
