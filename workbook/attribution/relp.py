"""RelP (Rezaei Jafari, Eberle, Khakzar & Nanda 2025, arXiv 2508.21258): AtP with LRP coefficients.

Relevance patching keeps AtP's bookkeeping and cost (one corrupt forward, one clean forward,
one backward) and replaces the gradient by the coefficients of a layer-wise relevance
propagation (LRP) backward pass (noising, as everywhere in the package)::

    RelP(n) = (n(corrupt) - n(clean)) . c_n |clean        c_n = dM/dn with the rules below

The rules (local Jacobians swapped in the backward pass only; the forward is the model's own,
:mod:`workbook.attribution.backward_rules`), per family:

* **LayerNorm** (GPT-2, GPT-NeoX): LN-rule, the standard deviation is a constant:
  ``dx = C(w * g) / sigma`` (``C`` subtracts the mean; the centring stays in the backward).
  **RMSNorm** (Llama, Qwen2; Gemma with ``1 + w``): the root-mean-square is a constant:
  ``dx = w * g / rms``. Every norm of the model (``ln1``, ``ln2``, ``ln_final``) follows it.
* **GELU / GELU-tanh** (GPT-2, GPT-NeoX, Gemma) and **SiLU** (Llama, Qwen2): identity rule, the
  activation passes ``act(x) / x`` (``Phi(x)`` for GELU, ``sigmoid(x)`` for SiLU) instead of ``act'(x)``.
* **SwiGLU / GeGLU** gate x up (Llama, Qwen2, Gemma): half rule, each factor of ``act(gate) * up``
  receives half: ``d gate = 0.5 g * up * act(gate)/gate``, ``d up = 0.5 g * act(gate)``.
* **attention** (``attention=``): ``"gradient"`` (default, as the authors' quick-start rule set
  ``LN-rule, Identity-rule, Half-rule``: the softmax and the pattern x value product keep their
  gradients); ``"ah"`` (Ali et al. 2022's AH-rule, implemented in the RelP code but off by default:
  the pattern is a constant, so values get the whole relevance and queries/keys none, and q/k nodes
  are refused); ``"half"`` (AttnLRP's uniform rule: pattern and values each receive half).
* linear maps, the residual stream and the unembedding keep their gradients (LRP-0).

Approximated: everything AtP approximates (first order around the clean run), with the
gradient replaced by relevance coefficients, which are not derivatives of the model; on a model
without norms, nonlinearities or products (a linear model) RelP equals AtP equals patching.
Refused (:class:`~workbook.core.errors.UnsupportedArchitectureError`): soft-capped attention or
logits (Gemma 2), norms and activations other than those above.
"""

from __future__ import annotations

from typing import Sequence

from workbook.attribution.backward_rules import BackwardRules, rule_edge_scores, rule_node_scores
from workbook.core.scores import Scores
from workbook.core.task import Task

__all__ = ["relp", "relp_edges", "relp_rules"]


def relp_rules(attention: str = "gradient") -> BackwardRules:
    """RelP's rule set (module docstring) with the attention rule ``attention``."""
    return BackwardRules(frozen_norm=True, identity_act=True, half_gate=True, attention=attention)


def relp(
    model,
    task: Task,
    what: str | Sequence[str] = "head",
    per_position: bool = False,
    direction: str = "noising",
    attention: str = "gradient",
) -> Scores:
    """RelP estimates for every node of the kind(s) in ``what`` (same API and names as :func:`atp`).

    Args:
        model: a prepared TransformerBridge, eval mode.
        task: the clean/corrupt pairs and metric.
        what: ``"head"``, ``"q"``, ``"k"``, ``"v"``, ``"pattern"``, ``"mlp"``, ``"neuron"`` or several.
        per_position: score each position separately (names get ``@pos``).
        direction: ``"noising"`` (coefficients on the clean run) or ``"denoising"``.
        attention: ``"gradient"``, ``"ah"`` or ``"half"`` (module docstring).

    Returns:
        :class:`Scores` (batch mean, ``per_example [B, n]``), ``info["rules"]`` lists the rules used.
    """
    return rule_node_scores(model, task, what, per_position, direction, relp_rules(attention), "RelP")


def relp_edges(model, task: Task, direction: str = "noising", attention: str = "gradient") -> Scores:
    """RelP for every edge ``u -> v`` (EAP with relevance coefficients): ``sum (z_u(corrupt) -
    z_u(clean)) . c_{in_v}``, ``c_{in_v}`` the coefficient at ``v``'s input before its norm (for a q/k/v
    input: through ``ln1`` with the LN-rule). Names as :func:`~workbook.attribution.eap.eap`."""
    return rule_edge_scores(model, task, direction, relp_rules(attention), "RelP (edges)")
