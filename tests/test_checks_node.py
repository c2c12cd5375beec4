"""Each node-method check passes the reference and names each planted mistake."""

import pytest
import torch

import workbook as wb
from workbook.checks import node_methods as C
from workbook.checks._runner import CheckFailed
from workbook.graddrop import graddrop
from workbook.qk_fix import atp_qk_fix


def _LH(m):
    return m.cfg.n_layers, m.cfg.n_heads


def _expect(check, fn, message):
    with pytest.raises(CheckFailed, match=message):
        check(fn, strict=True)


# ---------------------------------------------------------------- patch heads
def _patch(m, t, **kw):
    return wb.patch_nodes(m, t, "head", **kw).values.reshape(_LH(m))


def test_patch_heads():
    assert C.check_patch_heads(lambda m, t: _patch(m, t), strict=True)
    _expect(C.check_patch_heads, lambda m, t: -_patch(m, t), "sign flipped")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t, direction="denoising"), "denoising")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t) + t.baselines(m)[0], "without subtracting")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t)[:1], "expected shape")


def test_stub_reports_not_done(capsys):
    def stub(m, t):
        raise NotImplementedError

    assert C.check_patch_heads(stub) is False
    assert "not done yet" in capsys.readouterr().out


# ---------------------------------------------------------------- AtP
def _atp(m, t, **kw):
    return wb.atp(m, t, "head", **kw).values.reshape(_LH(m))


def test_atp_heads():
    assert C.check_atp_heads(lambda m, t: _atp(m, t), strict=True)
    _expect(C.check_atp_heads, lambda m, t: -_atp(m, t), "sign flipped")
    _expect(C.check_atp_heads, lambda m, t: -_atp(m, t, direction="denoising"), "gradient on the corrupt run")
    _expect(C.check_atp_heads, lambda m, t: _atp(m, t) / t.batch_size, "1/B")


# ---------------------------------------------------------------- QK fix
def _qk(m, t, kind):
    L, H = _LH(m)
    return atp_qk_fix(m, t, kind, per_position=True).values.reshape(L, H, t.seq_len)


def _plain(m, t, kind):
    L, H = _LH(m)
    return wb.atp(m, t, kind, per_position=True).values.reshape(L, H, t.seq_len)


def test_qk_fix_queries():
    assert C.check_qk_fix_queries(lambda m, t: _qk(m, t, "q"), strict=True)
    _expect(C.check_qk_fix_queries, lambda m, t: _plain(m, t, "q"), "softmax not recomputed")
    _expect(C.check_qk_fix_queries, lambda m, t: -_qk(m, t, "q"), "sign flipped")


def test_qk_fix_keys():
    assert C.check_qk_fix_keys(lambda m, t: _qk(m, t, "k"), strict=True)
    _expect(C.check_qk_fix_keys, lambda m, t: _plain(m, t, "k"), "softmax not recomputed")
    _expect(C.check_qk_fix_keys, C._keys_all_at_once, "all at once")


# ---------------------------------------------------------------- GradDrop
def _gd_variant(kind):
    def fn(m, t):
        L, H = _LH(m)
        s = graddrop(m, t, "head")
        pp = s.info["per_pass"]
        if kind == "right":
            return s.values.reshape(L, H)
        if kind == "by_L":
            return (s.values * (L - 1) / L).reshape(L, H)
        if kind == "abs_after":
            return (pp.mean(1).abs().sum(0) / (L - 1)).reshape(L, H)
        if kind == "resid":
            # planted bug: block output (incl. residual) stopped -> layers <= l get no gradient in pass l
            plain = wb.atp(m, t, "head").per_example
            layer = torch.arange(L).repeat_interleave(H)
            return (plain.abs() * layer / (L - 1)).mean(0).reshape(L, H)
        raise ValueError(kind)

    return fn


def test_graddrop():
    assert C.check_graddrop(_gd_variant("right"), strict=True)
    _expect(C.check_graddrop, _gd_variant("by_L"), "instead of L-1")
    _expect(C.check_graddrop, _gd_variant("abs_after"), "abs taken after averaging")
    _expect(C.check_graddrop, _gd_variant("resid"), "residual stream too")
