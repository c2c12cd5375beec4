"""How a learner's EAP-IG weighs the gradients of its points, once the points themselves are right.

EAP-IG's score of an edge is ``delta . (1/m) sum_k g(alpha_k)``: each point's gradient counts 1/m. With the points
right (:mod:`.path_points`), the learner's scores are often another weighted sum of the same per-point scores
``S_k = delta . g(alpha_k)`` (a running total added at every step counts point k ``m - k + 1`` times).
:func:`weights_note` computes each ``S_k`` exactly (:func:`workbook.attribution.eap_ig.eap_ig` with the one point
``alpha_k``), fits the learner's scores as ``sum_k w_k S_k`` by least squares and, when the fit is exact (to 2e-3
of the largest score) and the ``S_k`` are far from collinear, names the weights. Nothing is approximated beyond
the fit's check.
"""

from __future__ import annotations

import torch

from workbook.arch.graph import Graph
from workbook.attribution.eap_ig import eap_ig
from workbook.core.task import Task

__all__ = ["weights_note"]

#: weights in units of 1/m, ``w(k, m)`` for k = 1..m, and what they mean
NAMED_WEIGHTS = (
    (lambda k, m: m - k + 1, "point k's gradient counts m - k + 1 times: the earlier points count more, as when a "
                             "running total of the gradients is added to the score at every step (add each point's "
                             "gradient once; form the score once, after the loop)"),
    (lambda k, m: k, "point k's gradient counts k times: the later points count more (a running total added up "
                     "again at every step)"),
)


def weights_note(got: object, model, task: Task, steps: int, with_corrupt: bool = False) -> str:
    """Words on the weights of the learner's points (``got``: its ``[n_sources, n_destinations]`` scores), "" when the
    scores are not a weighted sum of the per-point scores or the weights cannot be told apart. ``with_corrupt``: the
    corrupt end (k = 0, alpha = 0) is one of the points fitted, and named only when it gets a weight."""
    mask = Graph.from_model(model).edge_mask
    if steps < 2 or not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(mask.shape):
        return ""
    first = 0 if with_corrupt else 1
    per_point = torch.stack([eap_ig(model, task, 1, alphas=[k / steps]).values.double()
                             for k in range(first, steps + 1)])  # [m (+ 1), n_edges]
    sv = torch.linalg.svdvals(per_point)
    g = got.detach().double()[mask]
    if sv[-1] <= 1e-4 * sv[0] or g.abs().max() <= 0:
        return ""  # collinear points: any weights fit
    w = torch.linalg.lstsq(per_point.T, g[:, None]).solution[:, 0]
    if (per_point.T @ w - g).abs().max() > 2e-3 * g.abs().max():
        return ""
    units = (w * steps).tolist()
    if with_corrupt:
        return _with_corrupt_end(units, steps)
    if all(abs(u - 1) <= 1e-2 for u in units):
        return ""
    shown = ", ".join(f"{u:.3g}" for u in units)
    text = (f"your points are right, but their gradients are weighted [{shown}] x 1/m (points k = 1..{steps}) where "
            "each counts 1/m")
    for weight, words in NAMED_WEIGHTS:
        if all(abs(u - weight(k, steps)) <= 1e-2 * steps for k, u in enumerate(units, 1)):
            return f"{text}: {words}"
    return text


#: weights in units of 1/m for k = 0..m that give the corrupt end a weight, and their names
ENDS_WEIGHTED = (
    (lambda k, m: 0.5 if k in (0, m) else 1.0, "the trapezoid rule"),
    (lambda k, m: (1 if k in (0, m) else 4 if k % 2 else 2) / 3, "Simpson's rule"),
)


def _with_corrupt_end(units: list[float], steps: int) -> str:
    """Words for weights ``units`` (x 1/m, k = 0..m) whose k = 0 weight is not 0; "" otherwise."""
    if abs(units[0]) <= 1e-2:
        return ""
    shown = ", ".join(f"{u:.3g}" for u in units)
    rule = next((f" ({name})" for weight, name in ENDS_WEIGHTED
                 if all(abs(u - weight(k, steps)) <= 1e-2 for k, u in enumerate(units))), "")
    return (f"your gradients are weighted [{shown}] x 1/m at alpha = k/m for k = 0..{steps}{rule}: the corrupt end "
            "(k = 0, alpha = 0) gets a weight, and the points are not weighted equally; EAP-IG takes the plain mean "
            "of the m points k = 1..m, each 1/m")
