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
