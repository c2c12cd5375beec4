"""Matplotlib figures for the course (static images: they render in Jupyter, VS Code, Colab and CI).

The signature plot of every chapter is :func:`scatter_vs_truth`: a method's estimate against
full activation patching, with the y = x line, so points far from the line are where the
gradient misleads. Every figure here has a title and labelled axes.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
    import os

    if not os.environ.get("DISPLAY") and "ipykernel" not in os.sys.modules:
        matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from workbook.core.runs import cache_activations
from workbook.core.scores import Scores  # noqa: E402

__all__ = ["scatter_vs_truth", "bar_compare", "faithfulness_curves", "save"]


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
    import html
    import os


    if run not in ("clean", "corrupt"):
        raise ValueError(f"run must be 'clean' or 'corrupt', got {run!r}.")
    tokens = (task.clean if run == "clean" else task.corrupt)[example : example + 1]
    hook = f"blocks.{layer}.attn.hook_pattern"
    mask = None if task.attention_mask is None else task.attention_mask[example : example + 1]
    _, acts = cache_activations(model, tokens, [hook], attention_mask=mask)
    pattern = acts[hook][0].float()  # [heads, query, key]
    labels = task.labels(tokens[0])
    if static is None:
        static = os.environ.get("WORKBOOK_WIDGETS", "1") == "0" or "ipykernel" not in os.sys.modules
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
    return fig
