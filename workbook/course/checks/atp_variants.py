"""AtP's recipe with one or two steps done otherwise: what the delta, the gradient or the product became.

AtP of head h in layer l (noising) is ``mean_b sum_{t,d} Δz[b,t,h,d] · g[b,t,h,d]`` with
``Δz = z(corrupt) - z(clean)`` and ``g = dM/dz`` on the clean run. :func:`atp_recipe_variants`
computes it with each way of getting the delta (:data:`DELTAS`), the gradient (:data:`GRADS`) and
the product (:data:`PRODUCTS`) that a learner plausibly writes, one or two of them at a time, as
``[n_layers, n_heads]`` float64 tensors keyed ``"recipe:<delta>|<grad>|<product>"``;
:func:`recipe_hints` words each key from its parts. The variants are exact (no approximation
beyond float64 sums); a check names one only when it reproduces every failing case.
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.core.runs import cache_activations, cache_activations_and_grads

__all__ = ["DELTAS", "GRADS", "PRODUCTS", "z_parts", "atp_recipe_variants", "recipe_hints"]


def _shift(x: torch.Tensor, by: int) -> torch.Tensor:
    """``x`` moved ``by`` positions along axis 1 (zeros where nothing moves in)."""
    out = torch.zeros_like(x)
    if by > 0:
        out[:, by:] = x[:, :-by]
    else:
        out[:, :by] = x[:, -by:]
    return out


# name -> (delta from (corrupt z, clean z), words); "delta" is AtP's own
DELTAS: dict[str, tuple[Callable, str]] = {
    "delta": (lambda c, a: c - a, ""),
    "abs_delta": (lambda c, a: (c - a).abs(), "the delta's sign is dropped (|z(corrupt) - z(clean)|, an abs on the "
                                              "activation change)"),
    "clean_act": (lambda c, a: a, "the clean activation itself stands where the delta z(corrupt) - z(clean) "
                                  "belongs (gradient times activation, not times the delta)"),
    "corr_act": (lambda c, a: c, "the corrupt activation alone stands where the delta belongs (the clean one is "
                                 "never subtracted)"),
    "zero_abl": (lambda c, a: -a, "the delta is 0 - z(clean): the head is zero-ablated instead of set to its "
                                  "corrupt value"),
    "late": (lambda c, a: _shift(c - a, 1), "the delta is one position late against the gradient (position t's "
                                            "gradient meets position t-1's delta: an off-by-one slice on the "
                                            "position axis)"),
    "early": (lambda c, a: _shift(c - a, -1), "the delta is one position early against the gradient (position t's "
                                              "gradient meets position t+1's delta: an off-by-one slice on the "
                                              "position axis)"),
}
GRADS: dict[str, tuple[Callable, str]] = {
    "grad": (lambda g: g, ""),
    "head_mean": (lambda g: g.mean(2, keepdim=True).expand_as(g), "the gradient is averaged over the heads (one "
                                                                  "gradient shared by every head of the layer)"),
    "head_sum": (lambda g: g.sum(2, keepdim=True).expand_as(g), "each head's delta meets the gradient summed over "
                                                                "every head of the layer (a matrix product or a "
                                                                "broadcast that crosses heads)"),
    "pos_mean": (lambda g: g.mean(1, keepdim=True).expand_as(g), "the gradient is averaged over the positions "
                                                                 "before the product"),
    "abs_grad": (lambda g: g.abs(), "the gradient's sign is dropped (|grad|)"),
}


def _dot(d: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return (d * g).sum((1, 3)).mean(0)


def _cosine(d: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    nd, ng = d.pow(2).sum((1, 3)).sqrt(), g.pow(2).sum((1, 3)).sqrt()
    return ((d * g).sum((1, 3)) / (nd * ng).clamp_min(1e-30)).mean(0)


PRODUCTS: dict[str, tuple[Callable, str]] = {
    "dot": (_dot, ""),
    "cosine": (_cosine, "a cosine similarity: the product is divided by the norms of the delta and of the "
                        "gradient, where AtP takes the plain dot product"),
}


def _keys() -> list[tuple[str, str, str]]:
    """Every recipe with one or two parts changed, the single changes first."""
    combos = [(d, g, p) for d in DELTAS for g in GRADS for p in PRODUCTS]
    changed = [(sum(x != ref for x, ref in zip(c, ("delta", "grad", "dot"))), c) for c in combos]
    return [c for n, c in sorted(changed, key=lambda x: x[0]) if 1 <= n <= 2]


def z_parts(model, task) -> tuple[list[str], dict, dict, dict]:
    """``(hook_z names, corrupt z, clean z, per-example gradients dM/dz on the clean run)``, each
    ``[batch, pos, n_heads, d_head]``: what every AtP variant of a check is built from (one pass each)."""
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return names, corr, clean, grads


def atp_recipe_variants(model, task, parts: tuple | None = None) -> dict[str, torch.Tensor]:
    """``{"recipe:<delta>|<grad>|<product>": [n_layers, n_heads]}`` for every recipe of :func:`_keys`
    (``parts``: :func:`z_parts` of this model and task, when the caller has them)."""
    names, corr, clean, grads = parts or z_parts(model, task)
    out = {}
    for d, g, p in _keys():
        rows = [PRODUCTS[p][0](DELTAS[d][0](corr[n].double(), clean[n].double()), GRADS[g][0](grads[n].double()))
                for n in names]
        out[f"recipe:{d}|{g}|{p}"] = torch.stack(rows)
    return out


def recipe_hints() -> list[tuple[str, str]]:
    """``(variant key, message)`` for every recipe, in the order of :func:`_keys` (single changes first)."""
    out = []
    for d, g, p in _keys():
        parts = [t for t in (DELTAS[d][1], GRADS[g][1], PRODUCTS[p][1]) if t]
        out.append((f"recipe:{d}|{g}|{p}", "in your AtP, " + "; and ".join(parts) + ": AtP of a head is "
                    "mean_b sum_{t,d} (z(corrupt) - z(clean)) · dM/dz on the clean run."))
    return out
