"""The property probes of the learner checks: identical prompts, a batch against its pairs, other step
counts, GradPath's first step, and the common autograd errors named in words."""

import pytest
import torch

import workbook as wb
from workbook.arch.graph import Graph
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.course.checks.cases import separating_cases
from workbook.course.checks.known_errors import known_error
from workbook.course.checks.properties import batch_mean, first_step_geometry, identical_prompts, once, steps_probe
from workbook.models.loading import build_gpt2

CASES = separating_cases()


def atp_heads(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    return wb.atp(model, task, "head").values.reshape(L, H)


def zero_ablation_heads(model, task):
    """Patches each head's output with 0 (not its corrupt value): nonzero even when corrupt = clean."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    out = torch.zeros(L, H)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
        for layer in range(L):
            for h in range(H):
                def put(act, hook, h=h):
                    act = act.clone()
                    act[:, :, h] = 0.0
                    return act
                with model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_z", put)]):
                    out[layer, h] = task.metric_value(model(task.clean)) - base
    return out


def test_identical_prompts_pass_a_right_answer_and_name_an_ablation():
    assert identical_prompts(atp_heads, CASES) is None
    msg = identical_prompts(zero_ablation_heads, CASES)
    assert msg is not None and "must be 0" in msg and "ablation" in msg


def test_a_batch_must_be_the_mean_of_its_pairs():
    assert batch_mean(atp_heads, CASES) is None
    summed = batch_mean(lambda m, t: atp_heads(m, t) * t.batch_size, CASES)
    assert "SUM of your results" in summed
    first = batch_mean(lambda m, t: atp_heads(m, t.subset([0])), CASES)
    assert "first prompt pair alone" in first

    def cubed_after_mean(model, task):  # a nonlinearity applied after the batch mean: not the mean of its pairs
        return atp_heads(model, task) ** 3

    refs = {id(m): atp_heads(m, t) for _, m, t in CASES}
    msg = batch_mean(cubed_after_mean, CASES, reference=lambda m, t: refs[id(m)])
    assert msg is not None and "combines the pairs wrongly" in msg


def test_a_per_pair_result_must_not_depend_on_the_other_pairs():
    def points(model, task, steps):  # [steps + 1, B, 2]: a per-pair quantity, then one divided by a batch-wide norm
        x = task.clean[:, :2].double()
        return torch.stack([x * (k + 1) for k in range(steps + 1)])

    assert batch_mean(points, CASES, 2, batch_axis=1) is None
    msg = batch_mean(lambda m, t, s: points(m, t, s) / points(m, t, s).norm(), CASES, 2, batch_axis=1)
    assert msg is not None and "changes when other pairs are in the batch" in msg


def _eap_ig_matrix(model, task, steps, alphas="paper"):
    graph = Graph.from_model(model)
    out = torch.zeros(graph.edge_mask.shape)
    out[graph.edge_mask] = wb.eap_ig(model, task, steps, alphas=alphas).values
    return out


def test_steps_probe_names_points_that_start_at_the_corrupt_input():
    corrupt_point = lambda m, t: _eap_ig_matrix(m, t, 1, "corrupt_end")  # noqa: E731
    assert steps_probe(_eap_ig_matrix, CASES, 3, _eap_ig_matrix, "EAP-IG", corrupt_point=corrupt_point) is None
    msg = steps_probe(lambda m, t, s: _eap_ig_matrix(m, t, s, "corrupt_end"), CASES, 3, _eap_ig_matrix, "EAP-IG",
                      corrupt_point=corrupt_point)
    assert msg is not None and "CORRUPT input (alpha = 0)" in msg
    wrong_count = steps_probe(lambda m, t, s: _eap_ig_matrix(m, t, s + 1), CASES, 3, _eap_ig_matrix, "EAP-IG")
    assert wrong_count is not None and "m = 4 steps" in wrong_count


def test_first_step_geometry_tells_length_from_direction():
    g = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, 5, generator=g)
    step = torch.randn(3, 4, 5, generator=g)
    ref = torch.stack([start, start + step])
    assert first_step_geometry([(ref, ref)]) is None
    longer = torch.stack([start, start + 2 * step])
    assert "wrong length" in first_step_geometry([(longer, ref)])
    turned = step.flip(-1)
    turned = turned * (step.flatten(1).norm(dim=1) / turned.flatten(1).norm(dim=1)).view(-1, 1, 1)
    assert "right length" in first_step_geometry([(torch.stack([start, start + turned]), ref)])


def test_common_autograd_errors_are_named_and_others_are_not():
    leaf = torch.ones(2)
    try:
        (leaf * 2).sum().backward()
    except RuntimeError as err:
        assert "requires grad" in known_error(err)
    x = torch.ones(2, requires_grad=True)
    try:
        (x * 2).backward()
    except RuntimeError as err:
        assert "one number" in known_error(err)
    assert known_error(ValueError("something else")) is None
    assert "None" in known_error(AttributeError("'NoneType' object has no attribute 'mul'"), "g = x.grad.mul(2)")


def _error_of(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        return err
    raise AssertionError("expected an error")


X = torch.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("slip, words", [
    (lambda: X.masked_fill(~torch.tril(torch.ones(4, 4)), 0.0), "dtype=torch.bool"),
    (lambda: torch.autograd.grad(X.requires_grad_(False).sum() + torch.ones(1, requires_grad=True).sum(),
                                 torch.zeros(1, requires_grad=True)), "never entered the run"),
    (lambda: X.sum(1).sum(2), "move down by one"),
    (lambda: torch.stack([1.0, 2.0]), "torch.tensor(the list)"),
    (lambda: X.sum(1, 2), "one tuple"),
    (lambda: torch.stack(x for x in X), "square brackets"),
    (lambda: X[0, 0].item(), "several values"),
    (lambda: {"a": X} - {"a": X}, "entry by entry"),
    (lambda: X - X.max(-1), "take .values"),
    (lambda: (1.5).item(), "already a Python number"),
    (lambda: X.clone.__setitem__(0, 1), "call it, x.clone()"),
    (lambda: 1 - (X > 0), "inverted with ~mask"),
    (lambda: X & X, "multiply (x * mask)"),
    (lambda: torch.linspace(X, X, 3), "alpha = torch.linspace(0, 1, m + 1)"),
])
def test_plain_pytorch_slips_are_named(slip, words):
    assert words in (known_error(_error_of(slip)) or "")


def test_a_gradient_of_a_python_number_and_a_hook_of_another_size_are_named():
    err = _error_of(lambda: torch.autograd.grad(1.5, X))
    assert "Python number" in known_error(err, "(g,) = torch.autograd.grad(d, x)")
    model = build_gpt2(seed=0, n_layers=1, n_heads=2, d_model=8, d_vocab=10)

    def backward_with_a_scalar_gate():
        with model.hooks(bwd_hooks=[("blocks.0.hook_resid_post", lambda grad, hook: torch.tensor(0.0))]):
            model(torch.zeros(1, 3, dtype=torch.long)).sum().backward()

    assert "torch.zeros_like(g)" in known_error(_error_of(backward_with_a_scalar_gate))


def test_a_variable_read_before_it_is_assigned_is_named():
    def learner():
        scale = layer + 1  # noqa: F821
        for layer in range(2):
            scale += layer
        return scale

    assert "before the line that assigns it" in known_error(_error_of(learner))


def test_once_calls_its_function_once():
    calls = []
    f = once(lambda: calls.append(1) or "found")
    assert f() == "found" and f() == "found" and calls == [1]
    assert once(None)() is None


def atp_with_batch_mean_corrupt(model, task):
    """AtP whose delta uses the batch mean of the corrupt activations (a mean-ablation): right per pair."""
    from workbook.core.runs import cache_activations, cache_activations_and_grads

    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n].mean(0, keepdim=True) - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def test_a_batch_that_mixes_one_side_is_named_by_that_side():
    msg = batch_mean(atp_with_batch_mean_corrupt, CASES, reference=lambda m, t: atp_heads(m, t),
                     reference_on=atp_heads)
    assert msg is not None and "share one corrupt" in msg and "mean-ablation" in msg
    assert batch_mean(atp_heads, CASES, reference=atp_heads, reference_on=atp_heads) is None


def test_crossed_examples_are_named_on_copies_of_one_pair():
    def crossed(model, task):  # sum over b, c of delta_b . grad_c / B: a different batch letter in each operand
        names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
        _, corr = cache_activations(model, task.corrupt, names)
        _, clean, grads = cache_activations_and_grads(model, task, names, names)
        B = task.batch_size
        return torch.stack([torch.einsum("bphd,cphd->h", corr[n] - clean[n], grads[n]) / B for n in names])

    refs = {id(m): atp_heads(m, t) for _, m, t in CASES}
    msg = batch_mean(crossed, CASES, reference=lambda m, t: refs[id(m)])
    assert msg is not None and "examples are crossed" in msg
    means_first = batch_mean(lambda m, t: crossed(m, t) / t.batch_size, CASES, reference=lambda m, t: refs[id(m)])
    assert means_first is not None and "crossed" not in means_first  # the product of the batch means is another mistake


def test_the_weights_of_the_prompt_pairs_in_a_batch_result_are_named():
    from workbook.course.checks.pair_weights import pair_weights

    g = torch.Generator().manual_seed(0)
    s = [torch.randn(5, 7, generator=g) for _ in range(4)]
    assert pair_weights(sum(s) / 4, s) is None  # the mean: nothing to say
    assert pair_weights(torch.stack(s).amax(0), s) is None  # no weighted sum
    assert "only the last pair counts" in pair_weights(s[3] / 4, s)
    said = pair_weights((2 * s[0] + s[1] + s[2] + s[3]) / 8, s)
    assert "the first pair (pair 0) is counted twice" in said and "divided by 8 instead of B = 4" in said
    assert "pair(s) [0] are left out" in pair_weights((s[1] + s[2] + s[3]) / 4, s)
    assert "divided by 3 instead of B = 4 (B - 1" in pair_weights(sum(s) / 3, s)
