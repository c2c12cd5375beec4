"""AtP's second-order (HVP) correction: against finite differences of the autograd gradient along
each node's patch (plain TL hooks, ``tests/_reference.py``), joint and own Hessian blocks, and exactness
where the metric is quadratic in the node. float64."""

import pytest
import torch

import workbook as wb
from tests import _families as F
from tests import _reference as R
from tests._tol import F64, assert_close
from workbook.attribution.hvp import atp_hvp


def phi_prime(model, task, moves, t):
    """Per-example ``d/ds M(clean with every (hook, idx, delta) in moves += (t + s) delta)`` at s = 0."""
    hooks = sorted({h for h, _, _ in moves})

    def shift(h):
        def fn(act, hook):
            act = act.clone()
            for hh, idx, d in moves:
                if hh == h:
                    act[idx] = act[idx] + t * d
            return act
        return fn

    g = R.grads_at(model, task, hooks, extra=[(h, shift(h)) for h in hooks])
    return sum(R.per_example(d * g[h][idx], task.batch_size) for h, idx, d in moves)


def second_derivative(model, task, moves, h=1e-3):
    """``phi''(0)`` by central differences of the exact gradient, Richardson-extrapolated (error O(h^4))."""
    d1 = (phi_prime(model, task, moves, h) - phi_prime(model, task, moves, -h)) / (2 * h)
    d2 = (phi_prime(model, task, moves, h / 2) - phi_prime(model, task, moves, -h / 2)) / h
    return (4 * d2 - d1) / 3


def _moves(model, task, slots):
    hooks = sorted({h for _, h, _ in slots})
    clean, corr = R.cache(model, task.clean, hooks), R.cache(model, task.corrupt, hooks)
    out = {}
    for n, h, idx in slots:
        d = torch.zeros_like(clean[h])
        d[idx] = (corr[h] - clean[h])[idx]
        out[n] = (h, (slice(None),), d)
    return out


# Richardson-extrapolated differences: truncation O(h^4) ~ 1e-12 and rounding ~1e-16 / h ~ 1e-13 of the
# scale; 1e-7 leaves room for the fourth derivative's size on these deliberately nonlinear models.
FD = 1e-7


@pytest.mark.parametrize("family", ["gpt2", "neox", "llama"])
def test_own_block_second_order_matches_finite_differences(family):
    model, task = F.build(family), F.task()
    est = atp_hvp(model, task, ("head", "mlp"))
    picked = ("L0H1", "L1H3", "MLP0", "MLP1")
    slots = [s for s in R.node_slots(model, "head") + R.node_slots(model, "mlp") if s[0] in picked]
    moves = _moves(model, task, slots)
    s = est.info["second_order"]
    want = torch.stack([0.5 * second_derivative(model, task, [moves[n]]) for n, _, _ in slots], 1)
    got = torch.stack([s.per_example[:, s.names.index(n)] for n, _, _ in slots], 1)
    assert want.abs().max() > 1e-3
    # Llama's RMSNorm and softmax round to float32 inside: its gradients carry ~1e-7 relative error,
    # which the difference quotient divides by h = 1e-3
    assert_close(got, want, FD if family not in F.FLOAT32_INSIDE else 1e-3, what=family)
    atp = wb.atp(model, task, ("head", "mlp"))
    assert_close(est.info["first_order"], atp, F64)


def test_joint_block_matches_finite_differences_of_the_joint_patch():
    model, task = F.build("gpt2"), F.task()
    est = atp_hvp(model, task, "mlp", block="joint")
    slots = R.node_slots(model, "mlp")
    moves = _moves(model, task, slots)
    all_moves = [moves[n] for n, _, _ in slots]
    # d/dt of the gradient under the joint move, dotted with each node's own delta: delta_n . (H delta)_n
    hd = {}
    for n, (h, idx, d) in moves.items():
        hooks = [m[0] for m in all_moves]
        def grad_dot(t, h=h, d=d, hooks=hooks):
            def shift(hh):
                def fn(act, hook):
                    return act + t * next(dd for k, _, dd in all_moves if k == hh)
                return fn
            g = R.grads_at(model, task, [h], extra=[(k, shift(k)) for k in hooks])
            return R.per_example(d * g[h], task.batch_size)
        e = 1e-3
        d1 = (grad_dot(e) - grad_dot(-e)) / (2 * e)
        d2 = (grad_dot(e / 2) - grad_dot(-e / 2)) / e
        hd[n] = 0.5 * (4 * d2 - d1) / 3
    want = torch.stack([hd[n] for n, _, _ in slots], 1)
    s = est.info["second_order"]
    assert want.abs().max() > 1e-3
    assert_close(s.per_example, want, FD)
    # the joint terms add up to the joint patch's second-order term
    assert_close(s.per_example.sum(1), 0.5 * second_derivative(model, task, all_moves), FD)


def test_correction_is_exact_where_the_metric_is_quadratic_in_the_node():
    """With the final norm replaced by a fixed scaling (hooks) and M = logit_diff^2, the metric is a
    quadratic function of the last MLP's output: AtP + delta^T H delta / 2 equals patching exactly,
    while AtP alone misses by the curvature term."""
    model, task = F.build("gpt2"), F.task()
    saved = {}
    model.add_hook("ln_final.hook_in", lambda t, hook: saved.__setitem__("x", t), is_permanent=True)
    model.add_hook("ln_final.hook_out", lambda t, hook: 0.3 * saved["x"], is_permanent=True)

    def squared(logits, answer, wrong, pos):
        rows = torch.arange(len(pos))
        return (logits[rows, pos, answer] - logits[rows, pos, wrong]) ** 2

    squared.reads_only_pos = True
    quad = wb.Task(task.clean, task.corrupt, task.answer, task.wrong, metric=squared)
    try:
        est = atp_hvp(model, quad, "mlp")
        truth = wb.patch_nodes(model, quad, "mlp", method="forward")
    finally:
        model.reset_hooks(including_permanent=True)
    i = est.names.index("MLP1")
    first = est.info["first_order"].per_example[:, i]
    assert float((first - truth.per_example[:, i]).abs().max()) > 1e-3  # AtP alone is wrong here
    assert_close(est.per_example[:, i], truth.per_example[:, i], F64, what="MLP1")
    assert est.info["reliability"]["MLP1"] > 0


def test_bad_block_is_refused():
    model, task = F.build("gpt2"), F.task()
    with pytest.raises(wb.WorkbookError, match="block"):
        atp_hvp(model, task, "head", block="diagonal")
