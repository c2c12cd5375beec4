"""Cheap probes behind :func:`workbook.analysis.diagnose.diagnose`: the exact pattern change of a patched
query/key, a source's outgoing edge terms, predicted false negatives of a suspect estimate, and
:func:`measure`, which runs every estimate the probes compare exactly once.

No probe patches anything; the diagnoser turns their numbers into findings and then verifies
those by activation patching (:mod:`workbook.analysis.recovery`). Sign convention: noising,
``effect(n) = M(clean with n := corrupt) - M(clean)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from workbook.arch import adapter_for
from workbook.arch.graph import Graph
from workbook.attribution.atp import atp
from workbook.attribution.eap import eap
from workbook.attribution.eap_gp import eap_gp
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix, attention_scores, qk_fix_inputs, qk_hooks
from workbook.core.errors import UnsupportedArchitectureError, WorkbookError
from workbook.core.runs import cache_activations, progress
from workbook.core.scores import Scores, important
from workbook.core.task import Task

__all__ = ["pattern_probe", "source_totals", "predicted_misses", "Measurements", "measure", "node_totals",
           "SCREENS", "IG_FINE"]

#: the cheap screen the diagnoser judges in each family (``nodes`` = head and MLP outputs)
SCREENS = {"q/k": "AtP", "nodes": "AtP", "edges": "EAP"}
#: the key of EAP-IG run with 4 x the steps in :attr:`Measurements.scores`
IG_FINE = "EAP-IG (4x steps)"


@torch.no_grad()
def pattern_probe(model, task: Task, saturation: float = 0.99) -> dict[str, dict[str, float]]:
    """Exact pattern change when one head's query (or key) is patched, against AtP's tangent.

    For every query node and key node (``L{l}H{h}.q``, ``L{l}H{h}.k`` or ``L{l}KV{g}.k`` under
    grouped-query attention; all positions patched, noising) returns batch means:

    * ``saturated_change``: ``max_t TV_t`` over query rows ``t`` whose clean max probability is
      ``>= saturation`` (other rows count 0); ``saturated_rows``: the share of such rows;
    * ``change``: ``max_t TV_t`` over every row;
    * ``read_change``, ``read_linear``, ``read_peak``: on the row the metric reads
      (``task.pos``), the exact ``TV``, the ``TV`` of the softmax's tangent
      ``dA = A * (ds - sum_s A ds)`` (the change of pattern AtP's gradient sees, for the change of
      scores ``ds``) and the clean max probability.

    ``TV_t = 0.5 sum_s |A'_ts - A_ts|`` is the total-variation distance between the re-softmaxed
    and the clean pattern of row ``t``. A grouped key takes each statistic's largest value over
    the heads of its group (the mean for ``saturated_rows``). The pattern is recomputed as the QK
    fix does (post-rotary q/k, the model's scale, soft-cap and mask). Shapes: patterns
    ``[B, H, T, S]``.
    """

    ad = adapter_for(model)
    acts, _ = qk_hooks(model)
    names = acts + [f"blocks.{l}.attn.hook_pattern" for l in range(ad.n_layers)]
    _, clean = cache_activations(model, task.clean, names, attention_mask=task.attention_mask)
    _, corr = cache_activations(model, task.corrupt, names, attention_mask=task.attention_mask)
    layers = qk_fix_inputs(model, clean, corr)
    G, rep = ad.n_kv_heads, ad.n_heads // ad.n_kv_heads
    out: dict[str, dict[str, float]] = {}
    for l, x in enumerate(layers):
        A = clean[f"blocks.{l}.attn.hook_pattern"].double()  # [B,H,T,S]
        B, H, _, S = A.shape
        k, kc = ad.expand_kv(x.k), ad.expand_kv(x.k_corr)
        saturated = (A.max(-1).values >= saturation) & (x.visible.sum(-1) > 1)  # one visible key: never changes
        read = task.pos.to(A.device)[:, None, None, None].expand(B, H, 1, S)  # the metric's row
        A_read = A.gather(2, read)[:, :, 0]  # [B,H,S]
        base = attention_scores(x.q, k, x.scale, x.visible, x.softcap)
        for kind, patched in (("q", attention_scores(x.q_corr, k, x.scale, x.visible, x.softcap)),
                              ("k", attention_scores(x.q, kc, x.scale, x.visible, x.softcap))):
            tv = 0.5 * (patched.softmax(-1).nan_to_num(0.0) - A).abs().sum(-1)  # [B,H,T]
            ds = (patched - base).gather(2, read)[:, :, 0].double()  # [B,H,S]
            ds = torch.where(A_read > 0, ds, torch.zeros_like(ds))  # masked keys (-inf - -inf): no change
            tangent = A_read * (ds - (A_read * ds).sum(-1, keepdim=True))
            stats = {  # each [B,H]
                "saturated_change": torch.where(saturated, tv, torch.zeros_like(tv)).max(-1).values,
                "saturated_rows": saturated.double().mean(-1),
                "change": tv.max(-1).values,
                "read_change": tv.gather(2, read[..., 0])[..., 0],
                "read_linear": 0.5 * tangent.abs().sum(-1),
                "read_peak": A_read.max(-1).values,
            }
            if kind == "k":
                stats = {
                    n: v.reshape(B, G, rep).mean(-1) if n == "saturated_rows" else v.reshape(B, G, rep).max(-1).values
                    for n, v in stats.items()
                }
            for h in range(stats["change"].shape[1]):
                out[ad.node_label(kind, l, h)] = {n: v[:, h].mean().item() for n, v in stats.items()}
    return out


def source_totals(scores: Scores, graph: Graph) -> dict[str, dict[str, float]]:
    """Per source: ``total`` (sum of outgoing edge scores = the source's node estimate),
    ``abs_sum`` (sum of their magnitudes), ``positive``/``negative`` (sums of each sign),
    ``direct`` (edge to ``logits``) and ``indirect`` (the rest)."""
    vals = scores.to_dict()
    out = {}
    for src in graph.sources:
        edges = {e: v for e, v in vals.items() if e.split("->", 1)[0] == src}
        direct = edges.get(f"{src}->logits", 0.0)
        total = sum(edges.values())
        out[src] = {
            "total": total,
            "abs_sum": sum(abs(v) for v in edges.values()),
            "positive": sum(v for v in edges.values() if v > 0),
            "negative": sum(v for v in edges.values() if v < 0),
            "direct": direct,
            "indirect": total - direct,
        }
    return out


def predicted_misses(
    suspect: dict[str, float], better: dict[str, float], tau: float = 0.5
) -> dict[str, dict[str, float]]:
    """Components ``better`` ranks in its top ``K`` and ``suspect`` ranks outside it (by ``|value|``).

    ``K`` = how many components reach ``tau`` x the largest ``|better|`` (the definition of
    :func:`workbook.core.scores.false_negatives`, with ``better`` standing in for the truth). Returns
    ``{name: {"rank_suspect", "rank_better", "K", "floor"}}`` with ``floor = tau x max|better|``;
    ranks count from 1, ties ranked last (:meth:`Scores.rank`).
    """
    names = list(better)
    if not names:
        return {}
    # host-side bookkeeping over python floats: CPU on purpose, whatever the model's device
    fixed = Scores(names, torch.tensor([better[n] for n in names], dtype=torch.float64, device="cpu"))
    plain = Scores(names, torch.tensor([suspect[n] for n in names], dtype=torch.float64, device="cpu"))
    top = float(fixed.values.abs().max())
    if top == 0.0:
        return {}
    wanted = important(fixed, tau)
    K = len(wanted)
    return {
        n: {
            "rank_suspect": float(plain.rank(n)),
            "rank_better": float(fixed.rank(n)),
            "K": float(K),
            "floor": tau * top,
        }
        for n in wanted
        if plain.rank(n) > K
    }


def node_totals(edge_scores: Scores, graph: Graph, method: str) -> Scores:
    """Node scores of every head and MLP from edge scores: the sum of the node's outgoing edges.

    For EAP that sum is the node's AtP estimate; for EAP-IG / EAP-GP it is their node estimate.
    ``embed`` is left out (patching it is the corrupt run itself; no screen ranks it)."""
    tab = source_totals(edge_scores, graph)
    names = [n for n in graph.sources if n != "embed"]
    # host-side bookkeeping over python floats: CPU on purpose, whatever the model's device
    return Scores(names, torch.tensor([tab[n]["total"] for n in names], dtype=torch.float64, device="cpu"), method,
                  "node")


@dataclass
class Measurements:
    """Every estimate the probes compare, each method run once, by family.

    ``scores[family][method]``: families ``"q/k"`` (query and key nodes), ``"nodes"`` (head and
    MLP outputs) and ``"edges"``; methods ``"AtP"``, ``"QK fix"``, ``"GradDrop"`` (magnitudes),
    ``"EAP"``, ``"EAP-IG"``, :data:`IG_FINE`, ``"EAP-GP"`` where the probes that need them ran
    (node scores of the edge methods are their edge totals, :func:`node_totals`). ``pattern``:
    :func:`pattern_probe`; ``terms``: :func:`source_totals` of EAP (the cancellation evidence);
    ``seconds``: wall time of each stage (the verification adds its patching sweeps).
    ``total = |M(clean) - M(corrupt)|``. Noising sign convention throughout.
    """

    total: float
    steps: int
    scores: dict[str, dict[str, Scores]] = field(default_factory=dict)
    pattern: dict[str, dict[str, float]] = field(default_factory=dict)
    terms: dict[str, dict[str, float]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def family(self, name: str) -> dict[str, Scores]:
        return self.scores.setdefault(name, {})


def _stages(
    model, task: Task, probes: Sequence[str], m: Measurements, graph: Graph | None, saturated: float
) -> list[tuple[str, Callable]]:
    """One ``(label, run)`` per estimate the ``probes`` need, in the order they run."""

    def qk_fix() -> None:
        try:
            m.family("q/k")["QK fix"] = atp_qk_fix(model, task, ("q", "k"))
        except UnsupportedArchitectureError as err:  # the QK fix refused this attention variant
            m.skipped["saturation"] = str(err)

    def saturation() -> None:  # the pattern probe and AtP, only where the QK fix ran
        if "saturation" not in m.skipped:
            m.pattern = pattern_probe(model, task, saturated)
            m.family("q/k")["AtP"] = atp(model, task, ("q", "k"))
            m.ran.append("saturation")

    def edges(method: str, fn: Callable[[], Scores]) -> Callable[[], None]:
        def run() -> None:
            s = fn()
            m.family("edges")[method] = s
            m.family("nodes")["AtP" if method == "EAP" else method] = node_totals(s, graph, method)
            if method == "EAP":
                m.terms = source_totals(s, graph)

        return run

    def cancellation() -> None:
        try:
            m.family("nodes")["GradDrop"] = graddrop(model, task, what=("head", "mlp"))
        except WorkbookError as err:  # e.g. a 1-layer model: the edge-term evidence still stands
            m.skipped["cancellation (GradDrop part)"] = f"{type(err).__name__}: {err}"

    out: list[tuple[str, Callable]] = []
    if "saturation" in probes:
        out += [("QK fix on q/k", qk_fix), ("pattern probe and AtP on q/k", saturation)]
    edge_probes = [p for p in ("cancellation", "flat_gradient", "path_saturation") if p in probes]
    if edge_probes:
        out.append(("EAP", edges("EAP", lambda: eap(model, task))))
    if "cancellation" in probes:
        out.append(("GradDrop", cancellation))
    if {"flat_gradient", "path_saturation"} & set(probes):
        out.append(("EAP-IG", edges("EAP-IG", lambda: eap_ig(model, task, steps=m.steps))))
    if "path_saturation" in probes:
        out.append((IG_FINE, edges(IG_FINE, lambda: eap_ig(model, task, steps=4 * m.steps))))
        out.append(("EAP-GP", edges("EAP-GP", lambda: eap_gp(model, task, steps=m.steps))))
    m.ran.extend(edge_probes)
    return out


def measure(
    model,
    task: Task,
    probes: Sequence[str],
    total: float,
    steps: int = 5,
    saturation: float = 0.99,
    progress_bar: bool | None = None,
) -> Measurements:
    """Run each estimate the ``probes`` compare once (a progress bar over them when ``progress_bar``).

    ``saturation``: :func:`pattern_probe`, AtP and the QK fix on q/k nodes; ``cancellation``:
    EAP (edge terms per source) and GradDrop on heads and MLPs; ``flat_gradient``: EAP and
    EAP-IG (``steps``); ``path_saturation``: EAP-IG with ``steps`` and ``4 x steps`` and EAP-GP.
    Edge probes need the model's edge graph (the caller drops them where it is unsupported);
    ``saturation`` is :func:`pattern_probe`'s threshold.
    """
    m = Measurements(total=float(total), steps=int(steps))
    graph = Graph.from_model(model) if adapter_for(model).supports("edges") else None
    stages = _stages(model, task, probes, m, graph, saturation)
    for label, run in progress(stages, total=len(stages), desc="diagnose: probes", enabled=progress_bar):
        t0 = time.perf_counter()
        run()
        m.seconds[label] = time.perf_counter() - t0
    return m
