"""Every method honours ``Task.attention_mask``: a padded batch scores exactly the mean of its
prompts run one at a time, unpadded, whichever side the padding is on (hand-built masks).

Three prompt pairs of token lengths 5, 3 and 4 are padded to 5 on the left or on the right; the
metric reads each example's last real token. Rows: GPT-2 (learned positions), GPT-NeoX (partial
rotary, parallel blocks) and Llama (rotary, grouped-query attention), float64.
"""

from __future__ import annotations

import _families as F
import pytest
import torch

import workbook as wb
import workbook.core.runs
from tests._tol import assert_close, scale_of
from workbook.analysis import circuits
from workbook.attribution.fn_bound import patch_node_subsets

LENGTHS = (5, 3, 4)
PAD = 7  # any id: padded positions must not matter
STORES_F64 = wb.Scores(["x"], torch.tensor([1.0], dtype=torch.float64)).values.dtype == torch.float64


def tol(family):
    return 1e-6 if family in F.FLOAT32_INSIDE or not STORES_F64 else 1e-9


def pairs(seed=3):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in LENGTHS:
        clean = torch.randint(1, F.V, (n,), generator=g)
        corrupt = clean.clone()
        corrupt[: 2] = torch.randint(1, F.V, (2,), generator=g)
        a = int(torch.randint(1, F.V // 2, (1,), generator=g))
        out.append((clean, corrupt, a, a + F.V // 2))
    return out


def padded(side: str, mask: bool = True) -> wb.Task:
    S = max(LENGTHS)
    rows_c, rows_x, masks, pos = [], [], [], []
    for clean, corrupt, _, _ in pairs():
        n = len(clean)
        pad = torch.full((S - n,), PAD)
        m = torch.cat([torch.zeros(S - n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
        if side == "left":
            rows_c.append(torch.cat([pad, clean])), rows_x.append(torch.cat([pad, corrupt])), masks.append(m), pos.append(S - 1)
        else:
            rows_c.append(torch.cat([clean, pad])), rows_x.append(torch.cat([corrupt, pad])), masks.append(m.flip(0)), pos.append(n - 1)
    ans = [p[2] for p in pairs()]
    wrong = [p[3] for p in pairs()]
    return wb.Task(torch.stack(rows_c), torch.stack(rows_x), ans, wrong, pos=pos,
                   attention_mask=torch.stack(masks) if mask else None)


def singles() -> list[wb.Task]:
    return [wb.Task(c[None], x[None], [a], [w]) for c, x, a, w in pairs()]


METHODS = {
    "patch_nodes": lambda m, t: [wb.patch_nodes(m, t, k) for k in ("head", "q", "k", "v", "pattern", "mlp")],
    "atp": lambda m, t: [wb.atp(m, t, ("head", "q", "k", "v", "pattern", "mlp", "neuron"))],
    "qk_fix": lambda m, t: [wb.atp_qk_fix(m, t)],
    "graddrop": lambda m, t: [wb.graddrop(m, t, ("head", "mlp"))],
    "atp_star": lambda m, t: [wb.atp_star(m, t)],
    "eap": lambda m, t: [wb.eap(m, t)],
    "eap_ig": lambda m, t: [wb.eap_ig(m, t, steps=3)],
    "eap_ig_act": lambda m, t: [wb.eap_ig(m, t, steps=2, variant="activations")],
    "eap_gp": lambda m, t: [wb.eap_gp(m, t, steps=2)],
    "patch_edges": lambda m, t: [wb.patch_edges(m, t, edges=list(wb.Graph.from_model(m).edges[::7]))],
}


@pytest.fixture(scope="module")
def models():
    return {f: F.build(f) for f in ("gpt2", "neox", "llama")}


@pytest.mark.parametrize("family", ["gpt2", "neox", "llama"])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_padded_batch_is_the_mean_of_single_prompts(family, method, models):
    model = models[family]
    alone = [METHODS[method](model, t) for t in singles()]
    for side in ("left", "right"):
        got = METHODS[method](model, padded(side))
        for j, scores in enumerate(got):
            want = torch.stack([a[j].values.double() for a in alone]).mean(0)
            scale = max(1e-3, want.abs().max().item())
            err = (scores.values.double() - want).abs().max().item()
            assert err <= tol(family) * scale, f"{family} {method} ({side} padding): off by {err:.3g} (scale {scale:.3g})"


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_circuits_and_subsets_with_padding(family, models):
    model = models[family]
    graph = wb.Graph.from_model(model)
    g = torch.Generator().manual_seed(0)
    masks = torch.rand((3,) + tuple(graph.edge_mask.shape), generator=g) < 0.5
    nodes = [f"L{l}H{h}" for l in range(2) for h in range(4)]
    subsets = torch.rand(3, len(nodes), generator=g) < 0.5
    want_c = torch.stack([circuits.evaluate_many(model, t, masks) for t in singles()]).mean(0)
    want_s = torch.stack([patch_node_subsets(model, t, "head", nodes, subsets) for t in singles()]).mean(0)
    base = torch.tensor([wb.core.runs.baselines(model, t) for t in singles()], dtype=torch.float64).mean(0)
    scale = scale_of(base, want_c)  # the metrics' size (subset effects are their differences)
    for side in ("left", "right"):
        t = padded(side)
        assert_close(circuits.evaluate_many(model, t, masks), want_c, tol(family), scale, f"{side} circuits")
        assert_close(patch_node_subsets(model, t, "head", nodes, subsets), want_s, tol(family), scale, f"{side} subsets")
        assert_close(wb.core.runs.baselines(model, t), base, tol(family), scale, f"{side} baselines")
        assert_close(t.baselines(model), base, tol(family), scale, f"{side} Task.baselines")  # Task.baselines too


def test_without_the_mask_left_padding_changes_the_scores(models):
    """The check above can fail: drop the mask and left padding moves every score."""
    model = models["gpt2"]
    want = torch.stack([wb.atp(model, t).values for t in singles()]).mean(0)
    assert (wb.atp(model, padded("left", mask=False)).values - want).abs().max() > 1e-3
