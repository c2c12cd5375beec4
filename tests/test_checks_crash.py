"""A learner's crash is explained from its own failing line (workbook.course.checks.crash), and the
workbook's own errors name the problem (a string where a list of names belongs, names of another kind,
per-position score names)."""

import pytest
import torch

import workbook as wb
from workbook.course.checks import node_methods as C
from workbook.course.checks._runner import is_library
from workbook.course.checks.crash import explain_crash, name_size
from workbook.course.checks.shapes import shape_message
from workbook.models.specimens import build

DIMS = {"batch": 4, "seq": 6, "n_heads": 2, "d_head": 8, "n_ctx": 8, "d_vocab": 50}


def _raise(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        return err
    raise AssertionError("expected an error")


def test_sizes_are_named():
    assert name_size(6, DIMS) == "6 = seq" and name_size(8, DIMS) == "8 = d_head or n_ctx" and name_size(7, DIMS) == "7"


def test_a_broadcast_error_names_the_sizes_and_the_shapes_on_the_line():
    scores = torch.zeros(4, 2, 6, 6)
    mask = torch.ones(8, 8, dtype=torch.bool)

    def learner():
        return scores.masked_fill(~mask, 0.0)

    said = explain_crash(_raise(learner), DIMS, is_library)
    assert "8 = d_head or n_ctx" in said and "6 = seq" in said and "n_ctx = 8 positions" in said
    assert "scores is [4, 2, 6, 6] = [batch, n_heads, seq, seq]" in said and "mask is [8, 8]" in said


def test_a_key_error_says_which_dict_lacks_the_key_and_what_it_holds():
    grads = {"blocks.0.hook_q_input": 1, "blocks.0.hook_mlp_in": 2}

    def learner():
        return grads["hook_embed"]

    said = explain_crash(_raise(learner), DIMS, is_library)
    assert "the dict grads has no entry 'hook_embed'" in said and "destination inputs" in said
    other = {"a": 1}
    said = explain_crash(_raise(lambda: other["b"]), DIMS, is_library)
    assert "holds only the names its call asked for" in said


def test_the_hook_name_trap_is_left_to_its_own_message():
    cache = {"blocks.0.attn.o.hook_in": 1}  # keyed by hook.name under TransformerLens 4
    assert explain_crash(_raise(lambda: cache["blocks.0.attn.hook_z"]), DIMS, is_library) is None


@pytest.mark.filterwarnings("ignore:The .grad attribute")
def test_a_none_grad_is_named():
    x = torch.ones(2, requires_grad=True)
    y = x * 2  # not a leaf: y.grad stays None

    def learner():
        return torch.ones(2) * y.grad

    said = explain_crash(_raise(learner), DIMS, is_library)
    assert "is None" in said and "not a leaf" in said


def test_an_unknown_keyword_shows_the_signature():
    def f(a, extra_fwd_hooks=()):
        return a

    said = explain_crash(_raise(lambda: f(1, fwd_hooks=[])), DIMS, is_library)
    assert "no argument 'fwd_hooks'" in said and "extra_fwd_hooks" in said


def test_shape_messages_name_a_kept_batch_axis_and_merged_axes():
    dims = {"n_layers": 2, "n_heads": 4, "batch": 16}
    assert "average over the batch" in shape_message((2, 16, 4), ("n_layers", "n_heads"), dims)
    dims = {"steps + 1": 6, "batch": 2, "seq": 3, "d_model": 16}
    assert "merged" in shape_message((12, 3, 16), ("steps + 1", "batch", "seq", "d_model"), dims)
    dims["batch"] = 1
    assert "torch.stack" in shape_message((6, 3, 16), ("steps + 1", "batch", "seq", "d_model"), dims)


def test_an_integer_result_is_named():
    def learner(model, task):
        L, H = model.cfg.n_layers, model.cfg.n_heads
        return torch.tensor([[0] * H] * L)

    with pytest.raises(Exception, match="torch.int64 tensor, not floats"):
        C.check_patch_heads(learner, strict=True)


def test_a_crash_in_a_check_is_explained_in_words(capsys):
    def learner(model, task):
        _, cache = model.run_with_cache(task.clean)
        z = cache["blocks.0.attn.hook_z"]  # [batch, pos, head, d_head]
        return z.sum(-1) / z.sum((-1, -2))  # no keepdim: [B, P, H] / [B, P]

    assert not C.check_patch_heads(learner)
    out = capsys.readouterr().out
    assert "do not line up" in out and "keepdim" in out and "z is [" in out


def test_workbook_errors_name_strings_other_kinds_and_positions():
    model, task = build("cancellation")
    with pytest.raises(wb.WorkbookError, match="got the string 'L0H0'"):
        wb.patch_nodes(model, task, "head", nodes="L0H0")
    with pytest.raises(wb.WorkbookError, match="got the string"):
        wb.patch_edges(model, task, edges="L0H0->MLP1")
    with pytest.raises(wb.WorkbookError, match=r"edge, mlp names: each kind of name goes to its own call"):
        wb.patch_nodes(model, task, "head", nodes=["L0H0", "MLP1", "L0H0->MLP1"])
    per_pos = wb.patch_nodes(model, task, "head", per_position=True)
    with pytest.raises(KeyError, match="per position"):
        per_pos["L0H0"]


def test_one_hook_pair_and_one_position_logits_are_named():
    model, task = build("cancellation")
    one = ("hook_embed", lambda t, hook: t)
    with pytest.raises(wb.WorkbookError, match="list of \\(name, fn\\) pairs, got one pair"):
        wb.core.runs.cache_activations_and_grads(model, task, [], [], extra_fwd_hooks=one)
    logits = model(task.clean)
    with pytest.raises(wb.WorkbookError, match="logits of one position"):
        task.metric_value(logits[:, -1])


def test_tuples_not_unpacked_a_shadowed_function_and_a_none_attribute_are_named():
    x = torch.ones(3, requires_grad=True)
    cache = (torch.zeros(2), {"blocks.0.attn.hook_z": torch.zeros(2)})

    def reads_the_pair():
        return cache["blocks.0.attn.hook_z"]

    said = explain_crash(_raise(reads_the_pair), DIMS, is_library)
    assert "`cache` is a tuple (logits, cache)" in said

    def grad_tuple():
        g = torch.autograd.grad((x * x).sum(), x)
        return x - 0.5 * g

    assert "`g` is a tuple of 1 tensor" in explain_crash(_raise(grad_tuple), DIMS, is_library)

    def shadowed():
        def kind(name):
            return name[0]
        out = []
        for kind in ("head", "mlp"):  # noqa: B007 - the planted shadowing
            out.append(kind(kind))
        return out

    assert "`kind` is a str here, not a function" in explain_crash(_raise(shadowed), DIMS, is_library)

    class Holder:
        per_example = None

    scores = Holder()

    def none_attribute():
        return scores.per_example.abs()

    assert "`scores.per_example` is None here, so it has no .abs" in explain_crash(_raise(none_attribute), DIMS,
                                                                                   is_library)


def _patched(model, task):
    return wb.patch_nodes(model, task, "head").values.reshape(model.cfg.n_layers, model.cfg.n_heads)


def _builtin_sum(model, task):
    return sum(_patched(model, task)[None], dim=0)


def _shape_called(model, task):
    n_layers, n_heads = _patched(model, task).shape()
    return torch.zeros(n_layers, n_heads)


def _float64_matmul(model, task):
    return _patched(model, task) @ torch.eye(model.cfg.n_heads, dtype=torch.float64)


def _tensor_or(model, task):
    found = {}
    return found.get("heads") or _patched(model, task) or torch.zeros(1)


def _partial_positional(model, task):
    import functools

    def put(act, hook, layer, head):
        return act

    with model.hooks(fwd_hooks=[("blocks.0.attn.hook_z", functools.partial(put, 0, 0))]):
        return _patched(model, task)


def _hooks_appended(model, task):
    hooks = [("blocks.0.attn.hook_z", lambda act, hook: act)]
    hooks.append([("blocks.1.attn.hook_z", lambda act, hook: act)])
    with model.hooks(fwd_hooks=hooks):
        return _patched(model, task)


def _rebound_to_int(model, task):
    drop = {"layer": 0}
    for drop in range(2):
        pass
    return torch.zeros(model.cfg.n_layers, model.cfg.n_heads) + drop["layer"]


@pytest.mark.parametrize("learner, words", [
    (_builtin_sum, "built-in sum()"), (_shape_called, "called like a function"),
    (_float64_matmul, "different dtypes"), (_tensor_or, "`b if a is None else a`"),
    (_partial_positional, "partial(f, layer=l, head=h)"), (_hooks_appended, "use .extend() or +="),
    (_rebound_to_int, "holds a number"),
])
def test_plain_python_and_torch_slips_are_explained(capsys, learner, words):
    assert not C.check_patch_heads(learner)
    out = capsys.readouterr().out
    assert words in out and "Fix it and re-run" not in out, out


def test_an_argument_of_the_wrong_kind_is_named_from_the_called_functions_own_parameters():
    from workbook.core.runs import cache_activations_and_grads

    tokens = torch.zeros(2, 3, dtype=torch.long)

    def learner():
        return cache_activations_and_grads(None, tokens, [], [])  # the tokens where the task belongs

    said = explain_crash(_raise(learner), DIMS, is_library)
    assert said.startswith("the call cache_activations_and_grads(model, task, act_names, grad_names")
    assert "`task` got a Tensor of shape [2, 3] where a Task belongs (the tokens instead of the task?)" in said


def test_a_dict_added_dict_values_a_string_in_arithmetic_a_missing_axis_and_a_class_for_its_constructor():
    from workbook.arch.graph import Graph

    total, grads, effects, step_size, g = 0.0, {"a": torch.ones(2)}, {"x": 1.0}, "unit", torch.ones(3)
    said = explain_crash(_raise(lambda: total + grads), DIMS, is_library)
    assert said.startswith("a dict cannot be added to a number or to another dict")
    said = explain_crash(_raise(lambda: torch.tensor(effects.values())), DIMS, is_library)
    assert said.startswith("torch.tensor takes a list") and "[d[n] for n in names]" in said
    said = explain_crash(_raise(lambda: g * step_size), DIMS, is_library)
    assert said.startswith("`step_size` is the string 'unit' here, used in arithmetic")
    model = object()
    said = explain_crash(_raise(lambda: Graph(model)), DIMS, is_library)
    assert said.startswith("Graph(...) builds the object from all its parts") and "Graph.from_model(...)" in said
    act = torch.zeros(4, 6, 8)  # [batch, seq, d_head]: one head's slice handed back where [4, 6, 2, 8] belongs
    said = explain_crash(_raise(lambda: act.view(4, 6, 2, 8)), DIMS, is_library)
    assert "it lacks axis 2 (size 2 = n_heads)" in said and "A hook must hand back its whole activation" in said
