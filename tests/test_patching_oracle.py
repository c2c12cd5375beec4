"""Ground truth against TransformerLens 4.3: node patching vs ``transformer_lens.patching``,
edge patching vs TL's edge-ablation (``faithfulness``) machinery and a brute-force hook."""

import pytest
import torch
import transformer_lens.patching as tlp
from transformer_lens.tools.analysis.attribution_patching import Node, faithfulness

import workbook as wb
from tests._tol import F64, assert_close, scale_of
from workbook.arch.graph import Graph


def random_task(d_vocab=50, B=5, S=9, seed=0, n_corrupt=4):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(1, d_vocab, (B, S), generator=g)
    corrupt = clean.clone()
    corrupt[:, :n_corrupt] = torch.randint(1, d_vocab, (B, n_corrupt), generator=g)
    return wb.Task(clean, corrupt, clean[:, 2], corrupt[:, 2], name="random")


@pytest.fixture(scope="module", params=[0, 1])
def setup(request):
    seed = request.param  # float64: every comparison below is an exactness claim (tests/README.md)
    model = wb.build_gpt2(seed=seed, n_layers=2, d_model=32, n_heads=4, d_vocab=50, d_mlp=64, dtype=torch.float64)
    task = random_task(seed=seed)
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(task.clean)
    corrupt_value = task.baselines(model)[1]
    return model, task, clean_cache, corrupt_value


#: transformer_lens.patching stores its results in a float32 tensor: half a float32 ulp of a value
#: is <= 6e-8 of it, so float64 models agree to 1e-7 of the largest value
TL_STORE = 1e-7


TL_ALL_POS = {
    "head": tlp.get_act_patch_attn_head_out_all_pos,
    "q": tlp.get_act_patch_attn_head_q_all_pos,
    "k": tlp.get_act_patch_attn_head_k_all_pos,
    "v": tlp.get_act_patch_attn_head_v_all_pos,
    "pattern": tlp.get_act_patch_attn_head_pattern_all_pos,
}


@pytest.mark.parametrize("what", sorted(TL_ALL_POS))
def test_heads_all_positions_match_transformer_lens(setup, what):
    model, task, clean_cache, corrupt_value = setup
    ours = wb.patch_nodes(model, task, what, direction="denoising")
    with torch.no_grad():
        theirs = TL_ALL_POS[what](model, task.corrupt, clean_cache, task.metric_value)  # [L, H]
    # TL returns the patched metric; ours is the effect (patched - corrupt baseline).
    assert_close(ours.values.reshape(theirs.shape) + corrupt_value, theirs, TL_STORE)


TL_BY_POS = {
    "head": tlp.get_act_patch_attn_head_out_by_pos,
    "q": tlp.get_act_patch_attn_head_q_by_pos,
    "v": tlp.get_act_patch_attn_head_v_by_pos,
}


@pytest.mark.parametrize("what", sorted(TL_BY_POS))
def test_heads_by_position_match_transformer_lens(setup, what):
    model, task, clean_cache, corrupt_value = setup
    L, H, S = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    ours = wb.patch_nodes(model, task, what, per_position=True, direction="denoising")
    with torch.no_grad():
        theirs = TL_BY_POS[what](model, task.corrupt, clean_cache, task.metric_value)  # [L, pos, H]
    mine = ours.values.reshape(L, H, S).permute(0, 2, 1)
    assert_close(mine + corrupt_value, theirs, TL_STORE)


def test_pattern_by_query_row_matches_transformer_lens(setup):
    model, task, clean_cache, corrupt_value = setup
    L, H, S = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    ours = wb.patch_nodes(model, task, "pattern", per_position=True, direction="denoising")
    with torch.no_grad():
        theirs = tlp.get_act_patch_attn_head_pattern_by_pos(model, task.corrupt, clean_cache, task.metric_value)
    assert_close(ours.values.reshape(L, H, S) + corrupt_value, theirs, TL_STORE)


def test_mlp_by_position_matches_transformer_lens(setup):
    model, task, clean_cache, corrupt_value = setup
    ours = wb.patch_nodes(model, task, "mlp", per_position=True, direction="denoising")
    with torch.no_grad():
        theirs = tlp.get_act_patch_mlp_out(model, task.corrupt, clean_cache, task.metric_value)  # [L, pos]
    assert_close(ours.values.reshape(theirs.shape) + corrupt_value, theirs, TL_STORE)


def test_noising_is_denoising_of_swapped_task(setup):
    model, task, *_ = setup
    a = wb.patch_nodes(model, task, "head", direction="noising")
    b = wb.patch_nodes(model, task.swapped(), "head", direction="denoising")
    assert_close(a, b, F64)


def test_neurons_match_a_plain_hook_loop(setup):
    model, task, *_ = setup
    names = ["L0N3", "L1N0", "L1N17@4"]
    ours = wb.patch_nodes(model, task, "neuron", nodes=names[:2])
    ours_pos = wb.patch_nodes(model, task, "neuron", per_position=True, nodes=names[2:])
    with torch.no_grad():
        _, corr = model.run_with_cache(task.corrupt)
        base = task.metric_value(model(task.clean))
        for name, got in ((names[0], ours[names[0]]), (names[1], ours[names[1]]), (names[2], ours_pos[names[2]])):
            p = wb.arch.graph.parse_node(name)
            hook = f"blocks.{p['layer']}.mlp.hook_post"
            pos = slice(None) if p["pos"] is None else p["pos"]

            def fn(act, hook, p=p, pos=pos, hook_name=hook):
                act = act.clone()
                act[:, pos, p["neuron"]] = corr[hook_name][:, pos, p["neuron"]]
                return act

            want = task.metric_value(model.run_with_hooks(task.clean, fwd_hooks=[(hook, fn)])) - base
            assert_close(got, float(want), F64, scale_of(base), name)  # a difference of metrics of size |base|


def test_per_example_effects_average_to_values(setup):
    model, task, *_ = setup
    s = wb.patch_nodes(model, task, "mlp")
    assert_close(s.per_example.mean(0), s, F64)
    assert s.per_example.shape == (task.batch_size, len(s))


def test_small_max_rows_gives_identical_results(setup):
    model, task, *_ = setup
    a = wb.patch_nodes(model, task, "q", max_rows=5)  # one patch per forward
    b = wb.patch_nodes(model, task, "q", max_rows=4096)
    scale = scale_of(task.baselines(model))  # effects are differences of metrics of this size
    assert_close(a, b, F64, scale, "nodes")
    e1 = wb.patch_edges(model, task, max_rows=5)
    e2 = wb.patch_edges(model, task, max_rows=4096)
    assert_close(e1, e2, F64, scale, "edges")


# ---------------------------------------------------------------------------- edges
def _tl_node(name, graph, pos, n_layers):
    if name == "embed":
        return Node("embed", pos)
    if name == "logits":
        return Node("logits", pos, layer=n_layers - 1)
    p = wb.arch.graph.parse_node(name)
    if p["kind"] == "mlp":
        return Node("mlp_out", pos, layer=p["layer"])
    if p["kind"] == "head":
        return Node("attn_head_out", pos, layer=p["layer"], head=p["head"])
    return Node(f"{p['kind']}_input", pos, layer=p["layer"], head=p["head"])


def _tl_mlp_dest(name, pos):
    p = wb.arch.graph.parse_node(name)
    return Node("mlp_in", pos, layer=p["layer"])


def test_edge_patching_matches_transformer_lens_edge_ablation():
    """One workbook edge = the TL edges at every position; TL ablates them with the corrupt write."""
    model = wb.build_gpt2(seed=3, n_layers=2, d_model=32, n_heads=2, d_vocab=40, d_mlp=64, dtype=torch.float64)
    task = random_task(d_vocab=40, B=1, S=6, seed=3)
    graph = Graph.from_model(model)
    ours = wb.patch_edges(model, task)
    clean_v, corrupt_v = task.baselines(model)
    scale = scale_of([clean_v, corrupt_v])  # effects are differences of metrics of this size
    L, S = graph.n_layers, task.seq_len
    metric_fn = lambda logits: task.metric_value(logits)  # noqa: E731

    # every TL edge, to build "all but these" circuits
    def tl_edges_for(edge):
        src, dst = edge.split("->")
        out = []
        for p in range(S):
            u = _tl_node(src, graph, p, L)
            v = _tl_mlp_dest(dst, p) if dst.startswith("MLP") else _tl_node(dst, graph, p, L)
            out.append((u, v))
        return out

    all_tl = [e for edge in graph.edges for e in tl_edges_for(edge)]
    for edge in ["embed->L0H1.q", "embed->MLP1", "L0H0->L1H1.k", "L0H1->MLP0", "MLP0->logits", "L1H0->logits", "MLP1->logits"]:
        drop = set(tl_edges_for(edge))
        circuit = [e for e in all_tl if e not in drop]
        res = faithfulness(model, task.clean, task.corrupt, metric_fn, circuit)
        tl_patched = res.corrupt_metric + res.recovered * (res.full_metric - res.corrupt_metric)
        assert_close(res.full_metric, clean_v, F64, scale, "TL's clean metric")
        assert_close(tl_patched - clean_v, ours[edge], F64, scale, edge)


def test_single_edge_patch_equals_joint_patch_of_one_edge():
    model = wb.build_gpt2(seed=4, n_layers=3, d_model=32, n_heads=2, d_vocab=40, d_mlp=64, dtype=torch.float64)
    task = random_task(d_vocab=40, B=3, S=7, seed=4)
    ours = wb.patch_edges(model, task)
    clean_v, corrupt_v = task.baselines(model)
    scale = scale_of([clean_v, corrupt_v])  # effects are differences of metrics of this size
    for edge in ["embed->L2H1.v", "L0H0->L1H0.q", "MLP1->L2H0.k", "L2H1->MLP2", "embed->logits"]:
        joint = wb.patching.edge_patched_metric(model, task, [edge]) - clean_v
        assert_close(joint, ours[edge], F64, scale, edge)
    # patching every edge jointly reproduces the corrupt run; none reproduces the clean run
    everything = wb.patching.edge_patched_metric(model, task, Graph.from_model(model).edge_mask)
    nothing = wb.patching.edge_patched_metric(model, task, [])
    assert_close(everything, corrupt_v, F64, scale, "every edge")
    assert_close(nothing, clean_v, F64, scale, "no edge")


def test_edge_denoising_direction(setup):
    model, task, *_ = setup
    a = wb.patch_edges(model, task, direction="denoising")
    b = wb.patch_edges(model, task.swapped())
    assert_close(a, b, F64)


def test_identical_inputs_give_zero_effects(setup):
    model, task, *_ = setup
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert wb.patch_nodes(model, same, "head").values.abs().max() == 0
    assert wb.patch_edges(model, same).values.abs().max() == 0
