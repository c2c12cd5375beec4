"""Held-out set #15n, written blind (the writer never saw the checks, their messages or any other planted
set) on 2026-12-06; measured once, unseen.

For each of the nine exercises, the five mistakes its writer judged most frequent among first-time learners
(a TA's top five), one cause each. Verified by hand once (scratch script ``r15n/verify.py``): every wrong
function was run next to the chapter's own solution on the chapter's model and task (chapter 0: zoo
``induction`` n=16 seed=0; chapter 1: ``saturation.build()``; chapter 2: ``cancellation.build()``; chapter 3:
``build("flat_region")``, steps=5; chapter 4: ``build("path_saturation")``, steps=5, step_size="unit";
chapter 5: zoo ``mixture``, ``load_task(n=8, seed=0, task="ioi")``, k=5, on AtP, QK-fix and EAP estimates) and kept
only when its max |difference| is >= 2 % of the correct result's scale, or it crashes or returns a wrong
shape or wrong names. Every cause regex was written before anything measured it.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

# ----------------------------------------------------------------------------------------- patch_heads


def _patch_heads(model, task, sign=1.0, denoise=False, no_base=False, pos_axis=False):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    src, run = (task.clean, task.corrupt) if denoise else (task.corrupt, task.clean)
    _, other = cache_activations(model, src, names)
    with torch.no_grad():
        base = task.metric_value(model(run))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                if pos_axis:
                    act[:, h] = other[names[l]][:, h]
                else:
                    act[:, :, h] = other[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                m = task.metric_value(model(run))
            out[l, h] = m if no_base else sign * (m - base)
    return out


def ph_sign_flipped(model, task):
    return _patch_heads(model, task, sign=-1.0)


# denoising: corrupt tokens run with the clean head output written in
def ph_denoising(model, task):
    return _patch_heads(model, task, denoise=True)


def ph_no_baseline(model, task):
    return _patch_heads(model, task, no_base=True)


# act[:, h] indexes the position axis of [B, pos, head, d_head]
def ph_position_axis(model, task):
    return _patch_heads(model, task, pos_axis=True)


# caches the corrupt z keyed by hook.name (TL4 alias names) and reads it back by the registered name
def ph_hook_name_key(model, task):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    cache = {}

    def save(act, hook):
        cache[hook.name] = act.detach()

    with torch.no_grad(), model.hooks(fwd_hooks=[(n, save) for n in names]):
        model(task.corrupt)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = cache[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


# ------------------------------------------------------------------------------------------- atp_heads


def _atp(model, task, delta="noise", reduce=lambda t: t.sum((1, 3)).mean(0)):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    out = []
    for n in names:
        d = {"noise": corr[n] - clean[n], "reversed": clean[n] - corr[n], "input": clean[n]}[delta]
        out.append(reduce(d * grads[n]))
    return torch.stack(out)


def atp_mean_positions(model, task):
    return _atp(model, task, reduce=lambda t: t.mean(1).sum(-1).mean(0))


def atp_delta_reversed(model, task):
    return _atp(model, task, delta="reversed")


def atp_batch_sum(model, task):
    return _atp(model, task, reduce=lambda t: t.sum((0, 1, 3)))


# gradient x clean activation (no corrupt run in the difference)
def atp_grad_times_input(model, task):
    return _atp(model, task, delta="input")


# sums over positions and heads, keeps d_head: [L, d_head]
def atp_sum_heads_axis(model, task):
    return _atp(model, task, reduce=lambda t: t.sum((1, 2)).mean(0))


# ------------------------------------------------------------------------------------------ qk queries


def _qk_queries(model, task, axis=-1, masked=True, scaled=True, corrupt_keys=False, sum_axis=-1, batch_mean=True):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q2, k2 = corr[f"blocks.{l}.attn.hook_q"], (corr if corrupt_keys else clean)[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l) if scaled else 1.0

        def pat(qq, kk):
            s = torch.einsum("bthd,bshd->bhts", qq, kk) / sc
            return (s.masked_fill(~mask, float("-inf")) if masked else s).softmax(axis)

        d = ((pat(q2, k2) - pat(q, k)) * grads[pats[l]]).sum(sum_axis)
        out.append(d.mean(0) if batch_mean else d.sum(0))
    return torch.stack(out)


def qkq_softmax_query_axis(model, task):
    return _qk_queries(model, task, axis=-2)


def qkq_batch_sum(model, task):
    return _qk_queries(model, task, batch_mean=False)


def qkq_no_scale(model, task):
    return _qk_queries(model, task, scaled=False)


# plain AtP on hook_q: (q_corrupt - q_clean) . dM/dq, linearised before the softmax
def qkq_plain_atp_on_query(model, task):
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_q" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum(-1).mean(0).T for n in names])


# sums (A' - A) * grad over the query rows instead of over the keys of each row
def qkq_sum_query_axis(model, task):
    return _qk_queries(model, task, sum_axis=-2)


# ------------------------------------------------------------------------------------------- qk keys


def _qk_keys(model, task, clone=True, part="all", subtract=True, corrupt_query=False, axis=-1, scaled=True):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q2 = corr[f"blocks.{l}.attn.hook_q"] if corrupt_query else q
        sc = attn_scale(model, l) if scaled else 1.0

        def pat(qq, keys):
            return (torch.einsum("bthd,bshd->bhts", qq, keys) / sc).masked_fill(~mask, float("-inf")).softmax(axis)

        A = pat(q, k)
        for s in range(T):
            k2 = k.clone() if clone else k
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            prod = (pat(q2, k2) - (A if subtract else 0)) * grads[pats[l]]  # [B, H, T, S]
            if part == "column":
                val = prod[..., s].sum(-1)
            elif part == "row":
                val = prod[:, :, s].sum(-1)
            else:
                val = prod.sum((-1, -2))
            out[l, :, s] = val.mean(0)
    return out


# softmax taken over the query axis (dim -2) instead of the keys
def qkk_softmax_query_axis(model, task):
    return _qk_keys(model, task, axis=-2)


# keeps only column s of (A2 - A) * grad, drops the renormalised other keys of each row
def qkk_only_column_s(model, task):
    return _qk_keys(model, task, part="column")


def qkk_no_scale(model, task):
    return _qk_keys(model, task, scaled=False)


def qkk_no_clean_pattern_subtracted(model, task):
    return _qk_keys(model, task, subtract=False)


def qkk_corrupt_query_too(model, task):
    return _qk_keys(model, task, corrupt_query=True)


# ------------------------------------------------------------------------------------------- graddrop


def _graddrop(model, task, abs_first=True, norm=None, times_b=True, retain=True, writes=("attn", "mlp")):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * (B if times_b else 1))) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in writes]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=retain)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    p = torch.stack(per_pass)
    total = (p.abs() if abs_first else p).sum(0).mean(0)
    return total / (norm or (L - 1))


# signed per-pass estimates summed: the |.| of each pass is missing
def gd_no_abs(model, task):
    return _graddrop(model, task, abs_first=False)


def gd_divide_by_L(model, task):
    return _graddrop(model, task, norm=model.cfg.n_layers)


# gradients of the batch-mean metric used as if per example (the x B is missing)
def gd_no_times_batch(model, task):
    return _graddrop(model, task, times_b=False)


def gd_no_retain_graph(model, task):
    return _graddrop(model, task, retain=False)


# stops the gradient only at hook_attn_out, the MLP write is never gated
def gd_gates_attention_only(model, task):
    return _graddrop(model, task, writes=("attn",))


# ------------------------------------------------------------------------------------------------- eap


def _eap(model, task, reverse=False, per_batch=True, pos_mean=False, no_corrupt=False):
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(clean) if no_corrupt else graph.stack_sources(corr) - graph.stack_sources(clean)
    if reverse:
        deltas = -deltas
    g = graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, g) / (task.batch_size if per_batch else 1)
    return scores * graph.edge_mask / (task.seq_len if pos_mean else 1)


# gradients taken at the sources' outputs, not at the destinations' inputs
def eap_grads_at_sources(model, task):
    graph = Graph.from_model(model)
    src = list(graph.source_hooks)
    _, corr = cache_activations(model, task.corrupt, src)
    _, clean, grads = cache_activations_and_grads(model, task, src, src)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_sources(grads)) / task.batch_size
    return scores * graph.edge_mask


def eap_delta_reversed(model, task):
    return _eap(model, task, reverse=True)


# gradient x clean source output (no corrupt run in the difference)
def eap_grad_times_input(model, task):
    return _eap(model, task, no_corrupt=True)


def eap_batch_sum(model, task):
    return _eap(model, task, per_batch=False)


def eap_mean_positions(model, task):
    return _eap(model, task, pos_mean=True)


# ---------------------------------------------------------------------------------------------- eap_ig


def _eap_ig(model, task, steps, ks=None, reverse=False, divide=True, hooked=True, straight=True):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    a, b = (e_c, e_n) if reverse else (e_n, e_c)
    total = 0.0
    for k in ks if ks is not None else range(1, steps + 1):
        target = a + (k / steps) * (b - a)
        if straight:
            hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        else:
            hook = lambda t, hook, target=target: target  # noqa: E731
        extra = [("hook_embed", hook)] if hooked else []
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=extra)
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / (steps if divide else 1)) / task.batch_size
    return scores * graph.edge_mask


# k = 0 .. m-1: includes the corrupt end point, never the clean one
def ig_left_endpoints(model, task, steps):
    return _eap_ig(model, task, steps, ks=range(steps))


# the path runs from clean to corrupt: e_clean + k/m (e_corrupt - e_clean)
def ig_path_reversed(model, task, steps):
    return _eap_ig(model, task, steps, reverse=True)


def ig_no_divide_by_steps(model, task, steps):
    return _eap_ig(model, task, steps, divide=False)


# the interpolation hook is built but never passed: every step is the clean-point gradient
def ig_hook_not_applied(model, task, steps):
    return _eap_ig(model, task, steps, hooked=False)


# the hook returns the target itself (no straight-through), so no gradient flows from the embedding
def ig_no_straight_through(model, task, steps):
    return _eap_ig(model, task, steps, straight=False)


# -------------------------------------------------------------------------------------------- gradpath


def _gradpath(model, task, steps, step_size, normed=True, sign=1.0, keep_start=True, start="clean"):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma = (e_c if start == "clean" else e_n).clone()
    points = [gamma.clone()] if keep_start else []
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            nrm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1) if normed else 1.0
            gamma = (leaf - sign * eta * g / nrm).detach()
            points.append(gamma)
    return torch.stack(points)


# raw gradient step, g never divided by its norm
def gp_unnormalised_step(model, task, steps, step_size="unit"):
    return _gradpath(model, task, steps, step_size, normed=False)


# gamma + eta g / ||g||: walks up the distance's gradient
def gp_gradient_ascent(model, task, steps, step_size="unit"):
    return _gradpath(model, task, steps, step_size, sign=-1.0)


# returns only the `steps` new points, e_clean (point 0) missing
def gp_start_point_missing(model, task, steps, step_size="unit"):
    return _gradpath(model, task, steps, step_size, keep_start=False)


def gp_starts_at_corrupt(model, task, steps, step_size="unit"):
    return _gradpath(model, task, steps, step_size, start="corrupt")


# updates gamma in place and appends the same tensor each step: every point is the last one
def gp_inplace_alias(model, task, steps, step_size="unit"):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma = e_c.clone()
    points = [gamma]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            with torch.no_grad():
                gamma -= eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            points.append(gamma)
    return torch.stack(points)


# ------------------------------------------------------------------------------------------ verify_top


def _kind(name, qk=True):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    if qk and "." in name:
        return name.rsplit(".", 1)[1]
    return "head"


def _verify(model, task, scores, names, qk=True, absolute=False):
    effects = {}
    for what in dict.fromkeys(_kind(n, qk) for n in names):
        group = [n for n in names if _kind(n, qk) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    vals = torch.tensor([effects[n] for n in names])
    return wb.Scores(names, vals.abs() if absolute else vals, method="activation patching", kind=scores.kind)


# ranks by the signed score: large negative estimates never chosen
def vt_signed_ranking(model, task, scores, k=5):
    return _verify(model, task, scores, scores.order(absolute=False)[:k])


# takes the first k names in the estimate's stored order, never sorted
def vt_unsorted_names(model, task, scores, k=5):
    return _verify(model, task, scores, list(scores.names)[:k])


# "L0H1.q" / "L0H1.k" sent to patch_nodes as heads (wrong only on estimates that hold q/k names)
def vt_qk_as_heads(model, task, scores, k=5):
    return _verify(model, task, scores, scores.order(absolute=True)[:k], qk=False)


# reports |exact effect|, the sign of the effect dropped
def vt_abs_effects(model, task, scores, k=5):
    return _verify(model, task, scores, scores.order(absolute=True)[:k], absolute=True)


# order() read as ascending: takes the last k (least important)
def vt_bottom_k(model, task, scores, k=5):
    return _verify(model, task, scores, scores.order(absolute=True)[-k:])


_SIGN = "|".join([
    r"sign (is )?(flipped|reversed|inverted|wrong|opposite)", r"flipped sign", r"opposite sign", r"negat(ed|ive of)",
    r"(clean|base\w*) ?- ?(the )?patched", r"M\(clean\) ?- ?M\(patched", r"backwards? difference", r"wrong sign",
])
_DENOISE = "|".join([
    r"denois", r"corrupt (run|tokens|prompts?|input) (with|patched|plus)",
    r"clean (activations?|values?|z|outputs?) (in|into)", r"patch\w* (the )?clean\w* into (the )?corrupt",
    r"patch\w* in the wrong direction", r"wrong patching direction", r"direction of (the )?patch",
    r"patch(es|ing|ed)? into the corrupt",
])
_NO_BASE = "|".join([
    r"(forg\w*|never|not|without|no|missing)( to)? (subtract\w*|the baseline|baseline)",
    r"baseline (is )?(missing|not subtracted|never subtracted)", r"raw (patched )?metric", r"metric itself",
    r"M\(patched\) (itself|alone|only)", r"absolute metric", r"not (a|the) difference",
    r"minus M\(clean\) (is )?missing", r"patched metric (itself|alone|instead)", r"constant (shift|offset)",
    r"offset by M\(clean\)", r"instead of (the|an|its) (effect|difference|change)",
])
_POS_AXIS = "|".join([
    r"position(s|al)? (axis|dim\w*|index)", r"axis 1", r"dim(ension)? 1", r"\[:, ?h\]", r"head (axis|dim\w*|index)",
    r"wrong (axis|dim\w*)", r"indexe?s? (the )?positions?", r"positions? instead of (the )?heads?",
    r"patch\w* (a |one )?position",
])
_HOOK_NAME = "|".join([
    r"hook\.name", r"registered name", r"alias\w*", r"key(ed|ing)? (the cache )?by (the )?(hook'?s? )?(own )?name",
    r"name (you|was|it was) registered", r"bridge'?s? (own )?name", r"close over (the )?name",
    r"names? (differ|do(es)? not match|don't match)",
])
_MEAN_POS = "|".join([
    r"mean over (the )?positions", r"averag\w* over (the )?positions", r"1/(seq|T|pos\w*)",
    r"sum over (the )?positions,? not (average|mean)", r"positions? (are|were|is) averaged",
    r"divid\w* by (the )?(sequence length|number of positions|seq)", r"instead of summ\w* over (the )?positions",
    r"(averag|mean)\w*,? not sum\w*",
])
_DELTA_REV = "|".join([
    r"sign (is )?(flipped|reversed|inverted|wrong|opposite)", r"flipped sign", r"opposite sign", r"clean ?- ?corrupt",
    r"reversed? (delta|difference)", r"delta (is )?reversed", r"denois", r"wrong sign", r"negat(ed|ive of)",
])
_BATCH_SUM = "|".join([
    r"sum(s|med|ming)? over (the )?batch", r"batch (sum|size)", r"times B\b", r"factor (of )?B\b", r"x ?B\b",
    r"not (averag|mean)\w* over (the )?(batch|examples|prompts|pairs)", r"instead of (the )?(batch )?(mean|averag)",
    r"mean over (the )?batch", r"averag\w* over (the )?(batch|examples|prompts|pairs)", r"1/B",
    r"divid\w* by (the )?(batch|B\b)", r"(B|batch)[- ]times (too )?(large|big)",
])
_GXI = "|".join([
    r"gradient ?(x|\*|×|times) ?(the )?(clean )?(input|activation)", r"input ?(x|\*|×|times) ?gradient",
    r"no (corrupt|delta|difference)", r"without (the )?(corrupt run|delta|difference)",
    r"missing (the )?(corrupt|delta)", r"clean activations? (itself|alone|instead)",
    r"instead of (the )?(delta|difference|change)", r"not (the|a) (delta|difference|change)",
])
_SUM_HEADS = "|".join([
    r"head (axis|dim\w*)", r"sum\w* over (the )?heads", r"(instead of|not|kept|keeps?|left) (over )?(the )?d_head",
    r"d_head (axis )?(is )?(kept|left|not summed)", r"over (the )?heads? instead of d_head", r"dim(ension)? 2\b",
    r"axis 2\b", r"\(1, ?2\)", r"\[n_layers, d_head\]", r"heads? (are|were) summed",
    r"instead of (the )?head'?s? (size|width)",
])
_SOFTMAX_Q = "|".join([
    r"(softmax|normali[sz]\w*) (is )?(taken |computed |applied )?(over|along|across|on) "
    r"(the )?(quer\w*|rows?|dim(ension)? -?2|axis -?2|first|wrong)",
    r"softmax\((dim=)?-2\)", r"(softmax|normali[sz]\w*) (over|along|across) (the )?(keys|key axis|last)",
    r"(columns?|keys?) (sum|add up) to 1", r"rows? (do not|don't) sum to 1", r"softmax'?s? (axis|dim\w*)",
])
_NO_SCALE = "|".join([
    r"(score|attention|softmax|logit)s? (scale|scaling)", r"scale (of|factor of) (the )?scores",
    r"(missing|forg\w*|without|no) (the )?(attention )?scal\w*", r"sqrt", r"√", r"temperature", r"attn_scale",
    r"divid\w* by (the )?(sqrt|√|scale)", r"unscaled", r"scaled (dot|scores)", r"not scaled",
])
_SUM_Q_AXIS = "|".join([
    r"(sum\w*|reduc\w*) (is )?(taken |done )?(over|along|across) "
    r"(the )?(quer\w*|rows?|dim(ension)? -?2|axis -?2|wrong axis|t\b)",
    r"sum\((dim=)?-2\)", r"(sum\w*|reduc\w*) (over|along|across) (the )?(keys|key axis|last)",
    r"instead of (summing )?over (the )?keys", r"per key", r"columns? instead of rows?", r"indexed by (the )?key",
])
_ONLY_COL = "|".join([
    r"only (the )?(column|key) s\b", r"column s only", r"only (the )?patched (column|key)",
    r"other (keys|columns|entries)", r"renormali[sz]\w*", r"whole row", r"every key of (the|each) row",
    r"sum over (the )?keys", r"all keys", r"softmax (changes|redistribut)", r"rest of the row",
])
_NO_SUB = "|".join([
    r"(forg\w*|never|not|without|no|missing)( to)? subtract\w*", r"baseline", r"A2 ?- ?A", r"A' ?- ?A",
    r"clean pattern (A )?(is )?(not |never )?subtracted",
    r"(subtract|minus|less)\w* (the )?clean (pattern|attention|A\b)", r"difference of (the )?patterns?",
    r"change in (the )?pattern", r"not (a|the) difference", r"patched pattern (itself|alone)",
])
_CORR_Q = "|".join([
    r"corrupt quer(y|ies)", r"quer(y|ies) (are|were|also) (patched|corrupt)",
    r"patch\w* (the )?quer(y|ies) (too|as well)", r"(both|query and key|queries and keys) (patched|corrupt)",
    r"clean quer(y|ies)", r"only the key", r"q_corrupt", r"q\(corrupt\)",
    r"quer(y|ies) (should|must) (stay|remain|be) (clean|unchanged|unpatched)",
])
_DIV_L = "|".join([
    r"L ?- ?1", r"n_layers ?- ?1", r"normali[sz]\w* (by|with)", r"divid\w* by L\b",
    r"divid\w* by (the )?number of (layers|passes)", r"/ ?L\b", r"1/L\b", r"own layer", r"\(L-1\)/L",
    r"normali[sz]er",
])
_NO_B = "|".join([
    r"times B\b", r"multipl\w* by (the )?(B|batch)", r"x ?B\b", r"\* ?B\b", r"batch[- ]mean", r"1/B",
    r"factor (of )?B\b", r"batch size", r"(B|batch)[- ]times (too )?small",
])
_RETAIN = "|".join([
    r"retain_graph", r"retain the graph", r"backward through the graph a second time", r"graph (is |was )?freed",
    r"second backward", r"free\w* (the )?(graph|buffers)", r"backward (twice|more than once)",
])
_ATTN_ONLY = "|".join([
    r"mlp_out", r"MLP (write|output|out)", r"hook_mlp", r"MLP.{0,20}(gated|blocked|stopped|zeroed|cut)",
    r"(gate|block|stop|zero|cut)\w* .{0,25}MLP", r"both writes", r"two writes", r"only (the )?attention",
])
_SRC_GRADS = "|".join([
    r"gradients? (at|of|w\.?r\.?t\.?|from) (the )?sources?", r"source (hooks?|outputs?) .{0,20}gradients?",
    r"gradients? .{0,20}source (hooks?|outputs?)", r"(instead of|not|rather than) (at )?(the )?(destination|dest)\w*",
    r"dest_hooks", r"stack_dest_grads", r"input of (the )?(reader|destination)", r"reader'?s? input",
    r"wrong hooks? for (the )?gradients?", r"(where|which hooks?) (the )?gradients? (are|were) taken",
])
_LEFT = "|".join([
    r"k ?= ?0", r"range\(steps\)", r"range\(m\)", r"off[- ]by[- ]one", r"left (end|riemann|endpoint)",
    r"corrupt (end ?point|point) (is )?(included|itself)",
    r"clean (end ?point|point) (is )?(missing|never|excluded|left out)", r"1 ?\.\. ?m", r"k ?= ?1", r"alpha ?= ?0",
    r"α ?= ?0", r"includes? the corrupt", r"k/m (from|starting at) 0", r"(starts?|begins?) at (k ?= ?)?0",
    r"(last|final) point (is )?(missing|never)",
])
_PLAIN_ATP = "|".join([
    r"linear\w* (before|through|inside|at) (the )?softmax", r"before the softmax", r"plain AtP",
    r"AtP on (the )?(query|q\b|hook_q)", r"gradient (at|of|w\.?r\.?t\.?) (the )?(query|queries|hook_q|q\b)", r"dM/dq",
    r"no (re-?)?softmax", r"(without|never) (re)?comput\w* (the )?(softmax|pattern|attention)",
    r"exact(ly)? (re-?)?softmax", r"re-?softmax",
    r"recomput\w* the (softmax|pattern|attention)", r"gradient (at|of) (the )?(pattern|hook_pattern) instead",
    r"instead of (the )?pattern'?s? gradient", r"Taylor (in|on|of) (the )?(query|q\b)",
])
_NO_ABS = "|".join([
    r"abs\w*", r"signed", r"signs? (of (the )?passes )?cancel", r"cancel\w*", r"non-?negative", r"magnitude",
])
_PATH_REV = "|".join([
    r"path (is )?revers\w*", r"revers\w* (path|direction|interpolation)", r"(wrong|opposite|reversed?) direction",
    r"direction (is )?(reversed|wrong|flipped)", r"clean ?(→|->|to) ?corrupt",
    r"from (the )?clean (end )?to (the )?corrupt", r"e_clean \+ ", r"starts? (at|from) (the )?clean",
    r"ends? (at|on) (the )?corrupt", r"swap\w*", r"backwards",
])
_NO_DIV_M = "|".join([
    r"divid\w* by (m|steps|the number of (steps|points))", r"1/m",
    r"(forg\w*|missing|never|not|without)( to)? (divid\w*|the 1/m|averag\w*)",
    r"divide (the )?(gradient )?sum by (m|steps)", r"average (of|over) (the )?(gradients|steps|points)",
    r"sum instead of (the )?(mean|average)", r"not averaged", r"m times (too )?(large|big)", r"times m\b",
    r"mean over (the )?steps",
])
_NO_HOOK = "|".join([
    r"hook (is )?(never|not) (applied|passed|used|registered)", r"extra_fwd_hooks",
    r"never (replaced|interpolat|applied)", r"clean (point|embedding|gradient) (every|each|at every|only)",
    r"every (point|step) (is|at) (the )?clean", r"same as EAP", r"equals EAP", r"reduces to EAP",
    r"gradients? (are|is) (all )?(at|from) (the )?clean", r"no interpolation",
    r"(embedding|hook_embed) (is )?(not|never) replaced", r"steps? (have|has) no effect", r"independent of (m|steps)",
])
_NO_ST = "|".join([
    r"straight[- ]through", r"detach", r"no gradient (path|flows?)",
    r"gradients? (do(es)?n'?t|does not|cannot|can't|never|no longer) (flow|reach|pass|get)",
    r"requires?_grad", r"(returns?|replac\w* \w+ (with|by)) the target( itself| directly)?", r"cut\w* the graph",
    r"disconnect\w*", r"(detached|constant) (tensor|embedding|target)", r"t \+ \(target - t\)", r"autograd graph",
])
_UNNORM = "|".join([
    r"normali[sz]\w*", r"unit (step|length|vector)", r"\|\|g\|\|", r"norm of (the )?gradient",
    r"divid\w* by (the )?(gradient'?s? )?norm", r"g ?/ ?\|\|g\|\|", r"raw gradient", r"step length",
    r"gradient'?s? (size|magnitude)",
])
_ASCENT = "|".join([
    r"ascent", r"uphill", r"sign (is )?(flipped|reversed|wrong|opposite)", r"\+ ?eta", r"plus (eta|the gradient)",
    r"away from (the )?(corrupt|target)", r"increas\w* (the )?distance", r"wrong direction", r"opposite direction",
    r"up the gradient", r"descen\w*",
])
_NO_START = "|".join([
    r"point 0 (is )?missing", r"missing (the )?(first|start\w*|initial|clean)",
    r"(first|start\w*|initial) point (is )?(missing|left out|dropped|not included)", r"steps ?\+ ?1",
    r"one point short", r"\[steps, ", r"too few points", r"number of points", r"only steps points",
    r"includ\w* e_clean", r"e_clean (is )?(missing|not included)", r"gamma_?0 (is )?missing",
    r"(one|a) point (too few|missing|short)", r"without (the )?(start|starting|first|initial) point",
])
_START_CORR = "|".join([
    r"starts? (at|from) (the )?corrupt", r"begins? at (the )?corrupt", r"corrupt (start|starting point)",
    r"gamma_?0 ?= ?e_corrupt", r"should start (at|from) (the )?clean", r"start\w* (point )?(is|was) (the )?corrupt",
    r"first point (is|was) (the )?corrupt", r"wrong end", r"start(s|ed)? (at|from) e_corrupt",
])
_ALIAS = "|".join([
    r"in[- ]place", r"alias\w*", r"same (tensor|object)", r"clone (each|every|the) (point|gamma|step)",
    r"(without|no|missing|forg\w*)( to)? (clone|copy)", r"\.clone\(\) (each|every|before)",
    r"copy (of )?(each|every) point", r"every point (is )?(the )?(same|last|identical)",
    r"all points (are )?(the )?(same|identical|equal)", r"-=", r"overwr\w*", r"mutat\w*", r"points? (are )?identical",
])
_SIGNED = "|".join([
    r"rank\w* by (the )?(absolute|\|score|magnitude|size)", r"absolute (value of (the )?)?(scores?|estimates?)",
    r"signed (score|rank|order|value)", r"negative (scores|estimates)", r"largest negative", r"by abs",
    r"magnitude of (the )?(scores?|estimates?)", r"absolute=(False|True)",
])
_UNSORTED = "|".join([
    r"(never|not|without|didn'?t|no) (sort|rank)\w*", r"unsorted", r"unranked", r"before sorting",
    r"(sort|rank)\w* (is |was )?missing", r"(first|leading) k (names|entries|components)", r"stored order",
    r"scores\.names", r"as listed", r"in (the )?(list|given|input|stored|original|estimate'?s?) order",
    r"never ranked",
])
_QK_HEADS = "|".join([
    r"(quer(y|ies)|keys?|q/k|\.q|\.k)( (and|or) (quer(y|ies)|keys?))?( nodes?| names?)? (are |were )?"
    r"(treated|patched|sent|passed|handled|classified|grouped) as heads?",
    r"what ?= ?['\"]?(q|k)\b", r"kind of (each |the )?(name|node|component)", r"each kind", r"node (type|kind)",
    r"type of (the )?(node|component)", r"suffix", r"group\w* by kind", r"its own call",
    r"patch_nodes\(model, task, ['\"](q|k)['\"]", r"\b(q|query|key) names", r"names ending in \.?(q|k)\b",
    r"(quer(y|ies)|keys?) (nodes?|names?) (go|must go|belong)",
])
_ABS_EFF = "|".join([
    r"abs\w* (value )?(of )?(the )?(exact )?effects?", r"\|effect\|",
    r"signs? (of the effects? )?(dropped|lost|removed|discarded)", r"drop\w* the sign",
    r"sign\w* .{0,25}(dropped|lost|removed|discarded)",
    r"effects? (are|were) (made )?(non-?negative|positive)", r"magnitudes? (of the )?effects?", r"signed effects?",
    r"keep the sign", r"abs\(\)",
])
_BOTTOM = "|".join([
    r"bottom", r"smallest", r"lowest", r"least (important|significant)", r"last k", r"\[-k:\]", r"wrong end",
    r"ascending", r"reversed? (order|ranking)",
])

MISTAKES = [
    ("check_patch_heads", "ph_sign_flipped", "(?i)" + _SIGN, ph_sign_flipped),
    ("check_patch_heads", "ph_denoising", "(?i)" + _DENOISE, ph_denoising),
    ("check_patch_heads", "ph_no_baseline", "(?i)" + _NO_BASE, ph_no_baseline),
    ("check_patch_heads", "ph_position_axis", "(?i)" + _POS_AXIS, ph_position_axis),
    ("check_patch_heads", "ph_hook_name_key", "(?i)" + _HOOK_NAME, ph_hook_name_key),
    ("check_atp_heads", "atp_mean_positions", "(?i)" + _MEAN_POS, atp_mean_positions),
    ("check_atp_heads", "atp_delta_reversed", "(?i)" + _DELTA_REV, atp_delta_reversed),
    ("check_atp_heads", "atp_batch_sum", "(?i)" + _BATCH_SUM, atp_batch_sum),
    ("check_atp_heads", "atp_grad_times_input", "(?i)" + _GXI, atp_grad_times_input),
    ("check_atp_heads", "atp_sum_heads_axis", "(?i)" + _SUM_HEADS, atp_sum_heads_axis),
    ("check_qk_fix_queries", "qkq_softmax_query_axis", "(?i)" + _SOFTMAX_Q, qkq_softmax_query_axis),
    ("check_qk_fix_queries", "qkq_batch_sum", "(?i)" + _BATCH_SUM, qkq_batch_sum),
    ("check_qk_fix_queries", "qkq_no_scale", "(?i)" + _NO_SCALE, qkq_no_scale),
    ("check_qk_fix_queries", "qkq_plain_atp_on_query", "(?i)" + _PLAIN_ATP, qkq_plain_atp_on_query),
    ("check_qk_fix_queries", "qkq_sum_query_axis", "(?i)" + _SUM_Q_AXIS, qkq_sum_query_axis),
    ("check_qk_fix_keys", "qkk_softmax_query_axis", "(?i)" + _SOFTMAX_Q, qkk_softmax_query_axis),
    ("check_qk_fix_keys", "qkk_only_column_s", "(?i)" + _ONLY_COL, qkk_only_column_s),
    ("check_qk_fix_keys", "qkk_no_scale", "(?i)" + _NO_SCALE, qkk_no_scale),
    ("check_qk_fix_keys", "qkk_no_clean_pattern_subtracted", "(?i)" + _NO_SUB, qkk_no_clean_pattern_subtracted),
    ("check_qk_fix_keys", "qkk_corrupt_query_too", "(?i)" + _CORR_Q, qkk_corrupt_query_too),
    ("check_graddrop", "gd_no_abs", "(?i)" + _NO_ABS, gd_no_abs),
    ("check_graddrop", "gd_divide_by_L", "(?i)" + _DIV_L, gd_divide_by_L),
    ("check_graddrop", "gd_no_times_batch", "(?i)" + _NO_B, gd_no_times_batch),
    ("check_graddrop", "gd_no_retain_graph", "(?i)" + _RETAIN, gd_no_retain_graph),
    ("check_graddrop", "gd_gates_attention_only", "(?i)" + _ATTN_ONLY, gd_gates_attention_only),
    ("check_eap", "eap_grads_at_sources", "(?i)" + _SRC_GRADS, eap_grads_at_sources),
    ("check_eap", "eap_delta_reversed", "(?i)" + _DELTA_REV, eap_delta_reversed),
    ("check_eap", "eap_grad_times_input", "(?i)" + _GXI, eap_grad_times_input),
    ("check_eap", "eap_batch_sum", "(?i)" + _BATCH_SUM, eap_batch_sum),
    ("check_eap", "eap_mean_positions", "(?i)" + _MEAN_POS, eap_mean_positions),
    ("check_eap_ig", "ig_left_endpoints", "(?i)" + _LEFT, ig_left_endpoints),
    ("check_eap_ig", "ig_path_reversed", "(?i)" + _PATH_REV, ig_path_reversed),
    ("check_eap_ig", "ig_no_divide_by_steps", "(?i)" + _NO_DIV_M, ig_no_divide_by_steps),
    ("check_eap_ig", "ig_hook_not_applied", "(?i)" + _NO_HOOK, ig_hook_not_applied),
    ("check_eap_ig", "ig_no_straight_through", "(?i)" + _NO_ST, ig_no_straight_through),
    ("check_gradpath", "gp_unnormalised_step", "(?i)" + _UNNORM, gp_unnormalised_step),
    ("check_gradpath", "gp_gradient_ascent", "(?i)" + _ASCENT, gp_gradient_ascent),
    ("check_gradpath", "gp_start_point_missing", "(?i)" + _NO_START, gp_start_point_missing),
    ("check_gradpath", "gp_starts_at_corrupt", "(?i)" + _START_CORR, gp_starts_at_corrupt),
    ("check_gradpath", "gp_inplace_alias", "(?i)" + _ALIAS, gp_inplace_alias),
    ("check_verify_top", "vt_signed_ranking", "(?i)" + _SIGNED, vt_signed_ranking),
    ("check_verify_top", "vt_unsorted_names", "(?i)" + _UNSORTED, vt_unsorted_names),
    ("check_verify_top", "vt_qk_as_heads", "(?i)" + _QK_HEADS, vt_qk_as_heads),
    ("check_verify_top", "vt_abs_effects", "(?i)" + _ABS_EFF, vt_abs_effects),
    ("check_verify_top", "vt_bottom_k", "(?i)" + _BOTTOM, vt_bottom_k),
]
