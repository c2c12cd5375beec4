"""Independent references for the family matrix, written with plain TransformerLens hooks and autograd.

Nothing here imports workbook's methods: every quantity is computed from the TL hook layout
directly (``run_with_hooks`` / ``run_with_cache`` on the prepared bridge, where the per-head
flags are on), one patch per forward for patching, ``torch.autograd.grad`` on zero
perturbations for gradients. The only workbook code used is ``Task.per_example`` (the metric).
"""

from __future__ import annotations

import torch

ALL = slice(None)


# ------------------------------------------------------------------ runs
def logits(model, tokens, hooks=(), mask=None):
    with torch.no_grad():
        kw = {} if mask is None else {"attention_mask": mask}
        return model.run_with_hooks(tokens, fwd_hooks=list(hooks), **kw)


def metric(task, lg) -> torch.Tensor:
    return task.per_example(lg).mean()


def cache(model, tokens, names, hooks=()):
    out = {}

    def save(n):
        def fn(t, hook):
            out[n] = t.detach().clone()

        return fn

    logits(model, tokens, list(hooks) + [(n, save(n)) for n in names])
    return out


def _heads(model):
    H = model.cfg.n_heads
    return H, (model.cfg.n_key_value_heads or H)


# ------------------------------------------------------------------ nodes
def node_slots(model, kind):
    """``[(name, hook, index)]`` for every node of ``kind``, from the TL hook layout."""
    L = model.cfg.n_layers
    H, G = _heads(model)
    out = []
    for l in range(L):
        a = f"blocks.{l}.attn."
        if kind in ("head", "q"):
            hook = a + ("hook_z" if kind == "head" else "hook_q")
            out += [(f"L{l}H{h}" + ("" if kind == "head" else ".q"), hook, (ALL, ALL, h)) for h in range(H)]
        elif kind in ("k", "v"):
            fmt = (lambda g: f"L{l}KV{g}") if G != H else (lambda g: f"L{l}H{g}")
            out += [(f"{fmt(g)}.{kind}", a + f"hook_{kind}", (ALL, ALL, g)) for g in range(G)]
        elif kind == "pattern":
            out += [(f"L{l}H{h}.pattern", a + "hook_pattern", (ALL, h)) for h in range(H)]
        elif kind == "mlp":
            out.append((f"MLP{l}", f"blocks.{l}.hook_mlp_out", (ALL,)))
        elif kind == "neuron":
            out += [(f"L{l}N{n}", f"blocks.{l}.mlp.hook_post", (ALL, ALL, n)) for n in range(model.cfg.d_mlp)]
    return out


def patch_nodes(model, task, kind, slots=None):
    """``{name: M(clean with node := corrupt) - M(clean)}``, one forward per node."""
    slots = slots or node_slots(model, kind)
    hooks = sorted({h for _, h, _ in slots})
    corr = cache(model, task.corrupt, hooks)
    base = metric(task, logits(model, task.clean))
    out = {}
    for name, hook, idx in slots:
        def fn(act, hook, name=hook, idx=idx):
            act = act.clone()
            act[idx] = corr[name][idx]
            return act

        out[name] = float(metric(task, logits(model, task.clean, [(hook, fn)])) - base)
    return out


def patch_node_set(model, task, slots):
    """M(clean with every node in ``slots`` := corrupt, jointly) - M(clean)."""
    hooks = sorted({h for _, h, _ in slots})
    corr = cache(model, task.corrupt, hooks)
    by_hook = {}
    for _, h, idx in slots:
        by_hook.setdefault(h, []).append(idx)

    def make(h):
        def fn(act, hook):
            act = act.clone()
            for idx in by_hook[h]:
                act[idx] = corr[h][idx]
            return act

        return fn

    return float(metric(task, logits(model, task.clean, [(h, make(h)) for h in by_hook])) - metric(task, logits(model, task.clean)))


def grads_at(model, task, hooks, tokens=None, extra=(), drop_layer=None):
    """``{hook: d mean-metric / d act}`` on the clean run via zero perturbations; ``extra`` fwd hooks
    run first (replacements); ``drop_layer`` detaches that layer's attn_out/mlp_out (GradDrop)."""
    tokens = task.clean if tokens is None else tokens
    clean = cache(model, tokens, hooks, extra)
    eps = {h: torch.zeros_like(clean[h]).requires_grad_(True) for h in hooks}
    drops = () if drop_layer is None else (f"blocks.{drop_layer}.hook_attn_out", f"blocks.{drop_layer}.hook_mlp_out")

    def add(h):
        def fn(act, hook):
            out = act + eps[h]
            return out.detach() if h in drops else out

        return fn

    fwd = list(extra) + [(h, add(h)) for h in hooks] + [(d, lambda act, hook: act.detach()) for d in drops if d not in hooks]
    with torch.enable_grad():
        lg = model.run_with_hooks(tokens, fwd_hooks=fwd)
        m = metric(task if tokens is task.clean else _stacked(task, tokens), lg)
        gs = torch.autograd.grad(m, [eps[h] for h in hooks], allow_unused=True)
    model.zero_grad(set_to_none=True)
    return {h: (torch.zeros_like(eps[h]) if g is None else g) for h, g in zip(hooks, gs)}


def _stacked(task, tokens):
    from dataclasses import replace

    k = tokens.shape[0] // task.batch_size
    return replace(task, clean=tokens, corrupt=tokens, answer=task.answer.repeat(k), wrong=task.wrong.repeat(k), pos=task.pos.repeat(k))


def per_example(x: torch.Tensor, B: int) -> torch.Tensor:
    """Sum over everything but the batch, times B (the gradients are of the batch *mean*)."""
    return B * x.reshape(x.shape[0], -1).sum(1)


def atp(model, task, kind, drop_layer=None):
    """``{name: per-example [B] (corrupt - clean) . dM_b/d act_b}``."""
    slots = node_slots(model, kind)
    hooks = sorted({h for _, h, _ in slots})
    clean, corr = cache(model, task.clean, hooks), cache(model, task.corrupt, hooks)
    g = grads_at(model, task, hooks, drop_layer=drop_layer)
    B = task.batch_size
    return {name: per_example((corr[h] - clean[h])[idx] * g[h][idx], B) for name, h, idx in slots}


def finite_difference(model, task, hook, idx, h=1e-4):
    """Derivative of ``t -> M(clean with act[idx] += t (corrupt - clean)[idx])`` at 0 (central
    differences, Richardson-extrapolated: error O(h^4))."""
    clean, corr = cache(model, task.clean, [hook]), cache(model, task.corrupt, [hook])
    delta = torch.zeros_like(clean[hook])
    delta[idx] = (corr[hook] - clean[hook])[idx]
    return finite_difference_add(model, task, hook, delta, h)


def finite_difference_add(model, task, hook, delta, h=1e-4):
    """Derivative of ``t -> M(clean with act += t * delta)`` at 0 (Richardson-extrapolated central differences)."""

    def f(t):
        return float(metric(task, logits(model, task.clean, [(hook, lambda act, hook: act + t * delta)])))

    d1 = (f(h) - f(-h)) / (2 * h)
    d2 = (f(h / 2) - f(-h / 2)) / h
    return (4 * d2 - d1) / 3


# ------------------------------------------------------------------ the QK fix
def qk_fix(model, task, kind, per_position=False, drop_layer=None):
    """``{name: per-example [B] sum (A' - A) . dM_b/dA}`` with ``A'`` the *model's own* pattern when
    the query (or key) is patched — rotary, scale, soft-cap and mask are whatever the model does."""
    L = model.cfg.n_layers
    H, G = _heads(model)
    S = task.seq_len
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    A = cache(model, task.clean, pats)
    gA = grads_at(model, task, pats, drop_layer=drop_layer)
    out = {}
    for l in range(L):
        hook = f"blocks.{l}.attn.hook_{kind}"
        corr = cache(model, task.corrupt, [hook])[hook]
        n = H if kind == "q" else G
        rep = H // G
        for i in range(n):
            positions = range(S) if per_position else [None]
            for p in positions:
                idx = (ALL, ALL if p is None else p, i)

                def fn(act, hook, idx=idx):
                    act = act.clone()
                    act[idx] = corr[idx]
                    return act

                A2 = cache(model, task.clean, [pats[l]], [(hook, fn)])[pats[l]]
                heads = [i] if kind == "q" else list(range(i * rep, (i + 1) * rep))
                val = per_example(((A2 - A[pats[l]]) * gA[pats[l]])[:, heads], task.batch_size)
                base = f"L{l}H{i}.q" if kind == "q" else (f"L{l}KV{i}.k" if G != H else f"L{l}H{i}.k")
                out[base + ("" if p is None else f"@{p}")] = val
    return out


# ------------------------------------------------------------------ edges
def source_slots(model):
    out = [("embed", "hook_embed", (ALL,))]
    H, _ = _heads(model)
    for l in range(model.cfg.n_layers):
        out += [(f"L{l}H{h}", f"blocks.{l}.attn.hook_result", (ALL, ALL, h)) for h in range(H)]
        out.append((f"MLP{l}", f"blocks.{l}.hook_mlp_out", (ALL,)))
    return out


def dest_slots(model):
    L = model.cfg.n_layers
    H, G = _heads(model)
    out = []
    for l in range(L):
        out += [(f"L{l}H{h}.q", f"blocks.{l}.hook_q_input", (ALL, ALL, h)) for h in range(H)]
        for x in "kv":
            out += [((f"L{l}KV{g}" if G != H else f"L{l}H{g}") + f".{x}", f"blocks.{l}.hook_{x}_input", (ALL, ALL, g)) for g in range(G)]
        out.append((f"MLP{l}", f"blocks.{l}.hook_mlp_in", (ALL,)))
    out.append(("logits", f"blocks.{L - 1}.hook_resid_post", (ALL,)))
    return out


def source_deltas(model, task):
    slots = source_slots(model)
    hooks = sorted({h for _, h, _ in slots})
    clean, corr = cache(model, task.clean, hooks), cache(model, task.corrupt, hooks)
    return {n: (corr[h] - clean[h])[idx] for n, h, idx in slots}


def edge_dependencies(model, task) -> set[tuple[str, str]]:
    """The edges that really exist: ``(u, v)`` such that perturbing u's residual write changes v's input."""
    dests = dest_slots(model)
    dhooks = sorted({h for _, h, _ in dests})
    base = cache(model, task.clean, dhooks)
    g = torch.Generator().manual_seed(0)
    out = set()
    for u, hook, idx in source_slots(model):
        def fn(act, hook, idx=idx):
            act = act.clone()
            act[idx] = act[idx] + torch.randn(act[idx].shape, generator=g, dtype=act.dtype)
            return act

        moved = cache(model, task.clean, dhooks, [(hook, fn)])
        for v, dh, didx in dests:
            if (moved[dh][didx] - base[dh][didx]).abs().max() > 1e-9:
                out.add((u, v))
    return out


def eap(model, task, deltas=None, extra=(), tokens=None):
    """``{(u, v): sum delta_u . dM/d in_v}`` for every source/destination pair."""
    deltas = source_deltas(model, task) if deltas is None else deltas
    dests = dest_slots(model)
    g = grads_at(model, task, sorted({h for _, h, _ in dests}), tokens=tokens, extra=extra)
    grads = {v: g[h][idx] for v, h, idx in dests}
    if tokens is not None:  # k stacked copies: sum the copies' gradients
        k = tokens.shape[0] // task.batch_size
        grads = {v: t.reshape((k, task.batch_size) + tuple(t.shape[1:])).sum(0) for v, t in grads.items()}
    return {(u, v): float((deltas[u] * grads[v]).sum()) for u in deltas for v in grads}


def patch_edge(model, task, u, v, deltas=None):
    """M(clean with only v's input += u(corrupt) - u(clean)) - M(clean), one forward."""
    deltas = source_deltas(model, task) if deltas is None else deltas
    hook, idx = next((h, i) for n, h, i in dest_slots(model) if n == v)

    def fn(act, hook):
        act = act.clone()
        act[idx] = act[idx] + deltas[u]
        return act

    return float(metric(task, logits(model, task.clean, [(hook, fn)])) - metric(task, logits(model, task.clean)))


def eap_ig(model, task, steps, variant="inputs"):
    """EAP-IG from its definition: the destination gradients averaged over the straight path
    (``k = 1..m``), with the embedding (inputs) or one source group at a time (activations,
    constant replacement) interpolated between corrupt and clean."""
    L = model.cfg.n_layers
    groups = ["hook_embed"] if variant == "inputs" else ["hook_embed"] + [
        f"blocks.{l}.hook_{x}_out" for l in range(L) for x in ("attn", "mlp")]
    clean, corr = cache(model, task.clean, groups), cache(model, task.corrupt, groups)
    deltas = source_deltas(model, task)
    total = None
    for grp in groups:
        for k in range(1, steps + 1):
            a = k / steps
            point = corr[grp] + a * (clean[grp] - corr[grp])
            rep = (lambda act, hook, point=point: point) if variant == "activations" else (lambda act, hook, point=point: act * 0 + point)
            s = eap(model, task, deltas, extra=[(grp, rep)])
            total = s if total is None else {e: total[e] + s[e] for e in s}
    n = steps * len(groups)
    return {e: v / n for e, v in total.items()}


def gradpath(model, task, steps, eta=1.0):
    """EAP-GP's path (unit normalised steps down ``||logits - corrupt logits||^2``, per example)."""
    e_clean = cache(model, task.clean, ["hook_embed"])["hook_embed"]
    target = logits(model, task.corrupt)
    gamma, points = e_clean, []
    for _ in range(steps):
        leaf = gamma.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            lg = model.run_with_hooks(task.clean, fwd_hooks=[("hook_embed", lambda act, hook: leaf)])
            d = ((lg - target) ** 2).flatten(1).sum(1).sum()
            (g,) = torch.autograd.grad(d, [leaf])
        model.zero_grad(set_to_none=True)
        norm = g.flatten(1).norm(dim=1).view(-1, 1, 1)
        gamma = (leaf - eta * g / norm).detach()
        points.append(gamma)
    return points


def eap_gp(model, task, steps):
    deltas = source_deltas(model, task)
    total = None
    for point in gradpath(model, task, steps):
        s = eap(model, task, deltas, extra=[("hook_embed", lambda act, hook, point=point: act * 0 + point)])
        total = s if total is None else {e: total[e] + s[e] for e in s}
    return {e: v / steps for e, v in total.items()}
