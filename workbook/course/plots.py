"""Matplotlib figures for the course (static images: they render in Jupyter, VS Code, Colab and CI).

The signature plot of every chapter is :func:`scatter_vs_truth`: a method's estimate against
full activation patching, with the y = x line, so points far from the line are where the
gradient misleads. Every figure here has a title and labelled axes.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from workbook.core.runs import cache_activations
from workbook.core.scores import Scores

__all__ = ["scatter_vs_truth", "bar_compare", "faithfulness_curves", "save", "attention_patterns", "draw_circuit"]


def _pyplot():
    """``matplotlib.pyplot``, imported on first use (it costs about half a second); headless
    without a notebook kernel or a display, so scripts and CI never open a window."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
        if not os.environ.get("DISPLAY") and "ipykernel" not in sys.modules:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter_vs_truth(
    estimates: Scores | Sequence[Scores],
    truth: Scores,
    highlight: Sequence[str] = (),
    annotate_top: int = 3,
    ax=None,
    title: str | None = None,
):
    """Scatter each estimate (y) against the ground truth (x) with the y = x line.

    ``highlight`` names are circled and labelled; the ``annotate_top`` largest true effects are
    labelled too. Returns the matplotlib Axes.
    """
    plt = _pyplot()
    ests = [estimates] if isinstance(estimates, Scores) else list(estimates)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    x = truth.values
    lo, hi = float(x.min()), float(x.max())
    for est in ests:
        y = est.select(truth.names).values
        lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
        ax.scatter(x, y, s=18, alpha=0.75, label=est.method)
    pad = 0.05 * (hi - lo + 1e-9)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=1, label="y = x (perfect)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    labelled = list(dict.fromkeys(list(highlight) + truth.order()[:annotate_top]))
    for name in labelled:
        xv = truth[name]
        yv = ests[0][name] if name in ests[0] else 0.0
        ax.annotate(name, (xv, yv), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if name in highlight:
            ax.scatter([xv], [yv], s=120, facecolors="none", edgecolors="red", lw=1.5)
    ax.set_xlabel(f"true effect ({truth.method})")
    ax.set_ylabel("estimate")
    ax.set_title(title or f"{', '.join(e.method for e in ests)} vs {truth.method}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return ax


def bar_compare(names: Sequence[str], series: dict[str, Sequence[float]], ax=None, title: str = "",
                ylabel: str = "effect on the metric", xlabel: str = "component"):
    """Grouped bars: one group per name, one bar per series (e.g. truth, AtP, QK fix)."""
    plt = _pyplot()
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(names) * len(series) / 2), 3.6))
    width = 0.8 / max(len(series), 1)
    xs = np.arange(len(names))
    for i, (label, vals) in enumerate(series.items()):
        ax.bar(xs + i * width - 0.4 + width / 2, list(vals), width, label=label)
    ax.set_xticks(xs)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.set_title(title or " vs ".join(series), fontsize=10)
    ax.legend(fontsize=8)
    return ax


def faithfulness_curves(
    curves: dict[str, tuple[Sequence[int], Sequence[float]]], ax=None, title: str = "Faithfulness vs circuit size"
):
    """Plot ``{method: (n_edges, faithfulness)}`` curves, with 0 (corrupt) and 1 (clean) marked."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.4, 3.8))
    for label, (n, f) in curves.items():
        ax.plot(list(n), list(f), marker="o", ms=3, label=label)
    ax.axhline(1.0, color="green", lw=0.8, ls=":", label="clean model")
    ax.axhline(0.0, color="red", lw=0.8, ls=":", label="corrupt model")
    ax.set_xlabel("edges in circuit")
    ax.set_ylabel("normalised faithfulness")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax


def save(fig_or_ax, path) -> str:
    """Save a figure (or the figure of an Axes) to ``path`` and close it; returns the path."""
    plt = _pyplot()
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def attention_patterns(model, task, layer: int, example: int = 0, run: str = "clean", static: bool | None = None):
    """Every head's attention pattern in ``layer`` on one prompt of ``task``.

    Interactive (circuitsvis ``attention_patterns``: hover a token to see where it attends;
    tokens are padded and HTML-escaped so that they read as separate words)
    when a notebook frontend is present; a static matplotlib grid otherwise (``static=True``
    forces it; so does ``WORKBOOK_WIDGETS=0``, as in CI). circuitsvis falls back to its inlined
    JavaScript when there is no internet, so it renders offline too.
    Returns the circuitsvis HTML object or the matplotlib Figure.
    """
    plt = _pyplot()
    import html

    if run not in ("clean", "corrupt"):
        raise ValueError(f"run must be 'clean' or 'corrupt', got {run!r}.")
    tokens = (task.clean if run == "clean" else task.corrupt)[example : example + 1]
    hook = f"blocks.{layer}.attn.hook_pattern"
    mask = None if task.attention_mask is None else task.attention_mask[example : example + 1]
    _, acts = cache_activations(model, tokens, [hook], attention_mask=mask)
    pattern = acts[hook][0].float()  # [heads, query, key]
    labels = task.labels(tokens[0])
    if static is None:
        static = os.environ.get("WORKBOOK_WIDGETS", "1") == "0" or "ipykernel" not in sys.modules
    if not static:
        try:
            from circuitsvis.attention import attention_patterns as cv_attention

            padded = [f"\u00a0{html.escape(t)}\u00a0" for t in labels]  # circuitsvis glues tokens together
            return cv_attention(tokens=padded, attention=pattern)
        except ImportError:
            pass
    H = pattern.shape[0]
    fig, axes = plt.subplots(1, H, figsize=(2.6 * H, 2.6), squeeze=False)
    for h in range(H):
        ax = axes[0, h]
        ax.imshow(pattern[h].numpy(), vmin=0, vmax=1, cmap="Blues")
        ax.set_title(f"L{layer}H{h} ({run})", fontsize=9)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_xlabel("key (attended to)", fontsize=8)
        if h == 0:
            ax.set_ylabel("query (attending)", fontsize=8)
        ax.grid(False)
    fig.suptitle(f"layer {layer} attention patterns, {run} prompt {example}", fontsize=10)
    fig.tight_layout()
    # closed, so a notebook shows it once (as the cell's value), not also as an open pyplot figure
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- circuits as graphs (pure matplotlib)

#: where a destination's edge ends on its head: q above the centre, k on it, v below (``_ports``)
_PORT = {"q": 0.18, "k": 0.0, "v": -0.18}
_STYLE = {"q": "--", "k": ":", "v": "-"}


def _node_xy(graph) -> dict[str, tuple[float, float]]:
    """Node -> (x, y): columns left to right in reading order (embed, then per layer its heads and
    its MLP, then logits); heads of a layer stacked by index, everything else centred at y = 0."""
    H, xy = graph.n_heads, {"embed": (0.0, 0.0)}
    for l in range(graph.n_layers):
        for h in range(H):
            xy[f"L{l}H{h}"] = (2.0 * l + 1, (H - 1) / 2 - h)
        xy[f"MLP{l}"] = (2.0 * l + 2, 0.0)
    xy["logits"] = (2.0 * graph.n_layers + 1, 0.0)
    return xy


def _arc(x0: float, y0: float, x1: float, y1: float, n: int = 16) -> tuple[list[float], list[float]]:
    """Points of the line drawn for one edge: straight between neighbouring columns; an edge that
    skips columns bows upwards (a quadratic curve, higher the more it skips) so that it does not
    run through the nodes between its ends."""
    bend = 0.22 * max(abs(x1 - x0) - 1.0, 0.0)
    if bend == 0.0:
        return [x0, x1], [y0, y1]
    ts = [i / (n - 1) for i in range(n)]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 2 * bend  # control point; the curve's peak is `bend` above the chord
    xs = [(1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t**2 * x1 for t in ts]
    ys = [(1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t**2 * y1 for t in ts]
    return xs, ys


def _edge_ends(graph, edge: str) -> list[tuple[str, str, str]]:
    """``(source node, destination node, port)`` for one edge name; a grouped k/v input ends on
    every query head of its group."""
    i, j = graph.edge_index(edge)
    dst = graph.destinations[j]
    port = dst.rpartition(".")[2] if "." in dst else ""
    if dst in ("logits",) or dst.startswith("MLP"):
        return [(graph.sources[i], dst, "")]
    return [(graph.sources[i], graph.sources[o], port) for o in graph.dest_owners(j)]


def _circuit_items(circuit_or_scores, graph, scores, top):
    """``(graph, [(edge, weight)], node Scores or None)`` from a Circuit, edge Scores or node Scores."""
    from workbook.core.errors import WorkbookError

    if hasattr(circuit_or_scores, "mask") and hasattr(circuit_or_scores, "graph"):  # a Circuit
        graph = circuit_or_scores.graph
        edges = circuit_or_scores.edges
        weights = [scores[e] if scores is not None else 1.0 for e in edges]
        return graph, list(zip(edges, weights)), None
    if not isinstance(circuit_or_scores, Scores):
        raise WorkbookError(f"draw_circuit takes a Circuit or Scores, got {type(circuit_or_scores).__name__}.")
    if graph is None:
        raise WorkbookError("draw_circuit needs graph= (Graph.from_model(model)) to place Scores' components.")
    s = circuit_or_scores
    if s.names and "->" in s.names[0]:
        names = s.order()[: top or len(s)]
        return graph, [(e, s[e]) for e in names if s[e] != 0], None
    return graph, [], s


def draw_circuit(circuit_or_scores, graph=None, scores: Scores | None = None, top: int | None = 20,
                 highlight=(), ax=None, title: str | None = None):
    """Draw a circuit as a graph, without graphviz: nodes at (layer column, head index), edges as lines.

    ``circuit_or_scores``: a :class:`~workbook.analysis.circuits.Circuit` (its edges; widths from
    ``scores`` if given), edge :class:`Scores` (the ``top`` edges by ``|score|``; ``graph`` needed),
    or node Scores (``L0H1``, ``MLP0``: node colour and size by score, no edges; ``graph`` needed).
    Columns: embed, then per layer its heads and its MLP, then logits; an edge that skips columns
    is drawn as an upward arc. Line width grows with ``|score| / max|score|``; colour is the sign
    (blue: a positive noising effect, the metric goes up when the edge is noised; red: negative).
    An edge into a head ends on its q (upper, dashed), k (middle, dotted) or v (lower, solid) port.
    Nodes touched by a drawn edge are filled; ``highlight`` names get a red ring. Deterministic:
    the layout depends only on the graph. Returns the matplotlib Axes.
    """
    plt = _pyplot()
    graph, edges, node_scores = _circuit_items(circuit_or_scores, graph, scores, top)
    xy = _node_xy(graph)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(16.0, 1.2 + 0.75 * len(set(x for x, _ in xy.values()))),
                                      min(9.0, 1.6 + 0.55 * graph.n_heads)))
    big = max((abs(w) for _, w in edges), default=1.0) or 1.0
    touched = set()
    for edge, w in edges:
        for src, dst, port in _edge_ends(graph, edge):
            (x0, y0), (x1, y1) = xy[src], xy[dst]
            touched.update((src, dst))
            ax.plot(*_arc(x0, y0, x1, y1 + _PORT.get(port, 0.0)), _STYLE.get(port, "-"),
                    color="tab:blue" if w >= 0 else "tab:red", lw=0.4 + 3.6 * abs(w) / big,
                    alpha=0.35 + 0.6 * abs(w) / big, zorder=1)
    node_big = float(node_scores.values.abs().max()) if node_scores is not None and len(node_scores) else 0.0
    for name, (x, y) in xy.items():
        v = node_scores.get(name, 0.0) if node_scores is not None else 0.0
        if node_scores is not None:
            size, face = 80 + 520 * abs(v) / (node_big or 1.0), ("tab:blue" if v >= 0 else "tab:red")
            alpha = 0.15 + 0.85 * abs(v) / (node_big or 1.0)
        else:
            size, face, alpha = 260, ("lightsteelblue" if name in touched else "white"), 1.0
        ax.scatter([x], [y], s=size, color=face, alpha=alpha, edgecolors="black", linewidths=0.6, zorder=2)
        if name in highlight:
            ax.scatter([x], [y], s=size + 260, facecolors="none", edgecolors="red", linewidths=1.6, zorder=3)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=7, zorder=4)
    cols = [(0.0, "embed")] + [(2.0 * l + 1.5, f"layer {l}") for l in range(graph.n_layers)]
    ax.set_xticks([c for c, _ in cols] + [2.0 * graph.n_layers + 1])
    ax.set_xticklabels([t for _, t in cols] + ["logits"], fontsize=8)
    ax.set_yticks([])
    half = max(graph.n_heads - 1, 1) / 2 + 0.6
    ax.set_ylim(-half, half + 0.4)
    ax.set_xlabel("layer (reading order: heads, then MLP)")
    ax.set_ylabel("head index (top: head 0)")
    ax.grid(False)
    ax.margins(x=0.06)
    if title is None:
        kind = "node scores" if node_scores is not None else f"{len(edges)} edges"
        title = f"circuit: {kind} (width = |score|, blue +, red -; into a head: q dashed, k dotted, v solid)"
    ax.set_title(title, fontsize=9)
    return ax
