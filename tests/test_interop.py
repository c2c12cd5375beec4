"""Scores and circuits in hannamw/EAP-IG's names and graph JSON (workbook.analysis.interop).

The expected names and JSON layout are written out by hand from EAP-IG's ``graph.py``
(commit 795f560), independently of the code under test.
"""

import json
import math

import pytest
import torch

import workbook as wb
from workbook.analysis.circuits import Circuit, greedy, top_n
from workbook.analysis.interop import (
    EAP_IG_VERSION,
    eap_ig_edge_names,
    from_eap_ig_json,
    scores_from_eap_ig,
    scores_to_eap_ig,
)
from workbook.arch.graph import Graph


@pytest.fixture(scope="module")
def setup():
    model = wb.build_gpt2(seed=1, n_layers=2, d_model=16, n_heads=2, d_vocab=30, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    clean = torch.randint(1, 30, (3, 5), generator=g)
    corrupt = clean.clone()
    corrupt[:, 1] = torch.randint(1, 30, (3,), generator=g)
    task = wb.Task(clean, corrupt, clean[:, 1], corrupt[:, 1])
    return model, task, Graph.from_model(model)


@pytest.mark.parametrize("ours, theirs", [
    ("embed", "input"), ("logits", "logits"), ("L0H1", "a0.h1"), ("L3H12", "a3.h12"), ("MLP2", "m2"),
    ("L1H0.q", "a1.h0<q>"), ("L1H0.k", "a1.h0<k>"), ("L1H0.v", "a1.h0<v>"),
    ("embed->L0H1.q", "input->a0.h1<q>"), ("L0H1->L1H2.k", "a0.h1->a1.h2<k>"), ("L0H1->MLP1", "a0.h1->m1"),
    ("MLP1->logits", "m1->logits"), ("embed->logits", "input->logits"),
])
def test_names_both_ways(ours, theirs):
    assert wb.to_eap_ig_name(ours) == theirs
    assert wb.from_eap_ig_name(theirs) == ours


@pytest.mark.parametrize("bad", ["L1H2@3", "L0N7", "head", "L1H2.z", "embed->"])
def test_names_without_an_eap_ig_equivalent_are_named(bad):
    with pytest.raises(wb.WorkbookError, match="is not a workbook node name"):
        wb.to_eap_ig_name(bad)
    with pytest.raises(wb.WorkbookError, match="is not a EAP-IG node name"):
        wb.from_eap_ig_name("a0.h1<x>")


def test_edge_list_matches_eap_ig_by_hand():
    # EAP-IG Graph.from_model, 1 layer x 1 head, sequential block: written out by hand
    assert eap_ig_edge_names(1, 1) == [
        "input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "input->m0", "a0.h0->m0",
        "input->logits", "a0.h0->logits", "m0->logits",
    ]
    # parallel attention + MLP: heads of a layer do not feed its MLP
    assert eap_ig_edge_names(1, 1, parallel_attn_mlp=True) == [
        "input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "input->m0",
        "input->logits", "a0.h0->logits", "m0->logits",
    ]
    # counts: n_edges formula from EAP-IG (GPT-2 small: 32,491)
    L, H = 12, 12
    assert len(eap_ig_edge_names(L, H)) == sum(3 * H * (1 + l * (H + 1)) + 1 + l * (H + 1) + H for l in range(L)) + 1 + L * (H + 1) == 32491
    graph = Graph(3, 4)
    assert sorted(eap_ig_edge_names(3, 4)) == sorted(wb.to_eap_ig_name(e) for e in graph.edges)


def test_json_layout(setup, tmp_path):
    model, task, graph = setup
    scores = wb.eap(model, task)
    circuit = greedy(scores, 12, graph)
    path = tmp_path / "g.json"
    d = wb.to_eap_ig_json(path, model, scores, circuit)
    assert json.loads(path.read_text()) == d
    assert set(d) == {"cfg", "nodes", "edges"}
    assert d["cfg"] == {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": False, "d_model": 16}
    assert list(d["nodes"]) == ["input", "a0.h0", "a0.h1", "m0", "a1.h0", "a1.h1", "m1", "logits"]
    assert all(set(v) == {"in_graph"} for v in d["nodes"].values())
    assert d["nodes"]["logits"] == {"in_graph": True}
    assert list(d["edges"]) == eap_ig_edge_names(2, 2)
    e = d["edges"]["a0.h1->a1.h0<q>"]
    assert set(e) == {"score", "in_graph"} and e["score"] == scores["L0H1->L1H0.q"]  # float64 survives JSON exactly
    assert sum(v["in_graph"] for v in d["edges"].values()) == circuit.n_edges
    # node in_graph = has an outgoing and (input excepted) an incoming circuit edge
    kept = [wb.from_eap_ig_name(n) for n, v in d["edges"].items() if v["in_graph"]]
    for node, v in d["nodes"].items():
        if node == "logits":
            continue
        ours = wb.from_eap_ig_name(node)
        has_out = any(k.split("->")[0] == ours for k in kept)
        has_in = ours == "embed" or any(k.split("->")[1].split(".")[0] == ours for k in kept)
        assert v["in_graph"] == (has_out and has_in), node


def test_round_trip_is_exact(setup, tmp_path):
    model, task, graph = setup
    scores = wb.eap(model, task)
    nodes = wb.atp(model, task, ("head", "mlp"))
    for circuit in (greedy(scores, 10, graph), top_n(scores, 25, graph, pruned=False), Circuit.empty(graph), Circuit.full(graph)):
        wb.to_eap_ig_json(tmp_path / "g.json", model, scores, circuit, node_scores=nodes)
        back = from_eap_ig_json(tmp_path / "g.json")
        assert torch.equal(back.circuit.mask, circuit.mask) and back.circuit.graph == graph
        assert back.scores.values.dtype == torch.float64
        assert torch.equal(back.scores.select(scores.names).values, scores.values)  # float64 survives JSON exactly
        assert torch.equal(back.node_scores.select(nodes.names).values, nodes.values)
        assert "embed" not in back.node_scores  # embed was not scored: NaN in the file, absent here
    d = wb.to_eap_ig_json(None, model, scores, node_scores=nodes)
    assert math.isnan(d["nodes"]["input"]["score"]) and "score" not in d["nodes"]["logits"]
    # a circuit chosen from imported scores is the same circuit
    back = from_eap_ig_json(d)
    assert torch.equal(greedy(back.scores, 10, graph).mask, greedy(scores, 10, graph).mask)


def test_loss_sign_and_plain_score_renaming(setup):
    model, task, graph = setup
    scores = wb.eap(model, task)
    d = wb.to_eap_ig_json(None, model, scores, loss=True)
    assert d["edges"]["input->a0.h0<q>"]["score"] == -scores["embed->L0H0.q"]
    assert torch.equal(from_eap_ig_json(d, loss=True).scores.select(scores.names).values, scores.values)
    named = scores_to_eap_ig(scores)
    assert named.names[0] == "input->a0.h0<q>" and torch.equal(named.values, scores.values)
    assert scores_from_eap_ig(named).names == scores.names
    plain = scores_from_eap_ig({"a0.h1": 0.5, "m1": -0.25, "a1.h0<k>": 1.0})
    assert plain.kind == "node" and plain.to_dict() == {"L0H1": 0.5, "MLP1": -0.25, "L1H0.k": 1.0}
    assert "795f560" in EAP_IG_VERSION


def test_bad_files_and_mismatches_are_named(setup, tmp_path):
    model, task, graph = setup
    scores = wb.eap(model, task)
    with pytest.raises(wb.WorkbookError, match="missing keys"):
        from_eap_ig_json({"cfg": {}, "nodes": {}})
    d = wb.to_eap_ig_json(None, model, scores)
    with pytest.raises(wb.WorkbookError, match="is for 2 layers x 2 heads"):
        from_eap_ig_json(d, graph=Graph(3, 2))
    with pytest.raises(wb.WorkbookError, match="parallel_attn_mlp=True"):
        from_eap_ig_json(dict(d, cfg=dict(d["cfg"], parallel_attn_mlp=True)))
    with pytest.raises(wb.WorkbookError, match="lack 1 edges"):
        wb.to_eap_ig_json(None, model, scores.select(scores.names[1:]))
    with pytest.raises(wb.WorkbookError, match="needs d_model"):
        wb.to_eap_ig_json(None, graph, scores)
    with pytest.raises(wb.WorkbookError, match="edge scores"):
        wb.to_eap_ig_json(None, model, wb.atp(model, task))
    with pytest.raises(wb.WorkbookError, match="not an edge"):
        from_eap_ig_json(dict(d, edges={"a1.h0->m0": {"score": 1.0, "in_graph": True}}))
