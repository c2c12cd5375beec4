"""Say which axes of a wrong-shaped result are wrong, in the model's own sizes."""

from __future__ import annotations

__all__ = ["shape_message"]


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
        return f"{head}: " + "; ".join(bad) + ". Check the loop bound or torch.zeros size of that axis." + kept
    if len(got) == len(want) + 1:
        for i, g in enumerate(got):
            if got[:i] + got[i + 1:] == want:
                if dims.get("batch") == g and "batch" not in axes:
                    return (f"{head}: one axis too many (axis {i}, size {g} = {named(g)}): the batch axis is kept "
                            "(per-example values, no batch mean); the exercise's values are batch means, so average "
                            "over the batch (.mean(0)).")
                return (f"{head}: one axis too many (axis {i}, size {g} = {named(g)}); sum or average it out "
                        "as the exercise says.")
    if len(got) + 1 == len(want):
        for i, w in enumerate(want):
            if want[:i] + want[i + 1:] == got:
                return (f"{head}: axis {i} ({axes[i]} = {w}) is missing: you reduced over it or kept one index"
                        + (", or joined the pieces with torch.cat where torch.stack adds the new axis (a squeeze "
                           "also drops a size-1 axis)." if w == 1 or i == 0 else "."))
    if len(got) + 1 == len(want):
        for i in range(len(want) - 1):
            if want[:i] + (want[i] * want[i + 1],) + want[i + 2:] == got:
                return (f"{head}: axes {i} and {i + 1} ({axes[i]}, {axes[i + 1]}) are merged into one of size "
                        f"{got[i]}: torch.cat joins along an existing axis where torch.stack adds a new one (or a "
                        "reshape/flatten merged them).")
    return f"{head}."
