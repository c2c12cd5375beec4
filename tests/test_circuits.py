"""Circuit selection, pruning, faithfulness and overlap."""

import torch
from transformer_lens.tools.analysis.attribution_patching import Node
from transformer_lens.tools.analysis.attribution_patching import faithfulness as tl_faithfulness

import workbook as wb
from tests._edge_util import random_case
from tests._tol import F64, assert_close
from workbook.analysis import circuits as C
from workbook.core.runs import baselines


def setup_case(seed=1, B=3, dtype=None):
    model, task = random_case(seed=seed, B=B, dtype=dtype)
    return model, task, wb.Graph.from_model(model), wb.eap(model, task)


def clear_gap(model, task) -> tuple[float, float, float]:
    """``(M(clean), M(corrupt), scale)``, asserting the gap is >= 10% of the scale (well-conditioned faithfulness)."""
    clean_v, corrupt_v = baselines(model, task)
    scale = max(abs(clean_v), abs(corrupt_v))
    assert abs(clean_v - corrupt_v) > 0.1 * scale, "this case's faithfulness denominator is ill-conditioned"
    return clean_v, corrupt_v, scale


def test_full_circuit_is_the_clean_run_and_empty_the_corrupt_run():
    """float64, on a case with a clear clean/corrupt gap (seed 2: 19% of |M|)."""
    model, task, graph, _ = setup_case(seed=2, dtype=torch.float64)
    clean_v, corrupt_v, scale = clear_gap(model, task)
    assert_close(C.evaluate(model, task, C.Circuit.full(graph)), clean_v, F64, scale, "full circuit")
    assert_close(C.evaluate(model, task, C.Circuit.empty(graph)), corrupt_v, F64, scale, "empty circuit")


def test_full_is_one_and_empty_is_zero():
    """float32, on the seed-1 case whose gap is 0.1% of the logits (the ratio amplifies rounding ~1000x)."""
    model, task, graph, _ = setup_case()
    assert C.faithfulness(model, task, C.Circuit.full(graph)) == 1.0  # exact by definition (circuits.faithfulness)
    assert C.faithfulness(model, task, C.Circuit.empty(graph)) == 0.0  # exact by definition (circuits.faithfulness)


def test_greedy_is_connected_to_logits():
    _, _, graph, scores = setup_case()
    for n in (3, 10, 30):
        c = C.greedy(scores, n, graph)
        assert 0 < c.n_edges <= n
        # every kept source has a path to logits: walk backwards from logits
        reach = {"logits"}
        changed = True
        while changed:
            changed = False
            for e in c.edges:
                s, d = e.split("->")
                if d.split(".")[0] in reach and s not in reach:
                    reach.add(s)
                    changed = True
        assert {e.split("->")[0] for e in c.edges} <= reach


def test_prune_removes_dangling_edges():
    _, _, graph, _ = setup_case()
    c = C.Circuit.from_edges(graph, ["L0H0->L1H0.q"])  # L1H0 has no way out
    assert C.prune(c.mask, graph).sum() == 0
    c = C.Circuit.from_edges(graph, ["L0H0->logits"])  # L0H0 has no input
    assert C.prune(c.mask, graph).sum() == 0
    c = C.Circuit.from_edges(graph, ["embed->L0H0.v", "L0H0->logits"])
    assert C.prune(c.mask, graph).sum() == 2


def test_top_n_keeps_at_most_n():
    _, _, graph, scores = setup_case()
    c = C.top_n(scores, 12, graph)
    assert c.n_edges <= 12


def test_curve_and_overlap():
    model, task, graph, scores = setup_case(seed=2, dtype=torch.float64)
    clear_gap(model, task)
    xs, ys = C.faithfulness_curve(model, task, scores, [5, 400])
    # 400 >= every edge: the full circuit, whose metric is M(clean) to F64 * scale; the ratio
    # divides that error by the gap (> 0.1 scale)
    assert xs[0] <= 5 and xs[-1] == graph.n_edges and abs(ys[-1] - 1.0) <= F64 * 10
    a = C.greedy(scores, 10, graph)
    ov = C.overlap(a, a)
    assert ov["edge_jaccard"] == 1.0 and ov["node_recall"] == 1.0
    assert C.overlap(a, C.Circuit.full(graph))["edge_recall"] < 1.0


def test_batched_evaluation_matches_one_at_a_time():
    model, task, graph, scores = setup_case(seed=2, dtype=torch.float64)
    circuits = [C.greedy(scores, n, graph) for n in (4, 9, 25)] + [C.top_n(scores, 15, graph)]
    batched = C.evaluate_many(model, task, torch.stack([c.mask for c in circuits]))
    single = torch.tensor([C.evaluate(model, task, c) for c in circuits], dtype=batched.dtype)
    assert_close(batched, single, F64)
    assert single.std() > 1e-4  # the circuits differ


def _tl_node(name, pos, L):
    if name == "embed":
        return Node("embed", pos)
    if name == "logits":
        return Node("logits", pos, L - 1)
    if name.startswith("MLP"):
        return Node("mlp_out", pos, int(name[3:]))
    lh, _, kind = name.partition(".")
    l, h = lh[1:].split("H")
    return Node(f"{kind}_input" if kind else "attn_head_out", pos, int(l), int(h))


def _tl_reader(name, pos, L):
    if name.startswith("MLP"):
        return Node("mlp_in", pos, int(name[3:]))
    return _tl_node(name, pos, L)


def test_agrees_with_transformerlens_faithfulness():
    model, task, graph, scores = setup_case(seed=7, B=1, dtype=torch.float64)
    circuit = C.greedy(scores, 15, graph)
    L, S = graph.n_layers, task.seq_len
    tl_edges = [(_tl_node(e.split("->")[0], p, L), _tl_reader(e.split("->")[1], p, L)) for e in circuit.edges for p in range(S)]
    a, w = int(task.answer[0]), int(task.wrong[0])
    tl = tl_faithfulness(model, task.clean, task.corrupt, lambda lg: lg[0, -1, a] - lg[0, -1, w], tl_edges)
    # compare the circuit's metric (scale: the metrics), then the ratios (error / gap)
    clean_v, corrupt_v = baselines(model, task)
    scale = max(abs(clean_v), abs(corrupt_v))
    assert_close([tl.full_metric, tl.corrupt_metric], [clean_v, corrupt_v], F64, scale, "TL baselines")
    tl_metric = tl.corrupt_metric + tl.recovered * (tl.full_metric - tl.corrupt_metric)
    assert_close(C.evaluate(model, task, circuit), tl_metric, F64, scale, "circuit metric")
    ours = C.faithfulness(model, task, circuit)
    assert abs(ours - tl.recovered) <= F64 * scale / abs(clean_v - corrupt_v)
    assert 0.01 < abs(ours) and abs(ours - 1) > 0.01  # a non-trivial circuit


def test_edges_to_reach_is_the_smallest_evaluated_circuit_at_the_level():
    from workbook.analysis.circuits import edges_to_reach

    assert edges_to_reach([5, 10, 20, 40], [0.1, 0.85, 0.7, 0.95]) == 10
    assert edges_to_reach([5, 10, 20, 40], [0.1, 0.85, 0.7, 0.95], level=0.9) == 40
    assert edges_to_reach([5, 10], [0.1, 0.2]) is None


def test_format_curves_and_reach_print_what_the_chapters_compare():
    from workbook.analysis.circuits import format_curves, format_reach

    curves = {"EAP": ([5, 10], [-0.001, 0.85]), "EAP-IG": ([5, 10], [0.2, 0.5])}
    assert format_curves(curves) == "EAP            5:0.00 10:0.85\nEAP-IG         5:0.20 10:0.50"
    reach, text = format_reach(curves, 20)
    assert reach == {"EAP": 10, "EAP-IG": None}
    assert text.splitlines() == ["EAP            smallest evaluated circuit with faithfulness >= 0.8: 10",
                                 "EAP-IG         smallest evaluated circuit with faithfulness >= 0.8: none up to 20 requested edges"]


def test_masked_forward_direct_form_matches_edge_patching():
    """A circuit of all edges but a few patches only those (the masked forward's direct sum, few rows):
    float64, against exact edge patching (workbook.patching.edges.patch_edges, another implementation)."""
    model, task, graph, scores = setup_case(seed=2, dtype=torch.float64)
    clean_v, _, scale = clear_gap(model, task)
    names = scores.order()[:3]
    truth = wb.patch_edges(model, task, edges=names)
    masks = torch.stack([C.Circuit.full(graph).mask & ~C.Circuit.from_edges(graph, [e]).mask for e in names])
    got = C.evaluate_many(model, task, masks)
    assert_close(got - clean_v, [truth[e] for e in names], F64, scale, "full minus one edge")
    assert max(abs(truth[e]) for e in names) > 1e-3 * scale  # the edges matter


def test_faithfulness_reuses_the_reference_runs():
    """Passing the clean/corrupt runs (reference_runs) changes nothing: the same numbers, bit for bit (float64)."""
    model, task, graph, scores = setup_case(seed=2, dtype=torch.float64)
    base, corr = C.reference_runs(model, task)
    # M(corrupt) comes from the corrupt run that caches the sources (shared q/k/v input): equal up to rounding
    assert_close(list(base), list(baselines(model, task)), F64)
    for n in (3, 12):
        circuit = C.greedy(scores, n, graph)
        alone = C.faithfulness(model, task, circuit)
        assert C.faithfulness(model, task, circuit, base, corr) == alone
        assert C.faithfulness(model, task, circuit, base) == alone
        assert alone == float(task.normalize(C.evaluate(model, task, circuit), baselines=base))
    sizes = (3, 12)
    _, curve = C.faithfulness_curve(model, task, scores, sizes)
    # the curve evaluates its circuits stacked in one batched forward: equal up to float64 rounding
    assert_close(curve, [C.faithfulness(model, task, C.greedy(scores, n, graph), base, corr) for n in sizes], F64)
