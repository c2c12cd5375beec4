"""GradDrop edge cases: own layer is 0, earlier drops equal AtP, last layer gives |AtP|, L=1 refuses."""

import re

import pytest
import torch

import workbook as wb
from tests._tol import F64, assert_close
from workbook.attribution.graddrop import aggregate_graddrop, graddrop
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.core.errors import ModelError

KINDS = ("head", "q", "k", "v", "mlp", "neuron")


def _setup(seed=0, n_layers=3):
    """float64: the comparisons below are exactness claims (tests/README.md)."""
    model = wb.build_gpt2(seed=seed, n_layers=n_layers, d_model=32, n_heads=2, d_vocab=20, d_mlp=16, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, 20, (3, 6), generator=g)
    corr = clean.clone()
    corr[:, 1:4] = torch.randint(0, 20, (3, 3), generator=g)
    return model, wb.Task(clean, corr, clean[:, 2], corr[:, 2])


def _layer_of(name: str) -> int:
    return int(re.match(r"^(?:MLP|L)(\d+)", name).group(1))


def test_pass_structure():
    model, task = _setup()
    L = model.cfg.n_layers
    gd = graddrop(model, task, list(KINDS))
    plain = wb.atp(model, task, list(KINDS))
    assert gd.names == plain.names
    per_pass = gd.info["per_pass"]  # [L, B, n]
    layers = torch.tensor([_layer_of(n) for n in gd.names])
    for l in range(L):
        own = layers == l
        assert per_pass[l][:, own].abs().max() == 0, "dropping a node's own layer must cut every path"
        later = layers > l  # dropping an earlier layer leaves the node's gradient untouched
        assert_close(per_pass[l][:, later], plain.per_example[:, later], F64, what=f"pass {l}")
    last = layers == L - 1
    assert_close(gd.per_example[:, last], plain.per_example[:, last].abs(), F64, what="last layer")
    # abs per example, then mean (not abs of the mean)
    assert_close(gd, gd.per_example.mean(0), F64, what="mean")
    assert_close(gd.per_example, aggregate_graddrop(per_pass), F64, what="aggregate")
    assert gd.info["backward_passes"] == L


def test_qk_fix_inside_graddrop():
    model, task = _setup(seed=1, n_layers=2)
    gd = graddrop(model, task, ("q", "k"), per_position=True, qk_fix=True)
    fix = atp_qk_fix(model, task, ("q", "k"), per_position=True)
    last = [i for i, n in enumerate(gd.names) if n.startswith("L1")]
    assert_close(gd.per_example[:, last], fix.per_example[:, last].abs(), F64)


def test_one_layer_refused():
    model = wb.build_gpt2(seed=0, n_layers=1, d_model=32, n_heads=2, d_vocab=20)
    task = wb.Task(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 4, 3]]), torch.tensor([5]), torch.tensor([6]))
    with pytest.raises(ModelError, match="L-1"):
        graddrop(model, task, "head")


def test_cancellation_exposed():
    """Specimen: AtP on the cancelling head is small, GradDrop's score is large."""
    from workbook.models.specimens import build
    from workbook.models.specimens.cancellation import COMPONENT

    model, task = build("cancellation")
    plain = wb.atp(model, task, "head")
    gd = graddrop(model, task, "head")
    assert gd[COMPONENT] > 5 * abs(plain[COMPONENT])


def test_atp_star_variants():
    """AtP* without GradDrop = AtP for plain kinds + QK fix for q/k; with GradDrop = graddrop(qk_fix=True)."""
    from workbook.attribution.atp_star import atp_star

    model, task = _setup(seed=2, n_layers=2)
    kinds = ["q", "k", "v", "head", "mlp"]
    s = atp_star(model, task, kinds, per_position=True, use_graddrop=False)
    plain = wb.atp(model, task, ["v", "head", "mlp"], per_position=True)
    fix = atp_qk_fix(model, task, ["q", "k"], per_position=True)
    ref = {**plain.to_dict(), **fix.to_dict()}
    assert s.names == fix.names + plain.names
    assert_close(s, [ref[n] for n in s.names], F64)
    star = atp_star(model, task, kinds)
    gd = graddrop(model, task, kinds, qk_fix=True)
    assert star.method == "AtP*" and torch.equal(star.values, gd.values)  # the same computation


def test_every_pass_matches_the_detached_reference():
    """Pass l backpropagates only below layer l (graddrop's module doc); every pass must still equal the
    independent reference (tests/_reference.py: layer l's writes detached, a fresh backward), in float64,
    for plain kinds and for the QK fix per position."""
    from tests import _reference as R

    model, task = _setup(seed=3, n_layers=4)
    L = model.cfg.n_layers
    for kinds, qk, per_pos in ((("head", "v", "mlp", "neuron"), False, False), (("q", "k"), True, True)):
        got = graddrop(model, task, kinds, per_position=per_pos, qk_fix=qk)
        refs = [{} for _ in range(L)]
        for l in range(L):
            for k in kinds:
                ref = R.qk_fix(model, task, k, per_pos, drop_layer=l) if qk else R.atp(model, task, k, drop_layer=l)
                refs[l].update(ref)
        want = torch.stack([torch.stack([refs[l][n] for n in got.names], 1) for l in range(L)])  # [L, B, n]
        assert_close(got.info["per_pass"], want, F64, what=f"{kinds} per pass")
        # not trivial: the estimates are nonzero (the QK fix on this small random model is ~1e-4, plain
        # products ~1e-2) and the drops change them (the last pass differs from the first)
        assert want.abs().max() > 1e-4 and (want[-1] - want[0]).abs().max() > 1e-3 * want.abs().max()
