"""GIM-style gradient: against the independent reference of tests/test_relp.py (detached ``hook_scale``,
a temperature-T softmax written as ``p.detach() + T (softmax(s/T) - ...)`` so autograd supplies its
Jacobian, q/k/v and gate/up gradient scales as tensor gradient hooks). float64."""

import pytest

import workbook as wb
from tests import _families as F
from tests._tol import F64, assert_close
from tests.test_relp import check_against, grad_scale_hooks, linear_gpt2, ref_scores, rule_fwd_hooks
from workbook.attribution.gim import gim, gim_edges

KINDS = ("head", "q", "k", "v", "pattern", "mlp", "neuron")


@pytest.mark.parametrize("family", ["gpt2", "llama", "neox"])
def test_gim_nodes_match_reference(family):
    model, task = F.build(family), F.task()
    est = gim(model, task, KINDS)
    rules = rule_fwd_hooks(model, family, half_gate=True, attention="temperature", T=2.0)
    after = grad_scale_hooks(model, {"hook_q": 0.25, "hook_k": 0.25, "hook_v": 0.5})
    for kind in KINDS:
        check_against(est, ref_scores(model, task, kind, rules, after), family, f"{family} {kind}", model, task)


def test_frozen_norms_alone_change_the_scores_and_identical_inputs_give_zero():
    """T = 1 and unit scales leave only the frozen norms, which must still move the scores off AtP."""
    model, task = F.build("gpt2"), F.task()
    g = gim(model, task, ("head", "mlp"), temperature=1.0, qkv_scale=(1.0, 1.0, 1.0))
    a = wb.atp(model, task, ("head", "mlp"))
    assert float((g.values - a.values).abs().max()) > 1e-3  # the frozen norms matter
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert gim(model, same, ("head", "mlp")).values.abs().max() == 0


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_gim_edges_sum_to_node_gim(family):
    model, task = F.build(family), F.task()
    e = gim_edges(model, task).to_dict()
    node = gim(model, task, ("head", "mlp"))
    tol = 1e-6 if family in F.FLOAT32_INSIDE else F64
    for src in ["embed", "L0H1", "L0H3", "MLP0", "L1H2", "MLP1"][1:]:
        parts = [v for n, v in e.items() if n.startswith(src + "->")]
        assert_close(sum(parts), node[src], tol, abs(node[src]) + max(map(abs, parts)), src)


def test_soft_capped_models_are_refused():
    model, task = F.build("gemma2"), F.task()
    with pytest.raises(wb.UnsupportedArchitectureError, match="soft-caps"):
        gim(model, task, "head")


def test_on_a_linear_model_gim_is_patching_with_the_value_share_halved():
    """On a model linear in its embeddings the frozen norms and the temperature change nothing. With unit
    q/k/v scales GIM is patching; with the default ones the last layer's heads and MLP (nothing scaled
    downstream) still are and its value nodes (gradient x 0.5) get exactly half."""
    model, task = linear_gpt2(), F.task()
    for kind, share in (("head", 1.0), ("mlp", 1.0), ("v", 0.5)):
        truth = wb.patch_nodes(model, task, kind, method="forward")
        assert truth.values.abs().max() > 1e-3, kind
        last = [i for i, n in enumerate(truth.names) if n.startswith(("L1", "MLP1"))]
        got = gim(model, task, kind).per_example[:, last]
        assert_close(got, share * truth.per_example[:, last], F64, what=kind)
        neutral = gim(model, task, kind, temperature=1.0, qkv_scale=(1.0, 1.0, 1.0))
        assert_close(neutral.per_example, truth.per_example, F64, what=kind)
