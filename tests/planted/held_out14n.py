"""Held-out set #14n, written blind (the writer never saw the checks, their messages or any other
planted set) on 2026-12-06; measured once, unseen.

Five mistakes per exercise, chosen as the ones a teaching assistant sees most often from first-time
learners. Each wrong function was run once, with the correct solution, on the chapter's own model and
task (chapter 00: zoo ``induction``, n=16, seed=0; 01: ``saturation.build()``; 02:
``cancellation.build()``; 03: ``build("flat_region")``, steps=5; 04: ``build("path_saturation")``,
steps=5, ``"unit"``; 05: zoo ``mixture`` with its ``ioi`` task, n=8, seed=0, k=5, on AtP head+MLP
scores and on EAP edge scores). A mistake is kept only if max |wrong - correct| >= 2% of the correct
result's largest magnitude there, or it crashes, or it returns a wrong shape / wrong names
(/work/scratch/r14n/verify.py). Each cause regex was written from the cause alone, before any check
saw it.
"""

import torch

import workbook as wb
from tests.planted._base import pattern
from workbook.arch.graph import Graph
from workbook.attribution.eap_gp import output_distance, step_sizes
from workbook.attribution.qk_fix import attn_scale
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params

SIGN = (r"(?i)\bsign\b|negat\w*|flipped|reversed|opposite|the other way round|clean ?- ?corr\w*|"
        r"M\(clean\) ?- ?M\(patched\)|minus sign|denois\w*")


# ---------------------------------------------------------------- chapter 00: patch_heads
def _patch(model, task, mode):
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                if mode == "hook_name":
                    act[:, :, h] = corr[hook.name][:, :, h]
                elif mode == "whole_layer":
                    act = corr[names[l]].clone()
                elif mode == "pos_axis":
                    act[:, h] = corr[names[l]][:, h]
                else:
                    act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                m = task.metric_value(model(task.clean))
            out[l, h] = base - m if mode == "sign" else (m if mode == "no_baseline" else m - base)
    return out


def _patch_fn(mode):
    def patch_heads(model, task):
        return _patch(model, task, mode)
    return patch_heads


# ---------------------------------------------------------------- chapter 00: atp_heads
def _atp(model, task, mode):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    rows = []
    for n in names:
        d = {"saliency": clean[n], "sign": clean[n] - corr[n]}.get(mode, corr[n] - clean[n])
        x = d * grads[n]
        if mode == "mean_pos":
            rows.append(x.mean(1).sum(-1).mean(0))
        elif mode == "batch_sum":
            rows.append(x.sum((1, 3)).sum(0))
        elif mode == "head_axis":
            rows.append(x.sum((1, 2)).mean(0))
        else:
            rows.append(x.sum((1, 3)).mean(0))
    return torch.stack(rows)


def _atp_fn(mode):
    def atp_heads(model, task):
        return _atp(model, task, mode)
    return atp_heads


# ---------------------------------------------------------------- chapter 01: qk_fix_queries
def _qkq(model, task, mode):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    axis = -2 if mode == "softmax_axis" else -1
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = 1.0 if mode == "no_scale" else attn_scale(model, l)
        A = pattern(q, k, sc, mask, axis)
        A_new = pattern(q_new, k, sc, mask, axis)
        diff = A - A_new if mode == "sign" else A_new - A
        x = (diff * grads[pats[l]]).sum(-2 if mode == "sum_axis" else -1)  # [B, H, T]
        out.append(x if mode == "no_batch_mean" else x.mean(0))
    return torch.stack(out)


def _qkq_fn(mode):
    def qk_fix_queries(model, task):
        return _qkq(model, task, mode)
    return qk_fix_queries


# ---------------------------------------------------------------- chapter 01: qk_fix_keys
def _qkk(model, task, mode):
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool)
    mask = mask if mode == "no_mask" else mask.tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        kc = corr[f"blocks.{l}.attn.hook_k"]
        sc = 1.0 if mode == "no_scale" else attn_scale(model, l)
        A = pattern(q, k, sc, mask)
        for s in range(T):
            k2 = k.clone()
            if mode == "all_keys":
                k2 = kc.clone()
            elif mode == "head_axis":
                k2[:, :, s] = kc[:, :, s]
            else:
                k2[:, s] = kc[:, s]
            x = (pattern(q, k2, sc, mask) - A) * grads[pats[l]]  # [B, H, T, S]
            out[l, :, s] = (x.sum(-1).mean(-1) if mode == "mean_rows" else x.sum((-1, -2))).mean(0)
    return out


def _qkk_fn(mode):
    def qk_fix_keys(model, task):
        return _qkk(model, task, mode)
    return qk_fix_keys


# ---------------------------------------------------------------- chapter 02: graddrop
def _graddrop(model, task, mode):
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}
    scale = 1 if mode == "no_B" else B

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * scale

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    gated = ("resid_post",) if mode == "gate_resid" else ("attn_out", "mlp_out")
    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in gated]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=mode != "no_retain")
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    p = torch.stack(per_pass)  # [passes, B, L, H]
    if mode == "no_abs":
        return (p.sum(0) / (L - 1)).mean(0)
    return (p.abs().sum(0) / (L if mode == "div_L" else L - 1)).mean(0)


def _graddrop_fn(mode):
    def graddrop_heads(model, task):
        return _graddrop(model, task, mode)
    return graddrop_heads


# ---------------------------------------------------------------- chapter 03: eap
def _eap(model, task, mode):
    graph = Graph.from_model(model)
    src = list(graph.source_hooks)
    _, corr = cache_activations(model, task.corrupt, src)
    if mode == "grads_at_sources":
        _, clean, grads = cache_activations_and_grads(model, task, src, src)
        g = graph.stack_sources(grads)
    else:
        tokens = task.corrupt if mode == "grads_at_corrupt" else task.clean
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), tokens=tokens)
        _, clean = cache_activations(model, task.clean, src)
        g = graph.stack_dest_grads(grads)
    if mode == "sign":
        deltas = graph.stack_sources(clean) - graph.stack_sources(corr)
    else:
        deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    if mode == "transposed":
        return (torch.einsum("sbpd,tbpd->ts", deltas, g) / task.batch_size) * graph.edge_mask.T
    scores = torch.einsum("sbpd,tbpd->st", deltas, g)
    scores = scores if mode == "no_div_B" else scores / task.batch_size
    return scores * graph.edge_mask


def _eap_fn(mode):
    def my_eap(model, task):
        return _eap(model, task, mode)
    return my_eap


# ---------------------------------------------------------------- chapter 03: eap_ig
def _eap_ig(model, task, steps, mode):
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    if mode == "sign":
        deltas = -deltas
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    base = torch.zeros_like(e_n) if mode == "zero_baseline" else e_n
    ks = range(steps) if mode == "k_from_zero" else range(1, steps + 1)
    total = 0.0
    for k in ks:
        target = base + (k / steps) * (e_c - base)
        if mode == "no_straight_through":
            hook = lambda t, hook, target=target: target  # noqa: E731
        else:
            hook = lambda t, hook, target=target: t + (target - t).detach()  # noqa: E731
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks),
                                                  extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    avg = total if mode == "no_div_m" else total / steps
    scores = torch.einsum("sbpd,tbpd->st", deltas, avg)
    scores = scores if mode == "no_div_B" else scores / task.batch_size
    return scores * graph.edge_mask


def _eap_ig_fn(mode):
    def my_eap_ig(model, task, steps):
        return _eap_ig(model, task, steps, mode)
    return my_eap_ig


# ---------------------------------------------------------------- chapter 04: gradpath
def _gradpath(model, task, steps, step_size, mode):
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma = (e_n if mode == "start_corrupt" else e_c).clone()
    points = [] if mode == "no_start" else [gamma.clone()]
    sign = -1.0 if mode == "ascent" else 1.0
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            if mode == "norm_per_position":
                nrm = g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            elif mode == "no_norm":
                nrm = torch.ones(())
            else:
                nrm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)
            gamma = (leaf - sign * eta * g / nrm).detach()
            points.append(gamma)
    return torch.stack(points)


def _gradpath_fn(mode):
    def my_gradpath(model, task, steps, step_size="unit"):
        return _gradpath(model, task, steps, step_size, mode)
    return my_gradpath


# ---------------------------------------------------------------- chapter 05: verify_top
def _kind(name):
    if "->" in name:
        return "edge"
    if name.startswith("MLP"):
        return "mlp"
    return name.rsplit(".", 1)[1] if "." in name else "head"


def _verify(model, task, scores, k, mode):
    if mode == "signed":
        names = scores.order(absolute=False)[:k]
    else:
        names = scores.order(absolute=True)[: k - 1 if mode == "k_minus_1" else k]
    effects = {}
    kinds = ["head"] if mode == "all_heads" else list(dict.fromkeys(map(_kind, names)))
    for what in kinds:
        group = names if mode == "all_heads" else [n for n in names if _kind(n) == what]
        if what == "edge":
            res = wb.patch_edges(model, task, edges=group)
        else:
            res = wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(scores[n] if mode == "estimates" else res[n]) for n in group})
    out = list(effects) if mode == "group_order" else names
    return wb.Scores(out, torch.tensor([effects[n] for n in out]), method="activation patching", kind=scores.kind)


def _verify_fn(mode):
    def verify_top_k(model, task, scores, k=5):
        return _verify(model, task, scores, k, mode)
    return verify_top_k


MISTAKES = [
    # chapter 00: patch_heads
    ("check_patch_heads", "patch_sign_base_minus_patched", SIGN, _patch_fn("sign")),
    ("check_patch_heads", "patch_keyed_by_hook_name",
     r"(?i)hook\.name|name (you |we |that was )?(registered|hooked)|registered name|alias\w*|"
     r"bridge'?s? (own )?(hook )?names?|keyed by (the )?hook'?s? name", _patch_fn("hook_name")),
    # the hook writes the corrupt value of every head of the layer, not only head h
    ("check_patch_heads", "patch_whole_layer_not_one_head",
     r"(?i)(all|every|each|whole|entire) (the )?heads?( of (the|that|its|this) layer)?( at once)?|"
     r"whole layer|entire layer|(all|every) heads? (are |were )?patched|not (just |only )?(the |one |that |"
     r"a single )head|"
     r"head (index|axis|dimension) (is )?(missing|ignored|not (indexed|selected))|layer at once",
     _patch_fn("whole_layer")),
    # act[:, h] indexes hook_z's position axis ([B, pos, head, d_head]) instead of the head axis
    ("check_patch_heads", "patch_indexes_position_axis",
     r"(?i)positions? (axis|dim\w*)|(axis|dim\w*) ?(1|2)\b|wrong (axis|dim\w*)|head (axis|dim\w*)|"
     r"positions? instead of (the )?heads?|index\w* (the |a )?positions?|\[:, ?h\]|third (axis|dim\w*)",
     _patch_fn("pos_axis")),
    ("check_patch_heads", "patch_no_clean_baseline",
     r"(?i)baseline|(subtract\w*|without subtracting) (the )?(clean|M\(clean\))|(raw|absolute|"
     r"patched) metric( value)?( itself| alone)?|"
     r"not (a |the )?(difference|change)|clean (metric|value|run) (is |was )?(not |never )subtract\w*|"
     r"M\(patched\) (alone|itself)",
     _patch_fn("no_baseline")),
    # chapter 00: atp_heads
    ("check_atp_heads", "atp_clean_act_times_grad",
     r"(?i)(clean )?activations? (itself |alone |only )?(times|x|×|\*) (the )?grad\w*|grad\w* (times|x|×|"
     r"\*) (the )?(clean )?activations?|"
     r"multipl\w* (the )?grad\w* by (the )?(clean )?activations?|input ?(x|×|\*|times) ?grad\w*|saliency|"
     r"(no|without|missing|instead of|not) (the |a )?(delta|Δ|difference|change)|(clean|raw) activations? (alone|"
     r"only|itself|instead)|"
     r"corrupt (activations? )?(is |are )?(never|not) used|ignor\w* the corrupt",
     _atp_fn("saliency")),
    ("check_atp_heads", "atp_sign_clean_minus_corrupt", SIGN, _atp_fn("sign")),
    ("check_atp_heads", "atp_mean_over_positions",
     r"(?i)(mean|averag\w*) (over|across) (the )?(positions|sequence|tokens)|1/(seq|T|P|n_pos)|"
     r"divided by (the )?(sequence length|number of positions|seq_len)|(should|must|"
     r"instead) (be )?sum\w* over (the )?positions|"
     r"sum over positions,? not (the )?mean",
     _atp_fn("mean_pos")),
    ("check_atp_heads", "atp_sum_over_batch",
     r"(?i)sum\w* (over|across) (the )?(batch|examples|prompts|pairs)|batch (sum|total)|"
     r"not averaged (over|across) (the )?(batch|examples|prompts|pairs)|(mean|averag\w*) (over|across) (the )?batch|"
     r"factor (of )?(B\b|16|the batch)|times (B\b|the batch size)|batch size|divide by (B\b|the batch)",
     _atp_fn("batch_sum")),
    # sums over (pos, head) and keeps d_head
    ("check_atp_heads", "atp_sums_head_axis_not_d_head",
     r"(?i)head (axis|dim\w*)|sum\w* (over|across) (the )?heads|d_head (axis |dim\w* )?(is )?(not summed|kept|left|"
     r"remain\w*)|"
     r"wrong (axis|axes|dim\w*)|(axis|axes|dim\w*) ?\(?1, ?2\)?|instead of d_head|over heads instead",
     _atp_fn("head_axis")),
    # chapter 01: qk_fix_queries
    ("check_qk_fix_queries", "qkq_sign_clean_minus_patched_pattern", SIGN + r"|A ?- ?A'|A ?- ?A_new", _qkq_fn("sign")),
    ("check_qk_fix_queries", "qkq_no_score_scale",
     r"(?i)scal(e|ing|ed)|sqrt|√|d_head|attn_scale|temperature", _qkq_fn("no_scale")),
    ("check_qk_fix_queries", "qkq_softmax_over_queries",
     r"(?i)softmax\W+(\w+\W+){0,6}(quer(y|ies)|rows?|columns?|axis|dim\w*|-2)|"
     r"normali[sz]\w* (over|along|across) (the )?(quer\w*|columns?|wrong)|columns? sum to (one|1)|rows? (do not|"
     r"don't) sum to",
     _qkq_fn("softmax_axis")),
    # forgets the batch mean: returns [n_layers, B, n_heads, seq]
    ("check_qk_fix_queries", "qkq_no_batch_mean",
     r"(?i)(mean|averag\w*) (over|across) (the )?(batch|examples|prompts|pairs)|batch (axis|dim\w*|mean)|\.mean\(0\)|"
     r"per[- ]example (values|estimates|scores)|extra (axis|dim\w*)|not averaged|B (axis|"
     r"dim\w*)", _qkq_fn("no_batch_mean")),
    # sums (A' - A) * grad over the query rows instead of over the keys
    ("check_qk_fix_queries", "qkq_sums_query_axis",
     r"(?i)(sum|reduc|add)\w*\W+(\w+\W+){0,5}(quer(y|ies)|rows?|-2|wrong (axis|dim\w*))|"
     r"instead of (over )?(the )?keys|over (the )?keys? (axis|positions)|keys'? axis", _qkq_fn("sum_axis")),
    # chapter 01: qk_fix_keys
    ("check_qk_fix_keys", "qkk_no_score_scale",
     r"(?i)scal(e|ing|ed)|sqrt|√|d_head|attn_scale|temperature", _qkk_fn("no_scale")),
    ("check_qk_fix_keys", "qkk_patches_all_keys",
     r"(?i)(all|every|whole) (the )?keys?( positions)?( are| were)? (patched|at once|together)|"
     r"patch\w* (all|every) (the )?(key )?positions|not (just|only) (position|key) s|on (its|their) own|"
     r"one key at a time|alone|same (value|result) for every (key|position)", _qkk_fn("all_keys")),
    # averages over the query rows instead of summing them
    ("check_qk_fix_keys", "qkk_mean_over_query_rows",
     r"(?i)(mean|averag\w*) (over|across) (the )?(query )?(rows|quer(y|ies)|positions)|1/(T|seq|n_rows)|"
     r"divided by (the )?(number of (rows|queries|positions)|sequence length|seq_len)|sum (over|"
     r"across) (the )?(query )?rows",
     _qkk_fn("mean_rows")),
    # k2[:, :, s] indexes the head axis of [B, pos, head, d_head]
    ("check_qk_fix_keys", "qkk_indexes_head_axis",
     r"(?i)head (axis|dim\w*)|(axis|dim\w*) ?2\b|heads? instead of (the )?positions?|position (axis|dim\w*)|"
     r"\[:, ?:, ?s\]|wrong (axis|dim\w*)|index\w* (the |a )?heads?",
     _qkk_fn("head_axis")),
    ("check_qk_fix_keys", "qkk_no_causal_mask",
     r"(?i)causal|mask\w*|future (positions|keys|tokens)|s ?> ?t|upper triangle|attend\w* (to )?(the )?future|"
     r"rows? t ?< ?s|earlier rows|tril", _qkk_fn("no_mask")),
    # chapter 02: graddrop
    # no absolute value at all: per-pass estimates summed with their signs
    ("check_graddrop", "graddrop_no_abs",
     r"(?i)abs\w*|absolute( value)?|\|\.\||non-?negative|negative (scores?|values?|entries|numbers)|signed|"
     r"magnitudes?|cancel\w*", _graddrop_fn("no_abs")),
    ("check_graddrop", "graddrop_divides_by_L",
     r"(?i)L ?- ?1|n_layers ?- ?1|divid\w* by (L|n_layers|the number of layers)\b|normali[sz]\w*|"
     r"(L|n_layers) ?/ ?\(?(L|n_layers) ?- ?1|own layer'?s? (pass|zero)|one layer (too many|fewer)",
     _graddrop_fn("div_L")),
    ("check_graddrop", "graddrop_no_times_B",
     r"(?i)times B\b|by B\b|\bB ?(x|×|times)|1/B|factor (of )?(B\b|the batch)|batch size|"
     r"per[- ]example (gradients?|grads?)|gradients? of the (batch[- ])?mean|batch[- ]mean'?s? (gradient|metric|"
     r"1/B)|multipl\w* by (B\b|the batch)",
     _graddrop_fn("no_B")),
    ("check_graddrop", "graddrop_no_retain_graph",
     r"(?i)retain_graph|retain (the )?graph|second time|graph (is |was |has been )?(freed|released)|"
     r"backward (twice|more than once|several times|again)|(saved|intermediate) (tensors|values) (are |were )?freed",
     _graddrop_fn("no_retain")),
    # gates blocks.l.hook_resid_post, which also cuts the residual skip connection
    ("check_graddrop", "graddrop_gates_residual_stream",
     r"(?i)resid\w*|skip( connection)?|attn_out|mlp_out|(two |both )?writes|(stop|gate|zero|cut|"
     r"block)\w* (the )?(whole|entire) (stream|gradient)|"
     r"everything (upstream|below|before)|(all|every) earlier layers?", _graddrop_fn("gate_resid")),
    # chapter 03: eap
    ("check_eap", "eap_grads_at_sources",
     r"(?i)source (hooks?|outputs?|activations?)|at (the )?sources?|(gradients?|grads?) (of|at|w\.?r\.?t\.?|"
     r"on) (the )?(source|output)s?|"
     r"dest(ination)?'?s? (hooks?|inputs?)|dest_hooks|in_v|inputs? of (the )?destinations?|stack_dest_grads",
     _eap_fn("grads_at_sources")),
    # einsum "...->ts": returns [n_destinations, n_sources]
    ("check_eap", "eap_transposed_matrix",
     r"(?i)transpos\w*|(rows|axes|dimensions) (are )?(swapped|reversed|the wrong way)|destinations? (by|x|"
     r"×) sources?|"
     r"(sources?|destinations?) (as|on|along) (the )?(rows|columns)|\[n_dest\w*, ?n_sources?\]|->ts\b|orientation",
     _eap_fn("transposed")),
    ("check_eap", "eap_sign_clean_minus_corrupt", SIGN, _eap_fn("sign")),
    ("check_eap", "eap_no_batch_mean",
     r"(?i)sum\w* (over|across) (the )?(batch|examples|prompts|pairs)|batch (sum|total)|/ ?B\b|1/B|"
     r"not averaged (over|across) (the )?(batch|examples|prompts|pairs)|(mean|averag\w*) (over|across) (the )?batch|"
     r"factor (of )?(B\b|the batch)|times (B\b|the batch size)|batch size|divid\w* by (B\b|the batch)",
     _eap_fn("no_div_B")),
    # the backward pass is taken on the corrupt prompts instead of the clean ones
    ("check_eap", "eap_grads_on_corrupt_run",
     r"(?i)(gradients?|grads?|backward|derivatives?) (on|at|from|of|in) (the )?corrupt|corrupt (run'?s?|point'?s?|"
     r"prompts'?|tokens'?) "
     r"(gradients?|grads?)|(evaluat|tak|comput)\w* (the )?(gradients?|grads?) at (the )?corrupt|"
     r"instead of (at )?(the )?clean (point|run|prompts|tokens)|(linearis|linearized|"
     r"linearised)\w* at (the )?corrupt",
     _eap_fn("grads_at_corrupt")),
    # chapter 03: eap_ig
    # alphas k/m for k = 0..m-1: includes the corrupt end, misses the clean one
    ("check_eap_ig", "eapig_k_from_zero",
     r"(?i)k ?= ?0|range\(steps\)|(start|begin)\w* at (k ?= ?)?(0|zero|the corrupt)|left (Riemann|endpoint)|"
     r"(includes?|evaluat\w* at) (the )?corrupt (end|point|embedding)|(miss\w*|exclud\w*|skip\w*|"
     r"never reach\w*) (the )?clean (end|point|embedding)|"
     r"off[- ]by[- ]one|k ?= ?1\.\.m|1 to m|alpha ?= ?0|shifted", _eap_ig_fn("k_from_zero")),
    ("check_eap_ig", "eapig_no_divide_by_m",
     r"(?i)divid\w* by (m|steps|the number of (steps|points))|1/m|(average|mean) (over|across) (the )?(steps|points)|"
     r"sum\w* (over|across) (the )?(steps|points)|factor (of )?(m\b|steps)|times (m\b|steps|"
     r"the number of steps)|not averaged",
     _eap_ig_fn("no_div_m")),
    # integrates from a zero embedding (the textbook IG baseline) instead of from e_corrupt
    ("check_eap_ig", "eapig_zero_baseline",
     r"(?i)zero (baseline|embedding|input|vector)|baseline (of )?(zero|0)|from (zero|0|the origin)|origin|"
     r"(instead of|not) (from )?(the )?corrupt (embedding|baseline|input|end)|scal\w* the clean embedding|"
     r"wrong baseline",
     _eap_ig_fn("zero_baseline")),
    ("check_eap_ig", "eapig_sign_clean_minus_corrupt", SIGN, _eap_ig_fn("sign")),
    # the hook returns the interpolated embedding itself, so no gradient reaches the graph
    ("check_eap_ig", "eapig_no_straight_through",
     r"(?i)straight[- ]through|detach\w*|(gradients?|grads?) (do not|don't|cannot|can't|no longer|never) (flow|"
     r"reach|arrive)|"
     r"(cuts?|breaks?|severs?|disconnect\w*) (the )?(autograd )?(graph|gradient)|does not require grad|no grad_fn|"
     r"(constant|plain|bare) (replacement|tensor)|requires_grad", _eap_ig_fn("no_straight_through")),
    # chapter 04: gradpath
    ("check_gradpath", "gradpath_ascent",
     r"(?i)ascent|uphill|(plus|\+) ?(eta|η)|away from (the )?(target|corrupt)|(increas|grow)\w* (the )?(distance|"
     r"objective)|"
     r"\bsign\b|wrong direction|descen\w*", _gradpath_fn("ascent")),
    # g / g.norm(dim=-1, keepdim=True): one norm per position, not per example
    ("check_gradpath", "gradpath_norm_per_position",
     r"(?i)per[- ](position|token|row)|each (position|token|row)|(last|d_model|model|embedding) (axis|dim\w*)|"
     r"dim ?= ?-1|"
     r"norm (over|along|of) (the )?(d_model|last axis|each position|embedding dim\w*)|"
     r"(norm|normali[sz]e) over all positions", _gradpath_fn("norm_per_position")),
    ("check_gradpath", "gradpath_unnormalised_step",
     r"(?i)(not|never|without|forgot\w*|missing|no) (to )?(normali[sz]\w*|divid\w* by (the |"
     r"its )?(gradient'?s? )?norm)|unnormali[sz]ed|"
     r"unit (length|norm|vector)|/ ?\|\|g\|\||raw gradient|(gradient'?s?|its) (magnitude|size|length)|direction only|"
     r"divid\w* by (the |its )?(gradient'?s? )?norm",
     _gradpath_fn("no_norm")),
    ("check_gradpath", "gradpath_missing_start_point",
     r"(?i)(starting|start|first|initial|clean) point (is )?(missing|dropped|left out|not (included|returned|stored|"
     r"kept))|"
     r"steps ?\+ ?1|one point (short|too few|missing)|only steps points|(omit|drop|miss|skip)\w* (the )?(first|"
     r"start|starting|initial|clean) "
     r"(point|embedding)|gamma_?0 (is )?(missing|not)|\[steps, ?B", _gradpath_fn("no_start")),
    ("check_gradpath", "gradpath_starts_at_corrupt",
     r"(?i)(start|begin)\w* (at|from) (the )?corrupt|(starting|start|first|initial) point (is |=)?(the )?(corrupt|"
     r"e_corr)|"
     r"gamma_?0 ?(=|is) ?(the )?(e_)?corr|not (at|from) (the )?clean (embedding|input)|wrong start\w*( point)?",
     _gradpath_fn("start_corrupt")),
    # chapter 05: verify_top
    ("check_verify_top", "verify_signed_order",
     r"(?i)abs(olute)?|\|score\||magnitude|signed|negative (scores|estimates|values|ones)|(largest|highest|"
     r"most) positive",
     _verify_fn("signed")),
    ("check_verify_top", "verify_k_minus_one",
     r"(?i)off[- ]by[- ]one|k ?[-+] ?1|one (component |name |entry )?(too (many|few)|extra|missing|short)|"
     r"\d+ (names|components|entries) instead of|number of (names|components|entries)|(more|fewer) than k",
     _verify_fn("k_minus_1")),
    # every name goes to patch_nodes(..., "head"), whatever its kind
    ("check_verify_top", "verify_everything_as_heads",
     r"(?i)(group|split|sort)\w* (the )?names by (their )?kind|(each|every) kind|wrong kind|kind of (name|component)|"
     r"(mlp|q|k|edge)s? (names? )?(as|treated as|passed as|patched as) (a )?heads?|as (if they were )?(a )?heads?|"
     r"(edge|mlp) names? (to|in|with|passed to) patch_nodes|patch_edges|what ?=|node type|component type",
     _verify_fn("all_heads")),
    # returns the names in patching (grouped-by-kind) order, not the estimate's order
    ("check_verify_top", "verify_group_order",
     r"(?i)(estimate'?s?|input'?s?|scores'?|original|same|ranking|rank) order|order of (the )?(estimate|input|"
     r"scores|ranking)|"
     r"grouped by kind|(kind|group|patching|insertion|alphabetical) order|reorder\w*|out of order|permut\w*|"
     r"names? (are |come )?(in|into) (a )?different order", _verify_fn("group_order")),
    # returns the estimate's own values for the top names instead of the patched effects
    ("check_verify_top", "verify_returns_estimates",
     r"(?i)(estimate'?s?|input'?s?|scores'?|attribution) (own )?values|(not|never|without) (actually )?(patch\w*|"
     r"verif\w*)|"
     r"copied|returns? the (estimates?|scores)|instead of (the )?(exact|patched|true|measured) effects?|no patching|"
     r"(exact|patched|true) effects? (are |were )?(not|never) (used|returned)", _verify_fn("estimates")),
]
