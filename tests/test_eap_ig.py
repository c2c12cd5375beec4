"""EAP-IG: m = 1 is EAP, hannamw's bookkeeping, completeness over the embedding, convergence."""

import pytest
import torch

import workbook as wb
from tests._edge_util import random_case
from tests._tol import F64, assert_close
from workbook.arch.graph import Graph
from workbook.attribution.eap_ig import eap_ig, ig_alphas
from workbook.core.runs import frozen_params


def test_m1_equals_eap():
    model, task = random_case(seed=1, dtype=torch.float64)
    assert_close(eap_ig(model, task, steps=1), wb.eap(model, task), F64)


def test_alpha_indexing():
    assert ig_alphas(4).tolist() == [0.25, 0.5, 0.75, 1.0]
    assert ig_alphas(4, "corrupt_end").tolist() == [0.0, 0.25, 0.5, 0.75]
    with pytest.raises(wb.WorkbookError):
        ig_alphas(0)


def hannamw_style_eap_ig(model, task, steps):
    """Re-implementation of hannamw/EAP-IG's get_scores_eap_ig bookkeeping (k = 1..m)."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    B, P, D = task.clean.shape[0], task.clean.shape[1], model.cfg.d_model
    n_fwd, n_bwd = 1 + L * (H + 1), L * (3 * H + 1) + 1
    dtype = next(model.parameters()).dtype
    diff = torch.zeros(B, P, n_fwd, D, dtype=dtype)
    fwd_index = {"hook_embed": slice(0, 1)}
    for l in range(L):
        fwd_index[f"blocks.{l}.attn.hook_result"] = slice(1 + l * (H + 1), 1 + l * (H + 1) + H)
        fwd_index[f"blocks.{l}.hook_mlp_out"] = slice(1 + l * (H + 1) + H, 2 + l * (H + 1) + H)
    bwd = {}
    for l in range(L):
        prev_attn, base = 1 + l * (H + 1), l * (3 * H + 1)
        for i, x in enumerate("qkv"):
            bwd[f"blocks.{l}.hook_{x}_input"] = (prev_attn, slice(base + i * H, base + (i + 1) * H))
        bwd[f"blocks.{l}.hook_mlp_in"] = (prev_attn + H, slice(base + 3 * H, base + 3 * H + 1))
    bwd[f"blocks.{L - 1}.hook_resid_post"] = (n_fwd, slice(n_bwd - 1, n_bwd))
    scores = torch.zeros(n_fwd, n_bwd, dtype=dtype)

    def add(name, sign):
        def fn(t, hook):
            x = t.detach()
            diff[:, :, fwd_index[name]] += sign * (x if x.ndim == 4 else x[:, :, None])
        return fn

    embeds = {}
    with torch.no_grad():
        for tokens, sign, key in [(task.corrupt, 1.0, "n"), (task.clean, -1.0, "c")]:
            hooks = [(n, add(n, sign)) for n in fwd_index] + [("hook_embed", lambda t, hook, k=key: embeds.__setitem__(k, t.clone()))]
            with model.hooks(fwd_hooks=hooks):
                model(tokens)

    def grad_hook(name):
        prev, cols = bwd[name]

        def fn(g, hook):
            g = g if g.ndim == 4 else g[:, :, None]
            scores[:prev, cols] += torch.einsum("bpfd,bpBd->fB", diff[:, :, :prev], g.detach())
        return fn

    for k in range(1, steps + 1):
        e = (embeds["n"] + k / steps * (embeds["c"] - embeds["n"])).requires_grad_(True)
        with frozen_params(model), torch.enable_grad(), model.hooks(
            fwd_hooks=[("hook_embed", lambda t, hook: e)], bwd_hooks=[(n, grad_hook(n)) for n in bwd]
        ):
            task.per_example(model(task.clean)).sum().backward()
    return scores / B / steps


def test_agrees_with_hannamw_bookkeeping():
    model, task = random_case(seed=2, dtype=torch.float64)
    ref = hannamw_style_eap_ig(model, task, steps=3)
    ours = eap_ig(model, task, steps=3)
    graph = Graph.from_model(model)
    mat = torch.zeros(graph.edge_mask.shape, dtype=torch.float64)
    mat[graph.edge_mask] = ours.values.double()
    assert ref.shape == mat.shape and ours.values.abs().max() > 1e-4
    assert_close(mat, ref * graph.edge_mask, F64)
    assert (ref[~graph.edge_mask] == 0).all()


def test_completeness_over_edges_out_of_embed():
    """IG on the input: sum_v EAP-IG(embed->v) -> M(corrupt) - M(clean) as m grows (float64: the
    gap is 1% of |M| here, so float32 rounding would be a visible part of the error allowed)."""
    model, task = random_case(seed=6, dtype=torch.float64)
    clean_v, corr_v = task.baselines(model)
    target = corr_v - clean_v
    errs = []
    for m in (1, 40):
        s = eap_ig(model, task, steps=m)
        total = sum(v for n, v in s.to_dict().items() if n.startswith("embed->"))
        errs.append(abs(total - target))
    assert errs[1] < 0.03 * abs(target)  # the Riemann error, ~1/m: 2.1% of the gap at m = 40
    assert errs[1] < errs[0]


def test_more_steps_track_exact_edge_patching_on_smooth_model():
    model, task = random_case(seed=1)
    truth = wb.patch_edges(model, task)
    r_eap = wb.scores.pearson(wb.eap(model, task).values, truth.values)
    r_ig = wb.scores.pearson(eap_ig(model, task, steps=20).values, truth.values)
    assert r_ig > 0.99 and r_ig >= r_eap


def test_activations_variant_runs_and_is_finite():
    model, task = random_case(seed=1)
    s = eap_ig(model, task, steps=2, variant="activations")
    assert torch.isfinite(s.values).all() and s.values.abs().max() > 0
    assert s.info["backward_passes"] == 2 * (1 + 2 * model.cfg.n_layers)
    with pytest.raises(wb.WorkbookError):
        eap_ig(model, task, variant="nope")


def test_identical_inputs_give_zero():
    model, task = random_case(seed=5)
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert eap_ig(model, same, 3).values.abs().max() == 0
