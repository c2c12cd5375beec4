"""Held-out set #14, written blind (the writer never saw the checks or their messages) on 2026-12-06;
measured once, unseen.

Five plausible first-attempt mistakes per exercise, none of them an id already planted. Each was run
once by hand next to the chapter's own correct solution on the chapter's model and task (chapter 0:
``zoo.load("induction", n=16, seed=0)``; chapter 1: ``saturation.build()``; chapter 2:
``cancellation.build()``; chapter 3: ``build("flat_region")``, steps 5; chapter 4:
``build("path_saturation")``, steps 5, unit and scaled steps; chapter 5: the mixture model on its ``ioi``
task, n=8, seed 0, k=5 over a mixed node/q-k/edge estimate) and kept only where the max |difference|
is at least 2% of the correct result's scale there, or where it crashes or returns a wrong shape or
wrong names (script and table: /work/scratch/r14/verify.py, /work/scratch/r14/table.txt). Every cause
regex was written before anything was measured, from the cause alone.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params


# ----------------------------------------------------------------------------- check_patch_heads
def _patch(model, task, write, n_heads=None, metric_in=lambda x: x, post=lambda out: out):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(metric_in(model(task.clean)))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H if n_heads is None else n_heads):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                write(act, corr[names[l]], h)
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(metric_in(model(task.clean))) - base
    return post(out)


def _replace(act, c, h):
    act[:, :, h] = c[:, :, h]


def ph_last_head_never_patched(model, task):
    # for h in range(H - 1): the last head of every layer keeps its zero
    return _patch(model, task, _replace, n_heads=model.cfg.n_heads - 1)


def ph_metric_on_probabilities(model, task):
    # the metric is fed softmax probabilities instead of the logits (in both runs)
    return _patch(model, task, _replace, metric_in=lambda x: x.softmax(-1))


def ph_effects_normalised_by_largest(model, task):
    return _patch(model, task, _replace, post=lambda out: out / out.abs().max())


def _shifted(act, c, h):
    act[:, 1:, h] = c[:, :-1, h]


def ph_corrupt_value_shifted_one_position(model, task):
    # position t receives the corrupt value of position t - 1 (off-by-one slice)
    return _patch(model, task, _shifted)


def _halfway(act, c, h):
    act[:, :, h] = (act[:, :, h] + c[:, :, h]) / 2


def ph_halfway_mix_of_clean_and_corrupt(model, task):
    # "patching" read as mixing: the head gets the mean of its clean and corrupt values
    return _patch(model, task, _halfway)


# ----------------------------------------------------------------------------- check_atp_heads
def _atp_parts(model, task):
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return names, corr, clean, grads


def atp_last_head_missing(model, task):
    # a loop over heads with range(H - 1): the last head of every layer stays 0
    names, corr, clean, grads = _atp_parts(model, task)
    out = torch.zeros(len(names), model.cfg.n_heads)
    for l, n in enumerate(names):
        for h in range(model.cfg.n_heads - 1):
            out[l, h] = ((corr[n] - clean[n])[:, :, h] * grads[n][:, :, h]).sum((1, 2)).mean(0)
    return out


def atp_absolute_delta(model, task):
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]).abs() * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_cosine_similarity_not_dot_product(model, task):
    # delta . grad divided by |delta| |grad| per head: a cosine, not the first-order change
    names, corr, clean, grads = _atp_parts(model, task)
    out = []
    for n in names:
        d, g = corr[n] - clean[n], grads[n]
        cos = torch.nn.functional.cosine_similarity(d.transpose(1, 2).flatten(2), g.transpose(1, 2).flatten(2), dim=-1)
        out.append(cos.mean(0))
    return torch.stack(out)


def atp_gradient_averaged_over_heads(model, task):
    # one gradient per layer: the head axis of the gradient averaged and shared by every head
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n].mean(2, keepdim=True)).sum((1, 3)).mean(0) for n in names])


def atp_delta_one_position_late(model, task):
    # delta at position t paired with the gradient at position t + 1 (next-token style shift)
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n])[:, :-1] * grads[n][:, 1:]).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def _qkq(model, task, reduce=lambda x, T: x.sum(-1).mean(0), corrupt_tokens="corrupt"):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    if corrupt_tokens == "clean":
        _, corr = cache_activations(model, task.clean, list(corr))
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(reduce((A_new - A) * grads[pats[l]], T))
    return torch.stack(out)


def qkq_denoising_direction(model, task):
    # clean queries written into the corrupt run: pattern and gradients of the corrupt run
    return _qkq(model, task.swapped())


def qkq_corrupt_cache_from_clean_tokens(model, task):
    # the "corrupt" q/k cache is taken on task.clean: every query change is zero
    return _qkq(model, task, corrupt_tokens="clean")


def qkq_batch_mean_divided_by_seq_len(model, task):
    return _qkq(model, task, reduce=lambda x, T: x.sum(-1).sum(0) / T)


def qkq_mean_without_dim(model, task):
    # .mean() with no dim: one number per layer instead of [H, T]
    return _qkq(model, task, reduce=lambda x, T: x.sum(-1).mean())


def qkq_exact_query_patching(model, task):
    # the exact effect of patching each query (metric of a patched run), not the QK-fix estimate
    L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
    names = [f"blocks.{l}.attn.hook_q" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H, T)
    for l in range(L):
        for h in range(H):
            for t in range(T):
                def put(act, hook, l=l, h=h, t=t):
                    act = act.clone()
                    act[:, t, h] = corr[names[l]][:, t, h]
                    return act

                with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                    out[l, h, t] = task.metric_value(model(task.clean)) - base
    return out


# ----------------------------------------------------------------------------- check_qk_fix_keys
def _qkk(model, task, grads=None, softmax=lambda x: x.softmax(-1), combine=lambda A2, A, g: (A2 - A) * g,
         store=None):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, own_grads, pats = qk_parts(model, task)
    grads = own_grads if grads is None else grads
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return softmax((torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")))

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            val = combine(pattern(k2), A, grads[pats[l]]).sum((-1, -2)).mean(0)
            if store is None:
                out[l, :, s] = val
            else:
                store(out, l, s, val)
    return out


def qkk_clean_pattern_not_subtracted(model, task):
    return _qkk(model, task, combine=lambda A2, A, g: A2 * g)


def qkk_pattern_gradients_from_the_corrupt_run(model, task):
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(model.cfg.n_layers)]
    _, _, grads = cache_activations_and_grads(model, task, [], pats, tokens=task.corrupt)
    return _qkk(model, task, grads=grads)


def qkk_log_softmax_pattern(model, task):
    # log-probabilities (log_softmax) used as the attention pattern; masked entries zeroed
    def logsm(x):
        return x.log_softmax(-1).nan_to_num(neginf=0.0).masked_fill(x.isinf(), 0.0)

    return _qkk(model, task, softmax=logsm)


def _swapped_store(out, l, s, val):
    out[l, s] = val


def qkk_heads_and_key_axes_swapped_in_store(model, task):
    # out[l, s] = ... : the per-head vector written along the key axis, at row "head" s
    return _qkk(model, task, store=_swapped_store)


def qkk_pattern_gradients_times_batch_size(model, task):
    # gradients multiplied by B (the per-example rescaling of chapter 2) though the batch mean follows
    B = task.batch_size
    return _qkk(model, task, combine=lambda A2, A, g: (A2 - A) * g * B)


# ----------------------------------------------------------------------------- check_graddrop
def _gd(model, task, delta="corrupt", one_backward=False, post=lambda out: out, scale=None, corrupt_tokens=None):
    L, B = model.cfg.n_layers, task.batch_size
    scale = B if scale is None else scale
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt if corrupt_tokens is None else corrupt_tokens, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * scale)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        if one_backward:
            metric.backward(retain_graph=True)
        for l in range(L):
            drop["layer"] = l
            if not one_backward:
                grads.clear()
                metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((_gd_delta(corr[n], acts[n], delta) - acts[n])
                                          * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3)) for n in names], 1))
    return post((torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0))


def _gd_delta(c, a, delta):
    return torch.zeros_like(a) if delta == "zero" else c


def gd_one_backward_before_the_pass_loop(model, task):
    # metric.backward() once, before the loop: every pass reuses the undropped gradients
    return _gd(model, task, one_backward=True)


def gd_normalised_by_largest(model, task):
    return _gd(model, task, post=lambda out: out / out.abs().max())


def gd_zero_ablation_delta(model, task):
    # delta = 0 - z_clean: the head is zero-ablated instead of set to its corrupt value
    return _gd(model, task, delta="zero")


def gd_gradients_divided_by_batch_size(model, task):
    # g / B where the per-example gradient needs g * B
    return _gd(model, task, scale=1.0 / task.batch_size)


def gd_corrupt_cache_from_clean_tokens(model, task):
    # the "corrupt" hook_z cache is taken on task.clean: every delta is zero
    return _gd(model, task, corrupt_tokens=task.clean)


# ----------------------------------------------------------------------------- check_eap
def eap_summed_over_destinations(model, task):
    # one score per source: the edge matrix summed over its destinations ([n_sources])
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) * graph.edge_mask
    return scores.sum(1) / task.batch_size


def eap_gradient_at_the_sources(model, task):
    # the gradient taken at each source's own output (node AtP), not at the destinations' inputs
    graph = Graph.from_model(model)
    src = list(graph.source_hooks)
    _, corr = cache_activations(model, task.corrupt, src)
    _, clean, grads = cache_activations_and_grads(model, task, src, src)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    return torch.einsum("sbpd,tbpd->st", deltas, graph.stack_sources(grads)) / task.batch_size


def eap_halved_first_order_term(model, task):
    # a Taylor-style 1/2 put in front of the first-order term delta . grad
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return 0.5 * scores * graph.edge_mask


def eap_cosine_similarity_not_dot_product(model, task):
    # delta . grad divided by |delta| |grad| per edge and prompt pair
    graph, corr, clean, grads = eap_parts(model, task)
    d = (graph.stack_sources(corr) - graph.stack_sources(clean)).flatten(2)
    g = graph.stack_dest_grads(grads).flatten(2)
    cos = torch.einsum("sbx,tbx->stb", d, g) / (d.norm(dim=-1)[:, None] * g.norm(dim=-1)[None]).clamp_min(1e-12)
    return cos.mean(-1) * graph.edge_mask


def eap_positions_not_summed(model, task):
    # "sbpd,tbpd->stp": one score per position, the position axis never summed
    graph, corr, clean, grads = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->stp", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask[..., None]


# ----------------------------------------------------------------------------- check_eap_ig
def _ig(model, task, steps, make_hook=None, pass_hook=True, stack_mean_dim=None):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    make_hook = make_hook or (lambda target: (lambda t, hook: t + (target - t).detach()))
    collected = []
    for k in range(1, steps + 1):
        hook = make_hook(e_n + (k / steps) * (e_c - e_n))
        extra = [("hook_embed", hook)] if pass_hook else []
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=extra)
        collected.append(graph.stack_dest_grads(grads))
    if stack_mean_dim is None:
        avg = sum(collected) / steps
    else:
        avg = torch.stack(collected).mean(stack_mean_dim)
    return torch.einsum("sbpd,tbpd->st", deltas, avg) / task.batch_size * graph.edge_mask


def ig_summed_over_destinations(model, task, steps):
    # one score per source: the edge matrix summed over its destinations ([n_sources])
    return _ig(model, task, steps).sum(1)


def ig_hook_without_the_hook_argument(model, task, steps):
    # lambda t: ...  -- TransformerLens calls hooks as fn(tensor, hook=...)
    return _ig(model, task, steps, make_hook=lambda target: (lambda t: t + (target - t).detach()))


def ig_stacked_gradients_mean_over_destinations(model, task, steps):
    # torch.stack(points).mean(1): the wrong axis, averaging destinations instead of points
    return _ig(model, task, steps, stack_mean_dim=1)


def ig_hook_never_passed(model, task, steps):
    # the interpolation hook is built each step but never handed to the run: every point is clean
    return _ig(model, task, steps, pass_hook=False)


def ig_all_point_hooks_in_one_run(model, task, steps):
    # the m hooks passed together to one run: the last one (the clean point) wins, one gradient / m
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    hooks = [("hook_embed", lambda t, hook, target=e_n + (k / steps) * (e_c - e_n): t + (target - t).detach())
             for k in range(1, steps + 1)]
    _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=hooks)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads) / steps) / task.batch_size
    return scores * graph.edge_mask


# ----------------------------------------------------------------------------- check_gradpath
def _gp(model, task, steps, step_size, target_map=lambda x: x, unpack_swapped=False):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    if unpack_swapped:
        n, target = cache_activations(model, task.corrupt, [LEAF_HOOK])
    else:
        target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    target = target_map(target)
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)


def gp_batch_axis_squeezed(model, task, steps, step_size="unit"):
    # torch.stack(points).squeeze(): a batch of one loses its batch axis
    return _gp(model, task, steps, step_size).squeeze()


def gp_end_point_only(model, task, steps, step_size="unit"):
    # returns the final gamma, not the path of steps + 1 points
    return _gp(model, task, steps, step_size)[-1]


def gp_target_probabilities_not_logits(model, task, steps, step_size="unit"):
    # the target is the corrupt run's softmax, while the distance compares logits with it
    return _gp(model, task, steps, step_size, target_map=lambda x: x.softmax(-1))


def gp_logits_and_cache_unpacked_swapped(model, task, steps, step_size="unit"):
    # `cache, target = cache_activations(...)` for the corrupt run: target is the cache
    return _gp(model, task, steps, step_size, unpack_swapped=True)


def gp_outputs_returned_not_embeddings(model, task, steps, step_size="unit"):
    # the model's logits at each point returned, not the embedding points themselves
    points = _gp(model, task, steps, step_size)
    outs = []
    with torch.no_grad():
        for p in points:
            with model.hooks(fwd_hooks=[(LEAF_HOOK, lambda t, hook, p=p: p)]):
                outs.append(model(task.clean))
    return torch.stack(outs)


# ----------------------------------------------------------------------------- check_verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _vt(model, task, names, kind=_kind, lookup_all=False, edge_kw="edges", what_map=lambda w: w):
    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, **{edge_kw: group})
        else:
            res = wb.patch_nodes(model, task, what_map(what), nodes=group)
        effects.update({n: float(res[n]) for n in (names if lookup_all else group)})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching")


def vt_kth_name_only(model, task, scores, k=5):
    # order(absolute=True)[k] instead of [:k]: one name, the (k+1)-th
    return _vt(model, task, [scores.order(absolute=True)[k]])


def vt_every_name_looked_up_in_each_group(model, task, scores, k=5):
    # the dict comprehension runs over all k names, not the group just patched
    return _vt(model, task, scores.order(absolute=True)[:k], lookup_all=True)


def vt_patch_edges_called_with_nodes_keyword(model, task, scores, k=5):
    # copy of the node branch: patch_edges(model, task, nodes=group)
    return _vt(model, task, scores.order(absolute=True)[:k], edge_kw="nodes")


def vt_kind_names_pluralised(model, task, scores, k=5):
    # "heads", "mlps", "qs", "ks" passed as what=
    return _vt(model, task, scores.order(absolute=True)[:k], what_map=lambda w: w + "s")


def _kind_unguarded(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.split(".")[-1]


def vt_kind_from_split_without_the_dot_guard(model, task, scores, k=5):
    # name.split(".")[-1] for every node: a head "L0H1" gets the kind "L0H1"
    return _vt(model, task, scores.order(absolute=True)[:k], kind=_kind_unguarded)


MISTAKES = [
    ("check_patch_heads", "ph_last_head_never_patched",
     r"(?i)last head (is )?(missing|skipped|never|not)|range\(\s*(H|n_heads)\s*-\s*1\s*\)|one head short|"
     r"every head but the last|heads? loop (stops|ends) (one|a) (head )?early|head loop bound|"
     r"off[- ]by[- ]one.{0,30}head",
     ph_last_head_never_patched),
    ("check_patch_heads", "ph_metric_on_probabilities",
     r"(?i)probabilit|softmax(ed)? (before|of the logits|logits)|\.softmax|instead of (the )?(raw )?logits|"
     r"metric (is )?(given|fed|applied to|on) (the )?(probs|probabilities|softmax)",
     ph_metric_on_probabilities),
    ("check_patch_heads", "ph_effects_normalised_by_largest",
     r"(?i)normali[sz]ed? (by|to) (the )?(largest|max|maximum|biggest)|divided by (the )?(largest|max|maximum)|"
     r"max(imum)? \|?effect\|?|rescaled? to \[?-?1|scaled so (that )?the (largest|max)|/ ?\S*\.max\(",
     ph_effects_normalised_by_largest),
    ("check_patch_heads", "ph_corrupt_value_shifted_one_position",
     r"(?i)shift\w*.{0,30}(one|1|a) position|off[- ]by[- ]one.{0,30}position|position (t ?- ?1|t-1|before)|"
     r"previous position|misaligned positions|positions? (are )?misaligned",
     ph_corrupt_value_shifted_one_position),
    ("check_patch_heads", "ph_halfway_mix_of_clean_and_corrupt",
     r"(?i)half ?way|mean of (the )?clean and (the )?corrupt|average of (the )?clean and (the )?corrupt|"
     r"(mix|blend|interpolat)\w*.{0,40}(clean|corrupt)|alpha ?= ?0?\.5|/ ?2\b|halved|"
     r"half of the (corrupt )?(change|difference)",
     ph_halfway_mix_of_clean_and_corrupt),

    ("check_atp_heads", "atp_last_head_missing",
     r"(?i)last head (is )?(missing|skipped|never|not|left)|range\(\s*(H|n_heads)\s*-\s*1\s*\)|one head short|"
     r"every head but the last|heads? loop (stops|ends) (one|a) (head )?early|head loop bound|"
     r"off[- ]by[- ]one.{0,30}head",
     atp_last_head_missing),
    ("check_atp_heads", "atp_absolute_delta",
     r"(?i)(abs|absolute|magnitude)[^.]{0,25}(delta|Δ|change in (the )?activation|activation (change|difference))|"
     r"(delta|Δz?|activation (change|difference))[^.]{0,20}(abs|absolute|\|)|sign of the (delta|activation change)",
     atp_absolute_delta),
    ("check_atp_heads", "atp_cosine_similarity_not_dot_product",
     r"(?i)cosine|normali[sz]ed? (by|with) (the |their )?norms|divided by (the )?(product of )?(the )?norms|"
     r"unit[- ]length (delta|gradient|vectors)|angle (between|instead)",
     atp_cosine_similarity_not_dot_product),
    ("check_atp_heads", "atp_gradient_averaged_over_heads",
     r"(?i)(gradient|grad)[^.]{0,40}(averaged|mean|shared|same) (over|across|for (all|every)) (the )?heads|"
     r"(one|a single|shared) gradient (per|for the whole|for each) layer|mean over (the )?head axis|"
     r"heads? (share|shared) (one|the|a) gradient",
     atp_gradient_averaged_over_heads),
    ("check_atp_heads", "atp_delta_one_position_late",
     r"(?i)(shift\w*|offset|off[- ]by[- ]one).{0,40}position|position (t ?\+ ?1|t ?- ?1|t-1|t\+1)|"
     r"next position|(delta|gradient)s? (and|vs\.?) (the )?(gradient|delta)s? (are )?misaligned|misaligned positions|"
     r"positions? (are )?misaligned|paired with the (wrong|next|previous) position",
     atp_delta_one_position_late),

    ("check_qk_fix_queries", "qkq_denoising_direction",
     r"(?i)denois|(clean|original) quer\w* (written |patched )?into the corrupt|corrupt run (as|is) the (base|"
     r"baseline)|"
     r"(direction|roles) (is )?(reversed|swapped|flipped)|clean and corrupt (are )?swapped|swapped\(\)|"
     r"noising direction",
     qkq_denoising_direction),
    ("check_qk_fix_queries", "qkq_corrupt_cache_from_clean_tokens",
     r"(?i)corrupt (cache|quer\w*|activations?) (is |are )?(taken|cached|computed|run) (on|from|with) (the )?clean|"
     r"(cache|run)\w* (on|of) task\.clean (twice|for both)|(no|zero) (query )?(change|difference|delta)|"
     r"q_corrupt ?== ?q_clean|(corrupt and clean|clean and corrupt) quer\w* (are )?(identical|the same|equal)",
     qkq_corrupt_cache_from_clean_tokens),
    ("check_qk_fix_queries", "qkq_batch_mean_divided_by_seq_len",
     r"(?i)divided by (the )?(seq(uence)?[ _]?len(gth)?|number of positions|T\b|seq\b)|/ ?(T|seq_len|task\.seq_len)\b|"
     r"seq(uence)? length instead of (the )?(batch|B\b)|(not|instead of) (by )?(the )?batch size",
     qkq_batch_mean_divided_by_seq_len),
    ("check_qk_fix_queries", "qkq_mean_without_dim",
     r"(?i)\.mean\(\)|mean (with no|without (a )?) ?dim|mean over (all|every) (axes|dims|dimensions)|"
     r"(one|a single) (number|scalar|value) per layer|averag\w* over everything|scalar (per layer|instead)",
     qkq_mean_without_dim),
    ("check_qk_fix_queries", "qkq_exact_query_patching",
     r"(?i)exact (effect|patching|value)|actual(ly)? patch|activation patching|patched (forward )?runs?|"
     r"(ran|runs?|forward) (the )?model (with|for each)|not (the |a )?(first[- ]order |linear )?(estimate|"
     r"approximation)|"
     r"true effect|ground truth|instead of (the )?(estimate|gradient)",
     qkq_exact_query_patching),

    ("check_qk_fix_keys", "qkk_clean_pattern_not_subtracted",
     r"(?i)(clean|original|unpatched) (pattern|A\b) (is )?(not|never) subtracted|without subtracting|"
     r"no (A2? ?- ?A|pattern (change|difference|delta))|A2 \* grad|patched pattern (itself|alone|"
     r"instead of the change)|"
     r"(missing|forgot\w*) (the )?(- ?A|subtraction|difference)",
     qkk_clean_pattern_not_subtracted),
    ("check_qk_fix_keys", "qkk_pattern_gradients_from_the_corrupt_run",
     r"(?i)gradients? (\w+ )?(of|from|on|at|taken (on|from)|in) the corrupt|corrupt (run|tokens|"
     r"prompts?)'?s? (pattern )?gradient|"
     r"backward (pass )?(on|of|through) the corrupt|tokens ?= ?task\.corrupt|"
     r"gradient(s)? (should|must) come from the clean",
     qkk_pattern_gradients_from_the_corrupt_run),
    ("check_qk_fix_keys", "qkk_log_softmax_pattern",
     r"(?i)log[_ -]?softmax|log[- ]?(probabilit|pattern|attention)|logs? of the (pattern|attention|softmax)|"
     r"not (a |the )?(probabilit|softmax)",
     qkk_log_softmax_pattern),
    ("check_qk_fix_keys", "qkk_heads_and_key_axes_swapped_in_store",
     r"(?i)out\[l, ?s\]|(head|heads) and (the )?(key|position)s? (axes|axis|dims?|dimensions) (are )?swapped|"
     r"(key|position)s? (axis|index) (used|written) (as|on|along) the head|wrong (axis|index|slot) (of|in) (out|"
     r"the output)|"
     r"stored (along|on|at) the wrong axis|indexes the head axis with (the )?(key|s\b)|"
     r"(key|position) (and|vs\.?) head (axes|axis|index\w*) (swapped|mixed)",
     qkk_heads_and_key_axes_swapped_in_store),
    ("check_qk_fix_keys", "qkk_pattern_gradients_times_batch_size",
     r"(?i)(times|multiplied by|scaled by|\*) ?(the )?(batch size|B\b|n_examples|number of (examples|prompt pairs))|"
     r"(B|batch size) times too (large|big)|per-example gradient|gradients? (already|are) (a )?batch[- ]mean|\* ?B\b",
     qkk_pattern_gradients_times_batch_size),

    ("check_graddrop", "gd_one_backward_before_the_pass_loop",
     r"(?i)(one|a single|only one) backward|backward (is )?(run|called|done) (once|only once|"
     r"before the (pass )?loop|outside the loop)|"
     r"(gradients?|grads) (are )?(computed|taken) once|(every|each) pass (reuses|uses) the (same|undropped|"
     r"first) gradients?|"
     r"(passes|gradients) (are )?(identical|all the same) (in|for|across) (every|all|each) pass",
     gd_one_backward_before_the_pass_loop),
    ("check_graddrop", "gd_normalised_by_largest",
     r"(?i)normali[sz]ed? (by|to) (the )?(largest|max|maximum|biggest)|divided by (the )?(largest|max|maximum)|"
     r"max(imum)? (score|value)|rescaled? to \[?0|scaled so (that )?the (largest|max)|/ ?\S*\.max\(",
     gd_normalised_by_largest),
    ("check_graddrop", "gd_zero_ablation_delta",
     r"(?i)zero[- ]?ablat|(delta|Δ) (is |= ?)?-? ?(z_clean|the clean activation)|0 - z|set to zero|"
     r"zeros? instead of (the )?corrupt|"
     r"(no|without the) corrupt (value|activation|run)s?|ablated to zero|-z_clean|negative (of the )?clean",
     gd_zero_ablation_delta),
    ("check_graddrop", "gd_gradients_divided_by_batch_size",
     r"(?i)divided by (the )?(batch size|B\b|number of (examples|prompt pairs))|/ ?B\b|"
     r"(instead of|not) (multipl\w*|times) (by )?(the )?(batch size|B\b)|B\^?2|B squared|B² too small|"
     r"(divid|multipl)\w* (and|instead of) (multipl|divid)\w*",
     gd_gradients_divided_by_batch_size),
    ("check_graddrop", "gd_corrupt_cache_from_clean_tokens",
     r"(?i)corrupt (cache|activations?|run) (is |are )?(taken|cached|computed|run) (on|from|with) (the )?clean|"
     r"(no|zero) (activation )?(change|difference|delta)s?|deltas? (are |is )?(all )?zeros?|"
     r"(corrupt and clean|clean and corrupt) (activations|caches) (are )?(identical|the same|equal)",
     gd_corrupt_cache_from_clean_tokens),

    ("check_eap", "eap_summed_over_destinations",
     r"(?i)summed over (the |its )?destinations|(one|a) score per source|per[- ]source (totals?|scores?)|node scores?|"
     r"\[n_sources\]|vector of sources|(sum|total)\w* (of|over) (each|the) source'?s? (edges|row)|\.sum\(1\)|"
     r"not an? (edge )?matrix",
     eap_summed_over_destinations),
    ("check_eap", "eap_gradient_at_the_sources",
     r"(?i)gradients? (at|of|on) (the )?sources?|source'?s? (own )?(output )?gradient|node (AtP|attribution)|"
     r"(gradient|grad)s? (at|of) (the )?(source|output) (hooks?|nodes?)|instead of (the )?destination|"
     r"\[sources, sources\]|\[S, ?S\]|square matrix|sources x sources",
     eap_gradient_at_the_sources),
    ("check_eap", "eap_halved_first_order_term",
     r"(?i)halv|half|1/2|0\.5 ?\*|factor (of )?(2|two|0\.5)|(second[- ]order|taylor) (factor|coefficient)|"
     r"(two|2) times too small|divided by (2|two)",
     eap_halved_first_order_term),
    ("check_eap", "eap_cosine_similarity_not_dot_product",
     r"(?i)cosine|normali[sz]ed? (by|with) (the |their )?norms|divided by (the )?(product of )?(the )?norms|"
     r"unit[- ]length (delta|gradient|vectors)|angle (between|instead)",
     eap_cosine_similarity_not_dot_product),

    ("check_eap", "eap_positions_not_summed",
     r"(?i)positions? (are |is )?(not|never) summed|(not|never) summ\w* over (the )?positions|"
     r"(one|a) score per position|per[- ]position (scores|edge)|position (axis|dim\w*) (left|kept|remains|not reduced)|"
     r"->stp|\[n_sources, n_dest\w*, (seq|pos|positions)\]|extra (position )?(axis|dimension)",
     eap_positions_not_summed),

    ("check_eap_ig", "ig_summed_over_destinations",
     r"(?i)summed over (the |its )?destinations|(one|a) score per source|per[- ]source (totals?|scores?)|node scores?|"
     r"\[n_sources\]|vector of sources|(sum|total)\w* (of|over) (each|the) source'?s? (edges|row)|\.sum\(1\)|"
     r"not an? (edge )?matrix",
     ig_summed_over_destinations),
    ("check_eap_ig", "ig_hook_without_the_hook_argument",
     r"(?i)hook(=| keyword| argument| parameter| kwarg)|(one|1|single) (positional )?argument|"
     r"unexpected keyword|signature|takes \d+ positional|fn\(tensor, hook|\(t, hook\)|second (argument|parameter)",
     ig_hook_without_the_hook_argument),
    ("check_eap_ig", "ig_stacked_gradients_mean_over_destinations",
     r"(?i)(mean|averag\w*) over (the )?(destinations?|wrong (axis|dim))|wrong (axis|dim)|mean\(1\)|dim ?= ?1|"
     r"destinations? (axis )?(averaged|collapsed)|instead of (over )?the (points|steps) (axis)?|points? axis",
     ig_stacked_gradients_mean_over_destinations),
    ("check_eap_ig", "ig_hook_never_passed",
     r"(?i)hook (is )?(never|not) (passed|given|handed|registered|used|applied|installed)|"
     r"(never|not) (pass|give|hand|register|appl|install)\w* (the )?(interpolation )?hook|"
     r"extra_fwd_hooks (missing|empty|not passed|never)|without (the )?(interpolation )?hook",
     ig_hook_never_passed),
    ("check_eap_ig", "ig_all_point_hooks_in_one_run",
     r"(?i)(all|every|the m|m) (point )?hooks? (passed |registered )?(together|at once|in (one|a single) (run|"
     r"call|forward))|"
     r"(one|a single) (run|forward|backward|call) for (all|every) (the )?points|hooks? (override|overwrite|"
     r"replace) each other|"
     r"last hook wins|only the (last|clean) point|not a (separate|new) run (per|"
     r"for each) point",
     ig_all_point_hooks_in_one_run),

    ("check_gradpath", "gp_batch_axis_squeezed",
     r"(?i)squeez|batch (axis|dim\w*) (is )?(missing|dropped|lost|removed|gone)|(lost|dropped|"
     r"removed) (the )?batch (axis|dim)|"
     r"batch of (one|1)|\[steps ?\+ ?1, ?P, ?D\]|(size-?1|singleton) (axis|dim)",
     gp_batch_axis_squeezed),
    ("check_gradpath", "gp_end_point_only",
     r"(?i)(only|just) the (last|final|end) point|end ?point only|final (point|gamma|embedding) (only|"
     r"instead of|not) (the )?(path|all)|"
     r"not (the |all )?(path|points)|(missing|without) the (path|intermediate points|earlier points)|returns? gamma",
     gp_end_point_only),
    ("check_gradpath", "gp_target_probabilities_not_logits",
     r"(?i)probabilit|softmax(ed)? (target|of the (corrupt )?logits)|target (is |as |in )?(probs|probabilities|"
     r"softmax)|"
     r"(logits|outputs) (compared|against) (to |with )?(probabilities|softmax)|not (the )?(corrupt )?logits",
     gp_target_probabilities_not_logits),
    ("check_gradpath", "gp_logits_and_cache_unpacked_swapped",
     r"(?i)unpack\w*|swapped (order|return)|(logits|cache)[^.]{0,20}(and|,) (the )?(cache|"
     r"logits)[^.]{0,30}(swapped|wrong (way|order)|reversed)|"
     r"(returns|gives) \(logits, cache\)|target is (a|the) (cache|dict)|dict (instead of|not) (the )?(logits|a tensor)",
     gp_logits_and_cache_unpacked_swapped),
    ("check_gradpath", "gp_outputs_returned_not_embeddings",
     r"(?i)(logits|outputs?|predictions) (at each point )?(returned|instead of|not) (the )?(embedding|points|gamma)|"
     r"returns? (the )?(logits|outputs?|model outputs)|d_vocab|vocab(ulary)? (axis|size)|"
     r"(points|path) (are|is|in) (the )?(output|logit) space|not (the )?embedding (points|space)",
     gp_outputs_returned_not_embeddings),

    ("check_verify_top", "vt_kth_name_only",
     r"(?i)\[k\]|(only|just) (one|a single) (name|component)|the (k ?\+ ?1)[- ]?th|k-th (name|component) only|"
     r"index\w* (with|by) k (instead of|not) (slic|\[:k\])|instead of \[:k\]|not (a )?slice",
     vt_kth_name_only),
    ("check_verify_top", "vt_every_name_looked_up_in_each_group",
     r"(?i)(every|all) (the )?names? (looked up|read) (in|from) (each|every|one) (group|result|call)|"
     r"names? (of|from) (another|other|a different) (kind|group)|not in (this|that|the) (group|result)|"
     r"comprehension (runs )?over (all )?names|look\w* up (names|all)[^.]{0,30}(group|result)",
     vt_every_name_looked_up_in_each_group),
    ("check_verify_top", "vt_patch_edges_called_with_nodes_keyword",
     r"(?i)(passed|gave|given|used|with) nodes ?=|takes edges ?=|"
     r"nodes ?= ?(for|to|in|with)? ?(the )?(patch_edges|edges)|"
     r"patch_edges\([^)]*nodes|edges ?= ?(keyword|argument)|"
     r"(wrong|unexpected) keyword|keyword argument 'nodes'|edges (passed|given) as nodes",
     vt_patch_edges_called_with_nodes_keyword),
    ("check_verify_top", "vt_kind_names_pluralised",
     r"(?i)plural|\"?heads\"?,? \"?mlps\"?|what ?= ?['\"]?(heads|mlps|qs|ks)|(kind|what) names? (with|"
     r"plus) (an |a trailing )?s\b|"
     r"trailing s|unknown (kind|what)|\"head\", \"mlp\", \"q\", \"k\"",
     vt_kind_names_pluralised),
    ("check_verify_top", "vt_kind_from_split_without_the_dot_guard",
     r"(?i)split\(['\"]\.['\"]\)|(whole|full|entire) (head )?name (as|used as|taken as) (the )?(kind|what)|"
     r"(head|node) names? without a (dot|suffix)|no (dot|suffix) (guard|check)|kind ['\"]?L\d+H\d+|"
     r"heads? (get|given|treated as) (the )?(kind|what) ['\"]?L\d",
     vt_kind_from_split_without_the_dot_guard),
]
