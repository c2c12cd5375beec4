"""The trace of a learner's locals (workbook.course.checks.trace): what each variable holds, and
the contradictions that name a mistake without a catalogue of mistakes."""

import sys

import pytest
import torch

from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.course.checks.node_methods import chapter_case
from workbook.course.checks.quantities import identify, model_quantities
from workbook.course.checks.trace import clues, foreign_gradient, is_learner_file, quantity_clue, trace_locals
from workbook.course.checks.where import locate


@pytest.fixture(scope="module")
def case():
    _, model, task = chapter_case(1)
    return model, task, model_quantities(model, task)


def _qk(model, task, key_of=lambda l: l, corrupt_tokens_for_clean=False, grads_on=None):
    """The QK fix's queries sweep, written as a learner would (switches plant one mistake each)."""
    L, T = model.cfg.n_layers, task.seq_len
    names = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean = cache_activations(model, task.corrupt if corrupt_tokens_for_clean else task.clean, names)
    _, _, grads = cache_activations_and_grads(model, task, names, pats, tokens=grads_on)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q = clean[f"blocks.{l}.attn.hook_q"]
        k = clean[f"blocks.{key_of(l)}.attn.hook_k"]
        sc = model.cfg.d_head ** 0.5
        old = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((new - old) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def _clues(fn, model, task, quantities, grad_run="clean"):
    snaps = trace_locals(fn, (model, task), is_learner_file)
    return clues(snaps, quantities, model.cfg.n_layers, model.cfg.n_heads, grad_run)


def test_a_correct_function_gives_no_clue(case):
    model, task, quantities = case
    assert _clues(_qk, model, task, quantities) == []


def test_a_fixed_layer_index_is_named_with_its_iteration(case):
    model, task, quantities = case
    found = _clues(lambda m, t: _qk(m, t, key_of=lambda l: 0), model, task, quantities)
    assert len(found) == 1
    assert "in the iteration where l = 1" in found[0] and "layer 0's keys" in found[0]


def test_clean_values_from_the_corrupt_tokens_are_named(case):
    model, task, quantities = case
    found = _clues(lambda m, t: _qk(m, t, corrupt_tokens_for_clean=True), model, task, quantities)
    assert found and "the clean cache is taken on the corrupt tokens" in found[0]


def test_gradients_of_the_corrupt_run_are_named(case):
    model, task, quantities = case
    found = _clues(lambda m, t: _qk(m, t, grads_on=t.corrupt), model, task, quantities)
    assert found and "a corrupt-run gradient: the gradient is taken on the corrupt run" in found[0]
    assert _clues(lambda m, t: _qk(m, t, grads_on=t.corrupt), model, task, quantities, grad_run=None) == []


def test_a_dict_entry_under_another_hook_name(case):
    model, task, quantities = case

    def store_under_wrong_name(model, task):
        _, acts = cache_activations(model, task.clean, ["blocks.0.attn.hook_k"])
        mine = {"blocks.0.attn.hook_q": acts["blocks.0.attn.hook_k"]}
        return mine

    found = _clues(store_under_wrong_name, model, task, quantities)
    assert found and "under the key 'blocks.0.attn.hook_q'" in found[0] and "blocks.0.attn.hook_k" in found[0]


def test_identify_accepts_the_batch_mean_gradient(case):
    model, task, quantities = case
    grad = next(q for q in quantities if q.kind == "grad" and q.run == "clean" and q.head is None
                and q.hook == "blocks.1.attn.hook_pattern")
    assert grad in identify(grad.value / task.batch_size, quantities)
    assert grad not in identify(grad.value * 1.01, quantities)


def test_another_tracer_is_left_alone(case):
    model, task, _ = case
    calls = []

    def outer(frame, event, arg):
        calls.append(event)
        return None

    sys.settrace(outer)
    try:
        assert trace_locals(lambda m, t: _qk(m, t, key_of=lambda l: 0), (model, task), is_learner_file) == []
        assert sys.gettrace() is outer
    finally:
        sys.settrace(None)
    assert quantity_clue(lambda m, t: _qk(m, t, key_of=lambda l: 0), model, task, is_learner=is_learner_file) is not None


def test_generated_code_is_not_the_learners():
    assert not is_learner_file("<string>")
    assert is_learner_file("<ipython-input-3-abc>")
    assert not is_learner_file(torch.__file__)


def test_a_cached_tensor_edited_in_place(case):
    model, task, quantities = case

    def edits_cache(model, task):
        _, corr = cache_activations(model, task.corrupt, ["blocks.0.attn.hook_z"])
        z = corr["blocks.0.attn.hook_z"]
        z[:, :, 0] = 0.0
        return z.sum()

    def edits_a_clone(model, task):
        _, corr = cache_activations(model, task.corrupt, ["blocks.0.attn.hook_z"])
        z = corr["blocks.0.attn.hook_z"].clone()
        z[:, :, 0] = 0.0
        return z.sum()

    found = _clues(edits_cache, model, task, quantities)
    assert found and "edited `corr['blocks.0.attn.hook_z']` in place" in found[0]
    assert _clues(edits_a_clone, model, task, quantities) == []


def test_locate_lists_the_reads_and_the_lines_that_combine_them(case):
    model, task, quantities = case
    snaps = trace_locals(_qk, (model, task), is_learner_file)
    found = locate(snaps, quantities, model.cfg.n_layers, skip=[p.detach() for p in model.parameters()])
    assert "the clean run's queries at every layer (attn.hook_q)" in found
    assert "the corrupt run's queries at every layer (attn.hook_q)" in found
    assert "the metric's gradient at the attention pattern at every layer on the clean run" in found
    assert "`_`" not in found  # a throwaway name is no place to look
    line = next(s.line for s in snaps if s.name == "new")
    assert f"`new` (line {line})" in found
    assert "`old`" not in found  # the clean pattern is a model quantity: a read, not a place to look


def test_locate_skips_the_weights_and_needs_a_read(case):
    model, task, quantities = case

    def weights_only(model, task):
        w = model.blocks[0].attn.W_Q.detach()
        return (w * 2).sum()

    snaps = trace_locals(weights_only, (model, task), is_learner_file)
    assert locate(snaps, quantities, 2, skip=[p.detach() for p in model.parameters()]) is None


def test_a_formula_with_no_relation_says_where_to_look(capsys):
    from workbook.course.checks.node_methods import check_qk_fix_queries

    def garbled(model, task):
        L = model.cfg.n_layers
        names = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
        pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
        _, corr = cache_activations(model, task.corrupt, names)
        _, clean = cache_activations(model, task.clean, names)
        _, _, grads = cache_activations_and_grads(model, task, names, pats)
        out = []
        for l in range(L):
            q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
            q_new = corr[f"blocks.{l}.attn.hook_q"]
            wild = torch.tanh(torch.einsum("bthd,bshd->bhts", q_new - q, k)) ** 3
            out.append((wild * grads[pats[l]]).sum(-1).mean(0))
        return torch.stack(out)

    check_qk_fix_queries(garbled)
    message = capsys.readouterr().out
    assert "Your variables hold" in message and "the clean run's keys at every layer" in message
    assert "`wild` (line" in message


def test_a_gradient_of_another_quantity_is_named(case):
    model, task, quantities = case

    def backward_of_the_logits(model, task):
        names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
        store = {}

        def keep(name):
            def fn(t, hook):
                t.retain_grad()
                store[name] = t  # keyed by the name registered (TransformerLens 4's hook.name is another)
                return t
            return fn

        with model.hooks(fwd_hooks=[(n, keep(n)) for n in names]):
            model(task.clean).sum().backward()
        grads = {n: store[n].grad.detach() for n in names}
        return grads

    def scaled(model, task):
        _, _, g = cache_activations_and_grads(model, task, [], ["blocks.0.attn.hook_z"])
        grad_z = g["blocks.0.attn.hook_z"] * 7.0  # a factor: the relation probes' to name, not this clue
        return grad_z

    snaps = trace_locals(backward_of_the_logits, (model, task), is_learner_file)
    found = foreign_gradient(snaps, quantities)
    assert found and "holds the metric's gradient at any hook" in found and "`grads[" in found
    assert clues(snaps, quantities, model.cfg.n_layers, model.cfg.n_heads, "clean") == []  # asked late, apart
    assert foreign_gradient(trace_locals(scaled, (model, task), is_learner_file), quantities) is None
    assert foreign_gradient(trace_locals(_qk, (model, task), is_learner_file), quantities) is None


def test_locate_names_the_return_expression(case):
    model, task, quantities = case

    def wrong_in_the_return(model, task):
        names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
        _, clean = cache_activations(model, task.clean, names)
        _, corr = cache_activations(model, task.corrupt, names)
        return torch.stack([(corr[n] - clean[n]).norm(dim=-1).sum((0, 1)) for n in names])

    snaps = trace_locals(wrong_in_the_return, (model, task), is_learner_file)
    found = locate(snaps, quantities, model.cfg.n_layers, top="wrong_in_the_return")
    line = wrong_in_the_return.__code__.co_firstlineno + 4
    assert f"the value returned (line {line})" in found
    assert clues(snaps, quantities, model.cfg.n_layers, model.cfg.n_heads, "clean") == []


def test_a_view_that_recuts_axes_is_named_with_its_line(case):
    from workbook.course.checks.reshapes import recut, recut_clue

    assert recut((6, 12, 4, 16), (6, 4, 12, 16)) and recut((5, 2, 3, 4), (24, 5))  # an axis moved in memory
    assert not recut((6, 12, 64), (6, 12, 4, 16)) and not recut((6, 12, 4, 16), (6, 768))  # a split, a merge
    assert not recut((4, 6, 64), (4, 6, 4, 16))  # a size that occurs twice (B = H = 4) decides nothing
    model, task, _ = case

    def scrambled(model, task):
        q = cache_activations(model, task.clean, ["blocks.0.attn.hook_q"])[1]["blocks.0.attn.hook_q"]
        B, T, H, D = q.shape
        return torch.einsum("bhtd,bhsd->bhts", q.view(B, H, T, D), q.view(B, H, T, D))

    found = []
    trace_locals(scrambled, (model, task), is_learner_file, found)
    line = scrambled.__code__.co_firstlineno + 3
    if task.seq_len != model.cfg.n_heads:
        assert found and found[0].line == line and found[0].how == ".view"
        assert f"line {line} reshapes a tensor of shape" in recut_clue(found, "scrambled")
    permuted = []
    trace_locals(lambda m, t: scrambled(m, t).permute(0, 2, 1, 3).reshape(task.batch_size, -1), (model, task),
                 is_learner_file, permuted)
    assert [r.line for r in permuted] == [r.line for r in found]  # a permute then a merge is not flagged


def test_queries_read_from_the_keys_hook_are_named(case):
    model, task, quantities = case
    found = _clues(lambda m, t: _qk(m, t, key_of=lambda l: l), model, task, quantities)
    assert found == []

    def keys_as_queries(model, task):
        _, clean = cache_activations(model, task.clean, ["blocks.0.attn.hook_k"])
        q = clean["blocks.0.attn.hook_k"]
        return q.sum()

    found = _clues(keys_as_queries, model, task, quantities)
    assert found and "the keys are used as the queries" in found[0] and "'blocks.0.attn.hook_q'" in found[0]
