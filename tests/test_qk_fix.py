"""The QK fix equals brute force: patch one query/key for real, read the changed pattern, dot with dM/dA."""

import pytest
import torch

import workbook as wb
from tests._tol import F64, assert_close
from workbook.attribution.qk_fix import atp_qk_fix, key_fix_per_position, query_fix
from workbook.core.errors import WorkbookError
from workbook.core.runs import cache_activations, cache_activations_and_grads


def _task(seed: int, B: int = 3, S: int = 6, V: int = 20) -> wb.Task:
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, V, (B, S), generator=g)
    corr = clean.clone()
    corr[:, 1:4] = torch.randint(0, V, (B, 3), generator=g)
    return wb.Task(clean, corr, clean[:, 2], corr[:, 2])


def _brute(model, task, kind: str, per_position: bool) -> wb.Scores:
    """sum (A_patched - A_clean) * dM/dA, with A_patched read from a real forward with q/k patched."""
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    pat = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    hk = [f"blocks.{l}.attn.hook_{kind}" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, hk)
    _, clean, grads = cache_activations_and_grads(model, task, pat, pat)
    names, vals = [], []
    for l in range(L):
        for h in range(H):
            for p in (range(T) if per_position else [None]):
                idx = slice(None) if p is None else p

                def patch(act, hook, l=l, h=h, idx=idx):
                    act = act.clone()
                    act[:, idx, h] = corr[f"blocks.{l}.attn.hook_{kind}"][:, idx, h]
                    return act

                with model.hooks(fwd_hooks=[(hk[l], patch)]):
                    _, new = cache_activations(model, task.clean, [pat[l]])
                d = (new[pat[l]] - clean[pat[l]]).double() * grads[pat[l]].double()
                vals.append(d[:, h].sum((-1, -2)).mean())
                names.append(f"L{l}H{h}.{kind}" + ("" if p is None else f"@{p}"))
    return wb.Scores(names, torch.stack(vals), method="brute")


@pytest.mark.parametrize("seed,extra", [(0, {}), (1, {"scale_attn_by_inverse_layer_idx": True})])
@pytest.mark.parametrize("kind", ["q", "k"])
@pytest.mark.parametrize("per_position", [False, True])
def test_matches_brute_force(seed, extra, kind, per_position):
    model = wb.build_gpt2(seed=seed, n_layers=2, d_model=32, n_heads=2, d_vocab=20, dtype=torch.float64, **extra)
    task = _task(seed)
    est = atp_qk_fix(model, task, kind, per_position=per_position)
    ref = _brute(model, task, kind, per_position)
    assert est.names == ref.names and ref.values.abs().max() > 1e-6
    assert_close(est, ref, F64)


def test_identical_runs_give_zero():
    model = wb.build_gpt2(seed=3, n_layers=2, d_model=32, n_heads=2, d_vocab=20)
    task = _task(3)
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    for pp in (False, True):
        est = atp_qk_fix(model, same, ("q", "k"), per_position=pp)
        assert est.values.abs().max() == 0


def test_saturated_rows_float64():
    """Closed-form keys equal explicit re-softmax on a nearly one-hot pattern, in float64."""
    g = torch.Generator().manual_seed(0)
    B, T, H, d = 2, 5, 3, 4
    qc = torch.randn(B, T, H, d, generator=g, dtype=torch.float64) * 6
    kc = torch.randn(B, T, H, d, generator=g, dtype=torch.float64) * 6
    kn = kc + torch.randn(B, T, H, d, generator=g, dtype=torch.float64) * 3
    gp = torch.randn(B, H, T, T, generator=g, dtype=torch.float64)
    est = key_fix_per_position(qc, kc, kn, gp, 2.0)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    A = (torch.einsum("bthd,bshd->bhts", qc, kc) / 2.0).masked_fill(~mask, float("-inf")).softmax(-1)
    assert A.max() > 1 - 1e-9  # the test really covers saturated rows
    ref = torch.zeros(B, H, T, dtype=torch.float64)
    for s in range(T):
        k2 = kc.clone()
        k2[:, s] = kn[:, s]
        A2 = (torch.einsum("bthd,bshd->bhts", qc, k2) / 2.0).masked_fill(~mask, float("-inf")).softmax(-1)
        ref[:, :, s] = ((A2 - A) * gp).sum((-1, -2))
    assert_close(est, ref, F64)
    # queries: all-positions estimate is the sum of the per-position ones
    qn = qc + 1.0
    per = query_fix(qc, qn, kc, gp, 2.0)
    assert per.shape == (B, H, T)


def test_fix_beats_atp_when_saturated():
    """On the saturation specimen, AtP on the query misses the effect, the fix recovers it."""
    model, task = wb_specimen("saturation")
    truth = wb.patch_nodes(model, task, "q", per_position=True)
    top = truth.order()[0]
    fix = atp_qk_fix(model, task, "q", per_position=True)
    plain = wb.atp(model, task, "q", per_position=True)
    assert abs(plain[top]) < 0.1 * abs(truth[top])
    assert abs(fix[top] - truth[top]) < 0.5 * abs(truth[top])


def wb_specimen(name):
    from workbook.models.specimens import build

    return build(name)


def test_rejects_other_kinds():
    model = wb.build_gpt2(seed=0, n_layers=2, d_model=32, n_heads=2, d_vocab=20)
    with pytest.raises(WorkbookError, match="'q' and 'k'"):
        atp_qk_fix(model, _task(0), "v")
