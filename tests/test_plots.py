"""Every course figure has a title and labelled axes; circuitsvis tokens read as separate words."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from workbook.core.scores import Scores  # noqa: E402
from workbook.course import plots  # noqa: E402


def _labelled(ax):
    return bool(ax.get_title()) and bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_every_plot_has_a_title_and_axis_labels():
    truth = Scores(list("abc"), torch.tensor([1.0, -2.0, 0.5]), method="activation patching")
    est = truth.with_values(truth.values * 0.5, method="AtP")
    assert _labelled(plots.scatter_vs_truth(est, truth))
    assert _labelled(plots.bar_compare(["a", "b"], {"truth": [1, 2], "AtP": [0.5, 1]}))
    assert _labelled(plots.faithfulness_curves({"EAP": ([1, 2], [0.1, 0.5])}))
    plt.close("all")


def test_attention_patterns_static_labels_and_circuitsvis_tokens(monkeypatch):
    from workbook.models.specimens import build

    model, task = build("flat_region")  # its vocabulary has "<bos>", which HTML would swallow
    fig = plots.attention_patterns(model, task, layer=0, static=True)
    assert fig._suptitle is not None and fig._suptitle.get_text()
    assert all(ax.get_title() and ax.get_xlabel() for ax in fig.axes) and fig.axes[0].get_ylabel()
    assert fig.number not in plt.get_fignums(), "closed: a notebook shows it once, as the cell's value"
    plt.close("all")
    seen = {}

    def fake(tokens, attention):
        seen["tokens"] = tokens
        return "html"

    import circuitsvis.attention

    monkeypatch.setattr(circuitsvis.attention, "attention_patterns", fake)
    plots.attention_patterns(model, task, layer=0, static=False)
    assert seen["tokens"][0] == "\u00a0&lt;bos&gt;\u00a0"
    assert all(t.startswith("\u00a0") and t.endswith("\u00a0") for t in seen["tokens"])


def _line_widths(ax):
    return sorted(round(line.get_linewidth(), 6) for line in ax.lines)


def test_draw_circuit_places_nodes_by_layer_and_weights_edges_by_score():
    from workbook.analysis.circuits import Circuit
    from workbook.arch.graph import Graph

    graph = Graph(n_layers=2, n_heads=3)
    edges = ["embed->L0H1.q", "L0H1->L1H2.v", "L0H1->MLP0", "MLP1->logits"]
    values = torch.tensor([4.0, -2.0, 1.0, 0.5])
    scores = Scores(edges, values)
    ax = plots.draw_circuit(scores, graph)
    assert _labelled(ax)
    # one line per edge; width 0.4 + 3.6 |w| / max |w|, sign as colour
    assert _line_widths(ax) == sorted(round(0.4 + 3.6 * abs(v) / 4.0, 6) for v in values.tolist())
    colours = {round(line.get_linewidth(), 6): line.get_color() for line in ax.lines}
    assert colours[round(0.4 + 3.6 * 0.5, 6)] == "tab:red" and colours[4.0] == "tab:blue"
    # the edge into L1H2's v port ends below the head's centre; the q edge above L0H1's
    ends = {(float(line.get_xdata()[0]), float(line.get_xdata()[-1])): line for line in ax.lines}
    v_edge, q_edge = ends[(1.0, 3.0)], ends[(0.0, 1.0)]  # L0H1 (x 1, y 0) -> L1H2 (x 3, y -1); embed -> L0H1
    assert (float(v_edge.get_ydata()[0]), float(v_edge.get_ydata()[-1])) == (0.0, -1.0 - 0.18)  # v port, below
    assert list(map(float, q_edge.get_ydata())) == [0.0, 0.0 + 0.18]  # neighbouring columns: straight, q port
    # L0H1 -> L1H2 skips MLP0's column: it bows upwards, above its chord, so it does not run through MLP0
    xs, ys = list(map(float, v_edge.get_xdata())), list(map(float, v_edge.get_ydata()))
    chord = lambda x: 0.0 + (x - 1.0) / 2.0 * (-1.18)  # noqa: E731  (the straight line between the ends)
    assert len(xs) > 2 and all(y > chord(x) for x, y in zip(xs[1:-1], ys[1:-1]))
    # top= keeps the largest |score| edges; a Circuit draws its own edges; the same input draws the same lines
    assert len(plots.draw_circuit(scores, graph, top=2).lines) == 2
    circuit = Circuit.from_edges(graph, edges[:2])
    ax2 = plots.draw_circuit(circuit, scores=scores)
    assert len(ax2.lines) == 2 and _line_widths(ax2) == [round(0.4 + 3.6 * 0.5, 6), 4.0]
    assert _line_widths(plots.draw_circuit(scores, graph)) == _line_widths(ax)
    plt.close("all")


def test_draw_circuit_grouped_kv_edge_reaches_every_head_of_its_group_and_node_scores_have_no_edges():
    import pytest

    from workbook.arch.graph import Graph
    from workbook.core.errors import WorkbookError

    graph = Graph(n_layers=2, n_heads=4, n_kv_heads=2)
    ax = plots.draw_circuit(Scores(["L0H0->L1KV1.k"], torch.tensor([1.0])), graph)
    assert sorted(float(line.get_ydata()[-1]) for line in ax.lines) == [-1.5, -0.5]  # heads 2 and 3
    nodes = Scores(["L0H1", "MLP1"], torch.tensor([2.0, -1.0]))
    ax = plots.draw_circuit(nodes, graph, highlight=["L0H1"])
    assert not ax.lines and _labelled(ax)
    with pytest.raises(WorkbookError, match="graph="):
        plots.draw_circuit(nodes)
    with pytest.raises(WorkbookError, match="not an edge"):
        plots.draw_circuit(Scores(["L1H0->L0H1.q"], torch.tensor([1.0])), graph)
    plt.close("all")
