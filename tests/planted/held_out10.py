"""Held-out set #10 of planted learner mistakes (issue 23), written blind on 2026-12-06; measured once, unseen.

The writer never saw the checks, their messages, the other planted sets or their probes; only the
chapters (what learners see), ``tests/planted/_base.py`` and the list of ids already planted. Each
cause regex was written from the cause alone, before anything measured it.

Verification (``/work/scratch/r10/verify.py``, once, before the measurement): every mistake was run
next to the chapter's own solution on that chapter's model and task (chapter 0: ``zoo.load("induction",
n=16, seed=0)``; chapter 1: ``saturation.build()``; chapter 2: ``cancellation.build()``; chapter 3:
``build("flat_region")``, EAP-IG with ``steps=5``; chapter 4: ``build("path_saturation")``, GradPath
with ``steps=5``, ``step_size="unit"``; chapter 5: the ``mixture`` model on ``ioi`` (n=8, seed=0), with
AtP node, QK-fix q/k, EAP edge and mixed estimates and ``k=5``). Kept only mistakes whose
``max |wrong - right|`` is at least 2 % of ``max |right|`` there, or that crash, or that return a
wrong shape or wrong names.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, pattern, qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

INF = float("inf")


# ---------------------------------------------------------------- check_patch_heads
def _patch(model, task, out=None, baseline=True, layer_of=None):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean)) if baseline else 0.0
    out = torch.zeros(L, H) if out is None else out
    for l in range(L):
        name = names[l] if layer_of is None else layer_of(l)
        for h in range(H):
            def put(act, hook, h=h, name=name):
                act = act.clone()
                act[:, :, h] = corr[name][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(name, put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def patch_int_out(model, task):
    # out built from a Python list of 0s: an int64 tensor, every effect truncated toward zero
    L, H = model.cfg.n_layers, model.cfg.n_heads
    return _patch(model, task, out=torch.tensor([[0] * H for _ in range(L)]))


def patch_hook_name_cache(model, task):
    # own corrupt cache keyed by hook.name (TL4: the bridge's name), read back by the registered name
    names, corr = zs(model), {}

    def save(act, hook):
        corr[hook.name] = act.detach()

    with torch.no_grad(), model.hooks(fwd_hooks=[(n, save) for n in names]):
        model(task.corrupt)
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    for l, n in enumerate(names):
        for h in range(model.cfg.n_heads):
            def put(act, hook, n=n, h=h):
                act = act.clone()
                act[:, :, h] = corr[n][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(n, put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def patch_no_baseline(model, task):
    return _patch(model, task, baseline=False)


def patch_leaked_loop_name(model, task):
    # `name` left over from an earlier `for name in names` loop: every row hooks the last layer
    names = zs(model)
    return _patch(model, task, layer_of=lambda l: names[-1])


def patch_unpack_swapped(model, task):
    # `corr, _ = cache_activations(...)`: corr is the logits tensor, then indexed by a hook name
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    corr, _ = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ---------------------------------------------------------------- check_atp_heads
def _atp_parts(model, task, names=None):
    names = names or zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    m, clean, grads = cache_activations_and_grads(model, task, names, names)
    return names, corr, clean, grads, m


def atp_norm_product(model, task):
    # |delta| * |grad| per (position, head) instead of the dot product over d_head
    names, corr, clean, grads, _ = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]).norm(dim=-1) * grads[n].norm(dim=-1)).sum(1).mean(0) for n in names])


def atp_no_batch_mean(model, task):
    names, corr, clean, grads, _ = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)) for n in names])  # [L, B, H]


def atp_plus_clean_metric(model, task):
    # Taylor value M(clean) + delta . grad returned: an estimate of M(patched), not of the effect
    names, corr, clean, grads, m = _atp_parts(model, task)
    est = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    return est + m.mean()


def atp_nonleaf_grad(model, task):
    # activations saved in forward hooks, metric.backward(), then act.grad: None on a non-leaf
    names, acts = zs(model), {}
    _, corr = cache_activations(model, task.corrupt, names)

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t)) for n in names]
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd):
        task.metric_value(model(task.clean)).backward()
    B = task.batch_size
    return torch.stack([((corr[n] - acts[n].detach()) * acts[n].grad * B).sum((1, 3)).mean(0) for n in names])


def atp_attn_out(model, task):
    # the layer's hook_attn_out used as the node: one number per layer, copied to every head
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.hook_attn_out" for l in range(L)]
    names, corr, clean, grads, _ = _atp_parts(model, task, names)
    per_layer = torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 2)).mean(0) for n in names])
    return per_layer[:, None].expand(L, H).clone()


# ---------------------------------------------------------------- check_qk_fix_queries
def _qk_queries(model, task, softmax="torch", T_mask=None, eq="bthd,bshd->bhts", score_delta=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T_mask or T, T_mask or T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new, sc = corr[f"blocks.{l}.attn.hook_q"], attn_scale(model, l)

        def pat(qq):
            s = (torch.einsum(eq, qq, k) / sc).masked_fill(~mask, -INF)
            if softmax == "manual":
                e = s.exp()
                return e / e.sum(-1)
            return s.log_softmax(-1) if softmax == "log" else s.softmax(-1)

        if score_delta:
            d = ((torch.einsum(eq, q_new, k) - torch.einsum(eq, q, k)) / sc) * mask
        else:
            d = pat(q_new) - pat(q)
        out.append((d * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


def qkq_log_softmax(model, task):
    # log_softmax where softmax belongs: differences of log-probabilities times the pattern gradient
    return _qk_queries(model, task, softmax="log")


def qkq_manual_softmax_no_keepdim(model, task):
    # hand-written softmax: e / e.sum(-1) without keepdim=True, broadcast over the wrong axis
    return _qk_queries(model, task, softmax="manual")


def qkq_mask_n_ctx(model, task):
    # causal mask built with model.cfg.n_ctx, not the prompt length
    return _qk_queries(model, task, T_mask=model.cfg.n_ctx)


def qkq_head_pos_layout(model, task):
    # hook_q / hook_k read as [batch, head, pos, d_head] (they are [batch, pos, head, d_head])
    return _qk_queries(model, task, eq="bhtd,bhsd->bhts")


def qkq_score_change(model, task):
    # change of the scores (before the softmax) multiplied by the gradient at the pattern
    return _qk_queries(model, task, score_delta=True)


# ---------------------------------------------------------------- check_qk_fix_keys
def _qk_keys(model, task, patch="one", interleaved=False, rows="t>=s", all_layers=False):
    L, T, H = model.cfg.n_layers, task.seq_len, model.cfg.n_heads
    clean, corr, grads, pats = qk_parts(model, task)
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, H, T)
    for l in range(L):
        qn, kn = (qk[l], qk[l + 1]) if interleaved else (qk[2 * l], qk[2 * l + 1])
        q, k, k_new, sc = clean[qn], clean[kn], corr[kn], attn_scale(model, l)

        A = pattern(q, k, sc, mask)
        for s in range(T):
            k2 = k.clone()
            if patch == "head_axis":
                k2[:, :, s] = k_new[:, :, s]
            else:
                k2[:, s] = k_new[:, s]
            A2 = pattern(q, k if patch == "unused" else k2, sc, mask)
            prod = (A2 - A) * grads[pats[l]]  # [B, H, T, S]
            if rows == "t<s":
                prod = prod[:, :, :s]
            val = prod.sum((-1, -2)).mean(0)
            if all_layers:
                out[:, :, s] = val
            else:
                out[l, :, s] = val
    return out


def qkk_head_axis(model, task):
    # k2[:, :, s]: the key position indexed on the head axis of [batch, pos, head, d_head]
    return _qk_keys(model, task, patch="head_axis")


def qkk_patched_keys_unused(model, task):
    # copy-paste slip: the "patched" pattern recomputed from k, not k2 (every estimate 0)
    return _qk_keys(model, task, patch="unused")


def qkk_interleaved_names(model, task):
    # the [q0, k0, q1, k1, ...] name list indexed qk[l], qk[l + 1]: from layer 1 on, q and k of the wrong layers
    return _qk_keys(model, task, interleaved=True)


def qkk_rows_before_s(model, task):
    # causality reversed: only the query rows t < s summed (they cannot see key s)
    return _qk_keys(model, task, rows="t<s")


def qkk_out_all_layers(model, task):
    # out[:, :, s] = ...: every layer's row overwritten, the last layer's values everywhere
    return _qk_keys(model, task, all_layers=True)


# ---------------------------------------------------------------- check_graddrop
def _graddrop(model, task, leaf=True, retain=True, late_product=False, gate_at="writes", clear_late=False):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))] if leaf else []
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    gated = [[n] for n in names] if gate_at == "hook_z" else [[f"blocks.{l}.hook_{w}_out" for w in ("attn", "mlp")]
                                                             for l in range(L)]
    bwd += [(n, lambda g, hook, l=l: torch.zeros_like(g) if drop["layer"] == l else g)
            for l in range(L) for n in gated[l]]

    def product(n):  # [B, H]
        return ((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))

    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            if not clear_late:
                grads.clear()
            metric.backward(retain_graph=retain)
            if clear_late:
                grads.clear()
            if not late_product:
                per_pass.append(torch.stack([product(n) for n in names], 1))  # [B, L, H]
        if late_product:
            per_pass.append(torch.stack([product(n) for n in names], 1))
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)


def graddrop_gate_at_hook_z(model, task):
    # the gradient stopped at the heads' own hook_z in pass l, not at layer l's writes to the residual
    return _graddrop(model, task, gate_at="hook_z")


def graddrop_no_leaf(model, task):
    # no LEAF_HOOK: with frozen parameters nothing in the forward requires grad
    return _graddrop(model, task, leaf=False)


def graddrop_no_retain_graph(model, task):
    # metric.backward() without retain_graph=True: the second pass has no graph left
    return _graddrop(model, task, retain=False)


def graddrop_product_after_loop(model, task):
    # the per-pass product dedented out of the pass loop: only the last pass's gradients used
    return _graddrop(model, task, late_product=True)


def graddrop_grads_cleared_after_backward(model, task):
    # grads.clear() placed after metric.backward(): every pass reads an empty dict (zeros)
    return _graddrop(model, task, clear_late=True)


# ---------------------------------------------------------------- check_eap
def eap_divided_by_n_sources(model, task):
    # deltas.shape[0] taken for the batch size: it is n_sources
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / deltas.shape[0] * graph.edge_mask


def eap_stack_sources_on_grads(model, task):
    # graph.stack_sources used on the destination-gradient dict (stack_dest_grads was meant)
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_sources(grads)) / task.batch_size * graph.edge_mask


def eap_abs_per_example(model, task):
    # |EAP| of each prompt pair, then the batch mean
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->stb", deltas, graph.stack_dest_grads(grads)).abs().mean(-1) * graph.edge_mask


def eap_act_grad_names_swapped(model, task):
    # cache_activations_and_grads(model, task, dest_hooks, source_hooks): act/grad name lists swapped
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.dest_hooks), list(graph.source_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size * graph.edge_mask


def eap_mask_transposed(model, task):
    # edge_mask read as [destinations, sources]: multiplied by edge_mask.T
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size * graph.edge_mask.T


# ---------------------------------------------------------------- check_eap_ig
def _eap_ig(model, task, steps, start_hook="hook_embed", st="right", input_delta=False, alpha_delta=False,
            keyword="extra_fwd_hooks"):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names + [start_hook])
    _, corr = cache_activations(model, task.corrupt, names + [start_hook])
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean[start_hook], corr[start_hook]
    if input_delta:
        deltas = (e_n - e_c)[None].expand_as(deltas)
    total = 0.0
    for k in range(1, steps + 1):
        if alpha_delta:
            _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks))
            total = total + (k / steps) * graph.stack_dest_grads(grads)
            continue
        target = e_n + (k / steps) * (e_c - e_n)
        if st == "no_t":
            hook = lambda t, hook, target=target: (target - t).detach()  # noqa: E731
        else:
            hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        hooks = {keyword: [("hook_embed", hook)]}
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), **hooks)
        total = total + graph.stack_dest_grads(grads)
    return torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size * graph.edge_mask


def eap_ig_resid_pre_endpoints(model, task, steps):
    # endpoints cached at blocks.0.hook_resid_pre (token + position) but written at hook_embed:
    # the positional embedding is added a second time at every point
    return _eap_ig(model, task, steps, start_hook="blocks.0.hook_resid_pre")


def eap_ig_fwd_hooks_keyword(model, task, steps):
    # the straight-through hook passed as fwd_hooks=..., not extra_fwd_hooks=...
    return _eap_ig(model, task, steps, keyword="fwd_hooks")


def eap_ig_alpha_scaled_delta(model, task, steps):
    # IG read as "scale the delta by alpha": clean-run gradients only, times the mean alpha
    return _eap_ig(model, task, steps, alpha_delta=True)


def eap_ig_straight_through_drops_t(model, task, steps):
    # straight-through typed as (target - t).detach(): the leading `t +` is missing
    return _eap_ig(model, task, steps, st="no_t")


def eap_ig_input_delta_for_every_source(model, task, steps):
    # plain IG's (input - baseline): the embedding change used as every source's delta
    return _eap_ig(model, task, steps, input_delta=True)


# ---------------------------------------------------------------- check_gradpath
def _walk(model, task, steps, step_size, e_c, e_n, target, direction, optimizer=None, grad_mode=torch.enable_grad):
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), grad_mode():
        leaf = gamma.detach().requires_grad_(True)
        opt = optimizer([leaf], lr=float(eta.flatten()[0])) if optimizer else None
        for _ in range(steps):
            if opt is not None:
                opt.zero_grad()
                output_distance(model, task.clean, leaf, target).sum().backward()
                opt.step()
                points.append(leaf.detach().clone())
                continue
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * direction(g)).detach()
            points.append(gamma)
    return torch.stack(points)


def _ends(model, task, swap=False):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    if swap:  # the two caches unpacked into each other's names
        target, _ = cache_activations(model, task.clean, [LEAF_HOOK])
        return n[LEAF_HOOK], c[LEAF_HOOK], target
    return c[LEAF_HOOK], n[LEAF_HOOK], target


def _unit(g):
    return g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)


def gradpath_normalize_default_dim(model, task, steps, step_size="unit"):
    # torch.nn.functional.normalize(g): default dim=1 is the position axis of [B, P, D]
    e_c, e_n, target = _ends(model, task)
    return _walk(model, task, steps, step_size, e_c, e_n, target, torch.nn.functional.normalize)


def gradpath_adam(model, task, steps, step_size="unit"):
    # torch.optim.Adam(lr=eta) on the embedding instead of normalised gradient steps
    e_c, e_n, target = _ends(model, task)
    return _walk(model, task, steps, step_size, e_c, e_n, target, _unit, optimizer=torch.optim.Adam)


def gradpath_no_grad(model, task, steps, step_size="unit"):
    # the loop wrapped in torch.no_grad() ("we do not train anything"), not torch.enable_grad()
    e_c, e_n, target = _ends(model, task)
    with torch.no_grad():
        return _walk(model, task, steps, step_size, e_c, e_n, target, _unit, grad_mode=torch.no_grad)


def gradpath_cat_not_stack(model, task, steps, step_size="unit"):
    # torch.cat(points) where torch.stack belongs: [(steps + 1) * B, P, D]
    e_c, e_n, target = _ends(model, task)
    return torch.cat(list(_walk(model, task, steps, step_size, e_c, e_n, target, _unit)))


def gradpath_clean_corrupt_swapped(model, task, steps, step_size="unit"):
    # clean and corrupt caches swapped: starts at e_corrupt and walks toward the clean logits
    e_c, e_n, target = _ends(model, task, swap=True)
    return _walk(model, task, steps, step_size, e_c, e_n, target, _unit)


# ---------------------------------------------------------------- check_verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _kind_mlp_first(name):
    if "MLP" in name:
        return "mlp"
    if "->" in name:
        return "edge"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _verify(model, task, scores, k, kind=_kind, call=None, replace=False):
    names = scores.order(absolute=True)[:k]
    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if call:
            res = call(what, group, names)
        elif what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        new = {n: float(res[n]) for n in group}
        effects = new if replace else {**effects, **new}
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)


def verify_mlp_test_before_edge(model, task, scores, k=5):
    # `"MLP" in name` tested before `"->" in name`: edges touching an MLP sent to patch_nodes
    return _verify(model, task, scores, k, kind=_kind_mlp_first)


def verify_per_position(model, task, scores, k=5):
    # patch_nodes(..., per_position=True) copied from chapter 1: per-position names and effects
    def call(what, group, names):
        if what == "edge":
            return wb.patch_edges(model, task, edges=group)
        return wb.patch_nodes(model, task, what, per_position=True)

    return _verify(model, task, scores, k, call=call)


def verify_all_names_each_call(model, task, scores, k=5):
    # the whole top-k list passed to every call instead of the kind's own group
    def call(what, group, names):
        if what == "edge":
            return wb.patch_edges(model, task, edges=names)
        return wb.patch_nodes(model, task, what, nodes=names)

    return _verify(model, task, scores, k, call=call)


def verify_name_string_as_nodes(model, task, scores, k=5):
    # one call per name with nodes=name / edges=name: a string where a list belongs
    def call(what, group, names):
        res = {}
        for n in group:
            r = wb.patch_edges(model, task, edges=n) if what == "edge" else wb.patch_nodes(model, task, what, nodes=n)
            res[n] = r[n]
        return res

    return _verify(model, task, scores, k, call=call)


def verify_effects_dict_replaced(model, task, scores, k=5):
    # effects = {...} inside the kind loop instead of effects.update(...): earlier kinds lost
    return _verify(model, task, scores, k, replace=True)


# cause regexes, written from each cause alone (before anything measured them)
R_INT = r"(?i)int(eger|64)?\b.{0,30}(tensor|dtype)|dtype.{0,30}(int|long)\b|truncat\w*|whole numbers|\.0 everywhere"
R_HOOK_NAME = (r"(?i)hook\.name|name (that )?you registered|registered name|alias(es)? of the bridge"
               r"|bridge'?s (own )?name")
R_BASELINE = (r"(?i)M\(clean\) (is )?(not|never) subtracted|without (subtracting )?(the )?(clean )?baseline"
              r"|no baseline|forgot\w* (to subtract )?M\(clean\)|M\(patched\) (itself|alone|returned)")
R_LAST_LAYER = (r"(?i)(every|each) (row|layer).{0,40}(last|same) layer"
                r"|hook\w* (on|at) the (last|same|wrong) layer|loop variable|leaked|layer index (not|ignored)")
R_UNPACK = (r"(?i)unpack\w*|\(logits, cache\)|returns? (a )?\(?logits, ?cache|logits (instead of|where) the cache"
            r"|order of the return")
R_NORMS = (r"(?i)norms?\b.{0,40}(product|multipl\w*)|not (a |the )?dot product|\|delta\| ?\S? ?\|grad"
           r"|magnitudes? (of|times)")
R_NO_BATCH = (r"(?i)(no|missing|forgot\w*) (the )?batch mean|not averaged over (the )?(batch|prompt pairs)"
              r"|per[- ]example (scores|values)")
R_PLUS_CLEAN = (r"(?i)M\(clean\) (is )?(added|included)|plus M\(clean\)|estimate of M\(patched\)"
                r"|taylor (value|polynomial)|zeroth[- ]order")
R_NONLEAF = r"(?i)non-?leaf|\.grad (of|on) an? (intermediate|activation)|retain_grad|\.grad is None"
R_ATTN_OUT = r"(?i)attn_out|whole (attention )?layer|layer'?s output|one (score|number|value) per layer|not per head"
R_LOG_SOFTMAX = r"(?i)log[_ -]?softmax|log[- ]probabilit\w*|logarithm"
R_KEEPDIM = (r"(?i)keepdim|softmax (by hand|written (out )?by hand|normali[sz]ed over the wrong)"
             r"|broadcast\w* (of|in) the (softmax|normali)")
R_N_CTX = (r"(?i)n_ctx|mask (size|shape|sized)|context length"
           r"|mask.{0,30}(not|instead of) (the )?(seq(_len| length)|prompt length)")
R_LAYOUT = (r"(?i)\[batch, pos(ition)?, head, d_head\]|\[B, (T|pos), H, d\]|layout|bhtd"
            r"|head and pos\w* (axes )?swapped|pos\w* and head (axes )?swapped|axes (order|swapped)")
R_SCORE_DELTA = (r"(?i)scores? (change|difference|delta)|change (of|in) the scores|pre-?softmax (change|difference)"
                 r"|(not|instead of) the pattern change")
R_HEAD_AXIS = (r"(?i)head axis|k2\[:, :, s\]|axis 2|dim(ension)? 2|indexes the heads?"
               r"|heads? (index|axis) instead of (the )?pos")
R_INTERLEAVED = (r"(?i)interleav\w*|qk\[l|wrong layer'?s? (q|k|quer|key)"
                 r"|(queries|keys) (of|from) (the )?(wrong|another|other) layer")
R_UNUSED_K2 = (r"(?i)k2 (is )?(never|not) used|pattern(\(| is )?(re)?computed (from|with) (the )?(clean )?k\b"
               r"|patched keys? (never|not) (used|enter)|same (keys|pattern) twice")
R_ROWS_BEFORE = (r"(?i)rows? t ?< ?s|rows? before s|query rows? (that )?(precede|before)"
                 r"|causal\w* (direction )?reversed|(cannot|can't|do not) (see|attend to) key s")
R_ALL_LAYERS = r"(?i)out\[:, :, s\]|(every|each|all) layers?.{0,30}(overwritten|same|last layer)|last layer'?s? values"
R_GATE_Z = (r"(?i)(gate|stop|drop|zero)\w* .{0,40}hook_z|hook_z.{0,40}(gate|stop|drop|zero)"
            r"|(instead of|not at) (the )?layer'?s? (writes|outputs)|attn_out.{0,20}mlp_out")
R_NO_LEAF = r"(?i)leaf|requires_grad|LEAF_HOOK|(nothing|no tensor) (in the forward )?requires? grad"
R_RETAIN = r"(?i)retain_graph|graph.{0,30}freed|backward.{0,30}(twice|second time|more than once)"
R_AFTER_LOOP = (r"(?i)after the (pass )?loop|last pass('s)? (gradient|only)|outside the (pass )?loop|indent\w*"
                r"|only one pass")
R_CLEAR_LATE = (r"(?i)grads\.clear\(\)|clear\w* (the )?(grads|gradient)|grad\w* (dict )?(is )?empty"
                r"|empty (grads|gradient)")
R_STACK_SRC = r"(?i)stack_sources (on|of|for) the (destination )?grad\w*|stack_dest_grads"
R_N_SOURCES = r"(?i)n_sources|number of sources|shape\[0\]|divided by .{0,30}sources"
R_MASK_T = r"(?i)edge_mask\.T|mask (is )?transposed|\[destinations?, sources?\]|mask.{0,30}wrong orientation"
R_ABS_EX = (r"(?i)\|.{0,10}\| per (example|prompt pair)|abs\w* (of each|per) (example|prompt pair)"
            r"|before the batch mean.{0,30}abs|abs.{0,30}before (the )?(batch )?mean")
R_NAMES_SWAPPED = (r"(?i)act_names.{0,30}grad_names|grad_names.{0,30}act_names|arguments? (swapped|order)"
                   r"|(activation|gradient) names swapped")
R_POS_TWICE = r"(?i)resid_pre|pos_embed|pos(itional)? embedding.{0,30}(twice|again|double)"
R_ALPHA_DELTA = (r"(?i)(delta|Δ) scaled|scal\w* the delta|alpha ?\* ?(delta|Δ)|(only|just) (the )?clean gradients?"
                 r"|no (path|interpolated) (points|runs)")
R_NO_T = (r"(?i)missing (the )?`?t \+|without (the )?`?t \+|t \+ \(target - t\)"
          r"|(hook|straight-through) (returns|gives|writes) (only )?(the )?(difference|target - t)")
R_INPUT_DELTA = (r"(?i)(embedding|input) (change|difference|delta).{0,40}(every|each|all) sources?"
                 r"|input minus baseline|plain IG|e_corrupt - e_clean|not the sources?'? own (change|delta)")
R_FWD_KW = r"(?i)extra_fwd_hooks|unexpected keyword|fwd_hooks"
R_NORMALIZE = (r"(?i)F\.normalize|normali[sz]e\(\w*\).{0,30}dim|dim=1|position axis"
               r"|normali[sz]ed over (the )?positions? (axis|dim)|per (d_model )?coordinate")
R_ADAM = r"(?i)adam|optimi[sz]er|adaptive|per-coordinate"
R_SWAPPED = (r"(?i)swap\w*|starts? (at|from) e_corrupt|(toward|to) the clean (logits|output)"
             r"|clean and corrupt (are )?(exchanged|reversed)")
R_NO_GRAD = r"(?i)no_grad|enable_grad|gradients? (are |were )?(disabled|switched off|turned off)|grad mode"
R_CAT = r"(?i)torch\.cat|concatenat\w*|cat instead of stack|\[\(steps ?\+ ?1\) ?\* ?B|stack\w* (along|on) a new"
R_MLP_EDGE = (r"(?i)MLP.{0,40}edge|edge.{0,40}MLP|order of the (tests|checks|ifs)"
              r"|(edge|->) (test|check) (comes )?(after|second)")
R_PER_POS = r"(?i)per[_ ]position|@\d|one (effect|value) per position|position-wise"
R_ALL_NAMES = (r"(?i)(whole|every|all) (the )?(top-?k )?(list|names) (passed|given|sent)"
               r"|not (just )?the (kind'?s )?(own )?group|other kinds")
R_STRING = r"(?i)a (single )?string|\bstr\b|(characters|letters) (of|as)|not a list"
R_DICT_REPLACED = (r"(?i)(dict|effects)\w* (replaced|overwritten|reassigned|rebuilt)|instead of (\.|dict\.)?update"
                   r"|earlier kinds (lost|dropped)")

MISTAKES = [
    ("check_patch_heads", "effects stored in an int64 tensor (list of 0s)", R_INT, patch_int_out),
    ("check_patch_heads", "own corrupt cache keyed by hook.name", R_HOOK_NAME, patch_hook_name_cache),
    ("check_patch_heads", "no baseline: M(patched) returned", R_BASELINE, patch_no_baseline),
    ("check_patch_heads", "leaked loop name: every row hooks the last layer", R_LAST_LAYER, patch_leaked_loop_name),
    ("check_patch_heads", "(logits, cache) unpacked the wrong way round", R_UNPACK, patch_unpack_swapped),
    ("check_atp_heads", "norm of delta times norm of gradient, no dot product", R_NORMS, atp_norm_product),
    ("check_atp_heads", "no batch mean: [L, B, H]", R_NO_BATCH, atp_no_batch_mean),
    ("check_atp_heads", "M(clean) added to the estimate", R_PLUS_CLEAN, atp_plus_clean_metric),
    ("check_atp_heads", ".grad of a non-leaf activation (None)", R_NONLEAF, atp_nonleaf_grad),
    ("check_atp_heads", "hook_attn_out per layer copied to every head", R_ATTN_OUT, atp_attn_out),
    ("check_qk_fix_queries", "log_softmax instead of softmax", R_LOG_SOFTMAX, qkq_log_softmax),
    ("check_qk_fix_queries", "hand-written softmax without keepdim", R_KEEPDIM, qkq_manual_softmax_no_keepdim),
    ("check_qk_fix_queries", "causal mask sized n_ctx", R_N_CTX, qkq_mask_n_ctx),
    ("check_qk_fix_queries", "hook_q read as [batch, head, pos, d_head]", R_LAYOUT, qkq_head_pos_layout),
    ("check_qk_fix_queries", "score change times the pattern gradient", R_SCORE_DELTA, qkq_score_change),
    ("check_qk_fix_keys", "key position indexed on the head axis", R_HEAD_AXIS, qkk_head_axis),
    ("check_qk_fix_keys", "patched pattern recomputed from k, not k2", R_UNUSED_K2, qkk_patched_keys_unused),
    ("check_qk_fix_keys", "interleaved q/k name list indexed by layer", R_INTERLEAVED, qkk_interleaved_names),
    ("check_qk_fix_keys", "only rows t < s summed (causality reversed)", R_ROWS_BEFORE, qkk_rows_before_s),
    ("check_qk_fix_keys", "out[:, :, s]: every layer overwritten", R_ALL_LAYERS, qkk_out_all_layers),
    ("check_graddrop", "gradient stopped at hook_z, not at the layer's writes", R_GATE_Z, graddrop_gate_at_hook_z),
    ("check_graddrop", "no gradient leaf at the embedding", R_NO_LEAF, graddrop_no_leaf),
    ("check_graddrop", "backward without retain_graph", R_RETAIN, graddrop_no_retain_graph),
    ("check_graddrop", "per-pass product after the loop (last pass only)", R_AFTER_LOOP, graddrop_product_after_loop),
    ("check_graddrop", "grads cleared after the backward: zeros", R_CLEAR_LATE, graddrop_grads_cleared_after_backward),
    ("check_eap", "divided by deltas.shape[0] (n_sources)", R_N_SOURCES, eap_divided_by_n_sources),
    ("check_eap", "stack_sources on the destination gradients", R_STACK_SRC, eap_stack_sources_on_grads),
    ("check_eap", "|EAP| per prompt pair before the batch mean", R_ABS_EX, eap_abs_per_example),
    ("check_eap", "act_names and grad_names swapped", R_NAMES_SWAPPED, eap_act_grad_names_swapped),
    ("check_eap", "edge_mask transposed", R_MASK_T, eap_mask_transposed),
    ("check_eap_ig", "endpoints from hook_resid_pre: positions added twice", R_POS_TWICE, eap_ig_resid_pre_endpoints),
    ("check_eap_ig", "hook passed as fwd_hooks=, not extra_fwd_hooks=", R_FWD_KW, eap_ig_fwd_hooks_keyword),
    ("check_eap_ig", "alpha-scaled delta, clean gradients only", R_ALPHA_DELTA, eap_ig_alpha_scaled_delta),
    ("check_eap_ig", "straight-through missing t +", R_NO_T, eap_ig_straight_through_drops_t),
    ("check_eap_ig", "embedding change used as every source's delta", R_INPUT_DELTA,
     eap_ig_input_delta_for_every_source),
    ("check_gradpath", "F.normalize default dim=1 (positions)", R_NORMALIZE, gradpath_normalize_default_dim),
    ("check_gradpath", "Adam optimiser with lr = eta", R_ADAM, gradpath_adam),
    ("check_gradpath", "loop under torch.no_grad()", R_NO_GRAD, gradpath_no_grad),
    ("check_gradpath", "clean and corrupt caches swapped", R_SWAPPED, gradpath_clean_corrupt_swapped),
    ("check_gradpath", "torch.cat instead of torch.stack", R_CAT, gradpath_cat_not_stack),
    ("check_verify_top", "MLP test before the edge test", R_MLP_EDGE, verify_mlp_test_before_edge),
    ("check_verify_top", "patch_nodes per_position=True", R_PER_POS, verify_per_position),
    ("check_verify_top", "whole top-k list passed to every call", R_ALL_NAMES, verify_all_names_each_call),
    ("check_verify_top", "a name string passed as nodes/edges", R_STRING, verify_name_string_as_nodes),
    ("check_verify_top", "effects dict replaced per kind, not updated", R_DICT_REPLACED, verify_effects_dict_replaced),
]
