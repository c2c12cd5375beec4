"""The model's own quantities, by name, to recognise what a tensor of the learner's holds.

:func:`model_quantities` runs the clean and the corrupt prompts once each with gradients and keeps,
at every hook a learner's exercise touches (queries, keys, values, z, pattern, scores, head results,
the residual stream, attention and MLP outputs, the split q/k/v inputs, the embeddings), each run's
activation and the metric's gradient there (per prompt pair: ``d M_b / d x_b``, the batch mean's
``1/B`` undone; none at the position embeddings, which no gradient reaches). Head-shaped hooks also
give one slice per head. :func:`identify` returns every quantity a tensor equals: the same shape
and the same numbers to ``REL_ID`` of the quantity's largest magnitude (a float32 run with hooks
reproduces a run without them far closer than that); a gradient also matches when it is the batch
mean's (``1/B`` of the per-pair one), which is what a learner's own ``backward()`` of the mean
metric gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbook.core.runs import cache_activations_and_grads

__all__ = ["Quantity", "model_quantities", "identify", "identified", "HOOK_WORDS", "REL_ID"]

REL_ID = 1e-4

HOOK_WORDS = {  # hook suffix -> what it holds, in words
    "attn.hook_q": "queries", "attn.hook_k": "keys", "attn.hook_v": "values", "attn.hook_z": "head outputs z",
    "attn.hook_pattern": "attention pattern", "attn.hook_attn_scores": "attention scores",
    "attn.hook_result": "per-head outputs (result)", "hook_resid_pre": "residual stream before the block",
    "hook_resid_mid": "residual stream between attention and MLP", "hook_resid_post": "residual stream after the block",
    "hook_attn_out": "attention output", "hook_mlp_out": "MLP output", "hook_q_input": "query inputs",
    "hook_k_input": "key inputs", "hook_v_input": "value inputs", "hook_mlp_in": "MLP input",
    "mlp.hook_post": "MLP hidden activations",
}
_HEAD_AXIS = {"attn.hook_q": 2, "attn.hook_k": 2, "attn.hook_v": 2, "attn.hook_z": 2, "attn.hook_result": 2,
              "hook_q_input": 2, "hook_k_input": 2, "hook_v_input": 2, "attn.hook_pattern": 1,
              "attn.hook_attn_scores": 1}


@dataclass
class Quantity:
    """One run's activation (``kind="act"``) or metric gradient (``"grad"``) at ``hook`` (one head's slice
    when ``head`` is set)."""

    hook: str
    run: str
    kind: str
    layer: int | None
    head: int | None
    what: str
    value: torch.Tensor

    def describe(self) -> str:
        head = f", head {self.head}" if self.head is not None else ""
        where = f"layer {self.layer}'s {self.what}" if self.layer is not None else f"the {self.what}"
        if self.kind == "act":
            return f"the {self.run} run's {where}{head} ({self.hook})"
        return f"the metric's gradient at {where}{head} on the {self.run} run ({self.hook})"


def _hooks(model) -> list[tuple[str, int | None, str]]:
    names = set(getattr(model, "hook_dict", {}))
    out = [(h, None, w) for h, w in (("hook_embed", "token embeddings"), ("hook_pos_embed", "position embeddings"))
           if h in names]
    for layer in range(model.cfg.n_layers):
        for suffix, words in HOOK_WORDS.items():
            name = f"blocks.{layer}.{suffix}"
            if name in names:
                out.append((name, layer, words))
    return out


def model_quantities(model, task) -> list[Quantity]:
    """Each run's activations and metric gradients at every hook of :data:`HOOK_WORDS` (and head slices)."""
    hooks = _hooks(model)
    names = [h for h, _, _ in hooks]
    out: list[Quantity] = []
    for run in ("clean", "corrupt"):
        try:
            _, acts, grads = cache_activations_and_grads(model, task, names, [n for n in names if "pos_embed" not in n],
                                                         tokens=getattr(task, run), check=False)
        except Exception:  # noqa: BLE001 - a model this cannot run is simply not read
            return out
        for hook, layer, words in hooks:
            for kind, store in (("act", acts), ("grad", grads)):
                value = store.get(hook)
                if value is None or value.abs().max().item() <= 1e-12:
                    continue
                value = value.detach()
                out.append(Quantity(hook, run, kind, layer, None, words, value))
                axis = next((a for s, a in _HEAD_AXIS.items() if hook.endswith(s)), None)
                if axis is not None and value.dim() > axis:
                    out += [Quantity(hook, run, kind, layer, h, words, value.select(axis, h))
                            for h in range(value.shape[axis])]
    return out


def identify(value: torch.Tensor, quantities: list[Quantity]) -> list[Quantity]:
    """Every quantity ``value`` equals (to ``REL_ID`` of its scale; a gradient also as the batch mean's)."""
    v = value.detach().to(torch.float32)
    if v.abs().max().item() <= 1e-12:
        return []
    out = []
    for q in quantities:
        if tuple(q.value.shape) != tuple(v.shape):
            continue
        ref = q.value.to(torch.float32)
        tol = REL_ID * ref.abs().max().item()
        scales = (1.0, 1.0 / ref.shape[0]) if q.kind == "grad" and ref.dim() else (1.0,)
        if any((v - c * ref).abs().max().item() <= tol * c for c in scales):
            out.append(q)
    return out


def identified(snaps: list, quantities: list[Quantity]) -> list[list[Quantity]]:
    """:func:`~workbook.course.checks.quantities.identify` of every snapshot, in order (one list per snapshot):
    computed once per trace (:class:`~workbook.course.checks.trace.CaseTrace`) and shared by its readers."""
    return [identify(s.value, quantities) for s in snaps]
