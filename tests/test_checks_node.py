"""Each node-method check passes the reference and names each planted mistake."""

import pytest
import torch

import workbook as wb
from tests._tol import F32, assert_close
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.course.checks import node_methods as C
from workbook.course.checks._runner import CheckFailed
from workbook.course.checks.qk_variants import keys_all_at_once


def _LH(m):
    return m.cfg.n_layers, m.cfg.n_heads


def _expect(check, fn, message):
    with pytest.raises(CheckFailed, match=message):
        check(fn, strict=True)


# ---------------------------------------------------------------- patch heads
def _patch(m, t, **kw):
    return wb.patch_nodes(m, t, "head", **kw).values.reshape(_LH(m))


def _last_position(m, t, method):
    L, H = _LH(m)
    return method(m, t, "head", per_position=True).values.reshape(L, H, t.seq_len)[..., -1]


def test_patch_heads():
    assert C.check_patch_heads(lambda m, t: _patch(m, t), strict=True)
    _expect(C.check_patch_heads, lambda m, t: -_patch(m, t), "sign flipped")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t) * t.batch_size, "summed over the batch")
    _expect(C.check_patch_heads, lambda m, t: _last_position(m, t, wb.patch_nodes), "patched only the last position")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t, direction="denoising"), "denoising")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t) + t.baselines(m)[0], "without subtracting")
    _expect(C.check_patch_heads, lambda m, t: _patch(m, t)[:1], "expected shape")


def test_stub_reports_not_done(capsys):
    def stub(m, t):
        raise NotImplementedError

    assert not C.check_patch_heads(stub)
    assert "not done yet" in capsys.readouterr().out


def test_an_exception_in_learner_code_is_reported_not_raised(capsys):
    def buggy(m, t):
        heads = [0, 1]
        return heads[7]  # IndexError on this line

    result = C.check_patch_heads(buggy)
    out = capsys.readouterr().out
    assert not result and repr(result) == "CheckResult(passed=False)"
    assert out.startswith("[check failed] buggy raised IndexError: list index out of range (in buggy, line ")
    assert "return heads[7]" in out
    with pytest.raises(IndexError):
        C.check_patch_heads(buggy, strict=True)


def test_a_not_implemented_error_from_a_library_is_a_failure_not_a_stub(capsys):
    def uses_missing_op(m, t):
        return torch.zeros(2, 2).to_sparse().svd()  # torch raises NotImplementedError / RuntimeError

    assert not C.check_patch_heads(uses_missing_op)
    assert "not done yet" not in capsys.readouterr().out


def test_check_result_is_not_displayed_by_ipython():
    res = C.check_patch_heads(lambda m, t: _patch(m, t))
    assert res and res == True and hasattr(res, "_ipython_display_")  # noqa: E712


# ---------------------------------------------------------------- AtP
def _atp(m, t, **kw):
    return wb.atp(m, t, "head", **kw).values.reshape(_LH(m))


def test_atp_heads():
    assert C.check_atp_heads(lambda m, t: _atp(m, t), strict=True)
    _expect(C.check_atp_heads, lambda m, t: -_atp(m, t), "sign flipped")
    _expect(C.check_atp_heads, lambda m, t: -_atp(m, t, direction="denoising"), "gradient on the corrupt run")
    _expect(C.check_atp_heads, lambda m, t: _atp(m, t) / t.batch_size, "1/B")
    _expect(C.check_atp_heads, lambda m, t: _atp(m, t) * t.batch_size, "B times too large")
    _expect(C.check_atp_heads, lambda m, t: _atp(m, t, direction="denoising"), "denoising estimate")
    _expect(C.check_atp_heads, lambda m, t: _last_position(m, t, wb.atp), "summed only the last position")
    _expect(C.check_atp_heads, lambda m, t: wb.atp(m, t, "v").values.reshape(_LH(m)), r"hook_v \(the values\)")


def test_a_neighbouring_metric_is_named():
    from dataclasses import replace

    _expect(C.check_patch_heads, lambda m, t: _patch(m, replace(t, metric="answer_logprob")), "log-probability")


# ---------------------------------------------------------------- QK fix
def _qk(m, t, kind):
    L, H = _LH(m)
    return atp_qk_fix(m, t, kind, per_position=True).values.reshape(L, H, t.seq_len)


def _plain(m, t, kind):
    L, H = _LH(m)
    return wb.atp(m, t, kind, per_position=True).values.reshape(L, H, t.seq_len)


def test_qk_fix_variant_is_the_reference_with_both_options_on():
    for _, m, t in C.random_cases():
        for kind in ("q", "k"):
            # float32 models (the checks' own cases); the variant rounds its float64 sums to float32
            assert_close(C.qk_fix_variant(m, t, kind), _qk(m, t, kind), F32, what=kind)


@pytest.mark.parametrize("kind, check", [("q", C.check_qk_fix_queries), ("k", C.check_qk_fix_keys)])
def test_qk_fix(kind, check):
    assert check(lambda m, t: _qk(m, t, kind), strict=True)
    _expect(check, lambda m, t: _plain(m, t, kind), "softmax not recomputed")
    _expect(check, lambda m, t: -_qk(m, t, kind), "sign flipped")
    _expect(check, lambda m, t: _qk(m, t, kind) * t.batch_size, "B times too large")
    _expect(check, lambda m, t: C.qk_fix_variant(m, t, kind, scaled=False), "not divided by sqrt\\(d_head\\)")
    _expect(check, lambda m, t: C.qk_fix_variant(m, t, kind, masked=False), "no causal mask")


@pytest.mark.parametrize("kind, check", [("q", C.check_qk_fix_queries), ("k", C.check_qk_fix_keys)])
def test_exact_patching_is_not_the_qk_fix(kind, check):
    # near-uniform attention makes the estimate and the exact effect agree to 0.3 %: the check's peaked model tells them
    def exact(m, t):
        return wb.patch_nodes(m, t, kind, per_position=True).values.reshape(*_LH(m), t.seq_len)

    _expect(check, exact, "EXACT effects of patching each")


def test_qk_fix_keys_all_at_once():
    _expect(C.check_qk_fix_keys, keys_all_at_once, "all at once")


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
        if kind == "no_abs":
            return (pp.sum(0) / (L - 1)).mean(0).reshape(L, H)
        if kind == "no_div":
            return (s.values * (L - 1)).reshape(L, H)
        if kind == "no_B":
            return (s.values / t.batch_size).reshape(L, H)
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
    _expect(C.check_graddrop, _gd_variant("no_abs"), "no absolute value")
    _expect(C.check_graddrop, _gd_variant("no_div"), "forgot to divide by L-1")
    _expect(C.check_graddrop, _gd_variant("no_B"), "multiply the gradients by B")


def test_qk_fix_with_the_corrupt_key_added_is_named():
    _expect(C.check_qk_fix_keys, lambda m, t: C.qk_fix_variant(m, t, "k", added=True), "added the corrupt key")


def test_recipe_and_drop_set_variants_are_named():
    from workbook.course.checks.graddrop_variants import DROP_SETS, graddrop_variant

    drops, writes, extra = DROP_SETS["drop_later"]
    _expect(C.check_graddrop, lambda m, t: graddrop_variant(m, t, drops, writes, extra), "AND every later layer")
    right = DROP_SETS["drop_next"][0]
    assert_close(graddrop_variant(*C.chapter_case(2)[1:], lambda p, L: {p}), graddrop(*C.chapter_case(2)[1:],
                 "head").values.reshape(2, 2), F32, what="graddrop_variant with the right drop set")
    assert right(0, 2) == {1}
    _expect(C.check_qk_fix_queries, lambda m, t: C.qk_fix_variant(m, t, "q", clean_denominator=True),
            "CLEAN softmax's denominator")
    _expect(C.check_qk_fix_keys, lambda m, t: C.qk_fix_variant(m, t, "k", mask_kind="after", mask_new_only=True),
            "after the softmax")


def test_more_recipe_and_neighbour_variants_are_named():
    from workbook.course.checks.neighbours import zero_ablation

    _expect(C.check_qk_fix_queries, lambda m, t: C.qk_fix_variant(m, t, "q", keys_are_queries=True),
            "queries where the keys belong")
    _expect(C.check_patch_heads, lambda m, t: zero_ablation(m, t, complement=True), "EXCEPT head h")
