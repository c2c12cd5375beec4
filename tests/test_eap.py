"""EAP: agreement with TransformerLens 4.3's edge attribution, edge/node consistency, edge cases."""

import pytest
import torch
from transformer_lens.tools.analysis.attribution_patching import EdgeAttributionConfig, attribution_patch

import workbook as wb
from tests._edge_util import random_case
from tests._tol import F64, assert_close, scale_of

WRITER = {"embed": lambda n: "embed", "attn_head_out": lambda n: f"L{n.layer}H{n.head}", "mlp_out": lambda n: f"MLP{n.layer}"}
READER = {
    "q_input": lambda n: f"L{n.layer}H{n.head}.q", "k_input": lambda n: f"L{n.layer}H{n.head}.k",
    "v_input": lambda n: f"L{n.layer}H{n.head}.v", "mlp_in": lambda n: f"MLP{n.layer}", "logits": lambda n: "logits",
}


def test_eap_matches_transformerlens_edge_attribution():
    model, task = random_case(seed=3, B=2, S=5, dtype=torch.float64)
    a, w = int(task.answer[0]), int(task.wrong[0])
    task = wb.Task(task.clean, task.corrupt, torch.tensor([a, a]), torch.tensor([w, w]))
    ours = wb.eap(model, task, direction="denoising")
    tl = attribution_patch(model, task.clean, task.corrupt, lambda lg: lg[0, -1, a] - lg[0, -1, w],
                           EdgeAttributionConfig(granularity="edge"))
    summed: dict[str, float] = {}
    for (src, dst), v in tl.edge_scores.items():
        name = f"{WRITER[src.kind](src)}->{READER[dst.kind](dst)}"
        summed[name] = summed.get(name, 0.0) + v
    assert set(summed) == set(ours.names)
    tl_vals = torch.tensor([summed[n] for n in ours.names], dtype=ours.values.dtype)
    assert ours.values.abs().max() > 1e-3
    assert_close(ours, tl_vals, F64)


def test_edges_out_of_a_source_sum_to_its_atp_score():
    model, task = random_case(seed=4, dtype=torch.float64)
    e = wb.eap(model, task)
    node = wb.atp(model, task, ("head", "mlp"))
    for src in ["L0H1", "L1H0", "MLP0", "MLP1"]:
        parts = [v for n, v in e.to_dict().items() if n.startswith(src + "->")]
        assert_close(sum(parts), node[src], F64, scale_of(parts, node[src]), src)


def test_identical_inputs_give_zero():
    model, task = random_case(seed=5)
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert wb.eap(model, same).values.abs().max() == 0


def test_bad_inputs_raise():
    model, task = random_case(seed=5)
    with pytest.raises(wb.WorkbookError):
        wb.eap(model, wb.Task(task.clean, task.corrupt + 100, task.answer, task.wrong))
    with pytest.raises(wb.WorkbookError):
        wb.Task(task.clean, task.corrupt[:, :-1], task.answer, task.wrong)


def _split_hook_reference(model, task):
    """EAP per example from TransformerLens' per-head hooks (autograd), ``[B, n_src, n_dst]``."""
    from workbook.arch.graph import Graph
    from workbook.attribution.eap import edge_scores_from_grads
    from workbook.core.runs import cache_activations, cache_activations_and_grads

    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, acts, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    return edge_scores_from_grads(graph.stack_sources(corr) - graph.stack_sources(acts), graph.stack_dest_grads(grads), graph)


@pytest.mark.parametrize("plan", ["default", "one block", "one unit per block"])
def test_contraction_blocks_are_exact_whatever_they_straddle(plan, monkeypatch):
    """Blocks of destination columns that straddle layers (rows past a column's own sources masked)
    give the split-hook reference, as do one block for everything and one block per unit."""
    import workbook.patching.edge_blocks as eb
    import workbook.patching.edge_scorer as es

    model, task = random_case(seed=6, B=2, S=5, n_layers=4, dtype=torch.float64)
    if plan == "one block":  # every matmul costs a fortune: everything in one block against every source
        monkeypatch.setattr(eb, "COLUMN_COST", 10**6)
    elif plan == "one unit per block":
        monkeypatch.setattr(es, "contraction_blocks", lambda units, n_up, max_cols: [(u[2], u[3], [u]) for u in units])
    sc = es.EdgeScorer(model)
    sc.B, sc.P = 2, 5
    layers = [{u[1] for u in units} for _, _, units in sc._blocks()]
    if plan == "default":
        assert any(len(ls) > 1 for ls in layers), layers  # the default plan straddles layers here
    if plan == "one block":
        assert len(layers) == 1
    got = wb.eap(model, task)
    want = _split_hook_reference(model, task)
    assert got.values.abs().max() > 1e-3
    assert_close(got.per_example, want[:, sc.graph.edge_mask], F64, what=plan)


def test_batch_mean_gradients_scaled_in_the_scorer_match_per_example_ones():
    from workbook.core.runs import cache_activations, cache_activations_and_grads, fused_attention
    from workbook.patching.edge_scorer import EdgeScorer

    model, task = random_case(seed=7, B=3, dtype=torch.float64)
    res = []
    for per_example in (True, False):
        sc = EdgeScorer(model)
        with fused_attention(model):
            _, corr = cache_activations(model, task.corrupt, sc.source_names())
            _, acts, grads = cache_activations_and_grads(
                model, task, sc.source_names() + sc.act_names(), sc.grad_names(), tokens=task.clean.repeat(2, 1),
                check=True if per_example else "logits", per_example=per_example,
            )
        if not per_example:  # the batch mean's gradients of 2 stacked copies: times 6 rows per example
            scale = 2 * task.batch_size
            g = grads["blocks.1.hook_mlp_in"]
            assert_close(g * scale, res[0][1]["blocks.1.hook_mlp_in"], F64)
        sc.set_deltas(corr, {n: acts[n][: task.batch_size] for n in sc.source_names()})
        sc.add_pass(acts, grads, 2, scale=1.0 if per_example else 2 * task.batch_size)
        res.append((sc.finish(), grads))
    assert res[0][0].abs().max() > 1e-3
    assert_close(res[1][0], res[0][0], F64)


@pytest.mark.parametrize(
    "hook, kind",
    [("blocks.1.attn.hook_k", "grad"), ("blocks.0.hook_mlp_in", "grad"), ("blocks.1.hook_resid_post", "grad"),
     ("blocks.1.hook_resid_pre", "act"), ("blocks.0.attn.hook_v", "act")],
)
def test_scorer_names_the_hook_of_a_non_finite_input(hook, kind):
    """Without the full check in the pass (``check="logits"``), ``add_pass`` still names the hook."""
    from workbook.core.runs import cache_activations_and_grads, fused_attention
    from workbook.patching.edge_scorer import EdgeScorer

    model, task = random_case(seed=8)
    sc = EdgeScorer(model)
    with fused_attention(model):
        _, acts, grads = cache_activations_and_grads(model, task, sc.act_names(), sc.grad_names(), check="logits",
                                                     per_example=False)
    t = (grads if kind == "grad" else acts)[hook].clone(memory_format=torch.contiguous_format)
    t.view(-1)[t.numel() // 2] = float("nan")
    (grads if kind == "grad" else acts)[hook] = t
    want = f"the gradient at {hook}" if kind == "grad" else f"activation {hook}"
    with pytest.raises(wb.NonFiniteError, match=want.replace(".", r"\.")):
        sc.add_pass(acts, grads, 1, scale=task.batch_size)


def test_nan_gradient_with_finite_activations_is_named_by_eap_and_eap_ig():
    """A forward that stays finite while its backward is NaN (d sqrt(x)/dx at 0): the first
    destination gradient upstream of it is named."""
    model, task = random_case(seed=9)

    def nan_backward(t, hook):
        return t + torch.sqrt(t * 0)  # the value is t; the gradient through it is 0 * inf = NaN

    for fn in (wb.eap, lambda m, t: wb.eap_ig(m, t, steps=2)):
        with model.hooks(fwd_hooks=[("blocks.1.hook_mlp_out", nan_backward)]):
            with pytest.raises(wb.NonFiniteError, match=r"the gradient at blocks\.0\.attn\.hook_q"):
                fn(model, task)
