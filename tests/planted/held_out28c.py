"""Held-out set #28, written blind on 2026-12-07 (round 28): part c.

check_eap_ig (chapter 03) and check_verify_top (chapter 05). Each wrong function was run next to the
chapter's own solution (copied into a scratch script) on the chapter's models: EAP-IG on the
flat_region specimen and on the zoo mixture model's ioi task (n=8, seed=0); verify_top_k on the zoo
mixture model's tasks (n=8, seed=0) with AtP head+MLP, AtP q/k and EAP edge estimates.
"""

from __future__ import annotations

import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.patching.edges import edge_patched_metric


# ----------------------------------------------------------------------------- check_eap_ig
def eapig_point_interpolated_at_the_last_position_only(model, task, steps: int) -> torch.Tensor:
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)

        # the answer is read at the last token, so I only move the last token's embedding along the path
        def hook(t, hook, target=target):
            out = t.clone()
            out[:, -1] = t[:, -1] + (target[:, -1] - t[:, -1]).detach()
            return out

        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_verify_top
def vt_mean_absolute_effect_over_prompt_pairs(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        # size of the effect on each prompt pair, averaged so opposite pairs don't cancel out
        effects.update({n: float(res.per_example[:, res.names.index(n)].abs().mean()) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_edges_patched_cumulatively_down_the_ranking(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    clean_m, _ = task.baselines(model)
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            # each edge is checked inside the circuit built so far: it and every edge ranked above it
            effects.update({n: edge_patched_metric(model, task, group[: i + 1]) - float(clean_m) for i, n in enumerate(group)})
            continue
        res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def vt_edges_scored_by_leaving_each_out_of_the_top_k(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            # an edge's effect is what the circuit of the top edges loses without it
            everything = edge_patched_metric(model, task, group)
            effects.update({n: everything - edge_patched_metric(model, task, [m for m in group if m != n]) for n in group})
            continue
        res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


MISTAKES = [
    ("check_eap_ig", "eapig_point_interpolated_at_the_last_position_only",
     r"(?i)(last (token|position)|final (token|position)|only one position|every (token |input )?position|all (the )?positions|other positions|each position|whole (prompt|sequence))",
     eapig_point_interpolated_at_the_last_position_only),
    ("check_verify_top", "vt_mean_absolute_effect_over_prompt_pairs",
     r"(?i)(abs(olute)?\b.*(per[- ](example|prompt)|prompt[- ]pair|each (example|pair))|(per[- ](example|prompt)|prompt[- ]pair|each (example|pair)).*abs(olute)?|\|effect\||magnitude|signed mean|cancel)",
     vt_mean_absolute_effect_over_prompt_pairs),
    ("check_verify_top", "vt_edges_patched_cumulatively_down_the_ranking",
     r"(?i)(cumulativ|jointly|together|at once|higher[- ]ranked|prefix|one (edge )?at a time|individually|separately|on its own|alone|circuit)",
     vt_edges_patched_cumulatively_down_the_ranking),
    ("check_verify_top", "vt_edges_scored_by_leaving_each_out_of_the_top_k",
     r"(?i)(leav(e|ing)[- ]one[- ]out|left out|without (it|the edge)|jointly|together|at once|rest of the (top|circuit)|other (top[- ]?k )?edges|one (edge )?at a time|individually|separately|on its own|alone|circuit)",
     vt_edges_scored_by_leaving_each_out_of_the_top_k),
]
