"""GradPath (chapter 04) computed right and with planted mistakes, for the GradPath check.

:func:`gradpath_variants` walks GradPath's path (from ``e_clean``, each step ``eta`` along minus
the per-example L2-normalised gradient of the output distance to the corrupt run's logits) and
the same walk with one thing changed: the sign, the norm's axis or kind, the start or the
target, one step length for the batch, the other step-size rule. :data:`GP_HINTS` says each in
words. Points are ``[steps + 1, B, P, d_model]``.
"""

from __future__ import annotations

import torch

from workbook.attribution.eap_gp import gradpath, output_distance, step_sizes
from workbook.core.runs import LEAF_HOOK, cache_activations, frozen_params
from workbook.core.task import Task

__all__ = ["gradpath_variants", "GP_HINTS"]


def gradpath_variants(model, task: Task, steps: int, step_size="scaled") -> dict[str, torch.Tensor]:
    """Reference GradPath points and planted mistakes, ``[steps + 1, B, P, D]`` each."""
    ref, _ = gradpath(model, task, steps, step_size)
    out = {"reference": ref}
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)

    clean_logits, _ = cache_activations(model, task.clean, [])

    def walk(start, sign=1.0, per_example=True, normalise=True, eta=eta, norm_ord=2, to=target, norm_dim=None):

        gamma, pts = start.clone(), [start.clone()]
        with frozen_params(model), torch.enable_grad():
            for _ in range(steps):
                leaf = gamma.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, to).sum(), leaf)
                if normalise and norm_dim is not None:  # a norm over one axis only (F.normalize's dim)
                    g = g / g.norm(dim=norm_dim, keepdim=True).clamp_min(1e-12)
                elif normalise:
                    norm = g.flatten(1).norm(p=norm_ord, dim=1).view(-1, 1, 1) if per_example else g.norm()
                    g = g / norm.clamp_min(1e-12)
                gamma = (leaf - sign * eta * g).detach()
                pts.append(gamma)
        return torch.stack(pts)

    out["ascent"] = walk(e_c, sign=-1.0)
    out["batch_norm"] = walk(e_c, per_example=False)
    out["no_normalise"] = walk(e_c, normalise=False)
    out["from_corrupt"] = walk(e_n)
    out["one_eta"] = walk(e_c, eta=eta.mean())
    out["max_norm"] = walk(e_c, norm_ord=float("inf"))
    out["norm_over_positions"] = walk(e_c, norm_dim=1)
    out["norm_per_position"] = walk(e_c, norm_dim=-1)
    out["swapped"] = walk(e_n, to=clean_logits)
    # step_size ignored: the path taken with the other step-size rule
    other = "unit" if step_size != "unit" else "scaled"
    out["ignores_step_size"] = walk(e_c, eta=step_sizes(other, e_c, e_n, steps).view(-1, 1, 1))
    out["steps_kept"] = torch.cat([ref[:1], ref[:-1] - ref[1:]])  # the step vectors eta g/|g| appended, not the
    out["moves_kept"] = torch.cat([ref[:1], ref[1:] - ref[:-1]])  # points (or the moves, minus them)
    return out


GP_HINTS = {
    "ascent": "the output distance grows along your path: step AGAINST the gradient (gamma - eta g/|g|).",
    "batch_norm": "you normalised the gradient over the whole batch; normalise per example "
    "(g.flatten(1).norm(dim=1)) so the step does not depend on the other prompts.",
    "no_normalise": "you did not normalise the gradient: each step must have length eta (g / ||g||).",
    "one_eta": "one step length for the whole batch: eta comes per example from step_sizes(...) ([B]); use "
    "eta.view(-1, 1, 1), not its mean or its first entry.",
    "max_norm": "you normalised g by its largest entry: each step must have Euclidean length eta, so divide by "
    "the L2 norm per example, g.flatten(1).norm(dim=1).",
    "norm_over_positions": "you normalised the gradient over the positions axis only (dim=1 of [batch, pos, "
    "d_model], F.normalize's default dim): divide by the L2 norm of each example's whole gradient, "
    "g.flatten(1).norm(dim=1), over every position and dimension together.",
    "norm_per_position": "you normalised the gradient per position (over d_model): divide by the L2 norm of each "
    "example's whole gradient, g.flatten(1).norm(dim=1), so the step has length eta per example.",
    "swapped": "clean and corrupt are swapped: your path starts at e_corrupt and walks toward the CLEAN run's "
    "output. GradPath starts at e_clean and descends the output distance to the CORRUPT run's logits.",
    "from_corrupt": "your path starts at the corrupt embedding; GradPath starts at e_clean and walks "
    "toward corrupt-like outputs.",
    "shift:path step:1": "your points are one step late: the first point must be the start e_clean itself, then "
    "one point per step (steps + 1 in all).",
    "zero": "your path never moves: every point is e_clean. Update gamma from the new point "
    "in each step (gamma = leaf - eta * g / |g|), and append the NEW gamma.",
    "steps_kept": "after the first, your points are the step vectors (each eta g/||g||), not the points: append "
    "the new point gamma - eta g/||g||, the position reached, not the step that reached it.",
    "moves_kept": "after the first, your points are the moves between points (each -eta g/||g||), not the points: "
    "append the new point gamma - eta g/||g||, the position reached, not the step that reached it.",
    "ignores_step_size": "your steps do not depend on step_size: the check asked for one step-size rule and got the "
    "path of the other. Take eta from step_sizes(step_size, e_clean, e_corrupt, steps) (one "
    "length per example).",
}
