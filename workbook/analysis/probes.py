"""Cheap probes behind :func:`workbook.analysis.diagnose.diagnose`: the exact pattern change of a patched
query/key, a source's outgoing edge terms, and predicted false negatives of a suspect estimate.

Each probe costs at most two cached forward passes and no patching; the diagnoser turns their
numbers into findings and then verifies those by activation patching. Sign convention: noising,
``effect(n) = M(clean with n := corrupt) - M(clean)``.
"""

from __future__ import annotations

import torch

from workbook.arch import adapter_for
from workbook.arch.graph import Graph
from workbook.attribution.qk_fix import attention_scores, qk_fix_inputs, qk_hooks
from workbook.core.runs import cache_activations
from workbook.core.scores import Scores, important
from workbook.core.task import Task

__all__ = ["pattern_probe", "source_totals", "predicted_misses"]


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
