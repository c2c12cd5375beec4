"""The probe library of the learner checks, the TransformerLens 4 hook.name trap, and the input guards."""

import pytest
import torch

import workbook as wb
from workbook.course.checks import node_methods as N
from workbook.course.checks._runner import CheckFailed
from workbook.course.checks.cases import SEPARATING, call_guarded, separating_cases
from workbook.course.checks.diagnose_diff import Case, diagnose, shape_message
from workbook.course.checks.hook_names import alias_of, canonical_of, hook_name_trap


def _case(got, want, axes=("layer", "head"), **kw):
    return Case("the test case", got, want, axes, **kw)


WANT = torch.tensor([[0.5, -1.0, 0.25], [2.0, 0.0, -0.75], [1.5, -0.5, 3.0]])


def test_a_match_is_none_and_each_relation_is_named():
    assert diagnose([_case(WANT.clone(), WANT)]) is None
    assert "sign flipped" in diagnose([_case(-WANT, WANT)])
    msg = diagnose([_case(WANT * 4, WANT, factors={"B": 4.0, "seq": 7.0})])
    assert "times B (B = 4 here)" in msg
    msg = diagnose([_case(WANT + 1.25, WANT, scalars={"M(clean)": 1.25})])
    assert "shifted by the same constant" in msg and "M(clean)" in msg
    assert "swapped" in diagnose([_case(WANT.T, WANT)])
    shifted = torch.cat([torch.zeros(1, 3), WANT[:-1]])
    assert "shifted by one" in diagnose([_case(shifted, WANT)])
    late = WANT[-1:].expand(3, 3).clone()
    assert "late" in diagnose([_case(late, WANT)])
    only_last = WANT.clone()
    only_last[:2] = 0
    assert "only the last layer is right and every other layer of yours is 0" in diagnose([_case(only_last, WANT)])
    assert "every value of yours is 0" in diagnose([_case(torch.zeros(3, 3), WANT)])


def test_a_relation_must_hold_on_every_failing_case_and_named_variants_come_first():
    other = WANT + 0.3 * torch.arange(9.0).reshape(3, 3)
    msg = diagnose([_case(-WANT, WANT), _case(other * 2, other)])
    assert "sign" not in msg.split(".")[0]
    msg = diagnose([_case(WANT * 2, WANT, variants={"v": WANT * 2})], hints=[("v", "the planted cause.")])
    assert msg.startswith("the planted cause.")


def test_the_message_reads_the_numbers_of_the_first_failing_case():
    msg = diagnose([_case(-WANT, WANT, name_of=lambda i: f"L{i[0]}H{i[1]}")])
    assert "On the test case: L2H2: yours -3, expected 3" in msg


def test_shape_message_names_the_dimension():
    dims = {"n_layers": 3, "n_heads": 5, "seq": 7}
    assert "size 3, which is n_layers = 3" in shape_message((3, 3), ("n_layers", "n_heads"), dims)
    assert "wrong order" in shape_message((5, 3), ("n_layers", "n_heads"), dims)
    assert "one axis too many" in shape_message((3, 5, 7), ("n_layers", "n_heads"), dims)


def test_separating_models_have_all_sizes_different():
    for (_, L, H, dh, B, T), (label, model, task) in zip(SEPARATING, separating_cases()):
        sizes = [L, L - 1, H, dh, B, T]
        assert len(set(sizes)) == len(sizes)
        assert (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head) == (L, H, dh)
        assert (task.batch_size, task.seq_len) == (B, T)


def test_hook_name_trap_both_ways():
    assert alias_of("blocks.0.attn.o.hook_in") == "blocks.0.attn.hook_z"
    assert canonical_of("blocks.2.attn.hook_q") == "blocks.2.attn.q.hook_out"
    assert canonical_of("blocks.0.attn.hook_pattern") is None
    for key in ("blocks.0.attn.hook_z", "blocks.0.attn.o.hook_in"):
        msg = hook_name_trap(KeyError(key))
        assert "hook.name == 'blocks.0.attn.o.hook_in'" in msg and "'blocks.0.attn.hook_z'" in msg
    assert hook_name_trap(KeyError("L0H1")) is None
    assert hook_name_trap(ValueError("blocks.0.attn.hook_z")) is None


def test_hook_name_trap_is_what_tl4_really_reports():
    model = wb.build_gpt2(seed=0, n_layers=1, d_model=8, n_heads=2, d_vocab=10)
    seen = {}
    names = ["blocks.0.attn.hook_z", "blocks.0.attn.hook_q", "hook_embed", "blocks.0.hook_mlp_out"]
    with model.hooks(fwd_hooks=[(n, lambda t, hook, n=n: seen.__setitem__(n, hook.name)) for n in names]):
        model(torch.tensor([[1, 2, 3]]))
    for n in names:
        assert canonical_of(n) == seen[n] and alias_of(seen[n]) == n


def test_a_learner_keyed_by_hook_name_is_told_the_trap(capsys):
    def keyed_by_hook_name(model, task):
        cache = {}
        names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
        with model.hooks(fwd_hooks=[(n, lambda t, hook: cache.__setitem__(hook.name, t)) for n in names]):
            model(task.corrupt)
        return torch.stack([cache[n].sum((0, 1, 3)) for n in names])

    assert not N.check_atp_heads(keyed_by_hook_name)
    out = capsys.readouterr().out
    assert "hook.name trap" in out and "blocks.0.attn.o.hook_in" in out


def test_guards_catch_edited_inputs_and_accumulation():
    _, model, task = separating_cases()[1]

    def edits_tokens(m, t):
        t.clean[:, 0] = 0
        return torch.zeros(1)

    with pytest.raises(CheckFailed, match="changed task.clean in place"):
        call_guarded(edits_tokens, model, task)
    _, model, task = separating_cases()[1]
    calls = []

    def accumulates(m, t):
        calls.append(1)
        return torch.full((2,), float(len(calls)))

    with pytest.raises(CheckFailed, match="twice"):
        call_guarded(accumulates, model, task, twice=True)

    def crashes(m, t):
        return torch.zeros(m.cfg.n_heads)[m.cfg.n_layers]

    with pytest.raises(CheckFailed, match="2 = n_heads"):
        call_guarded(crashes, model, task, dims={"n_layers": 4, "n_heads": 2}, label="x")


def test_an_unnamed_factor_on_one_model_only_is_no_diagnosis():
    other = WANT + 0.3 * torch.arange(9.0).reshape(3, 3)
    unrelated = torch.tensor([[0.1, 0.9, -0.4], [0.3, -2.0, 0.8], [-1.1, 0.2, 0.6]])
    msg = diagnose([_case(WANT * 3.3, WANT), _case(unrelated, other)])
    assert "proportional" not in msg and msg.startswith("your values differ from the reference with no simple relation")
    msg = diagnose([_case(WANT * 4, WANT, factors={"B": 4.0}), _case(unrelated, other)])
    assert msg.startswith("on the test case (but not on every test model)") and "times B" in msg
