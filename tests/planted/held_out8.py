"""Held-out set #8, written blind (the writer never read the checks or their messages) on 2026-12-06;
measured once, unseen.

Four wrong solutions per exercise (36), each a mistake a tutor sees often and none of them an id of
/work/scratch/helpers/known_mistakes.md (a few are a listed idea moved to another exercise, with
different code). The cause regexes were written before any check ran on them.

How each was verified to be wrong: every function here and the correct solution (this file's helpers
with every switch off, themselves checked against the package's reference to <= 1e-6: patch_nodes, atp,
atp_qk_fix, graddrop, eap, eap_ig, gradpath, verify_top) were run on the model and task the chapter
builds: ch00 the zoo's induction model (n=16, seed 0); ch01 the saturation specimen; ch02 the
cancellation specimen; ch03 the flat_region specimen (EAP-IG at m = 1, 2, 5, 10); ch04 the
path_saturation specimen (5 steps, "unit" and "scaled"); ch05 the zoo's mixture model on its IOI task
(n=8, seed 0) with AtP node scores, AtP q/k scores and EAP edge scores, k = 5. Each one's largest
|difference| from the correct result is at least 1 % of the correct result's largest magnitude in at
least one of those settings, except the four that are return-type or shape errors (same numbers in
another container or order): ph8_nested_list, atp8_stacked_on_dim1, eap8_dict_of_edges,
gp8_list_of_points (one per exercise at most).
"""

from functools import partial

import torch

import workbook as wb
from tests.planted._base import qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ---------------------------------------------------------------- ch00 patch_heads
def _patch(model, task, sign=1.0, first=False, every_layer=False, as_list=False):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)

    def metric(logits):
        return task.per_example(logits)[0] if first else task.metric_value(logits)

    with torch.no_grad():
        base = metric(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, name=None, h=h):
                act = act.clone()
                act[:, :, h] = corr[name][:, :, h]
                return act

            hooked = names if every_layer else [names[l]]
            with torch.no_grad(), model.hooks(fwd_hooks=[(n, partial(put, name=n)) for n in hooked]):
                out[l, h] = sign * (metric(model(task.clean)) - base)
    return out.tolist() if as_list else out


# Sign flipped: effect written as M(clean) - M(patched) instead of M(patched) - M(clean).
def ph8_sign_flipped(model, task):
    return _patch(model, task, sign=-1.0)


# The metric is read on the first prompt pair only (per_example(...)[0]), not averaged over the batch.
def ph8_first_pair_metric(model, task):
    return _patch(model, task, first=True)


# For head (l, h) the hook goes on every layer's hook_z, so head h is patched in all layers at once.
def ph8_head_in_every_layer(model, task):
    return _patch(model, task, every_layer=True)


# Returns a nested Python list (out.tolist()) instead of a [n_layers, n_heads] tensor.
def ph8_nested_list(model, task):
    return _patch(model, task, as_list=True)


# ---------------------------------------------------------------- ch00 atp_heads
def _atp(model, task, no_delta=False, batch_sum=False, changed_only=False, dim=0):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    changed = (task.clean != task.corrupt).any(0)
    rows = []
    for n in names:
        delta = clean[n] if no_delta else corr[n] - clean[n]
        term = delta * grads[n]
        if changed_only:
            term = term[:, changed]
        per_ex = term.sum((1, 3))
        rows.append(per_ex.sum(0) if batch_sum else per_ex.mean(0))
    return torch.stack(rows, dim)


# Gradient x activation: the clean hook_z times the gradient, with no corrupt - clean delta.
def atp8_clean_times_grad(model, task):
    return _atp(model, task, no_delta=True)


# Sums the per-example estimates over the batch instead of taking the batch mean.
def atp8_batch_sum(model, task):
    return _atp(model, task, batch_sum=True)


# Sums only over the positions whose tokens differ between clean and corrupt, dropping later positions.
def atp8_changed_positions_only(model, task):
    return _atp(model, task, changed_only=True)


# torch.stack(..., dim=1): the result is [n_heads, n_layers].
def atp8_stacked_on_dim1(model, task):
    return _atp(model, task, dim=1)


# ---------------------------------------------------------------- ch01 qk_fix_queries
def _qkq(model, task, times_scale=False, dhead_scale=False, transposed=False, first=False):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = model.cfg.d_head if dhead_scale else attn_scale(model, l)

        def pat(qq, k=k, sc=sc):
            s = torch.einsum("bthd,bshd->bhst" if transposed else "bthd,bshd->bhts", qq, k)
            s = s * sc if times_scale else s / sc
            return s.masked_fill(~mask, float("-inf")).softmax(-1)

        est = ((pat(q_new) - pat(q)) * grads[pats[l]]).sum(-1)  # [B, H, T]
        out.append(est[0] if first else est.mean(0))
    return torch.stack(out)


# Scores multiplied by attn_scale instead of divided by it.
def qkq8_times_scale(model, task):
    return _qkq(model, task, times_scale=True)


# Scores divided by d_head instead of sqrt(d_head).
def qkq8_scale_dhead(model, task):
    return _qkq(model, task, dhead_scale=True)


# Score einsum written "bthd,bshd->bhst": rows are keys, so the mask and softmax act on the wrong axis.
def qkq8_scores_transposed(model, task):
    return _qkq(model, task, transposed=True)


# Only the first prompt pair's estimate is returned (est[0]) instead of the batch mean.
def qkq8_first_pair(model, task):
    return _qkq(model, task, first=True)


# ---------------------------------------------------------------- ch01 qk_fix_keys
def _qkk(model, task, batch_sum=False, times_scale=False, score_grads=False, added=False):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    gname = "hook_attn_scores" if score_grads else "hook_pattern"
    gnames = [f"blocks.{l}.attn.{gname}" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, gnames)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys, q=q, sc=sc):
            s = torch.einsum("bthd,bshd->bhts", q, keys)
            s = s * sc if times_scale else s / sc
            return s.masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            if added:
                k2[:, s] += corr[f"blocks.{l}.attn.hook_k"][:, s]
            else:
                k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            est = ((pattern(k2) - A) * grads[gnames[l]]).sum((-1, -2))
            out[l, :, s] = est.sum(0) if batch_sum else est.mean(0)
    return out


# Sums the per-example key estimates over the prompt pairs instead of averaging them.
def qkk8_batch_sum(model, task):
    return _qkk(model, task, batch_sum=True)


# Scores multiplied by the scale instead of divided by it.
def qkk8_times_scale(model, task):
    return _qkk(model, task, times_scale=True)


# Gradient taken at hook_attn_scores (pre-softmax) but multiplied by the pattern change A2 - A.
def qkk8_score_gradient(model, task):
    return _qkk(model, task, score_grads=True)


# k2[:, s] += corrupt key: the corrupt key is added to the clean one instead of replacing it.
def qkk8_key_added(model, task):
    return _qkk(model, task, added=True)


# ---------------------------------------------------------------- ch02 graddrop
def _gd(model, task, writes=("attn", "mlp"), tokens=None, no_return=False, cumulative=False):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    dropped, acts, grads = set(), {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        if l in dropped:
            if no_return:
                g = torch.zeros_like(g)  # the learner's version never returns it
                return None
            return torch.zeros_like(g)
        return g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, partial(save, n=n)) for n in names]
    bwd = [(n, partial(grab, n=n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", partial(gate, l=l)) for l in range(L) for w in writes]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean if tokens is None else tokens))
        for l in range(L):
            if not cumulative:
                dropped.clear()
            dropped.add(l)
            grads.clear()
            metric.backward(retain_graph=True)
            rows = []
            for n in names:
                term = (corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))
                rows.append(term.sum((1, 3)))
            per_pass.append(torch.stack(rows, 1))  # [B, L, H]
    stacked = torch.stack(per_pass)  # [passes, B, L, H]
    return (stacked.abs().sum(0) / (L - 1)).mean(0)


# Each pass drops only layer l's MLP write (hook_mlp_out); the attention write is left open.
def gd8_mlp_only_dropped(model, task):
    return _gd(model, task, writes=("mlp",))


# The forward (and so every gradient) runs on the corrupt prompts; only the delta comes from the clean run.
def gd8_gradients_on_corrupt(model, task):
    return _gd(model, task, tokens=task.corrupt)


# The gating hook builds zeros but never returns them, so no gradient is ever dropped.
def gd8_gate_no_return(model, task):
    return _gd(model, task, no_return=True)


# The set of dropped layers is never cleared: pass l drops layers 0..l.
def gd8_drop_set_grows(model, task):
    return _gd(model, task, cumulative=True)


# ---------------------------------------------------------------- ch03 eap
def _eap(model, task, grads_times_b=False, pos_mean=False, clean_tokens=None, first=False, as_dict=False):
    graph = Graph.from_model(model)
    src = list(graph.source_hooks)
    _, corr = cache_activations(model, task.corrupt, src)
    _, clean, grads = cache_activations_and_grads(model, task, src, list(graph.dest_hooks))
    if clean_tokens is not None:
        _, clean = cache_activations(model, clean_tokens, src)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g = graph.stack_dest_grads(grads)
    B = task.batch_size
    if grads_times_b:
        g = g * B
    if first:
        deltas, g, B = deltas[:, :1], g[:, :1], 1
    scores = torch.einsum("sbpd,tbpd->st", deltas, g) / B
    if pos_mean:
        scores = scores / task.seq_len
    scores = scores * graph.edge_mask
    if as_dict:
        return {e: float(scores[s_, t_]) for e, (s_, t_) in zip(graph.edges, graph.edge_mask.nonzero().tolist())}
    return scores


# Multiplies the destination gradients by B, not knowing they are already per example.
def eap8_grads_times_b(model, task):
    return _eap(model, task, grads_times_b=True)


# Averages over positions as well as prompt pairs (divides by B * seq_len).
def eap8_mean_over_positions_too(model, task):
    return _eap(model, task, pos_mean=True)


# The "clean" source cache is taken on the corrupt tokens, so every delta is zero.
def eap8_clean_cache_on_corrupt(model, task):
    return _eap(model, task, clean_tokens=task.corrupt)


# Returns a dict {edge name: score} instead of the [n_sources, n_destinations] matrix.
def eap8_dict_of_edges(model, task):
    return _eap(model, task, as_dict=True)


# ---------------------------------------------------------------- ch03 eap_ig
def _ig(model, task, steps, first=False, start_with_clean=False, late_bind=False, fixed_m=None):
    steps = fixed_m or steps
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    dests = list(graph.dest_hooks)
    total = 0.0
    if start_with_clean:
        _, _, g0 = cache_activations_and_grads(model, task, [], dests)
        total = graph.stack_dest_grads(g0)
    hooks = []
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        if late_bind:
            hooks.append(lambda t, hook: t + (target - t).detach())  # noqa: B023 (the mistake)
        else:
            hooks.append(lambda t, hook, target=target: t + (target - t).detach())
    for hook in hooks:
        _, _, grads = cache_activations_and_grads(model, task, [], dests, extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    mean_grad = total / steps
    if first:
        return torch.einsum("spd,tpd->st", deltas[:, 0], mean_grad[:, 0]) * graph.edge_mask
    scores = torch.einsum("sbpd,tbpd->st", deltas, mean_grad) / task.batch_size
    return scores * graph.edge_mask


# Only the first prompt pair is scored (index 0 of the batch), no batch mean.
def ig8_first_pair(model, task, steps):
    return _ig(model, task, steps, first=True)


# The accumulator starts from the clean-point (EAP) gradient, so alpha = 1 is counted twice.
def ig8_clean_point_twice(model, task, steps):
    return _ig(model, task, steps, start_with_clean=True)


# Hooks built in a first loop without binding target: every run uses the last target (the clean point).
def ig8_late_binding_target(model, task, steps):
    return _ig(model, task, steps, late_bind=True)


# steps ignored: always m = 5 points, whatever the caller asks for.
def ig8_steps_ignored(model, task, steps):
    return _ig(model, task, steps, fixed_m=5)


# ---------------------------------------------------------------- ch04 gradpath
def _logits_at(model, tokens, embed):
    with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook: embed.to(t.dtype))]):
        return model(tokens)


def _gp(model, task, steps, step_size="unit", dist="sq", stale_norm=False, clip=False, as_list=False):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    first_norm = None
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            if dist == "l1":
                d = (_logits_at(model, task.clean, leaf) - target).abs().sum()
            else:
                d = output_distance(model, task.clean, leaf, target).sum()
            (g,) = torch.autograd.grad(d, leaf)
            nrm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            if stale_norm:
                first_norm = nrm if first_norm is None else first_norm
                nrm = first_norm
            if clip:
                nrm = nrm.clamp_min(1.0)
            gamma = (leaf - eta * g / nrm).detach()
            points.append(gamma)
    return points if as_list else torch.stack(points)


# The gradient norm is computed once, at the first step, and reused: later steps are not unit length.
def gp8_first_norm_reused(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, stale_norm=True)


# Output distance measured as the L1 norm |G(gamma) - G(e_corrupt)|, not the squared L2 norm.
def gp8_l1_distance(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, dist="l1")


# Gradient clipped (divided by max(1, ||g||)) instead of normalised: small gradients give short steps.
def gp8_clipped_not_normalised(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, clip=True)


# Returns the Python list of points instead of a stacked [steps+1, B, P, D] tensor.
def gp8_list_of_points(model, task, steps, step_size="unit"):
    return _gp(model, task, steps, step_size, as_list=True)


# ---------------------------------------------------------------- ch05 verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _vt(model, task, scores, k, post=None, cumulative=False):
    names = scores.order(absolute=True)[:k]
    effects = {}
    for what in dict.fromkeys(map(_kind, names)):
        group = [n for n in names if _kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    values = torch.tensor([effects[n] for n in names])
    if post is not None:
        values = post(values)
    return wb.Scores(names, values, method="activation patching", kind=scores.kind)


# Returns |exact effect| (magnitudes) instead of the signed noising effects.
def vt8_abs_effects(model, task, scores, k=5):
    return _vt(model, task, scores, k, post=torch.abs)


# Subtracts M(clean) from patch_nodes/patch_edges results, which are already effects (baseline twice).
def vt8_clean_subtracted_again(model, task, scores, k=5):
    clean_m, _ = task.baselines(model)
    return _vt(model, task, scores, k, post=lambda v: v - clean_m)


# Effects divided by |M(clean)| (relative change) instead of the raw noising effect.
def vt8_relative_to_clean(model, task, scores, k=5):
    clean_m, _ = task.baselines(model)
    return _vt(model, task, scores, k, post=lambda v: v / abs(clean_m))


# Each value is the running sum of the effects so far (cumulative), not each component's own effect.
def vt8_running_sum(model, task, scores, k=5):
    return _vt(model, task, scores, k, post=lambda v: v.cumsum(0))


MISTAKES = [
    ("check_patch_heads", "sign flipped: M(clean) - M(patched)",
     r"(?i)sign|negat|opposite|flipped|M\(clean\) *- *M\(patch", ph8_sign_flipped),
    ("check_patch_heads", "metric on the first prompt pair only",
     r"(?i)first (prompt|example|pair)|one (prompt|example|pair)|batch mean|average over (the )?(batch|prompt)|"
     r"per_example|single (prompt|example)", ph8_first_pair_metric),
    ("check_patch_heads", "head h patched in every layer at once",
     r"(?i)every layer|all layers|one layer|other layers|several layers|same (value|effect) .*layer|"
     r"more than one|at once|together|jointly|only (that|one|this) head", ph8_head_in_every_layer),
    ("check_patch_heads", "nested list instead of a tensor",
     r"(?i)tensor|list|type|torch", ph8_nested_list),
    ("check_atp_heads", "clean activation times gradient, no delta",
     r"(?i)delta|corrupt *- *clean|difference|subtract|activation times|gradient (x|times) activation|"
     r"clean activation|no .*corrupt", atp8_clean_times_grad),
    ("check_atp_heads", "batch summed, not averaged",
     r"(?i)B times|batch (mean|size|sum)|sum(med)? over (the )?(batch|prompt|example)|mean over (the )?(batch|"
     r"prompt|example)|average over (the )?(batch|prompt)|too large", atp8_batch_sum),
    ("check_atp_heads", "only the positions whose tokens differ",
     r"(?i)all positions|every position|sum(med)? over (the |all )?positions|later positions|"
     r"positions? .*(missing|left out|dropped)|tokens differ|changed tokens|differing", atp8_changed_positions_only),
    ("check_atp_heads", "stacked on dim 1: [heads, layers]",
     r"(?i)shape|\[n_layers, n_heads\]|n_layers|n_heads|transpos|\[heads, layers\]", atp8_stacked_on_dim1),
    ("check_qk_fix_queries", "query scores multiplied by attn_scale",
     r"(?i)scale|sqrt|d_head|attn_scale|multipl|divid|temperature", qkq8_times_scale),
    ("check_qk_fix_queries", "scale d_head instead of sqrt(d_head)",
     r"(?i)scale|sqrt|d_head|attn_scale|temperature", qkq8_scale_dhead),
    ("check_qk_fix_queries", "score einsum transposed (bhst)",
     r"(?i)transpos|einsum|bhts|bhst|axis|axes|query.*key|key.*query|swap", qkq8_scores_transposed),
    ("check_qk_fix_queries", "first prompt pair's query estimate only",
     r"(?i)first (prompt|example|pair)|one (prompt|example|pair)|batch mean|average over (the )?(batch|prompt)|"
     r"single (prompt|example)|mean over (the )?batch", qkq8_first_pair),
    ("check_qk_fix_keys", "summed over prompt pairs, not averaged",
     r"(?i)B times|batch (mean|size|sum)|sum(med)? over (the )?(batch|prompt|example)|mean over (the )?(batch|"
     r"prompt|example)|average over (the )?(batch|prompt)|too large", qkk8_batch_sum),
    ("check_qk_fix_keys", "scores multiplied by the scale",
     r"(?i)scale|sqrt|d_head|attn_scale|multipl|divid|temperature", qkk8_times_scale),
    ("check_qk_fix_keys", "gradient at attn_scores times the pattern change",
     r"(?i)hook_pattern|attn_scores|pattern gradient|gradient (at|of|w\.?r\.?t\.?) the pattern|post-softmax|"
     r"pre-softmax|hook_attn_scores|score gradient", qkk8_score_gradient),
    ("check_qk_fix_keys", "corrupt key added, not replaced",
     r"(?i)added|adds|replac|overwrit|\+=|sum of (the )?(clean and corrupt|keys)|instead of (the )?clean key|"
     r"clean \+ corrupt", qkk8_key_added),
    ("check_graddrop", "only the MLP write dropped",
     r"(?i)hook_attn_out|attention (write|output|out)|both writes|two writes|attn_out|attention and (the )?MLP|"
     r"MLP only|only the MLP|own layer|not zero", gd8_mlp_only_dropped),
    ("check_graddrop", "gradients on the corrupt run",
     r"(?i)corrupt (run|tokens|prompts|forward|input)|clean (run|tokens|prompts|forward|input)|"
     r"gradients? (at|on|from) the clean", gd8_gradients_on_corrupt),
    ("check_graddrop", "gate never returns zeros: nothing dropped",
     r"(?i)never (dropped|zero|stop|cut)|not (dropped|zeroed|stopped|cut)|gate|return|no(thing)? .*drop|"
     r"plain AtP|\|AtP\||every pass|own layer|same for every pass|backward hook", gd8_gate_no_return),
    ("check_graddrop", "drop set grows: pass l drops layers 0..l",
     r"(?i)only layer|one layer|clear|reset|cumulative|accumulat|more than one layer|several layers|earlier layers|"
     r"previous", gd8_drop_set_grows),
    ("check_eap", "gradients multiplied by B again",
     r"(?i)B times|already per example|per-example|times B|multipl\w* by B|batch (mean|size)|too large|1/B",
     eap8_grads_times_b),
    ("check_eap", "divided by B * seq_len",
     r"(?i)position|seq_len|seq\b|too small|B \* seq|divid\w* by (the )?(seq|number of positions)",
     eap8_mean_over_positions_too),
    ("check_eap", "clean cache on the corrupt tokens: zero deltas",
     r"(?i)all zeros?|zeros? everywhere|(every|each) (score|edge) (is )?zero|delta|corrupt *- *clean|"
     r"clean (run|tokens|cache|activation)|nothing", eap8_clean_cache_on_corrupt),
    ("check_eap", "dict instead of a matrix",
     r"(?i)tensor|matrix|dict|type|n_sources|n_destinations|torch", eap8_dict_of_edges),
    ("check_eap_ig", "first prompt pair's edges only, no batch mean",
     r"(?i)first (prompt|example|pair)|one (prompt|example|pair)|batch mean|average over (the )?(batch|prompt)|"
     r"single (prompt|example)|mean over (the )?(batch|prompt)", ig8_first_pair),
    ("check_eap_ig", "clean point counted twice",
     r"(?i)clean (point|end)|alpha ?= ?1|twice|m ?\+ ?1|k ?= ?0|double|initiali[sz]", ig8_clean_point_twice),
    ("check_eap_ig", "late-binding target: every point clean",
     r"(?i)late|bind|closure|default argument|same point|every point|all points|clean point|alpha ?= ?1|"
     r"equals? EAP|plain EAP|same as EAP|lambda", ig8_late_binding_target),
    ("check_eap_ig", "steps ignored, always 5",
     r"(?i)steps|\bm\b|number of points|ignor|fixed|hard-?coded", ig8_steps_ignored),
    ("check_gradpath", "first step's gradient norm reused",
     r"(?i)normali[sz]|unit (step|length)|\|\|g\|\||step length|length of (each|the) step|each step|per step|"
     r"current gradient|first (step|gradient)|stale", gp8_first_norm_reused),
    ("check_gradpath", "L1 distance instead of squared L2",
     r"(?i)output_distance|distance|squared|L1|L2|abs|objective|\^2", gp8_l1_distance),
    ("check_gradpath", "gradient clipped at norm 1, not normalised",
     r"(?i)normali[sz]|unit (step|length)|\|\|g\|\||step length|step size|eta|clip|short", gp8_clipped_not_normalised),
    ("check_gradpath", "list of points, not a tensor",
     r"(?i)tensor|list|stack|type|torch", gp8_list_of_points),
    ("check_verify_top", "|exact effect| returned",
     r"(?i)abs|absolute|sign|magnitude|negative", vt8_abs_effects),
    ("check_verify_top", "M(clean) subtracted again",
     r"(?i)M\(clean\)|clean (metric|baseline|value)|baseline|already|twice|subtract|offset|"
     r"shift", vt8_clean_subtracted_again),
    ("check_verify_top", "relative to |M(clean)|",
     r"(?i)M\(clean\)|divid|relative|normali[sz]|ratio|fraction|raw", vt8_relative_to_clean),
    ("check_verify_top", "running sum of effects",
     r"(?i)cumulative|cumsum|running|own effect|each (component|name) (alone|on its own|separately)|"
     r"jointly|together|separately|one at a time", vt8_running_sum),
]
