"""Say which axes of a wrong-shaped result are wrong, in the model's own sizes."""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["shape_message", "shape_ambiguous", "clearest_shape_message", "shape_failure", "off_edge_words"]


#: an axis name in words, for "you summed over the ..."
AXIS_NOUN = {"n_layers": "layers", "n_heads": "heads", "seq": "positions", "batch": "prompt pairs",
             "n_sources": "sources", "n_destinations": "destinations", "d_model": "d_model entries",
             "steps + 1": "path points"}


#: an extra axis whose size is one of these (and no other size): what keeping it means
KEPT_AXIS = {
    "batch": "the batch axis is kept (per-example values, no batch mean); the exercise's values are batch means, "
             "so average over the batch (.mean(0)).",
    "seq": "the position axis is kept (one score per position); the positions are not summed, and the exercise's "
           "scores sum over them.",
    "d_model": "the d_model axis is kept: the product of delta and gradient is not summed over d_model (a dot "
               "product sums over it; leave its letter out of the einsum output, or .sum(-1)).",
    "d_head": "the d_head axis is kept: the product is not summed over d_head (a dot product sums over it; leave "
              "its letter out of the einsum output, or .sum(-1)).",
}


def shape_message(got_shape: tuple[int, ...], axes: tuple[str, ...], dims: dict[str, int]) -> str:
    """Say which axes of ``got_shape`` are wrong and what size they have instead.

    ``axes`` are the expected axes' names (keys of ``dims``, e.g. ``("n_layers", "n_heads")``).
    """
    want = tuple(dims[a] for a in axes)
    got = tuple(got_shape)
    head = f"expected shape {want} = [{', '.join(axes)}], got {got}"

    def named(size: int) -> str:
        hits = [f"{n} = {v}" for n, v in dims.items() if v == size]
        return " or ".join(hits) if hits else "none of the model's or the task's sizes"

    if 0 < len(got) < len(want) - 1 and got == want[:len(got)]:
        lost = [AXIS_NOUN.get(a, a) for a in axes[len(got):]]
        return (f"{head}: one number per {axes[len(got) - 1].removeprefix('n_').rstrip('s')} where the "
                f"{' and '.join(lost)} should stay: a .mean() or .sum() without dim= (or over too many axes) "
                "reduced them all; name the axis to reduce.")
    if not got:
        return (f"{head}: a single number: a .sum() or .mean() without dim= (or .item()) reduced every axis; "
                "name the axes to reduce, e.g. .mean(0) for the batch.")
    if len(got) > len(want) and tuple(n for n in got if n != 1) == tuple(n for n in want if n != 1):
        return (f"{head}: the right sizes with extra axes of size 1 in between: a reduction with keepdim=True (or an "
                "unsqueeze/None index) kept the reduced axes; reduce without keepdim, or .squeeze() those axes.")
    if sorted(got) == sorted(want):
        order = [" or ".join(a for a in axes if dims[a] == s) for s in got]
        return f"{head}: the axes are in the wrong order (yours look like [{', '.join(order)}]); permute them."
    if len(got) == len(want):
        def off_by_one(g: int, w: int) -> str:
            return {1: " (one too many: a loop bound, or an extra entry appended at the end)",
                    -1: " (one too few: a loop that stops one early, range(n - 1))"}.get(g - w, "")

        bad = [f"axis {i} ({axes[i]} = {w}) has size {g}, which is {named(g)}{off_by_one(g, w)}"
               for i, (g, w) in enumerate(zip(got, want)) if g != w]
        diff = [(axes[i], g) for i, (g, w) in enumerate(zip(got, want)) if g != w]
        word = {"n_layers": "layers", "n_heads": "heads", "seq": "positions"}
        kept = ""
        over = {"batch": ("batch", "the batch"),
                "seq": ("position", "the positions (hook_q/k/v/z are [batch, pos, head, d_head])"),
                "d_head": ("d_head", "d_head (the last axis of hook_z)")}
        for name in (n for n in over if n not in axes):
            hit = [a for a, g in diff if g == dims.get(name)]
            if hit:
                kept += (f" If that is the {over[name][0]} axis: you averaged or summed over the "
                         f"{word.get(hit[0], hit[0])} (the {hit[0]} axis) instead of over {over[name][1]}.")
        if any(g == dims.get("d_vocab") and g != w for g, w in zip(got, want)):
            kept += (" An axis of size d_vocab holds logits: the model's outputs were returned or stored where "
                     "activations or embeddings belong.")
        return f"{head}: " + "; ".join(bad) + ". Check the loop bound or torch.zeros size of that axis." + kept
    if len(got) == len(want) + 1:
        for i, g in enumerate(got):
            if got[:i] + got[i + 1:] == want:
                kept = next((why for name, why in KEPT_AXIS.items() if dims.get(name) == g and name not in axes
                             and sum(v == g for v in dims.values()) == 1), None)  # the size says which axis
                if kept:
                    return f"{head}: one axis too many (axis {i}, size {g} = {named(g)}): {kept}"
                return (f"{head}: one axis too many (axis {i}, size {g} = {named(g)}); sum or average it out "
                        "as the exercise says.")
    if len(got) + 1 == len(want):
        for i, w in enumerate(want):
            if want[:i] + want[i + 1:] == got:
                return (f"{head}: axis {i} ({axes[i]} = {w}) is missing: you summed over the "
                        f"{AXIS_NOUN.get(axes[i], axes[i])} (or averaged, or kept one index of them"
                        + ("; or returned only the end point, not every point of the path" if axes[i] == "steps + 1"
                           else "") + ")"
                        + (", or joined the pieces with torch.cat where torch.stack adds the new axis (a squeeze "
                           "also drops a size-1 axis)." if w == 1 or i == 0 else "."))
    if len(got) + 1 == len(want):
        for i in range(len(want) - 1):
            if want[:i] + (want[i] * want[i + 1],) + want[i + 2:] == got:
                return (f"{head}: axes {i} and {i + 1} ({axes[i]}, {axes[i + 1]}) are merged into one of size "
                        f"{got[i]}: torch.cat joins along an existing axis where torch.stack adds a new one (or a "
                        "reshape/flatten merged them).")
    return f"{head}."


def shape_ambiguous(got_shape: tuple[int, ...], axes: tuple[str, ...], dims: dict[str, int]) -> bool:
    """True when a size of ``got_shape`` that the expected shape lacks is two of the model's sizes at once
    (``2 = batch = seq``): the message cannot say which axis it is."""
    extra = set(got_shape) - {dims[a] for a in axes}
    return any(sum(v == g for v in dims.values()) >= 2 for g in extra)


def clearest_shape_message(found: list[tuple[str, tuple[int, ...], tuple[str, ...], dict[str, int]]]) -> str:
    """``on <label>: <shape message>`` for the first ``(label, got_shape, axes, dims)`` whose sizes are not
    ambiguous (a model where batch and seq differ says which one was kept), else for the first."""
    label, got, axes, dims = next((f for f in found if not shape_ambiguous(*f[1:])), found[0])
    return f"on {label}: " + shape_message(got, axes, dims)


def shape_failure(fn: Callable, cases: list, extra_args: tuple, first_shape: tuple[int, ...],
                  axes: tuple[str, ...], dims_fn: Callable) -> str:
    """The shape message of the first of ``cases`` (``(label, model, task)``, the failing one first) whose
    wrong shape is unambiguous: ``fn(model, task, *extra_args)`` is called on the next ones only while the
    sizes leave it open (2 = batch = seq); ``dims_fn(model, task)`` gives each case's named sizes."""
    found = [(cases[0][0], first_shape, axes, dims_fn(cases[0][1], cases[0][2]))]
    for label, model, task in cases[1:]:
        if not shape_ambiguous(*found[0][1:]):
            break
        try:
            out = fn(model, task, *extra_args)
        except Exception:  # noqa: BLE001 - only the shapes are read here
            continue
        dims = dims_fn(model, task)
        if hasattr(out, "shape") and tuple(out.shape) != tuple(dims[a] for a in axes):
            found.append((label, tuple(out.shape), axes, dims))
    return clearest_shape_message(found)


def off_edge_words(out: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor) -> str:
    """Words for an edge-score matrix with values off the graph's edges (``~mask``): every real edge off
    by one constant (a mask added), or non-zero values filling a triangle (a mask of one's own); else ""."""
    tol = 1e-6 * max(out.abs().max().item(), 1e-12)
    on = (out[mask] - ref[mask]).double()
    if on.numel() and on[0].abs().item() > tol and (on - on[0]).abs().max().item() <= 1e-3 * max(
            ref.abs().max().item(), on[0].abs().item()):
        return (f" (and every real edge is off by the same {on[0].item():.3g}): the mask was added to the scores "
                "(scores + edge_mask) where it should multiply them")
    nz, ones = out.abs() > tol, torch.ones(out.shape, dtype=torch.bool)
    if any(torch.equal(nz, t) for t in (ones.tril(), ones.tril(-1), ones.triu(), ones.triu(1))):
        return " in a triangle: a mask of your own (torch.tril/triu) was used instead of graph.edge_mask"
    return ""
