"""Held-out set #12, written blind (the writer never opened the checks, their messages or the
other planted sets) on 2026-12-06; measured once, unseen.

Five mistakes per exercise, each one a learner's first-attempt slip or misreading; each cause
regex was written from the cause alone, before anything measured it. Verified by hand once
(``/work/scratch/r12/verify.py``): every wrong function was run next to the chapter's own
solution on the chapter's model and task (induction n=16 seed=0 for chapter 0, the saturation
specimen for the QK fix, the cancellation specimen for GradDrop, flat_region for EAP and EAP-IG
(steps=5), path_saturation for GradPath (steps=5, unit and scaled steps), the mixture model's
ioi task (n=8, seed=0) for verify_top with k=5 on AtP head/MLP, AtP q/k and EAP edge scores);
kept only where max |difference| >= 2 % of the correct result's largest magnitude (on at least
one of those inputs), or where it crashes or returns a wrong shape or wrong names.
"""

import torch

import workbook as wb
from tests.planted._base import eap_parts, pattern, qk_parts, zs
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params, leaf


# ----------------------------------------------------------------------------- check_patch_heads
def _patch(model, task, write, layers=None, outside=False, read=lambda logits: logits):
    """Per-head noising loop; ``write(act, corrupt, h)`` edits a clone of the hooked ``hook_z``."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(read(model(task.clean)))
    out = torch.zeros(L, H)
    for l in layers if layers is not None else range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                write(act, corr[names[l]], h)
                return act

            with torch.no_grad():
                with model.hooks(fwd_hooks=[(names[l], put)]):
                    logits = None if outside else model(task.clean)
                if outside:  # the patched forward is run after the hooks context has closed
                    logits = model(task.clean)
                out[l, h] = task.metric_value(read(logits)) - base
    return out


def ph_all_but_last_position(model, task):
    def write(act, corr, h):
        act[:, :-1, h] = corr[:, :-1, h]

    return _patch(model, task, write)


def ph_metric_given_last_position_logits(model, task):
    # logits[:, -1] handed to the metric ("it reads the last position anyway")
    def write(act, corr, h):
        act[:, :, h] = corr[:, :, h]

    return _patch(model, task, write, read=lambda logits: logits[:, -1])


def ph_loop_order_reshaped_wrong(model, task):
    # heads in the outer loop, layers inside, then .view(L, H): values land in the wrong cells
    L, H = model.cfg.n_layers, model.cfg.n_heads

    def write(act, corr, h):
        act[:, :, h] = corr[:, :, h]

    full = _patch(model, task, write)
    vals = [float(full[l, h]) for h in range(H) for l in range(L)]
    return torch.tensor(vals).view(L, H)


def ph_layer_0_never_patched(model, task):
    def write(act, corr, h):
        act[:, :, h] = corr[:, :, h]

    return _patch(model, task, write, layers=range(1, model.cfg.n_layers))


def ph_forward_outside_hook_context(model, task):
    def write(act, corr, h):
        act[:, :, h] = corr[:, :, h]

    return _patch(model, task, write, outside=True)


# ----------------------------------------------------------------------------- check_atp_heads
def _atp_parts(model, task, n_layers=None):
    names = [f"blocks.{l}.attn.hook_z" for l in range(n_layers or model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return names, corr, clean, grads


def atp_sums_heads_not_d_head(model, task):
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 2)).mean(0) for n in names])


def atp_gradient_of_cross_entropy_loss(model, task):
    # the gradient of the answer's cross-entropy loss, as in training, instead of the task metric
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    acts, outs = {}, {}

    def keep(n):
        def fn(t, hook):
            acts[n] = t.detach()
            outs[n] = t.view_as(t)
            return outs[n]

        return fn

    B = task.batch_size
    fwd = [(LEAF_HOOK, leaf)] + [(n, keep(n)) for n in names]
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd):
        logits = model(task.clean)
        last = logits[torch.arange(B), task.pos]
        loss = torch.nn.functional.cross_entropy(last, task.answer)
        got = torch.autograd.grad(loss, [outs[n] for n in names])
    return torch.stack([((corr[n] - acts[n]) * g * B).sum((1, 3)).mean(0) for n, g in zip(names, got)])


def atp_matmul_crosses_heads(model, task):
    # "delta . grad" written as a matrix product: every head's delta meets every head's gradient
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([((corr[n] - clean[n]) @ grads[n].transpose(-1, -2)).sum((1, 3)).mean(0) for n in names])


def atp_halved_taylor_term(model, task):
    # a factor 1/2 put in front of the first-order term, as if it were the second-order one
    names, corr, clean, grads = _atp_parts(model, task)
    return torch.stack([(0.5 * (corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


def atp_layers_from_n_heads(model, task):
    names, corr, clean, grads = _atp_parts(model, task, n_layers=model.cfg.n_heads)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])


# ----------------------------------------------------------------------------- check_qk_fix_queries
def _queries(model, task, layers=None, new_q="q", grad_layer=lambda l: l, reduce=None):
    T = task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in layers if layers is not None else range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)
        A = pattern(q, k, sc, mask)
        A_new = pattern(corr[f"blocks.{l}.attn.hook_{new_q}"], k, sc, mask)
        g = grads[pats[grad_layer(l)]]
        out.append(reduce(A_new - A, g) if reduce else ((A_new - A) * g).sum(-1).mean(0))
    return torch.stack(out)


def qkq_mean_over_heads_not_batch(model, task):
    return _queries(model, task, reduce=lambda d, g: (d * g).sum(-1).mean(1))


def qkq_previous_layers_pattern_gradient(model, task):
    return _queries(model, task, grad_layer=lambda l: l - 1)


def qkq_last_layer_missing(model, task):
    return _queries(model, task, layers=range(model.cfg.n_layers - 1))


def qkq_pattern_change_summed_over_keys_first(model, task):
    # sum over keys taken of each factor before multiplying: a softmax row change sums to zero
    return _queries(model, task, reduce=lambda d, g: (d.sum(-1) * g.sum(-1)).mean(0))


def qkq_corrupt_keys_as_new_queries(model, task):
    return _queries(model, task, new_q="k")


# ----------------------------------------------------------------------------- check_qk_fix_keys
def _keys(model, task, variant):
    L, T = model.cfg.n_layers, task.seq_len
    clean, corr, grads, pats = qk_parts(model, task)
    _, vals = cache_activations(model, task.corrupt, [f"blocks.{l}.attn.hook_v" for l in range(L)])
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    A0 = pattern(clean["blocks.0.attn.hook_q"], clean["blocks.0.attn.hook_k"], attn_scale(model, 0), mask)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        kc, g, sc = corr[f"blocks.{l}.attn.hook_k"], grads[pats[l]], attn_scale(model, l)
        if variant == "values_as_keys":
            kc = vals[f"blocks.{l}.attn.hook_v"]
        if variant == "grad_transposed":
            g = g.transpose(-1, -2)
        A = A0 if variant == "layer0_pattern" else pattern(q, k, sc, mask)
        for s in range(T):
            k2 = k.clone()
            if variant == "first_pair":
                k2[0, s] = kc[0, s]
            else:
                k2[:, s] = kc[:, s]
            A2 = pattern(q, k2, sc, mask)
            if variant == "batch_means":
                out[l, :, s] = ((A2 - A).mean(0) * g.mean(0)).sum((-1, -2))
            else:
                out[l, :, s] = ((A2 - A) * g).sum((-1, -2)).mean(0)
    return out


def qkk_corrupt_values_written_as_keys(model, task):
    # hook_v read where hook_k was meant: the corrupt value vector written into key s
    return _keys(model, task, "values_as_keys")


def qkk_batch_means_before_product(model, task):
    return _keys(model, task, "batch_means")


def qkk_pattern_gradient_transposed(model, task):
    # the pattern gradient read as [keys, queries]
    return _keys(model, task, "grad_transposed")


def qkk_only_first_prompt_pair_patched(model, task):
    # k2[0, s] (the batch index meant as "the key"): only example 0's key changes
    return _keys(model, task, "first_pair")


def qkk_clean_pattern_from_layer_0(model, task):
    # the clean pattern hoisted out of the layer loop, computed from layer 0's q and k
    return _keys(model, task, "layer0_pattern")


# ----------------------------------------------------------------------------- check_graddrop
def _graddrop(model, task, gate_at="all", passes=None, early_product=False, own="zero", rerun_corrupt=False):
    L, B = model.cfg.n_layers, task.batch_size
    names = zs(model)
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layers": ()}, {}, {}

    def gate(g, hook, l=None):
        if l not in drop["layers"]:
            return g
        if gate_at == "first":
            g = g.clone()
            g[0] = 0
            return g
        return torch.zeros_like(g)

    fwd = [(LEAF_HOOK, leaf)] + [(n, lambda t, hook, n=n: acts.__setitem__(n, t.detach())) for n in names]
    bwd = [(n, lambda g, hook, n=n: grads.__setitem__(n, g.detach() * B)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l))
            for l in range(L) for w in ("attn", "mlp")]

    def product():
        return torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                            for n in names], 1)  # [B, L, H]

    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        if rerun_corrupt:  # a corrupt forward inside the same context: the saving hooks fire again
            model(task.corrupt)
        if own == "plain":
            metric.backward(retain_graph=True)
            plain = product()
        for dropped in passes or [(l,) for l in range(L)]:
            drop["layers"] = dropped
            if early_product:  # the product formed before this pass's backward
                per_pass.append(product())
            grads.clear()
            metric.backward(retain_graph=True)
            if not early_product:
                per_pass.append(product())
            if own == "plain":  # the node's own layer: the undropped gradient instead of zero
                per_pass[-1][:, dropped[0]] = plain[:, dropped[0]]
    norm = max(len(per_pass) - 1, 1) if passes is None else 1
    return torch.stack(per_pass).abs().sum(0).mean(0) / norm


def gd_activations_overwritten_by_corrupt_run(model, task):
    # the corrupt forward run inside the hooks context: the saved activations become the corrupt ones
    return _graddrop(model, task, rerun_corrupt=True)


def gd_gradient_stopped_for_first_example_only(model, task):
    # g[0] = 0 in the gate (the batch axis taken for the position axis): example 0 only is dropped
    return _graddrop(model, task, gate_at="first")


def gd_own_layer_pass_undropped(model, task):
    # in the pass that drops the node's own layer, the learner uses the ordinary gradient
    return _graddrop(model, task, own="plain")


def gd_every_layer_dropped_in_one_pass(model, task):
    return _graddrop(model, task, passes=[tuple(range(model.cfg.n_layers))])


def gd_product_before_backward(model, task):
    # pass l multiplies with the gradients still held from pass l-1 (pass 0 with none)
    return _graddrop(model, task, early_product=True)


# ----------------------------------------------------------------------------- check_eap
def _eap(model, task, grads_fn=None, delta_fn=None, index_pos=False, sign=1.0):
    graph, corr, clean, grads = eap_parts(model, task)
    if delta_fn:
        corr, clean = delta_fn(model, task, corr, clean)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    g = grads_fn(model, task, graph) if grads_fn else graph.stack_dest_grads(grads)
    if index_pos:  # x[:, :, task.pos]: a [B, B] gather, not one position per example
        deltas, g = deltas[:, :, task.pos], g[:, :, task.pos]
    scores = sign * torch.einsum("sbpd,tbpd->st", deltas, g) / task.batch_size
    return scores * graph.edge_mask


def _answer_logit_grads(model, task, graph):
    names = list(graph.dest_hooks)
    outs = {}

    def keep(n):
        def fn(t, hook):
            outs[n] = t.view_as(t)
            return outs[n]

        return fn

    B = task.batch_size
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=[(LEAF_HOOK, leaf)] + [(n, keep(n))
                                                                                                  for n in names]):
        logits = model(task.clean)
        answer = logits[torch.arange(B), task.pos, task.answer].mean()
        got = torch.autograd.grad(answer, [outs[n] for n in names], allow_unused=True)
    grads = {n: (g * B if g is not None else torch.zeros_like(outs[n])) for n, g in zip(names, got)}
    return graph.stack_dest_grads(grads)


def eap_gradient_of_the_answer_logit_only(model, task):
    return _eap(model, task, grads_fn=_answer_logit_grads)


def _neuron_sources(model, task, corr, clean):
    names = [f"blocks.{l}.mlp.hook_post" for l in range(model.cfg.n_layers)]
    _, c = cache_activations(model, task.corrupt, names)
    _, k = cache_activations(model, task.clean, names)
    for l, n in enumerate(names):
        corr[f"blocks.{l}.hook_mlp_out"], clean[f"blocks.{l}.hook_mlp_out"] = c[n], k[n]
    return corr, clean


def eap_mlp_source_at_neuron_activations(model, task):
    # an MLP's write read at mlp.hook_post (its neurons, d_mlp wide) instead of hook_mlp_out
    return _eap(model, task, delta_fn=_neuron_sources)


def eap_qkv_inputs_merged(model, task):
    # one input per head: its q, k and v destinations added into a single column
    graph = Graph.from_model(model)
    full = _eap(model, task)
    cols, seen = [], {}
    for j, d in enumerate(graph.destinations):
        base = d.rsplit(".", 1)[0] if d[-2:] in (".q", ".k", ".v") else d
        if base in seen:
            cols[seen[base]] = cols[seen[base]] + full[:, j]
        else:
            seen[base] = len(cols)
            cols.append(full[:, j])
    return torch.stack(cols, 1)


def eap_positions_gathered_with_task_pos(model, task):
    return _eap(model, task, index_pos=True)


def eap_gradient_of_the_loss_minus_m(model, task):
    # backward of -M (a loss to minimise) instead of M
    return _eap(model, task, sign=-1.0)


# ----------------------------------------------------------------------------- check_eap_ig
def _eap_ig(model, task, steps, alpha=lambda k, m: k / m, hoist=False, unit=False, inplace=False, pair=False):
    graph, corr, clean, _ = eap_parts(model, task)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]

    def grads_at(a):
        target = e_n + a * (e_c - e_n)

        def hook(t, hook):
            if inplace:
                t[:] = target
                return None
            return t + (target - t).detach()

        extra = ("hook_embed", hook) if pair else [("hook_embed", hook)]
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=extra)
        g = graph.stack_dest_grads(grads)
        return g / g.norm().clamp_min(1e-12) if unit else g

    first = grads_at(alpha(1, steps)) if hoist else None
    total = 0.0
    for k in range(1, steps + 1):
        total = total + (first if hoist else grads_at(alpha(k, steps)))
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask


def ig_gradient_run_outside_the_loop(model, task, steps):
    # one gradient run (at the first point) before the loop, added m times
    return _eap_ig(model, task, steps, hoist=True)


def ig_points_shifted_past_clean(model, task, steps):
    # alpha = (k + 1) / m for k = 1..m: the last point lies beyond the clean input
    return _eap_ig(model, task, steps, alpha=lambda k, m: (k + 1) / m)


def ig_gradient_normalised_at_each_point(model, task, steps):
    # each point's gradient divided by its norm (GradPath's normalisation borrowed)
    return _eap_ig(model, task, steps, unit=True)


def ig_embedding_overwritten_in_place(model, task, steps):
    # t[:] = target inside the hook (no straight-through, in-place write into the leaf)
    return _eap_ig(model, task, steps, inplace=True)


def ig_one_hook_pair_not_a_list(model, task, steps):
    # extra_fwd_hooks=("hook_embed", hook): a single pair where a list of pairs is expected
    return _eap_ig(model, task, steps, pair=True)


# ----------------------------------------------------------------------------- check_gradpath
def _gradpath(model, task, steps, step_size, inplace=False, append_corrupt=False, unused_leaf=False,
              by_point_norm=False, displacements=False):
    _, c = cache_activations(model, task.clean, [LEAF_HOOK])
    target, n = cache_activations(model, task.corrupt, [LEAF_HOOK])
    e_c, e_n = c[LEAF_HOOK], n[LEAF_HOOK]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf_ = gamma.detach().requires_grad_(True)
            dist = output_distance(model, task.clean, gamma if unused_leaf else leaf_, target)
            (g,) = torch.autograd.grad(dist.sum(), leaf_)
            nrm = (leaf_ if by_point_norm else g).detach().flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            if inplace:
                leaf_ -= eta * g / nrm
                gamma = leaf_
            else:
                gamma = (leaf_ - eta * g / nrm).detach()
            points.append(gamma)
    if append_corrupt:
        points.append(e_n)
    out = torch.stack(points)
    return out - e_c if displacements else out


def gp_step_in_place_on_the_leaf(model, task, steps, step_size="unit"):
    # gamma -= eta * g / |g| on the grad-requiring leaf, outside torch.no_grad()
    return _gradpath(model, task, steps, step_size, inplace=True)


def gp_corrupt_end_point_appended(model, task, steps, step_size="unit"):
    return _gradpath(model, task, steps, step_size, append_corrupt=True)


def gp_distance_of_the_old_tensor(model, task, steps, step_size="unit"):
    # the forward gets gamma, the gradient is asked of the fresh leaf: the leaf is not in the graph
    return _gradpath(model, task, steps, step_size, unused_leaf=True)


def gp_step_divided_by_the_point_norm(model, task, steps, step_size="unit"):
    # eta * g / |gamma| (the point's norm) where eta * g / |g| was meant
    return _gradpath(model, task, steps, step_size, by_point_norm=True)


def gp_displacements_returned(model, task, steps, step_size="unit"):
    # points returned relative to e_clean (gamma_j - e_clean), not the points themselves
    return _gradpath(model, task, steps, step_size, displacements=True)


# ----------------------------------------------------------------------------- check_verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _verify(model, task, scores, names, kind=_kind, value=lambda res, n: float(res[n]), edges_for_all=False):
    effects = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        if what == "edge" or edges_for_all:
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: value(res, n) for n in group})
    values = torch.tensor([effects[n] for n in names])
    return wb.Scores(names, values, method="activation patching", kind=scores.kind)


def vt_topk_values_used_as_indices(model, task, scores, k=5):
    top = torch.topk(scores.values.abs(), k)
    names = [scores.names[i] for i in top[0]]  # top[0] holds the values, top[1] the indices
    return _verify(model, task, scores, names)


def vt_kind_from_last_character(model, task, scores, k=5):
    # kind read off the name's last character: "MLP3" is taken for a head
    def kind(name):
        if "->" in name:
            return "edge"
        return name[-1] if name[-1] in "qk" else "head"

    return _verify(model, task, scores, scores.order(absolute=True)[:k], kind=kind)


def vt_every_name_sent_to_patch_edges(model, task, scores, k=5):
    return _verify(model, task, scores, scores.order(absolute=True)[:k], edges_for_all=True)


def vt_effects_truncated_to_int(model, task, scores, k=5):
    return _verify(model, task, scores, scores.order(absolute=True)[:k], value=lambda res, n: int(res[n]))


def vt_summed_over_prompt_pairs(model, task, scores, k=5):
    def value(res, n):
        return float(res.per_example[:, res.names.index(n)].sum())

    return _verify(model, task, scores, scores.order(absolute=True)[:k], value=value)


_P, _A, _Q, _K, _G, _E, _I, _R, _V = ("check_patch_heads", "check_atp_heads", "check_qk_fix_queries",
                                      "check_qk_fix_keys", "check_graddrop", "check_eap", "check_eap_ig",
                                      "check_gradpath", "check_verify_top")

MISTAKES = [
    (_P, "every position but the last patched", (
        r"(?i)last (token|position)\w* (is |was )?(not|never|left|missing|skipped|unpatched|excluded|omitted)|(every"
        r"|all) (the )?positions? (but|except|other than|save) the (last|final)|(not|never|n't"
        r"|without) (patch\w* )?(at )?the (last|final) (position|token)|:-1\]|\[:, ?:-1|(last|final) (position"
        r"|token) (is |was |stays |remains )?(left )?(unpatched|clean|out)|(skips?|drops?|omits?|excludes?|misses?"
        r"|leaves? out) the (last|final) (position|token)|one position short"),
     ph_all_but_last_position),
    # logits[:, -1] handed to task.metric_value for the baseline and the patched runs
    (_P, "last-position logits passed to the metric", (
        r"(?i)logits\[:, ?-1\]|last.position logits|(metric|metric_value) (expects|wants|takes|needs) (the )?(full"
        r"|all|whole|\[B, ?S, ?V\]|3.?d)|(full|whole|all) logits|(slic\w*|indexing) (the )?logits|logits (are "
        r"|were )?(sliced|indexed|cut)|(position|sequence) (axis|dimension) (is )?(removed|dropped|missing"
        r"|sliced away)|2.?d logits|\[B, ?V\]|(metric|it) (already )?(reads|picks|selects) the (last |right "
        r"|read )?position"),
     ph_metric_given_last_position_logits),
    # values collected with heads in the outer loop, then reshaped as [layers, heads]
    (_P, "head-major values reshaped as [layers, heads]", (
        r"(?i)reshap|\.view\(|row.major|column.major|head.major|layer.major|(loop|iteration|nesting|flatten\w*) order"
        r"|order of the (loops|values|entries|nested loops)|heads? (in the |as the )?outer loop|(scrambl|shuffl"
        r"|misplac|misassign|jumbl)\w*|(values?|entries|effects) (land|are|go|end up|written|stored"
        r"|placed) in the wrong (cells?|places?|slots?|entries)|wrong (cells?|slots?)|(layer|head) (and|/) (head"
        r"|layer) (indices|index) (mixed|swapped|interleaved)|l ?\* ?H ?\+ ?h|h ?\* ?L ?\+ ?l"),
     ph_loop_order_reshaped_wrong),
    (_P, "layer 0 never patched (loop from 1)", (
        r"(?i)layer 0 (is |was )?(never|not|missing|skipped|left|unpatched)|(first|0th|bottom|lowest) layer (is "
        r"|was )?(never|not|missing|skipped|left|unpatched)|range\(1, ?|(loop|layers?) (starts?|begins?) (at|from) (1"
        r"|one|layer 1)|(skips?|misses?|omits?|drops?|leaves? out) (the )?(first layer|layer 0)|(row"
        r"|layer) 0 (is )?(all )?zeros?|layer 0'?s? (row|heads?|effects?) (are |is )?(all )?(zeros?|missing|empty)"
        r"|one layer short|off.by.one (in|on) the layer"),
     ph_layer_0_never_patched),
    (_P, "patched forward run after the hooks context closed", (
        r"(?i)outside (the |of the )?(hooks?|with|context|`with`)|after (the |its )?(hooks?|with|context"
        r"|`with`) (block |manager |context )?(ha[sd] )?(closed|exited|ended|finished)|hooks? (are |were |was |is "
        r"|had been )?(already )?(removed|gone|inactive|not active|detached|unregistered) (when|by the time|before"
        r"|during)|(forward|model call|run) (is |was )?(not |isn't )?(inside|within|under) the (hooks?|with|context)"
        r"|indent\w*|context manager (has )?(already )?(exited|closed)"),
     ph_forward_outside_hook_context),
    (_A, "sums heads instead of d_head", (
        r"(?i)sum\w* over (the )?heads? (axis |dimension |dim )?(instead of|rather than|not) (over )?(the )?d_?head"
        r"|sum\w* (over )?(the )?(axes|dims?|dimensions) ?\(?1, ?2\)?|d_?head (axis |dimension )?(is |was )?(kept"
        r"|left|not summed|survives)|d_?head (where|instead of|in place of) (n_)?heads|(axis|dim) 2 (instead of|not"
        r"|rather than) (axis |dim )?3|(summed|reduced) (over )?the wrong (axis|axes|dim\w*)|kept (the )?d_?head"
        r"|(collaps|contract)\w* (the )?heads? (axis|dim\w*)"),
     atp_sums_heads_not_d_head),
    (_A, "gradient of the cross-entropy loss, not the metric", (
        r"(?i)cross.?entropy|\bloss\b|\bnll\b|log.?prob\w*|log.?softmax|(gradient|derivative|backward) of (the "
        r"|a )?(training |language.model(ing)? |lm |next.token )?(loss|objective|likelihood)"),
     atp_gradient_of_cross_entropy_loss),
    (_A, "matrix product crosses heads", (
        r"(?i)mat(rix)?.?mul|matrix product|\s@\s|outer product|cross.?(head|term)s?|(every|each"
        r"|all) heads?'? ?(delta|change|activation change|Δ)\w* (with|times|against|meets|paired with) (every|each"
        r"|all|the other|other) heads?|(other|different|another) heads?'? gradients?|heads (are )?(crossed"
        r"|paired wrong)|(mismatched|wrong) heads? (pair|pairing)|not (an? )?element.?wise|element.?wise (product"
        r"|multiplication)|pairs of heads|off.?diagonal"),
     atp_matmul_crosses_heads),
    # a factor 1/2 in front of the first-order term
    (_A, "halved first-order term", (
        r"(?i)\bhal(f|ved|ving)\b|1/2|0\.5\b|factor (of )?(2|two)|twice too (small|large)|off by (a factor of )?(2"
        r"|two)|÷ ?2|/ ?2\b"),
     atp_halved_taylor_term),
    (_A, "n_heads where n_layers belongs", (
        r"(?i)n_heads (where|in place of|instead of|for|as) (the )?n_layers|range\((model\.)?(cfg\.)?n_heads\)"
        r"|(loops?|iterat\w*) over (the )?heads (count )?(instead of|for|not) (the )?layers"
        r"|number of heads (is )?(used )?(as|for|instead of) (the )?(number of )?layers|(layers?|heads?) (and"
        r"|/) (heads?|layers?) (counts? )?(are )?(mixed|swapped|confused)|(non.?existent|missing|unknown|no such"
        r"|invalid) (hook|layer|block)|blocks\.[2-9]|layer (index )?out of range|too many layers"),
     atp_layers_from_n_heads),
    (_Q, "mean over heads, not the batch", (
        r"(?i)(mean|averag\w*) (over|across) (the )?heads?( axis| dimension| dim)?|heads? (axis |dimension )?(is "
        r"|are )?(averaged|collapsed|reduced)|\.mean\((dim ?= ?)?1\)|batch (axis |dimension )?(is )?(kept|left"
        r"|not averaged|survives)|(averag\w*|mean) (over|across|along) the wrong (axis|dim\w*)|wrong (axis"
        r"|dim\w*) (averaged|reduced)|\[n_layers, ?(batch|B), ?(seq|T|pos)\w*\]"),
     qkq_mean_over_heads_not_batch),
    (_Q, "previous layer's pattern gradient", (
        r"(?i)(previous|prior|earlier|preceding|wrong|other|neighbou?ring"
        r"|last) layer'?s? (attention )?(pattern )?gradient|gradient (of|from|at) (the )?(previous|prior|wrong|other"
        r"|earlier|preceding|last) layer|(layers?|layer index) (is |are )?(shifted|offset|off by one)|off.by.one (in"
        r"|on|at) the layer|pats?\[l ?- ?1\]|index l ?- ?1|mismatched layers?|(gradient|pattern|queries) (and"
        r"|/) (pattern|gradient|queries) (come )?from different layers"),
     qkq_previous_layers_pattern_gradient),
    (_Q, "last layer missing (range(L - 1))", (
        r"(?i)last layer (is |was )?(missing|skipped|never|left out|absent|dropped|omitted)|range\((L"
        r"|n_layers) ?- ?1\)|stops? (one|a) (layer|step) early|one layer short|(every|all) layers? (but"
        r"|except) the last|loop bound|(final|top) layer (is |was )?(missing|skipped|absent|left out|never)"
        r"|missing (a |the )?(last |final )?layer|(only|just) (n_layers ?- ?1|L ?- ?1|\d+) layers?"),
     qkq_last_layer_missing),
    # sum over keys taken of each factor before multiplying (a softmax row's change sums to zero)
    (_Q, "pattern change summed over keys before the product", (
        r"(?i)sum\w* (over )?(the )?keys? (before|first|prior to|separately)|(each|both) factors? (are )?summed"
        r"|(pattern change|ΔA|A_?new ?- ?A|difference|change) (is )?summed (over (the )?keys )?before (the )?(product"
        r"|multipl\w*)|rows? of (a )?(softmax|pattern)( change)? sums? to (zero|0)|(sums?|adds up) to (zero|0)"
        r"|product of (the )?sums|(sum|reduc)\w* before (the )?multipl\w*|multipl\w* after (the )?sum"),
     qkq_pattern_change_summed_over_keys_first),
    (_Q, "corrupt keys used as the new queries", (
        r"(?i)(corrupt|patched|new) keys? (are |is )?(used |taken |written )?(as|for|in place of"
        r"|instead of) (the )?(new |corrupt |patched )?quer(y|ies)|hook_k (instead of|for|where) (the )?hook_q|quer(y"
        r"|ies) (are )?(taken |read )?from (the )?(corrupt )?keys?|keys? (and|/) quer(y|ies) (are )?(mixed|swapped"
        r"|confused)|\bk\b (instead of|for|in place of) \bq\b"),
     qkq_corrupt_keys_as_new_queries),
    # hook_v read where hook_k was meant
    (_K, "corrupt values (hook_v) written as the key", (
        r"(?i)hook_v\b|\bvalues? (vectors? )?(are |is )?(used |taken |written )?(as|for|in place of"
        r"|instead of) (the )?(corrupt )?keys?|keys? (and|/) values? (are )?(mixed|swapped|confused)|\bv (instead of"
        r"|for|in place of) k\b|(instead of|not) hook_k|wrong (activation|hook|cache entry) for the keys?"),
     qkk_corrupt_values_written_as_keys),
    (_K, "batch means before the product", (
        r"(?i)(batch|example)[- ]?(mean|averag)\w* (are |is )?(taken |computed )?(before|first|prior to)|(mean"
        r"|averag)\w* (over|across) (the )?(batch|examples|prompt pairs) (is |are )?(taken |computed )?(before|first"
        r"|prior to)|(product|multipl\w*) (of|after) (the )?(batch )?(means|averages)|mean of (the )?products?|(each"
        r"|both) factors? (are )?(batch.)?averaged|averag\w* (each|both) (factor|term)s? (separately|first"
        r"|independently)|covariance|per.example (products?|pairing) (is )?lost"),
     qkk_batch_means_before_product),
    # the pattern gradient read as [keys, queries]
    (_K, "pattern gradient transposed", (
        r"(?i)transpos|\.T\b|\.mT\b|(gradient|grad)\w* (\w+ ){0,3}(as|read as|indexed as) \[?(keys?|s), ?(quer(y|ies)"
        r"|t)\]?|(quer(y|ies)|rows?) (and|/) (keys?|columns?) (axes |indices )?(are )?(swapped|mixed|exchanged"
        r"|flipped)|(swapped|wrong) (last )?two axes|axes (-1|-2) (and|,) (-2|-1)|bhst|(rows?"
        r"|query axis) (read )?as (columns?|key axis)"),
     qkk_pattern_gradient_transposed),
    (_K, "only the first prompt pair's key patched", (
        r"(?i)(only|just) (the )?(first|0th|one) (prompt( pair)?|example|pair|sample|row)'?s? (key )?(is |gets "
        r"|has )?(its key )?(patched|changed|replaced)|k2\[0, ?s\]|batch (index|axis|dim\w*) (is )?(used|indexed"
        r"|confused|mistaken) (as|with|for) (the )?(key|position)|(other|remaining|rest of the) (examples"
        r"|prompt pairs|pairs|rows) (are |stay |keep |remain )?(unpatched|clean|unchanged)|(only|just) example 0"
        r"|example 0 only"),
     qkk_only_first_prompt_pair_patched),
    (_K, "clean pattern from layer 0 for every layer", (
        r"(?i)layer 0'?s? (clean )?(pattern|q|queries|keys|q and k|attention)|(clean )?(pattern|attention"
        r"|\bA\b) (is )?(from|of|computed (from|at)) (layer 0|the first layer|the wrong layer)|(hoist\w*"
        r"|computed? once|outside|before) (\w+ ){0,3}(the )?layer loop|(same|one) (clean )?pattern (for|in"
        r"|across) (every|all|each) layers?|(pattern|reference) (is )?(not|never) (re)?computed (per|for each"
        r"|in each) layer|wrong layer'?s? (clean )?pattern|(stale|reused) (clean )?pattern"),
     qkk_clean_pattern_from_layer_0),
    # the corrupt forward run inside the hooks context: the saving hooks store corrupt activations
    (_G, "activations overwritten by a corrupt forward in the hooks context", (
        r"(?i)(activations?|acts|cache|saved values?) (\w+ ){0,3}(overwritten|replaced|clobbered"
        r"|overwrit\w*) (\w+ ){0,4}corrupt|corrupt (forward|run|pass) (\w+ ){0,4}(inside|within|under"
        r"|in) the (same )?(hooks?|with|context)|(saving|save|cache|forward) hooks? (are )?(still )?(active"
        r"|registered|fire|fired|on) (\w+ ){0,4}corrupt|corrupt minus corrupt|(clean|saved) activations? (are "
        r"|is )?(actually )?(the )?corrupt"),
     gd_activations_overwritten_by_corrupt_run),
    # g[0] = 0 in the gate (batch axis taken for another axis): only example 0 is dropped
    (_G, "gradient stopped for the first example only", (
        r"(?i)(only|just) (the )?(first|0th) (example|prompt( pair)?|pair|sample|row)|(first|0th) (example"
        r"|prompt( pair)?|pair|sample|row) only|example 0 only|(only|just) example 0|g\[0\]|batch (index|axis"
        r"|dim\w*) (is |was )?(used|indexed|confused|mistaken|taken) (as|with|for) (the )?(position|layer|sequence)"
        r"|(other|remaining|rest of the) (examples|prompt pairs|pairs|rows) (are |stay |keep |remain )?(not "
        r"|un)?(dropped|gated|stopped|zeroed)|(gate|drop|stop)\w* (\w+ ){0,3}(only )?(on|for|at) (the )?(first"
        r"|one) (example|prompt|row)"),
     gd_gradient_stopped_for_first_example_only),
    # in the pass of the node's own layer the ordinary gradient is used instead of zero
    (_G, "own layer's pass uses the undropped gradient", (
        r"(?i)own.?layer'?s? pass|pass (of|for|that drops) (the node'?s?|its|a node'?s?|the head'?s?) own layer|(own"
        r"|same) layer (is |must be |should be )?(dropped|zero|0)\b|(ordinary|plain|undropped|full|normal"
        r"|un.?gated) gradient (is )?(used |taken )?(in|for) (the )?(own|node'?s?|head'?s?)|(should|must) (be|give"
        r"|contribute) (zero|0) (in|for) (its|the|their) own (layer|pass)|(own|same).layer (pass"
        r"|contribution) (is )?(not zero|nonzero|non.zero|counted)|self.pass"),
     gd_own_layer_pass_undropped),
    (_G, "every layer dropped in a single pass", (
        r"(?i)(one|a single|only one) (backward )?pass (that )?(drops?|gates?|zeroe?s?|stops?) (all|every)|(all"
        r"|every) layers? (are )?(dropped|gated|stopped|zeroed) (at once|together|in (one|a single) pass"
        r"|simultaneously|in the same pass)|(no|not a|without (a|the)) (loop|pass(es)?) (over|per) (the )?layers"
        r"|(one )?pass per layer (is )?(missing|not run)|(L|n_layers) (separate )?passes (are )?(missing|not run"
        r"|expected|needed)|no per.layer passes|(dropp\w*|gat\w*|zero\w*|stopp\w*) (\w+ ){0,2}(all"
        r"|every) layers? (\w+ ){0,2}in (one|a single) (backward )?pass|(instead of|not|rather than|needs?"
        r"|should be) (L |n_layers )?(one )?(backward )?pass(es)? per layer"),
     gd_every_layer_dropped_in_one_pass),
    # pass l multiplies with the gradients left from pass l-1
    (_G, "product formed before the pass's backward", (
        r"(?i)(product|estimate|multipl\w*) (is )?(formed|computed|taken|done) before (the |its |each "
        r"|that )?(pass'?s? )?backward|(previous|prior|last|stale|earlier) pass'?s? gradients?|gradients? (from"
        r"|of) the (previous|prior|earlier|last) pass|(stale|old|outdated) gradients?|(one|a) pass (behind|late|off)"
        r"|off.by.one (in|on|between) (the )?pass|passes? (are )?(shifted|lagg)|backward (is )?(called |run )?(after"
        r"|too late)|order of (the )?(backward|statements|operations)"),
     gd_product_before_backward),
    (_E, "gradient of the answer logit only", (
        r"(?i)answer('?s)? logit (only|alone)|(only|just) the answer('?s)? logit|(gradient|derivative"
        r"|backward) of (the )?(answer|correct)('?s)? (token'?s? )?logit|(wrong|competing"
        r"|incorrect)('?s)? (token'?s? )?logit (is |was )?(missing|ignored|left out|not subtracted|dropped)|(without"
        r"|no|missing|not) (subtract\w* )?(the )?(wrong|competing) (token|logit)|logit diff(erence)? (\w+ ){0,3}(not"
        r"|instead)|(not|instead of|rather than) (of )?the (full )?logit diff\w*"),
     eap_gradient_of_the_answer_logit_only),
    # an MLP's write read at mlp.hook_post (its neurons, d_mlp wide) instead of hook_mlp_out
    (_E, "MLP source read at the neuron activations", (
        r"(?i)hook_post|neurons?'? (activations?|outputs?)|d_mlp|(post|pre).?(gelu|activation)s?\b|(before"
        r"|without) (the |its )?(W_?out|output (projection|matrix|weights))|(mlp'?s? )?(hidden|inner) (layer"
        r"|activations?)|(instead of|not) (the )?(hook_)?mlp_out|(mlp|MLP) (source|write) (is )?(read "
        r"|taken )?at the wrong (hook|place)"),
     eap_mlp_source_at_neuron_activations),
    # one input per head: the q, k and v destinations of a head added into one column
    (_E, "q/k/v inputs merged into one destination per head", (
        r"(?i)(q|quer(y|ies)), ?(k|keys?),? (and|&|/) ?(v|values?) (inputs?|destinations?) (are )?(merged|summed"
        r"|added|combined|collapsed|lumped)|(one|a single) (input|destination|column) per head|(merged|summed"
        r"|combined|collapsed) (the )?(q/k/v|qkv|three) (inputs?|destinations?)|head'?s? (three|q/k/v"
        r"|qkv) inputs? (are )?(not )?(separate|distinct|merged)|(missing|too few) destinations?|(separate"
        r"|distinct) (q|k|v|q/k/v) (destinations?|columns?)|n_destinations"),
     eap_qkv_inputs_merged),
    # x[:, :, task.pos] gathers every example's read position for every example
    (_E, "task.pos used as a fancy index ([B, B] gather)", (
        r"(?i)task\.pos|fancy.?ind|advanced.?ind|gather\w*|\[B, ?B\]|(B|batch).by.(B|batch)|(index|indexing"
        r"|indexed) (\w+ ){0,3}pos(ition)?s? (tensor|vector|list)|(every|each|all) examples?'? positions? (for|in"
        r"|with) (every|each|all) examples?|(positions|pos) (of|from) (other|all|every) examples|(counted|summed"
        r"|added) (B|twice|2|two|multiple) times|times (B|the batch size)\b|double.?count|torch\.gather|arange\(B\)"),
     eap_positions_gathered_with_task_pos),
    (_E, "gradient of -M (loss convention)", (
        r"(?i)\bloss\b|(of|on|differentiat\w*) (the )?(-|−)\s?M\b|(-|−)\s?M\.backward|\((-|−)\s?(M|metric)\)"
        r"|minus (the )?(M|metric)\b|negat\w* (the )?(metric|objective|M)\b|(gradient|derivative"
        r"|backward) of (the )?(negative|negated|−|-)|(metric|objective) (is )?(negated|sign.flipped"
        r"|multiplied by -1)|gradients? (sign|direction) (is )?(flipped|reversed|wrong|negated)|(flipped|negated"
        r"|reversed) gradients?|sign of the gradients?|minimi[sz]"),
     eap_gradient_of_the_loss_minus_m),
    (_I, "gradient run once, outside the point loop", (
        r"(?i)(gradient|backward)s? (is |are )?(run |pass |computed |taken )?(only )?once|(outside|before"
        r"|hoisted out of) the (step |alpha |point |k |integration )?loop|(same|one|single"
        r"|first) (point'?s? )?gradient (is )?(used |reused |added )?(for|at|in) (every|each|all) (points?|steps?"
        r"|alphas?)|(every|each|all) (points?|steps?) (uses?|shares?|gets?|reuses?) the (same|first) gradient|(not"
        r"|never) (re)?evaluated at (each|every) point|reused gradient|gradient (is )?(not|never) (re)?computed (per"
        r"|for each|at each) (point|step)|(constant|fixed) (alpha|point)"),
     ig_gradient_run_outside_the_loop),
    (_I, "points shifted one step past the clean input", (
        r"(?i)(past|beyond|overshoot\w*) (the )?(clean|end ?point|path|segment|\[0, ?1\]|interval)|alpha ?(>|exceeds"
        r"|above|greater than|over) ?1|\(?k ?\+ ?1\)? ?/ ?m|(alphas?|points?) (are )?(shifted|offset|off by one)"
        r"|(shifted|offset|off by one) (by )?(one )?(step|point|alpha)|starts? at 2 ?/ ?m|\(?m ?\+ ?1\)? ?/ ?m|(first"
        r"|corrupt.side|lowest) (point|alpha) (is )?(missing|skipped)"),
     ig_points_shifted_past_clean),
    # each point's gradient divided by its norm (GradPath's normalisation borrowed)
    (_I, "each point's gradient normalised", (
        r"(?i)normali[sz]\w* (\w+ ){0,3}gradients?|gradients? (\w+ ){0,3}(normali[sz]ed|divided by (its"
        r"|their) (own )?norm|unit (length|norm))|unit.?(norm|length) gradients?|(divided|divide"
        r"|dividing) by (the )?(gradient'?s? )?norm|(gradpath'?s?|eap.gp'?s?) normali[sz]ation|\|\|g\|\|"
        r"|g ?/ ?g\.norm|(magnitude|size|scale) of the gradients? (is )?(lost|discarded|removed|thrown away)"
        r"|divid\w* (\w+ ){0,4}by (its|their) (own )?norms?|magnitude of the gradients?"),
     ig_gradient_normalised_at_each_point),
    (_I, "embedding overwritten in place in the hook", (
        r"(?i)in.?place|t\[:\] ?=|(overwrit\w*|modif\w*|mutat\w*|writ\w* into) (the )?(hook'?s? |hooked )?(embedding"
        r"|activation|tensor|leaf|input)|leaf (variable )?(that requires grad )?(is )?(used in|modified|written)"),
     ig_embedding_overwritten_in_place),
    (_I, "one (name, fn) pair, not a list of pairs", (
        r"(?i)(list|sequence) of (\(name, ?fn\) |\(name, ?hook\) |hook )?(pairs|tuples|hooks)|(single|one|bare"
        r"|lone) (\(name, ?(fn|hook)\) )?(pair|tuple)|not (wrapped )?in a list|wrap\w* (it |the pair )?in (a )?(list"
        r"|\[)|\[\(\s*.?hook_embed|extra_fwd_hooks ?= ?\(|tuple (instead of|not|rather than) (a )?list"),
     ig_one_hook_pair_not_a_list),
    (_R, "in-place step on the grad leaf", (
        r"(?i)in.?place|-=|leaf (variable |tensor )?(that requires grad )?(is )?(used in|modified|updated|written)"
        r"|(update|step|modif\w*) (\w+ ){0,3}(on|of|to) (the )?(leaf|tensor that requires grad)|(outside"
        r"|without) (torch\.)?no_grad"),
     gp_step_in_place_on_the_leaf),
    (_R, "e_corrupt appended as an extra last point", (
        r"(?i)(e_corrupt|corrupt (embedding|point|end)|end ?point) (is |was )?(appended|added|tacked on)"
        r"|append\w* (\w+ ){0,3}(e_corrupt|corrupt|end ?point)|(steps|k) ?\+ ?2 points|one (point"
        r"|extra point) too many|extra (last |final |end |corrupt )?point|(path|gradpath|it) (should not|need not"
        r"|doesn't have to|does not|doesn't) (end|reach|finish) (at|with) (e_)?corrupt"),
     gp_corrupt_end_point_appended),
    # output_distance given gamma, autograd.grad asked for the fresh leaf
    (_R, "forward on the old tensor, gradient of the fresh leaf", (
        r"(?i)(leaf|tensor|variable) (is |was )?(not|never) (used|part of|in) (in )?the (graph|forward)|(not"
        r"|never) (been )?used in the graph|(forward|distance|output_distance) (\w+ ){0,3}(gets|given|called with|on"
        r"|uses|of) (the )?(old|previous|wrong|detached) (gamma|point|tensor|variable)|(gamma|the point) (instead of"
        r"|not|rather than) (the )?leaf|(does not|doesn't|don't|do not) require grad|(wrong|mixed.up|swapped) (tensor"
        r"|variable|name)s?|(differentiat\w*|gradient) (\w+ ){0,3}(with respect to|w\.?r\.?t\.?) (a|the)? ?(tensor"
        r"|leaf|variable) (that is )?(not|never) (used|in the graph)"),
     gp_distance_of_the_old_tensor),
    # eta * g / |gamma| where eta * g / |g| was meant
    (_R, "step divided by the point's norm", (
        r"(?i)(point|gamma|γ|embedding|current point)'?s? norm|norm of (the )?(point|gamma|γ|current point"
        r"|embedding)\b|(divid\w*|normali[sz]\w*) (\w+ ){0,3}by (the )?(norm of )?(gamma|γ|the point|the embedding"
        r"|the current point)|(instead of|not|rather than) (by )?(the )?(norm of the )?gradient'?s? norm"
        r"|\|\|gamma\|\||\|\|γ\|\||gamma\.norm|(g|gamma) (and|/|vs\.?) (gamma|g) (mixed|confused|swapped)"),
     gp_step_divided_by_the_point_norm),
    # points returned relative to e_clean (gamma_j - e_clean)
    (_R, "displacements from e_clean returned", (
        r"(?i)displacement|relative to (e_clean|the (clean|start)( point| embedding)?)|(minus|-"
        r"|subtract\w*) (the )?(e_clean|e_c\b|start(ing)? point|clean embedding)|offsets?\b|(points?|path) (are "
        r"|is )?(shifted|centred|centered|translated)|(start|first) point (is |are )?(zero|0)\b|(differences|changes"
        r"|steps) (from|since) (the )?(start|e_clean|clean)|(not|instead of) (the )?(points|positions) themselves"
        r"|absolute (points|positions)"),
     gp_displacements_returned),
    (_V, "topk values used as indices", (
        r"(?i)topk(\(\))?'?s? (values?|\[0\]|first (element|output|item))|values (are )?(used |taken )?(as|for"
        r"|instead of) (the )?ind(ices|exes)|\.values (instead of|not|rather than) \.indices|\[0\] (instead of|not"
        r"|rather than) \[1\]|(float|non.?integer) ind(ex|ices)|(indices|indexes) (are |is )?(the )?(scores?|values"
        r"|floats?)|only integer tensors|ind(ex|ices) (with|by) (the )?(scores?|floats?|values)"
        r"|index\w* (\w+ ){0,2}(with|by) (the )?(topk'?s? )?(values|scores|floats)"),
     vt_topk_values_used_as_indices),
    (_V, "kind from the last character: MLPs as heads", (
        r"(?i)(mlps?|MLP\d?) (nodes? )?(are |is |were |was )?(treated|patched|classified|taken|sent|handled|verified"
        r"|mistaken) (as|for) (an? )?heads?|(last|final) (char(acter)?|letter|symbol)|name\[-1\]|(suffix"
        r"|ending) (test|check)|(kind|type) (detection|test|check|classification) (\w+ ){0,3}(mlps?|wrong)|(mlp"
        r"|MLP) (names? )?(are |is )?(not|never) (recogni[sz]ed|detected|identified)"
        r"|what ?= ?.?head.? for (the )?mlps?"),
     vt_kind_from_last_character),
    (_V, "every name sent to patch_edges", (
        r"(?i)nodes? (names? )?(are |is |were |was )?(passed|sent|given|handed) to patch_edges|patch_edges (for|with"
        r"|on) (every|all|the) ?(names?|nodes?|components?)|patch_edges (instead of|rather than|not) patch_nodes"
        r"|(node|component) names? (are |is )?(not|aren't|isn't) (an? )?edges?|not an edge name|nodes? (patched"
        r"|verified) (as|like) edges"),
     vt_every_name_sent_to_patch_edges),
    (_V, "effects truncated to int", (
        r"(?i)\bint(eger)?s?\b|truncat\w*|round\w* (down |to (zero|integers?|whole))|whole numbers?|int\(|\bdtype"
        r"|long tensor|int64|(fraction(al)? part|decimals?) (is |are )?(lost|dropped|cut)|\bfloor"),
     vt_effects_truncated_to_int),
    (_V, "per-example effects summed over prompt pairs", (
        r"(?i)sum\w* ([\w-]+ ){0,3}(over|across) (the )?(prompt pairs|examples|batch|pairs|rows)|(not|instead of"
        r"|rather than) (the )?(batch )?(mean|averag\w*)|(times|multiplied by|factor of) (B|the batch size"
        r"|the number of (prompt pairs|examples))\b|per_example\S* ?\.sum|(batch )?sum (instead of|not"
        r"|rather than) (the )?(batch )?mean|B times too (large|big)|(not )?divided by (B|the batch size"
        r"|the number of (prompt pairs|examples))"),
     vt_summed_over_prompt_pairs),
]
