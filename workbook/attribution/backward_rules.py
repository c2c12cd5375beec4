"""Modified backward passes on a TransformerBridge: the forward is untouched, local Jacobians are swapped.

RelP (:mod:`workbook.attribution.relp`) and the GIM-style gradient (:mod:`workbook.attribution.gim`)
are AtP / EAP with a different backward pass. A :class:`BackwardRules` says which local Jacobians
to replace; :func:`rule_hooks` turns it into forward hooks that leave every activation value
exactly as the model computes it and change only what autograd sends back:

* **frozen norm** (LN-rule): every LayerNorm / RMSNorm (``ln1``, ``ln2``, sandwich norms,
  ``ln_final``) is differentiated with its scale ``s`` held constant:
  ``dx = C(w * g) / s`` (``C`` centres for LayerNorm, is the identity for RMSNorm);
* **identity rule**: the MLP activation passes ``act(x) / x`` instead of ``act'(x)``
  (GELU: ``Phi(x)``, SiLU: ``sigmoid(x)``; ``act'(0)`` where ``x = 0``);
* **half rule** for the gated MLP product ``act(gate) * up``: each factor receives half;
* attention: ``"gradient"`` (unchanged), ``"ah"`` (the pattern is a constant: nothing flows
  into the scores, Ali et al. 2022's AH-rule), ``"half"`` (pattern x values: each factor receives
  half), ``"temperature"`` (the softmax is differentiated as ``softmax(s/T)``:
  ``ds = p_T * (g - sum(g * p_T))``, no ``1/T`` factor, as GIM's code);
* ``qkv_scale``: the gradients of q, k, v (at ``hook_q``/``hook_k``/``hook_v``) multiplied by constants.

How: value-preserving hooks. A replaced map ``y = f(x)`` becomes ``y.detach() + swap(x)`` whose
forward adds exact zeros and whose backward is the rule (a custom autograd function fed the
captured input); a scaled gradient is ``x.detach() + c * (x - x.detach())``. Hooks that replace a
node's own value run *before* the node's gradient is recorded, scaling hooks *after*, so a node
that is a factor (``hook_v``, ``hook_pattern``, ``hook_q``) is credited with its scaled share.
Models with soft-capped attention or logits (Gemma 2) are refused: no rule is defined for the cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from workbook.arch import adapter_for, check_model
from workbook.arch.graph import Graph
from workbook.attribution.atp import node_hooks, node_products
from workbook.attribution.eap import edge_scores_from_grads, edge_scores_to_scores, source_deltas
from workbook.core.errors import UnsupportedArchitectureError, WorkbookError, check_tokens
from workbook.core.runs import cache_activations, cache_activations_and_grads, compute_dtype, fused_attention
from workbook.core.scores import Scores
from workbook.core.task import Task, oriented
from workbook.patching.nodes import node_kinds, node_specs

__all__ = [
    "BackwardRules",
    "frozen_norm_grad",
    "rule_hooks",
    "rule_grads",
    "rule_node_scores",
    "rule_edge_scores",
    "swap_backward",
    "scale_grad",
]

ATTENTION_RULES = ("gradient", "ah", "half", "temperature")


@dataclass(frozen=True)
class BackwardRules:
    """Which local Jacobians to replace (see the module docstring)."""

    frozen_norm: bool = True
    identity_act: bool = False
    half_gate: bool = False
    attention: str = "gradient"
    temperature: float = 1.0
    qkv_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def describe(self) -> str:
        bits = ["frozen norms" if self.frozen_norm else "exact norms"]
        bits.append("identity rule (act(x)/x)" if self.identity_act else "activation gradient")
        if self.half_gate:
            bits.append("half rule on act(gate)*up")
        temp = f" (T={self.temperature:g})" if self.attention == "temperature" else ""
        bits.append(f"attention: {self.attention}{temp}")
        if self.qkv_scale != (1.0, 1.0, 1.0):
            bits.append("q/k/v gradients x {:g}/{:g}/{:g}".format(*self.qkv_scale))
        return ", ".join(bits)


class _Swapped(torch.autograd.Function):
    """Forward: ``value`` (a copy). Backward: ``vjp(g)`` for ``inputs``, nothing for ``value``."""

    @staticmethod
    def forward(ctx, vjp, value, *inputs):
        ctx.vjp = vjp
        return value.detach().clone()

    @staticmethod
    def backward(ctx, g):
        return (None, None, *ctx.vjp(g))


def swap_backward(value: torch.Tensor, inputs: Sequence[torch.Tensor], vjp: Callable) -> torch.Tensor:
    """A tensor equal to ``value`` whose backward sends ``vjp(g)`` (a tuple, one per input) to ``inputs``."""
    return _Swapped.apply(vjp, value, *inputs)


def scale_grad(x: torch.Tensor, c: float) -> torch.Tensor:
    """``x`` unchanged in the forward (exactly), its gradient multiplied by ``c``."""
    return x if c == 1.0 else x.detach() + c * (x - x.detach())


def frozen_norm_grad(x: torch.Tensor, w: torch.Tensor, eps: float, centred: bool, g: torch.Tensor) -> torch.Tensor:
    """Input gradient of ``y = C x / s * w + b`` with the scale ``s = sqrt(mean((Cx)^2) + eps)`` held
    constant: ``C(w * g) / s``. ``x [..., D]`` broadcasts against ``g [..., D]`` (e.g. one ``g`` per head)."""
    dt = torch.promote_types(compute_dtype(x.dtype), g.dtype)
    x, g, w = x.to(dt), g.to(dt), w.to(dt)
    xc = x - x.mean(-1, keepdim=True) if centred else x
    s = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    gw = g * w
    if centred:
        gw = gw - gw.mean(-1, keepdim=True)
    return gw / s


def _identity_coeff(act, x: torch.Tensor) -> torch.Tensor:
    """``act(x) / x`` (``act'(0)`` where ``x == 0``), in float32 or wider."""
    x = x.detach().to(compute_dtype(x.dtype))
    safe = torch.where(x == 0, torch.ones_like(x), x)
    tiny = torch.full((1,), 1e-30, dtype=x.dtype, device=x.device)
    return torch.where(x == 0, act(tiny) / tiny, act(safe) / safe)


def _check_supported(model) -> None:
    cfg = model.cfg
    for attr, what in (("attn_scores_soft_cap", "attention-score"), ("output_logits_soft_cap", "final-logit")):
        cap = getattr(cfg, attr, None)
        if cap is not None and float(cap) > 0:
            raise UnsupportedArchitectureError(
                f"{getattr(cfg, 'architecture', 'this model')} soft-caps its {what}s (c * tanh(x / c), c = {cap:g}); "
                "no RelP/GIM propagation rule is defined for the cap, so these methods refuse it."
            )


def _norm_paths(model) -> list[str]:
    paths = []
    for l in range(model.cfg.n_layers):
        paths += [f"blocks.{l}.{n}" for n in ("ln1", "ln2", "ln1_post", "ln2_post") if hasattr(model.blocks[l], n)]
    return paths + ["ln_final"]


def _norm_hooks(model, saved: dict) -> tuple[list, list]:
    ad = adapter_for(model)
    before, after = [], []
    for path in _norm_paths(model):
        w, eps, centred = ad.norm_at(path)

        def grab(t, hook, path=path):
            saved[path] = t

        def swap(t, hook, path=path, w=w, eps=eps, centred=centred):
            x = saved.pop(path)
            xd, wd = x.detach(), w.detach()
            return swap_backward(t, (x,), lambda g: (frozen_norm_grad(xd, wd, eps, centred, g).to(x.dtype),))

        after.append((f"{path}.hook_in", grab))
        before.append((f"{path}.hook_out", swap))
    return before, after


def _mlp_hooks(model, rules: BackwardRules, saved: dict) -> tuple[list, list]:
    ad = adapter_for(model)
    before, after = [], []
    for l in range(model.cfg.n_layers):
        act, gated = ad.mlp_activation(l)
        m = f"blocks.{l}.mlp."
        if gated and not rules.identity_act:
            if rules.half_gate:
                after += [(m + "hook_pre", lambda t, hook: scale_grad(t, 0.5)),
                          (m + "hook_pre_linear", lambda t, hook: scale_grad(t, 0.5))]
            continue
        if not rules.identity_act:
            continue

        def grab(t, hook, key=(l, "pre")):
            saved[key] = t

        def grab_up(t, hook, key=(l, "up")):
            saved[key] = t

        def swap(t, hook, l=l, act=act, gated=gated, half=rules.half_gate):
            pre = saved.pop((l, "pre"))
            c = _identity_coeff(act, pre)
            if not gated:
                return swap_backward(t, (pre,), lambda g: ((g * c).to(pre.dtype),))
            up = saved.pop((l, "up"))
            f = 0.5 if half else 1.0
            a, u = (c * pre.detach()).to(c.dtype), up.detach().to(c.dtype)
            return swap_backward(t, (pre, up), lambda g: ((f * g * u * c).to(pre.dtype), (f * g * a).to(up.dtype)))

        after.append((m + "hook_pre", grab))
        if gated:
            after.append((m + "hook_pre_linear", grab_up))
        before.append((m + "hook_post", swap))
    return before, after


def _softmax_t_vjp(scores: torch.Tensor, T: float) -> Callable:
    def vjp(g):
        s = scores.detach().to(compute_dtype(scores.dtype))
        p = (s / T).softmax(-1).nan_to_num(0.0)
        g = g.to(p.dtype)
        return ((p * (g - (g * p).sum(-1, keepdim=True))).to(scores.dtype),)

    return vjp


def _attention_hooks(model, rules: BackwardRules, saved: dict) -> tuple[list, list]:
    before, after = [], []
    if rules.attention not in ATTENTION_RULES:
        raise WorkbookError(f"attention rule must be one of {ATTENTION_RULES}, got {rules.attention!r}.")
    for l in range(model.cfg.n_layers):
        a = f"blocks.{l}.attn."
        if rules.attention == "ah":
            before.append((a + "hook_pattern", lambda t, hook: t.detach().requires_grad_(True)))
        elif rules.attention == "half":
            after += [(a + "hook_pattern", lambda t, hook: scale_grad(t, 0.5)),
                      (a + "hook_v", lambda t, hook: scale_grad(t, 0.5))]
        elif rules.attention == "temperature":

            def grab(t, hook, l=l):
                saved[("scores", l)] = t

            def swap(t, hook, l=l):
                s = saved.pop(("scores", l))
                return swap_backward(t, (s,), _softmax_t_vjp(s, rules.temperature))

            after.append((a + "hook_attn_scores", grab))
            before.append((a + "hook_pattern", swap))
        for x, c in zip("qkv", rules.qkv_scale):
            if c != 1.0:
                after.append((a + f"hook_{x}", lambda t, hook, c=c: scale_grad(t, c)))
    return before, after


def rule_hooks(model, rules: BackwardRules) -> tuple[list, list]:
    """``(before, after)`` forward hooks implementing ``rules``: ``before`` must run before a node's
    gradient is recorded at the same hook, ``after`` after it (see the module docstring)."""
    _check_supported(model)
    saved: dict = {}
    before, after = [], []
    parts = [_attention_hooks(model, rules, saved), _mlp_hooks(model, rules, saved)]
    if rules.frozen_norm:
        parts.append(_norm_hooks(model, saved))
    for b, a in parts:
        before += b
        after += a
    return before, after


def rule_grads(model, task: Task, act_names, grad_names, rules: BackwardRules, tokens=None):
    """:func:`~workbook.core.runs.cache_activations_and_grads` with the backward modified by ``rules``:
    ``(per_example_metric, activations, modified gradients)``."""
    before, after = rule_hooks(model, rules)
    with model.hooks(fwd_hooks=before):
        return cache_activations_and_grads(model, task, act_names, grad_names, tokens=tokens, extra_fwd_hooks=after)


def rule_node_scores(
    model, task: Task, what, per_position: bool, direction: str, rules: BackwardRules, method: str
) -> Scores:
    """``(n(corrupt) - n(clean)) . c_n`` for every node of the kinds in ``what``, with ``c_n`` the
    modified gradient (AtP's bookkeeping: names, reductions and per-example values as :func:`atp`)."""
    kinds = node_kinds(what)
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    if rules.attention == "ah" and set(kinds) & {"q", "k"}:
        raise WorkbookError(
            "under the AH-rule the attention pattern is a constant in the backward pass, so queries and keys "
            "receive no relevance at all; use attention='gradient' or 'half' to score q/k nodes."
        )
    t0 = time.perf_counter()
    run = oriented(task, direction)
    hooks = node_hooks(model, kinds)
    with fused_attention(model):
        _, corr = cache_activations(model, run.corrupt, hooks, attention_mask=run.attention_mask)
        _, clean, grads = rule_grads(model, run, hooks, hooks, rules)
    cols, names = [], []
    for k in kinds:
        names += [s.name for s in node_specs(model, k, per_position, task.seq_len)]
        cols += node_products(model, k, per_position, corr, clean, grads)
    per_ex = torch.cat(cols, 1)
    info = {"direction": direction, "rules": rules.describe(), "seconds": time.perf_counter() - t0,
            "passes": "2 fwd + 1 bwd", "forward_passes": 2, "backward_passes": 1}
    return Scores(names, per_ex.mean(0), method=method, kind="node", per_example=per_ex, info=info)


def _dest_grads(model, graph: Graph, acts: dict, grads: dict, rules: BackwardRules) -> torch.Tensor:
    """``[n_destinations, B, P, D]``: q/k/v head inputs through ``ln1`` (frozen or exact), MLP inputs, logits."""
    ad = adapter_for(model)
    dt = compute_dtype(model)
    L, dh = graph.n_layers, ad.d_head
    last = grads[f"blocks.{L - 1}.hook_resid_post"]
    out = last.new_empty((len(graph.destinations),) + tuple(last.shape), dtype=dt)
    row = 0
    for l in range(L):
        x = acts[f"blocks.{l}.hook_resid_pre"].to(dt)
        w, eps, centred = ad.norm_at(f"blocks.{l}.ln1")
        for kind in "qkv":
            n = ad.heads_of(kind)
            W = ad.projection(l, kind)[0].to(dt).T.reshape(n, dh, -1)  # [n, dh, D]
            g = grads[f"blocks.{l}.attn.hook_{kind}"].to(dt)  # [B, P, n, dh]
            g_ln = torch.einsum("bpnd,ndD->nbpD", g, W)
            if rules.frozen_norm:
                out[row : row + n] = frozen_norm_grad(x, w, eps, centred, g_ln)
            else:
                ad.norm_input_grad(l, x, g_ln, out[row : row + n])
            row += n
        out[row] = grads[f"blocks.{l}.hook_mlp_in"]
        row += 1
    out[row] = last
    return out


def rule_edge_scores(model, task: Task, direction: str, rules: BackwardRules, method: str) -> Scores:
    """EAP with the modified backward: ``sum_{pos,d} (z_u(corrupt) - z_u(clean)) . c_{in_v}`` for every
    edge, ``c_{in_v}`` the modified gradient at the destination's input (before its norm)."""
    check_model(model)
    check_tokens(task.clean, task.corrupt, model.cfg.d_vocab)
    t0 = time.perf_counter()
    graph = Graph.from_model(model)
    run = oriented(task, direction)
    L = graph.n_layers
    deltas = source_deltas(model, run, graph)
    act_names = [f"blocks.{l}.hook_resid_pre" for l in range(L)]
    grad_names = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in "qkv"]
    grad_names += [f"blocks.{l}.hook_mlp_in" for l in range(L)] + [f"blocks.{L - 1}.hook_resid_post"]
    with fused_attention(model):
        _, acts, grads = rule_grads(model, run, act_names, grad_names, rules)
    per_ex = edge_scores_from_grads(deltas, _dest_grads(model, graph, acts, grads, rules), graph)
    info = {"direction": direction, "rules": rules.describe(), "seconds": time.perf_counter() - t0,
            "passes": "2 fwd + 1 bwd", "forward_passes": 2, "backward_passes": 1}
    return edge_scores_to_scores(per_ex, graph, method, info)
