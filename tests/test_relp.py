"""RelP: every rule against an independent reference written with plain TL hooks and detach tricks.

The reference freezes norms by detaching ``hook_scale`` (the bridge's own norm computation), writes
the identity rule with the closed-form ``act(x)/x`` of each family's activation, the half rule and
the AH-rule with detaches and tensor gradient hooks, and takes gradients with zero perturbations
(as ``tests/_reference.py``). The implementation instead swaps local Jacobians with custom autograd
functions at the norms' and MLPs' input/output hooks. float64 throughout.
"""

import contextlib
import math
import warnings

import pytest
import torch

import workbook as wb
from tests import _families as F
from tests import _reference as R
from tests._tol import F32, F64, assert_close, scale_of
from workbook.attribution.backward_rules import rule_hooks
from workbook.attribution.relp import relp, relp_edges, relp_rules
from workbook.core.runs import baselines

KINDS = ("head", "q", "v", "pattern", "mlp", "neuron")


def _coeff(family, x):
    """``act(x) / x`` in closed form for each family's activation (gpt2/gemma: tanh GELU, neox: erf GELU)."""
    if family in ("llama", "qwen2"):
        return torch.sigmoid(x)
    if family == "neox" or family == "neox_seq":
        return 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    return 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def rule_fwd_hooks(model, family, ln=True, identity=False, half_gate=False, attention="gradient", T=2.0):
    """Forward hooks (values unchanged up to rounding) whose autograd gives the rule coefficients."""
    L, saved, hooks = model.cfg.n_layers, {}, []
    if ln:
        hooks += [(n, lambda s, hook: s.detach()) for n in model.hook_dict if n.endswith("hook_scale")]
    gated = "blocks.0.mlp.hook_pre_linear" in model.hook_dict
    for l in range(L):
        m = f"blocks.{l}.mlp."
        hooks.append((m + "hook_pre", lambda t, hook, l=l: saved.__setitem__(("pre", l), t)))
        if gated:
            hooks.append((m + "hook_pre_linear", lambda t, hook, l=l: saved.__setitem__(("up", l), t)))
        if identity and not gated:
            def post(t, hook, l=l):
                lin = saved[("pre", l)] * _coeff(family, saved[("pre", l)]).detach()
                return t.detach() + (lin - lin.detach())
            hooks.append((m + "hook_post", post))
        elif gated and (identity or half_gate):
            def post(t, hook, l=l):
                gate, up = saved[("pre", l)], saved[("up", l)]
                a = gate * _coeff(family, gate).detach() if identity else torch.nn.functional.silu(gate)
                f = 0.5 if half_gate else 1.0
                path = f * (a * up.detach()) + f * (a.detach() * up)
                return t.detach() + (path - path.detach())
            hooks.append((m + "hook_post", post))
        a = f"blocks.{l}.attn."
        if attention == "ah":
            hooks.append((a + "hook_pattern", lambda t, hook: t.detach()))
        elif attention == "temperature":
            hooks.append((a + "hook_attn_scores", lambda t, hook, l=l: saved.__setitem__(("s", l), t)))
            def pat(t, hook, l=l):
                sT = (saved[("s", l)] / T).softmax(-1)
                return t.detach() + T * (sT - sT.detach())
            hooks.append((a + "hook_pattern", pat))
    return hooks


def grad_scale_hooks(model, scales):
    """``[(hook, fn)]`` multiplying the gradient flowing into ``hook``'s output by ``c`` (tensor hooks)."""
    out = []
    for l in range(model.cfg.n_layers):
        for name, c in scales.items():
            def fn(t, hook, c=c):
                t = t.view_as(t)
                t.register_hook(lambda g: g * c)
                return t
            out.append((f"blocks.{l}.attn.{name}", fn))
    return out


@contextlib.contextmanager
def fused(model):
    """The reference runs with fused q/k/v inputs: with the per-head split, the bridge applies ``ln1``
    through the raw HF module, where no hook (and so no ``hook_scale`` detach) fires."""
    model.set_use_split_qkv_input(False)
    try:
        yield
    finally:
        model.set_use_split_qkv_input(True)


def ref_grads(model, task, hooks, rules, after=()):
    with fused(model):
        return _ref_grads(model, task, hooks, rules, after)


def _ref_grads(model, task, hooks, rules, after=()):
    clean = R.cache(model, task.clean, hooks)
    eps = {h: torch.zeros_like(clean[h]).requires_grad_(True) for h in hooks}
    fwd = list(rules) + [(h, lambda a, hook, h=h: a + eps[h]) for h in hooks] + list(after)
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = R.metric(task, model.run_with_hooks(task.clean, fwd_hooks=fwd))
        gs = torch.autograd.grad(m, [eps[h] for h in hooks], allow_unused=True)
    model.zero_grad(set_to_none=True)
    return {h: torch.zeros_like(eps[h]) if g is None else g for h, g in zip(hooks, gs)}


def ref_scores(model, task, kind, rules, after=()):
    slots = R.node_slots(model, kind)
    hooks = sorted({h for _, h, _ in slots})
    clean, corr = R.cache(model, task.clean, hooks), R.cache(model, task.corrupt, hooks)
    g = ref_grads(model, task, hooks, rules, after)
    return {n: R.per_example((corr[h] - clean[h])[idx] * g[h][idx], task.batch_size) for n, h, idx in slots}


def _tol(family):
    """F64 in float64; where the family's RMSNorm/softmax round to float32 inside (tests/_families.py),
    the float32 policy's F32 (~100 ulps of the scale: the half rule's query scores sum softmax
    Jacobian terms that cancel, 1.5e-6 of the scale with torch's scalar kernels)."""
    return F32 if family in F.FLOAT32_INSIDE else F64


def check_against(est, ref, family, what, model, task):
    """Per-example scores against the reference. Where the family rounds to float32 inside, the
    rounding is relative to the metric's size (scores are products with its gradient), so the scale
    is max(max |want|, |M(clean)|, |M(corrupt)|) there (tests/README.md, policy 2)."""
    names = list(ref)
    want = torch.stack([ref[n] for n in names], 1)
    got = torch.stack([est.per_example[:, est.names.index(n)] for n in names], 1)
    assert want.abs().max() > 1e-3, what
    scale = max(scale_of(want), scale_of(baselines(model, task))) if family in F.FLOAT32_INSIDE else None
    assert_close(got, want, _tol(family), scale, what=what)


@pytest.mark.parametrize("family", ["gpt2", "llama", "neox"])
def test_relp_nodes_match_reference(family):
    model, task = F.build(family), F.task()
    est = relp(model, task, KINDS)
    rules = rule_fwd_hooks(model, family, identity=True, half_gate=True)
    for kind in KINDS:
        check_against(est, ref_scores(model, task, kind, rules), family, f"{family} {kind}", model, task)


@pytest.mark.parametrize("family,attention", [("gpt2", "ah"), ("llama", "half"), ("qwen2", "ah")])
def test_relp_attention_rules_match_reference(family, attention):
    model, task = F.build(family), F.task()
    kinds = ("head", "v", "pattern", "mlp") + (("q",) if attention == "half" else ())
    est = relp(model, task, kinds, attention=attention)
    rules = rule_fwd_hooks(model, family, identity=True, half_gate=True, attention=attention)
    after = grad_scale_hooks(model, {"hook_pattern": 0.5, "hook_v": 0.5}) if attention == "half" else ()
    for kind in kinds:
        ref = ref_scores(model, task, kind, rules, after)
        check_against(est, ref, family, f"{family} {attention} {kind}", model, task)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_rules_leave_the_forward_unchanged(family):
    model, task = F.build(family), F.task()
    before, after = rule_hooks(model, relp_rules("half"))
    plain = R.logits(model, task.clean)
    with torch.enable_grad():
        task.clean.requires_grad_(False)
        hooked = model.run_with_hooks(task.clean, fwd_hooks=before + after)
    assert torch.equal(hooked, plain)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_relp_edges_sum_to_node_relp(family):
    """The edges out of a source use the same coefficients as its node score: they sum to it."""
    model, task = F.build(family), F.task()
    e = relp_edges(model, task).to_dict()
    node = relp(model, task, ("head", "mlp"))
    for src in ["L0H1", "L0H3", "MLP0", "L1H2", "MLP1"]:
        parts = [v for n, v in e.items() if n.startswith(src + "->")]
        assert_close(sum(parts), node[src], _tol(family), abs(node[src]) + max(map(abs, parts)), src)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_relp_edges_match_reference(family):
    """Edge scores = delta_u . coefficient at v's input; the reference differentiates v's own input
    (``hook_mlp_in``, the last ``hook_resid_post``, and for q/k/v a frozen LN written here with autograd)."""
    model, task = F.build(family), F.task()
    est = relp_edges(model, task).to_dict()
    deltas = R.source_deltas(model, task)
    rules = rule_fwd_hooks(model, family, identity=True, half_gate=True)
    L = model.cfg.n_layers
    hooks = [f"blocks.{l}.hook_mlp_in" for l in range(L)] + [f"blocks.{L - 1}.hook_resid_post", "blocks.1.attn.hook_q"]
    g = ref_grads(model, task, hooks, rules)  # gradients of the batch mean; edge scores are batch means
    B = task.batch_size
    x = R.cache(model, task.clean, ["blocks.1.hook_resid_pre"])["blocks.1.hook_resid_pre"].requires_grad_(True)
    ln = model.blocks[1].ln1._original_component
    w = ln.weight + (1.0 if family == "gemma" else 0.0)
    xc = x - x.mean(-1, keepdim=True) if isinstance(ln, torch.nn.LayerNorm) else x
    eps = getattr(ln, "eps", getattr(ln, "variance_epsilon", None))
    y = xc / (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt().detach() * w
    q = model.blocks[1].attn.q._original_component(y).reshape(B, task.seq_len, model.cfg.n_heads, -1)
    (gq,) = torch.autograd.grad((q[:, :, 2] * g["blocks.1.attn.hook_q"][:, :, 2]).sum(), [x])
    checks = {"MLP0": g["blocks.0.hook_mlp_in"], "MLP1": g["blocks.1.hook_mlp_in"],
              "logits": g[f"blocks.{L - 1}.hook_resid_post"], "L1H2.q": gq}
    edges = [(s, d) for d in checks for s in ["embed", "L0H0", "L0H3", "MLP0"] if f"{s}->{d}" in est]
    want = [float((deltas[s] * checks[d]).sum()) for s, d in edges]
    assert len(edges) == 15 and max(map(abs, want)) > 1e-3
    assert_close([est[f"{s}->{d}"] for s, d in edges], want, _tol(family), what=f"{family} edges")


def test_ah_rule_refuses_query_and_key_nodes():
    model, task = F.build("gpt2"), F.task()
    with pytest.raises(wb.WorkbookError, match="AH-rule"):
        relp(model, task, "q", attention="ah")


def test_soft_capped_models_are_refused():
    model, task = F.build("gemma2"), F.task()
    with pytest.raises(wb.UnsupportedArchitectureError, match="soft-caps"):
        relp(model, task, "head")


def test_identical_inputs_give_zero():
    model, task = F.build("gpt2"), F.task()
    same = wb.Task(task.clean, task.clean.clone(), task.answer, task.wrong)
    assert relp(model, same, ("head", "mlp", "neuron")).values.abs().max() == 0


def linear_gpt2():
    """A GPT-2 that is linear in its embeddings (float64): identity MLP activation, zero query/key
    weights (a constant, uniform causal pattern), and norms whose eps (1e16) dwarfs the residual's
    variance, so their scale is constant to float64 precision (weights x 1e8 keep the outputs O(1))."""
    import transformers as T

    cfg = T.GPT2Config(vocab_size=F.V, n_embd=16, n_layer=2, n_head=4, n_positions=16, resid_pdrop=0.0,
                       embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.4, activation_function="linear",
                       layer_norm_epsilon=1e16, bos_token_id=0, eos_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(3)
        hf = T.GPT2LMHeadModel(cfg)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if ".ln_" in name and name.endswith("weight"):
                p.mul_(1e8)
            if name.endswith("c_attn.weight"):
                p[:, : 2 * 16] = 0
            if name.endswith("c_attn.bias"):
                p[: 2 * 16] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wb.bridge_from_hf(hf.eval(), dtype=torch.float64)


def test_relp_equals_patching_on_a_linear_model():
    model, task = linear_gpt2(), F.task()
    for kind in ("head", "v", "mlp", "neuron"):
        truth = wb.patch_nodes(model, task, kind, method="forward")
        est = relp(model, task, kind)
        assert truth.values.abs().max() > 1e-3, kind
        assert_close(est.per_example, truth.per_example, F64, what=kind)
