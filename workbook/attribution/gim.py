"""A GIM-style gradient (Edin et al. 2025, arXiv 2505.17630) for AtP and EAP, built for the bridge.

Gradient Interaction Modifications target attention self-repair: a softmax that redistributes
weight when one score drops hides that score's importance from the gradient. GIM changes three
things in the backward pass only (the forward is the model's own), as the authors' code does
(``gim-explain``; its own context manager crashes on a TransformerLens 4 bridge):

* **frozen norm statistics**: every LayerNorm / RMSNorm is differentiated with its scale held
  constant (LayerNorm ``dx = C(w * g) / sigma``, RMSNorm ``dx = w * g / rms``);
* **softmax temperature** ``T`` (default 2) in the backward of the attention softmax:
  ``ds = p_T * (g - sum(g * p_T))`` with ``p_T = softmax(s / T)`` (no ``1/T`` factor);
* **scaled q/k/v gradients** (defaults 0.25 / 0.25 / 0.5: the score ``q . k`` and the product
  ``pattern x v`` each split their gradient in half) and, in gated MLPs, gate and up gradients
  x 0.5 (the ``gim-explain`` fix after 0.1.4). Activation functions keep their derivatives.

Node scores ``GIM(n) = (n(corrupt) - n(clean)) . c_n`` and edge scores as EAP with these
coefficients (noising). A q/k/v node is a factor, so its coefficient includes its scale. Approximated:
AtP's first-order expansion, with a gradient that is deliberately not the model's. Refused:
soft-capped models (Gemma 2), unknown norms or activations.
"""

from __future__ import annotations

from typing import Sequence

from workbook.attribution.backward_rules import BackwardRules, rule_edge_scores, rule_node_scores
from workbook.core.scores import Scores
from workbook.core.task import Task

__all__ = ["gim", "gim_edges", "gim_rules"]


def gim_rules(temperature: float = 2.0, qkv_scale: tuple[float, float, float] = (0.25, 0.25, 0.5)) -> BackwardRules:
    """GIM's rule set (module docstring)."""
    return BackwardRules(frozen_norm=True, half_gate=True, attention="temperature", temperature=float(temperature),
                         qkv_scale=tuple(float(c) for c in qkv_scale))


def gim(
    model,
    task: Task,
    what: str | Sequence[str] = "head",
    per_position: bool = False,
    direction: str = "noising",
    temperature: float = 2.0,
    qkv_scale: tuple[float, float, float] = (0.25, 0.25, 0.5),
) -> Scores:
    """GIM-gradient estimates for every node of the kind(s) in ``what`` (same API and names as
    :func:`~workbook.attribution.atp.atp`); ``info["rules"]`` lists the modifications used."""
    rules = gim_rules(temperature, qkv_scale)
    return rule_node_scores(model, task, what, per_position, direction, rules, f"GIM (T={temperature:g})")


def gim_edges(
    model,
    task: Task,
    direction: str = "noising",
    temperature: float = 2.0,
    qkv_scale: tuple[float, float, float] = (0.25, 0.25, 0.5),
) -> Scores:
    """EAP with the GIM gradient for every edge (names as :func:`~workbook.attribution.eap.eap`)."""
    rules = gim_rules(temperature, qkv_scale)
    return rule_edge_scores(model, task, direction, rules, f"GIM (T={temperature:g}, edges)")
