import pytest

from workbook.arch.graph import Graph, parse_node


def edge_count(L, H):
    """Hanna et al.'s edge count for sequential blocks (algorithms.md §4.1)."""
    return sum(3 * H * (1 + l * (H + 1)) + (1 + l * (H + 1) + H) for l in range(L)) + 1 + L * (H + 1)


@pytest.mark.parametrize("L,H", [(1, 1), (2, 4), (4, 8), (12, 12)])
def test_edge_count_matches_formula(L, H):
    g = Graph(L, H)
    assert g.n_edges == edge_count(L, H) == len(g.edges)


def test_gpt2_small_edge_count():
    assert Graph(12, 12).n_edges == 32491


def test_structure():
    g = Graph(2, 2)
    assert "L0H0->MLP0" in g.edges  # heads feed their own layer's MLP
    assert "L0H0->L0H1.q" not in g.edges  # but not heads of the same layer
    assert "MLP0->MLP0" not in g.edges and "MLP0->L1H1.k" in g.edges
    assert all(f"{s}->logits" in g.edges for s in g.sources)
    assert g.source_hook("L1H1") == ("blocks.1.attn.hook_result", 1)
    assert g.dest_hook("L1H0.v") == ("blocks.1.hook_v_input", 0)
    assert g.dest_hook("logits") == ("blocks.1.hook_resid_post", None)


def test_parse_node():
    assert parse_node("L1H2.q@3") == {"name": "L1H2.q@3", "pos": 3, "layer": 1, "head": 2, "neuron": None, "kind": "q", "kv": False}
    assert parse_node("L1KV0.k") == {"name": "L1KV0.k", "pos": None, "layer": 1, "head": 0, "neuron": None, "kind": "k", "kv": True}
    assert parse_node("L0N17")["neuron"] == 17
    assert parse_node("MLP3")["kind"] == "mlp"
