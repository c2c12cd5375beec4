"""GradDrop computed with other drop sets, for the GradDrop check (chapter 02) to recognise.

GradDrop's pass ``l`` stops the gradient through layer ``l``'s two writes to the residual
stream (``hook_attn_out`` and ``hook_mlp_out``) and nothing else; a node's score is
``1/(L-1) * sum_l |delta . grad^(l)|`` per prompt pair, averaged over pairs (noising: delta =
z(corrupt) - z(clean), gradients on the clean run). A learner whose passes drop another set of
layers or writes gets numbers with no simple relation to the reference.
:func:`graddrop_variant` recomputes the scores of head outputs with any drop set, by gating the
gradient with backward hooks (a plain, slow loop: L backward passes on the check's small models);
:data:`DROP_SETS` names the sets learners build by mistake and :data:`DROP_HINTS` says each in words.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from workbook.core.runs import LEAF_HOOK, cache_activations, frozen_params
from workbook.core.task import Task

__all__ = ["graddrop_variant", "graddrop_passes_variant", "drop_set_variants", "DROP_SETS", "PASS_SETS",
           "DROP_HINTS"]

#: name -> (layers dropped in pass ``p`` of ``L``, writes gated, extra undropped pass)
DROP_SETS: dict[str, tuple[Callable[[int, int], set[int]], tuple[str, ...], bool]] = {
    "drop_later": (lambda p, L: set(range(p, L)), ("attn", "mlp"), False),
    "drop_grows": (lambda p, L: set(range(p + 1)), ("attn", "mlp"), False),
    "drop_next": (lambda p, L: {p + 1}, ("attn", "mlp"), False),
    "drop_first": (lambda p, L: {0}, ("attn", "mlp"), False),
    "attn_only": (lambda p, L: {p}, ("attn",), False),
    "mlp_only": (lambda p, L: {p}, ("mlp",), False),
    "extra_pass": (lambda p, L: {p}, ("attn", "mlp"), True),
}
#: name -> the gated (layer, write) pairs of every pass, for a model of ``L`` layers
PASS_SETS: dict[str, Callable[[int], list[set[tuple[int, str]]]]] = {
    "mlp_previous": lambda L: [{(p, "attn"), (p - 1, "mlp")} for p in range(L)],
    "separate_passes": lambda L: [{(p, w)} for p in range(L) for w in ("attn", "mlp")],
}
_ONE = "in pass l drop exactly layer l's two writes, hook_attn_out and hook_mlp_out"
DROP_HINTS = [
    ("drop_later", f"pass l drops layer l AND every later layer: {_ONE}, and leave the later layers alone."),
    ("drop_grows", f"pass l drops layers 0..l (the drop set grows from pass to pass: a hook or a set that is never "
                   f"cleared?): {_ONE}."),
    ("drop_next", f"pass l drops layer l + 1 (a layer index off by one): {_ONE}."),
    ("drop_first", f"every pass drops layer 0: the layer your gate compares against is never updated in the loop (a "
                   f"default argument or a variable read once): {_ONE}."),
    ("attn_only", f"your passes drop only the attention write (hook_attn_out): {_ONE}; the MLP's write carries "
                  "indirect effects too."),
    ("mlp_only", f"your passes drop only the MLP write (hook_mlp_out): {_ONE}; attention's write carries indirect "
                 "effects too."),
    ("mlp_previous", f"your pass l drops layer l's attention write but layer l - 1's MLP write (an MLP index off "
                     f"by one): {_ONE}."),
    ("separate_passes", f"you dropped the attention write and the MLP write in separate passes (2L passes): {_ONE}, "
                        "both in the same pass."),
    ("extra_pass", "one pass that drops nothing (plain AtP) counts on top of the L - 1 that do: an extra undropped "
                   "pass, or the pass that drops the node's own layer read with the undropped gradient (it must be "
                   "0). Sum over the passes l = 0..L-1, each dropping one layer, and divide by L - 1."),
]


def graddrop_variant(model, task: Task, drops: Callable[[int, int], set[int]],
                     writes: Sequence[str] = ("attn", "mlp"), extra_pass: bool = False) -> torch.Tensor:
    """GradDrop scores of head outputs, ``[n_layers, n_heads]``, with pass ``p`` gating the gradient of
    ``blocks.{l}.hook_{w}_out`` for ``l in drops(p, L)`` and ``w in writes`` (``extra_pass``: plus one
    pass gating nothing). Right with ``drops = lambda p, L: {p}`` and both writes."""
    L = model.cfg.n_layers
    passes = [{(l, w) for l in drops(p, L) for w in writes} for p in range(L)] + ([set()] if extra_pass else [])
    return graddrop_passes_variant(model, task, passes)


def graddrop_passes_variant(model, task: Task, passes: list[set[tuple[int, str]]]) -> torch.Tensor:
    """GradDrop scores of head outputs, ``[n_layers, n_heads]``: one pass per entry of ``passes``, each gating
    the gradient of ``blocks.{l}.hook_{w}_out`` for its ``(l, w)`` pairs; ``sum |estimate| / (L-1)``, batch mean."""
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    state: dict = {"drop": set()}
    acts: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}

    def gate(g, hook, key: tuple[int, str]):
        return torch.zeros_like(g) if key in state["drop"] else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, k=(l, w): gate(g, hook, k))
            for l in range(L) for w in ("attn", "mlp")]
    total = 0.0
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for drop in passes:
            state["drop"] = drop
            grads.clear()
            metric.backward(retain_graph=True)
            est = torch.stack([((corr[n] - acts[n]).double() * grads.get(n, torch.zeros_like(acts[n])).double())
                               .sum((1, 3)) for n in names], 1)  # [B, L, H]
            total = total + est.abs()
    return (total / (L - 1)).mean(0).float()


def drop_set_variants(model, task: Task) -> dict[str, torch.Tensor]:
    """``{key of DROP_HINTS: [n_layers, n_heads]}``: GradDrop with each wrong drop set of :data:`DROP_SETS`."""
    out = {name: graddrop_variant(model, task, drops, writes, extra)
           for name, (drops, writes, extra) in DROP_SETS.items()}
    L = model.cfg.n_layers
    out.update({name: graddrop_passes_variant(model, task, passes(L)) for name, passes in PASS_SETS.items()})
    return out
