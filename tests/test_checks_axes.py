"""The probes added on round 26 (issue 23): what the axis or count of a one-line fix holds (repair.axes), a clamp
where a gradient is cut to zero (repair.recipes), another prompt's clean values patched in (properties._which_mix)
and a GradDrop that runs another number of backward passes than one per layer (pass_count)."""

import contextlib
import io

import pytest
import torch

import workbook as wb
from workbook.core.runs import cache_activations
from workbook.course.checks import CheckFailed, learner_check
from workbook.course.checks.cases import separating_cases
from workbook.course.checks.properties import batch_mean
from workbook.course.checks.repair import BUDGET_ENV
from workbook.course.checks.repair.axes import _axis_calls, axis_labels
from workbook.course.checks.repair.edits import edits

CASES = separating_cases()


@pytest.fixture
def repair_on(monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "20")


def pattern_row_sums(model, task):
    """[L, B, H, T]: each query row of each layer's attention pattern summed over its keys (each is 1)."""
    names = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, cache = cache_activations(model, task.clean, names)
    return torch.stack([cache[n].sum(-1) for n in names])


def summed_over_the_queries(model, task):
    names = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, cache = cache_activations(model, task.clean, names)
    return torch.stack([cache[n].sum(-2) for n in names])


def toy_check(reference):
    """A toy learner check on the separating test models: ``fn(model, task)`` must equal ``reference(model, task)``,
    to float32 rounding relative to the reference's largest entry (both run the same float32 operations)."""
    @learner_check
    def check(fn) -> None:
        for _, model, task in CASES:
            got, want = fn(model, task), reference(model, task)
            if got.shape != want.shape or (got - want).abs().max() > 1e-5 * want.abs().max().clamp_min(1e-30):
                raise CheckFailed("values differ from the reference")
    return check


check_row_sums = toy_check(pattern_row_sums)


def test_axis_calls_read_constant_axes_of_plain_operands_only():
    assert _axis_calls("g = grads[pats[l]].mean(-2, keepdim=True)") == [("grads[pats[l]]", -2)]
    assert _axis_calls("x = a.softmax(dim=1) * b.sum(0)") == [("a", 1), ("b", 0)]
    assert _axis_calls("y = model(x).sum(1)") == []  # a call that runs the model is never evaluated again
    assert _axis_calls("y = x.sum(d)") == []  # the axis is not a constant
    assert _axis_calls("for l in range(3):") == []


def test_axis_labels_name_each_size_and_the_query_and_key_axes():
    _, model, task = CASES[0]
    B, T, H = task.batch_size, task.seq_len, model.cfg.n_heads
    assert axis_labels((B, H, T, T), model, task) == ["batch", "head", "query", "key"]
    assert axis_labels((model.cfg.n_layers, H), model, task) == ["layer", "head"]
    assert axis_labels((B, T, H, model.cfg.d_head), model, task) == ["batch", "pos", "head", "d_head"]


def test_a_fix_on_an_axis_says_what_that_axis_holds(repair_on):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        check_row_sums(summed_over_the_queries)
    text = buf.getvalue()
    assert "one change makes your function pass every test case" in text, text
    assert "axis -2 of `cache[n]` holds the query positions" in text, text
    assert "the fix uses axis -1, the key positions" in text, text


def test_a_clamp_where_the_gradient_is_cut_gets_the_edit_to_zeros():
    def gate(g, cut):
        return g.clamp_min(0) if cut else g

    said = [e.describe() for e in edits(gate)]
    assert any("`return torch.zeros_like(g) if cut else g`" in d and "keeps part of `g`" in d for d in said), said


def test_another_prompts_clean_values_patched_in_are_named():
    def resampled_heads(model, task):  # each pair gets the previous pair's clean head output, not its corrupt one
        L, H = model.cfg.n_layers, model.cfg.n_heads
        out = torch.zeros(L, H, dtype=torch.float64)
        with torch.no_grad():
            base = task.metric_value(model(task.clean))
            for layer in range(L):
                for h in range(H):
                    def put(act, hook, h=h):
                        act = act.clone()
                        act[:, :, h] = act[:, :, h].roll(1, dims=0)
                        return act
                    with model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_z", put)]):
                        out[layer, h] = task.metric_value(model(task.clean)) - base
        return out

    def reference(model, task):
        L, H = model.cfg.n_layers, model.cfg.n_heads
        return wb.patch_nodes(model, task, "head").values.reshape(L, H).double()

    msg = batch_mean(resampled_heads, CASES[:1], reference=reference, reference_on=reference)
    assert msg is not None and "previous pair's CLEAN values" in msg, msg
    assert batch_mean(reference, CASES[:1], reference=reference, reference_on=reference) is None


def divided_by_the_positions(model, task):
    names = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, cache = cache_activations(model, task.clean, names)
    return torch.stack([cache[n].sum(-1) / cache[n].shape[-1] for n in names])


def test_a_count_dropped_by_a_fix_is_named_as_the_size_it_is(repair_on):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        check_row_sums(divided_by_the_positions)
    text = buf.getvalue()
    T = CASES[0][2].seq_len
    assert f"`cache[n].shape[-1]` is {T} on a test case: the number of positions" in text, text


def test_a_graddrop_loop_over_positions_is_told_by_its_pass_count():
    from workbook.course.checks.pass_count import backward_passes, pass_count_note

    def one_pass_per(size):
        def fn(model, task):
            for _ in range(size(model, task)):
                leaf = torch.ones(2, requires_grad=True)
                (leaf * 2).sum().backward()
        return fn

    per_position = one_pass_per(lambda m, t: t.seq_len)
    per_layer = one_pass_per(lambda m, t: m.cfg.n_layers)
    _, model, task = CASES[0]
    assert backward_passes(per_position, model, task) == task.seq_len
    assert "as many as the positions (T)" in pass_count_note(per_position, CASES[:1])
    assert pass_count_note(per_layer, CASES[:1]) == ""


def test_eap_ig_points_are_read_off_the_models_input():
    from workbook.arch.graph import Graph
    from workbook.core.runs import cache_activations_and_grads
    from workbook.course.checks.path_points import path_alphas, points_note

    def eap_ig_at(alpha_of):
        def fn(model, task, steps):
            graph = Graph.from_model(model)
            _, clean = cache_activations(model, task.clean, ["hook_embed"])
            _, corr = cache_activations(model, task.corrupt, ["hook_embed"])
            e_c, e_n = clean["hook_embed"], corr["hook_embed"]
            for k in range(1, steps + 1):
                target = e_n + alpha_of(k, steps) * (e_c - e_n)
                hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
                cache_activations_and_grads(model, task, [], list(graph.dest_hooks)[:1],
                                            extra_fwd_hooks=[("hook_embed", hook)])
        return fn

    _, model, task = CASES[0]
    right = eap_ig_at(lambda k, m: k / m)
    alphas, off = path_alphas(right, model, task, 4)
    assert [round(float(a.mean()), 6) for a in alphas] == [0.25, 0.5, 0.75, 1.0] and max(off) < 1e-3
    assert "Your points are right" in points_note(right, model, task, 4)
    upside_down = points_note(eap_ig_at(lambda k, m: m / k), model, task, 4)
    assert "alpha = [4, 2, 1.33, 1]" in upside_down and "beyond the clean input" in upside_down, upside_down


def test_a_condition_that_leaves_entries_out_gets_the_edit_that_drops_it():
    def gated(x, layer):
        return torch.stack([x[i].sum()
                            if i < layer else torch.zeros(())
                            for i in range(len(x))])

    said = [(e.before, e.after, e.words) for e in edits(gated)]
    assert any(after == "return torch.stack([x[i].sum()"
               and "the condition `i < layer` is extra" in words for _, after, words in said), said


def test_an_edit_inside_an_f_string_is_shown_in_the_whole_f_string():
    def names(L):
        return [f"blocks.{l}.attn.hook_pattern" for l in range(L)]

    shown = [e.after for e in edits(names) if "hook_attn_scores" in e.words]
    assert shown and all(a == "return [f'blocks.{l}.attn.hook_attn_scores' for l in range(L)]" for a in shown), shown


def z_sums(model, task):
    """[L, B, T, H]: each head's output z summed over d_head."""
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, cache = cache_activations(model, task.clean, names)
    return torch.stack([cache[n].sum(-1) for n in names])


def averaged_over_the_heads(model, task):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, cache = cache_activations(model, task.clean, names)
    return torch.stack([cache[n].mean(2, keepdim=True).expand_as(cache[n]).sum(-1) for n in names])


check_z_sums = toy_check(z_sums)


def test_over_that_axis_is_named_as_what_the_axis_holds(repair_on):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        check_z_sums(averaged_over_the_heads)
    text = buf.getvalue()
    assert "a mean over the heads (axis 2) is extra; axis 2 of `cache[n]` holds the heads" in text, text
