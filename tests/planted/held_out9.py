"""Held-out set #9, written blind (the writer never read the checks or their messages) on 2026-12-06;
measured once, unseen.

Verified (by hand, once) by running every mistake and the correct solution (tests/planted/planted.py's switch
functions at their defaults, _base.gradpath_walk, _base.verify) on each chapter's own model and task as the chapter
builds them: induction n=16 seed 0 (ch00), saturation (ch01), cancellation (ch02), flat_region with steps=5 (ch03),
path_saturation with steps=5, step_size "unit" and "scaled" (ch04), mixture/ioi n=8 with EAP + AtP* q/k scores, k=5
(ch05). Candidates whose max |difference| was below ~1% of the correct result's scale there were replaced; every
mistake kept differs by >= 2% (the step-decay one in GradPath: 2% with "unit", 3% with "scaled").
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, gradpath_walk, qk_parts, verify, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ---------------------------------------------------------------- ch00 patch_heads
def _patch(model, task, hook="z", src_layer=lambda l: l, pos_mean=False):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_{hook}" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                new = corr[names[src_layer(l)]][:, :, h]
                act[:, :, h] = new.mean(1, keepdim=True) if pos_mean else new
                return act
            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# corrupt head output taken from the previous layer's cache (corr[names[l - 1]])
def ph_previous_layer_cache(model, task):
    return _patch(model, task, src_layer=lambda l: l - 1)


# the head's query (hook_q) is patched instead of its output hook_z
def ph_query_patched(model, task):
    return _patch(model, task, hook="q")


# corrupt head output averaged over positions before it is written in
def ph_position_mean(model, task):
    return _patch(model, task, pos_mean=True)


# ---------------------------------------------------------------- ch00 atp_heads
def _atp(model, task, reduce="sum", delta_layer=lambda l: l, scramble=False):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = []
    for l, n in enumerate(names):
        m = names[delta_layer(l)]
        prod = (corr[m] - clean[m]) * grads[n]
        if scramble:
            B, P, H, D = prod.shape
            prod = prod.reshape(B, P, D, H).transpose(2, 3)
        s = prod.sum(3)
        s = s.max(1).values if reduce == "max" else s.sum(1)
        out.append(s.mean(0))
    return torch.stack(out)


# max over positions instead of the sum over positions
def atp_max_over_positions(model, task):
    return _atp(model, task, reduce="max")


# delta from layer l-1 paired with the gradient at layer l
def atp_delta_previous_layer(model, task):
    return _atp(model, task, delta_layer=lambda l: l - 1)


# reshape of [.., n_heads, d_head] as [.., d_head, n_heads]: heads and d_head mixed up
def atp_reshape_heads_dhead(model, task):
    return _atp(model, task, scramble=True)


# ---------------------------------------------------------------- ch01 QK fix
def _pat(q, k, sc, mask_kind):
    T = q.shape[1]
    s = torch.einsum("bthd,bshd->bhts", q, k) / sc
    tril = torch.ones(T, T, dtype=torch.bool).tril()
    if mask_kind == "strict":
        return torch.nan_to_num(s.masked_fill(~tril.tril(-1), float("-inf")).softmax(-1))
    if mask_kind == "zero":
        return s.masked_fill(~tril, 0.0).softmax(-1)
    if mask_kind == "none":
        return s.softmax(-1)
    if mask_kind == "after":
        return s.softmax(-1) * tril
    return s.masked_fill(~tril, float("-inf")).softmax(-1)


def _qkq(model, task, mask_kind="causal"):
    clean, corr, grads, pats = qk_parts(model, task)
    out = []
    for l in range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = _pat(q, k, sc, "causal")
        A_new = _pat(corr[f"blocks.{l}.attn.hook_q"], k, sc, mask_kind)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))
    return torch.stack(out)


# strict mask tril(-1): a query may not attend to its own position
def qkq_strict_mask(model, task):
    return _qkq(model, task, mask_kind="strict")


# future scores set to 0 instead of -inf before the softmax
def qkq_mask_fill_zero(model, task):
    return _qkq(model, task, mask_kind="zero")


# no causal mask on the new (patched-query) pattern
def qkq_no_mask(model, task):
    return _qkq(model, task, mask_kind="none")


def _qkk(model, task, mask_kind="causal", complement=False, first_key=0):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        kc = corr[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = _pat(q, k, sc, "causal")
        for s in range(first_key, T):
            if complement:
                k2 = kc.clone()
                k2[:, s] = k[:, s]
            else:
                k2 = k.clone()
                k2[:, s] = kc[:, s]
            out[l, :, s] = ((_pat(q, k2, sc, mask_kind) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out


# causal mask applied after the softmax (future weights zeroed, rows not renormalised)
def qkk_mask_after_softmax(model, task):
    return _qkk(model, task, mask_kind="after")


# clone taken of the corrupt keys: every key but s patched (complement)
def qkk_complement(model, task):
    return _qkk(model, task, complement=True)


# future scores set to 0 instead of -inf before the softmax of the patched-key pattern
def qkk_mask_fill_zero(model, task):
    return _qkk(model, task, mask_kind="zero")


# ---------------------------------------------------------------- ch02 GradDrop
def _gd(model, task, first_pass=0, dhead="sum", pos="sum"):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(first_pass, L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            est = []
            for n in names:
                prod = (corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))
                prod = prod.mean(1) if pos == "mean" else prod.sum(1)
                est.append(prod.mean(-1) if dhead == "mean" else prod.sum(-1))
            per_pass.append(torch.stack(est, 1))
    pp = torch.stack(per_pass)
    return pp.abs().sum(0).mean(0) / (L - 1)


# passes start at layer 1: layer 0 is never dropped
def gd_layer0_never_dropped(model, task):
    return _gd(model, task, first_pass=1)


# mean over d_head instead of the sum over d_head
def gd_mean_over_dhead(model, task):
    return _gd(model, task, dhead="mean")


# mean over positions instead of the sum over positions
def gd_mean_over_positions(model, task):
    return _gd(model, task, pos="mean")


# ---------------------------------------------------------------- ch03 EAP
# scores normalised by the largest |score| (for plotting) before returning
def eap_normalised_by_max(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    scores = scores * graph.edge_mask
    return scores / scores.abs().max()


# zero-ablation delta (0 - clean) instead of corrupt - clean
def eap_zero_ablation_delta(model, task):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = -graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# denoising EAP: gradients on the corrupt run, delta clean - corrupt
def eap_denoising(model, task):
    graph = Graph.from_model(model)
    src = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, src)
    _, corr, grads = cache_activations_and_grads(model, task, src, list(graph.dest_hooks), tokens=task.corrupt)
    deltas = graph.stack_sources(clean) - graph.stack_sources(corr)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask


# ---------------------------------------------------------------- ch03 EAP-IG
def _ig(model, task, steps, flip=False, batch_first=False, ks=None):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    deltas = -deltas if flip else deltas
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in (ks if ks is not None else range(1, steps + 1)):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731 - a learner's closure
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    g = total / steps
    if batch_first:
        scores = torch.einsum("spd,tpd->st", deltas.mean(1), g.mean(1) * task.batch_size)
    else:
        scores = torch.einsum("sbpd,tbpd->st", deltas, g) / task.batch_size
    return scores * graph.edge_mask


# deltas clean - corrupt (denoising sign) with the noising path
def ig_delta_clean_minus_corrupt(model, task, steps):
    return _ig(model, task, steps, flip=True)


# batch means of deltas and of averaged gradients taken before the product
def ig_batch_means_first(model, task, steps):
    return _ig(model, task, steps, batch_first=True)


# linspace(0, 1, m + 1): m + 1 points including alpha = 0, still divided by m
def ig_m_plus_1_points_over_m(model, task, steps):
    return _ig(model, task, steps, ks=range(0, steps + 1))


# ---------------------------------------------------------------- ch04 GradPath
def _gp(model, task, steps, step_size, decay=False, scaled_whole=False):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps)
    if scaled_whole and step_size == "scaled":
        eta = eta * steps
    eta = eta.view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for i in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            e = eta / (i + 1) if decay else eta
            gamma = (leaf - e * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


# one step too many: steps + 2 points
def gp_one_step_too_many(model, task, steps, step_size="unit"):
    return gradpath_walk(model, task, steps + 1, step_size)


# step length decays as eta / (i + 1)
def gp_decaying_step(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, decay=True)


# "scaled" step = ||e_clean - e_corrupt||, not divided by steps
def gp_scaled_not_split(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, scaled_whole=True)


# ---------------------------------------------------------------- ch05 verify_top_k
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


# edges verified by patching their destination node
def vt_edge_as_destination(model, task, scores, k=5):
    names = scores.order(absolute=True)[:k]
    vals = []
    for n in names:
        if "->" in n:
            dest = n.split("->")[1]
            what = _kind(dest)
            if dest == "logits":
                vals.append(0.0)
                continue
            dest = dest.rsplit(".", 1)[0] if what in ("q", "k", "v") else dest
            what = "head" if what in ("q", "k", "v") else what
            vals.append(float(wb.patch_nodes(model, task, what, nodes=[dest])[dest]))
        else:
            vals.append(float(verify(model, task, [n])[n]))
    return wb.Scores(names, torch.tensor(vals), method="activation patching", kind=scores.kind)


# k ignored: every name with |score| >= half the largest |score| is verified
def vt_threshold_not_k(model, task, scores, k=5):
    top = float(scores.values.abs().max())
    names = [n for n in scores.order(absolute=True) if abs(scores[n]) >= 0.5 * top]
    return verify(model, task, names)


# edges left out of the verification: only node names of the top k are patched and returned
def vt_edges_dropped(model, task, scores, k=5):
    return verify(model, task, [n for n in scores.order(absolute=True)[:k] if "->" not in n])


_P = r"(?i)"
MISTAKES = [
    ("check_patch_heads", "corrupt value from the previous layer's cache",
     _P + r"previous layer|wrong layer|layer l ?- ?1|layer index|other layer|another layer|off by one",
     ph_previous_layer_cache),
    ("check_patch_heads", "hook_q patched instead of hook_z",
     _P + r"hook_q|quer|hook_z|head output|output of the head", ph_query_patched),
    ("check_patch_heads", "corrupt value averaged over positions",
     _P + r"averag|mean over (the )?positions|position.mean|per position|every position", ph_position_mean),
    ("check_atp_heads", "max over positions",
     _P + r"\bmax|sum over (the )?positions|summed over positions|largest position", atp_max_over_positions),
    ("check_atp_heads", "delta from layer l-1 paired with gradient at layer l",
     _P + r"previous layer|wrong layer|layer l ?- ?1|delta.{0,40}layer|mismatch|same layer|off by one",
     atp_delta_previous_layer),
    ("check_atp_heads", "heads and d_head mixed up in a reshape",
     _P + r"reshap|d_head|heads? axis|head dimension|heads mixed|permut|transpos|scrambl", atp_reshape_heads_dhead),
    ("check_qk_fix_queries", "strict mask tril(-1)",
     _P + r"diagonal|own position|itself|strict|tril|causal mask|mask", qkq_strict_mask),
    ("check_qk_fix_queries", "future scores filled with 0, not -inf",
     _P + r"-inf|inf\b|mask|future|causal", qkq_mask_fill_zero),
    ("check_qk_fix_queries", "no causal mask on the new pattern",
     _P + r"causal|mask|future|later keys|tril", qkq_no_mask),
    ("check_qk_fix_keys", "causal mask applied after the softmax",
     _P + r"after the softmax|renormali|mask|causal|future|-inf", qkk_mask_after_softmax),
    ("check_qk_fix_keys", "every key but s patched (complement)",
     _P + r"every (other )?key|all (the )?(other )?keys|complement|only key s|one key|corrupt keys", qkk_complement),
    ("check_qk_fix_keys", "future scores filled with 0, not -inf",
     _P + r"-inf|inf\b|mask|future|causal|later (keys|positions)",
     qkk_mask_fill_zero),
    ("check_graddrop", "layer 0 never dropped",
     _P + r"layer 0|first layer|every layer|passes|one pass per layer|range\(1", gd_layer0_never_dropped),
    ("check_graddrop", "mean over d_head instead of the sum",
     _P + r"d_head|mean over (the )?(head|d_head|components)|averag.{0,30}(d_head|head dim)|"
     r"sum over (the )?(head|d_head)|too small|scaled? down",
     gd_mean_over_dhead),
    ("check_graddrop", "mean over positions instead of the sum",
     _P + r"mean over (the )?positions|averag.{0,30}positions|sum over (the )?positions|seq_len|too small|"
     r"scaled? down",
     gd_mean_over_positions),
    ("check_eap", "normalised by the largest |score|",
     _P + r"normali[sz]|divided by (the )?(largest|max)|max(imum)? \|?score|relative|"
     r"fraction|unit(s|less)|rescal|scale of",
     eap_normalised_by_max),
    ("check_eap", "zero-ablation delta",
     _P + r"zero[- ]?ablat|corrupt ?- ?clean|corrupt minus clean|corrupt activation|"
     r"delta|difference of (the )?activations|ablat",
     eap_zero_ablation_delta),
    ("check_eap", "denoising: corrupt-run gradients, delta clean - corrupt",
     _P + r"denois|corrupt run|corrupt tokens|gradients? (on|at|from) the corrupt|clean ?- ?corrupt|"
     r"clean minus corrupt|direction|sign",
     eap_denoising),
    ("check_eap_ig", "deltas clean - corrupt",
     _P + r"clean ?- ?corrupt|clean minus corrupt|sign|negat|flipped|corrupt ?- ?clean|denois|opposite",
     ig_delta_clean_minus_corrupt),
    ("check_eap_ig", "batch means before the product",
     _P + r"batch mean.{0,40}before|before the product|per (example|"
     r"prompt)|mean of the products|product of (the )?means|averag.{0,30}first",
     ig_batch_means_first),
    ("check_eap_ig", "m + 1 points including alpha = 0, divided by m",
     _P + r"alpha ?= ?0|k ?= ?0|m ?\+ ?1|extra point|"
     r"one point too many|corrupt (end ?point|point)|k = 1\.\.m|too many points",
     ig_m_plus_1_points_over_m),
    ("check_gradpath", "one step too many",
     _P + r"steps ?\+ ?1|one (step|point) too many|too many (steps|points)|extra (step|point)|number of points|\[steps",
     gp_one_step_too_many),
    ("check_gradpath", "step length decays",
     _P + r"step_size|step (size|length)|eta|decay|constant step|shrink|too short|schedule", gp_decaying_step),
    ("check_gradpath", "scaled step not divided by steps",
     _P + r"scaled|/ ?steps|divided by steps|step_size|step (size|length)|eta|too (long|far)|overshoot",
     gp_scaled_not_split),
    ("check_verify_top", "edges verified by patching their destination node",
     _P + r"edges?.{0,40}(node|destination)|(node|destination).{0,40}edges?|"
     r"patch_edges|edge patching|whole (node|destination)",
     vt_edge_as_destination),
    ("check_verify_top", "threshold instead of k",
     _P + r"\bk\b.{0,30}(ignored|components|names)|top[- ]k|number of (components|"
     r"names)|threshold|how many|too (many|few)|k names",
     vt_threshold_not_k),
    ("check_verify_top", "edges left out of the verification",
     _P + r"edges?.{0,40}(missing|dropped|left out|skipped|verif|patch_edges)|patch_edges|every kind|all kinds|"
     r"names? missing|missing names|fewer (names|components)|only nodes",
     vt_edges_dropped),
]
