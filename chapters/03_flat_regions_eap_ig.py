# %% [markdown]
# # Chapter 3 — Zero-gradient regions and EAP-IG
#
# **Learning objectives**
#
# * Score every *edge* of a transformer with one backward pass (EAP), and see where it breaks:
#   a prompt that sits in a flat region of a nonlinearity gets a gradient of ~0 on an edge
#   that carries the whole effect.
# * Implement EAP-IG (integrated gradients over the input embedding) and watch it recover
#   the edge, checked against exact edge patching.
# * Understand why "this circuit overlaps the known one" is not the same as "this circuit is
#   faithful", and compare faithfulness curves of EAP and EAP-IG circuits.
#
# **Papers.** EAP: Syed, Rager, Conmy,
# [Attribution Patching Outperforms Automated Circuit Discovery](https://arxiv.org/abs/2310.10348) (2023).
# EAP-IG: Hanna, Pezzelle, Belinkov,
# [Have Faith in Faithfulness: Going Beyond Circuit Overlap When Finding Model Mechanisms](https://arxiv.org/abs/2403.17806) (2024),
# built on integrated gradients: Sundararajan, Taly, Yan,
# [Axiomatic Attribution for Deep Networks](https://arxiv.org/abs/1703.01365) (2017).
#
# Sign convention (all chapters): noising, `effect = M(clean with edge := corrupt) - M(clean)`.
# An *edge* `u -> v` is the path from a source `u` (the embedding, a head, an MLP) straight into
# one input of a later component `v` (a head's q, k or v input, an MLP, the logits); patching an
# edge changes only what `v` reads from `u`.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device

# %%
import torch
import matplotlib.pyplot as plt

import workbook as wb
from workbook import circuits as C
from workbook.checks import edge_methods as checks
from workbook.eap_ig import eap_ig
from workbook.graph import Graph
from workbook.hooks import cache_activations, cache_activations_and_grads
from workbook.specimens import build, describe

# %% [markdown]
# ## 1. The specimen: a neuron parked in GELU's tail
#
# Read the mechanism first; every number below is computed from the model.

# %%
print(describe("flat_region"))
model, task = build("flat_region")
clean_m, corr_m = task.baselines(model)
print(f"M(clean) = {clean_m:.3g}   M(corrupt) = {corr_m:.3g}")

# %% [markdown]
# The neuron's pre-activation on the clean and corrupt prompts, and where the methods look:
# EAP evaluates GELU' only at the clean point; EAP-IG (m = 5) at the five points
# `e_corrupt + k/5 (e_clean - e_corrupt)`.

# %%
def neuron_preact(model, tokens=None) -> torch.Tensor:
    """Pre-activation of MLP0's neuron 0 at the last position, one value per example."""
    tokens = task.clean if tokens is None else tokens
    _, acts = cache_activations(model, tokens, ["blocks.0.mlp.hook_pre"])
    return acts["blocks.0.mlp.hook_pre"][:, -1, 0]


h_clean, h_corr = neuron_preact(model), neuron_preact(model, tokens=task.corrupt)
alphas = torch.arange(1, 6) / 5
h_ig = h_corr[0] + alphas * (h_clean[0] - h_corr[0])  # linear in the embedding here (LN ~ linear)
xs = torch.linspace(-7, 7, 200)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(xs, torch.nn.functional.gelu(xs), label="GELU")
ax.scatter([float(h_clean[0])], [float(torch.nn.functional.gelu(h_clean[0]))], c="r", zorder=3, label="EAP: gradient here")
ax.scatter(h_ig, torch.nn.functional.gelu(h_ig), marker="x", c="k", zorder=3, label="EAP-IG points (m=5)")
ax.set(xlabel="pre-activation h (example 0)", ylabel="GELU(h)", title="where EAP and EAP-IG evaluate the gradient")
ax.legend(); plt.show()
print("IG sample points h:", [f"{v:.2g}" for v in h_ig.tolist()])
print("pre-activation clean:", [f"{v:.2g}" for v in h_clean.tolist()], " corrupt:", [f"{v:.2g}" for v in h_corr.tolist()])

# %% [markdown]
# ### Exercise — EAP for every edge
# > Difficulty: 🔴🔴🔴⚪⚪  Importance: 🔵🔵🔵🔵🔵  ~20 min
#
# Return the batch-mean EAP matrix `[n_sources, n_destinations]` (zero off `graph.edge_mask`):
# `EAP(u->v) = sum_{p,d} (z_u(corrupt) - z_u(clean)) . dM/d in_v |clean`.
# Use `Graph.from_model`, `cache_activations`, `cache_activations_and_grads` (its gradients are
# already per example), `graph.stack_sources` and `graph.stack_dest_grads`.
#
# <details><summary>Hint 1</summary>One no-grad corrupt run for z(corrupt); one clean run with
# gradients at the destination hooks (`graph.dest_hooks`), not at the sources.</details>
# <details><summary>Hint 2</summary><code>torch.einsum("sbpd,tbpd->st", deltas, grads) / B</code>,
# then multiply by the mask.</details>

# %%
def my_eap(model, task) -> torch.Tensor:
    """Noising EAP edge matrix [n_sources, n_destinations], batch mean."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("my_eap")
    # END EXERCISE
    # SOLUTION
    graph = Graph.from_model(model)
    _, corr = cache_activations(model, task.corrupt, list(graph.source_hooks))
    _, clean, grads = cache_activations_and_grads(model, task, list(graph.source_hooks), list(graph.dest_hooks))
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    scores = torch.einsum("sbpd,tbpd->st", deltas, graph.stack_dest_grads(grads)) / task.batch_size
    return scores * graph.edge_mask
    # END SOLUTION


checks.check_eap(my_eap)

# %%
truth = wb.patch_edges(model, task)
eap_scores = wb.eap(model, task)
edge = "embed->MLP0"
print(f"{edge}: exact edge patching {truth[edge]:.3g}, EAP {eap_scores[edge]:.2g}")
print(f"rank of {edge}: truth {truth.rank(edge)}, EAP {eap_scores.rank(edge)} (of {len(truth)} edges)")

# %% [markdown]
# ### Exercise — EAP-IG (inputs)
# > Difficulty: 🔴🔴🔴🔴⚪  Importance: 🔵🔵🔵🔵🔵  ~25 min
#
# Average the destination-input gradients over the m points
# `e(k/m) = e_corrupt + (k/m)(e_clean - e_corrupt)`, k = 1..m: run the **clean tokens** with
# `hook_embed` replaced by `e(k/m)`, differentiate, and keep the delta `z_u(corrupt) - z_u(clean)`
# from the real runs. Replace with a straight-through hook `t + (target - t).detach()` (pass it
# as `extra_fwd_hooks=[("hook_embed", hook)]`) so gradients keep flowing.
#
# <details><summary>Hint</summary>m = 1 must give exactly EAP. Divide the gradient sum by m.</details>

# %%
def my_eap_ig(model, task, steps: int) -> torch.Tensor:
    """Noising EAP-IG (inputs) edge matrix [n_sources, n_destinations], batch mean."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("my_eap_ig")
    # END EXERCISE
    # SOLUTION
    graph = Graph.from_model(model)
    names = list(graph.source_hooks)
    _, clean = cache_activations(model, task.clean, names)
    _, corr = cache_activations(model, task.corrupt, names)
    deltas = graph.stack_sources(corr) - graph.stack_sources(clean)
    e_c, e_n = clean["hook_embed"], corr["hook_embed"]
    total = 0.0
    for k in range(1, steps + 1):
        target = e_n + (k / steps) * (e_c - e_n)
        hook = lambda t, hook, target=target: t + (target - t).detach()
        _, _, grads = cache_activations_and_grads(model, task, [], list(graph.dest_hooks), extra_fwd_hooks=[("hook_embed", hook)])
        total = total + graph.stack_dest_grads(grads)
    scores = torch.einsum("sbpd,tbpd->st", deltas, total / steps) / task.batch_size
    return scores * graph.edge_mask
    # END SOLUTION


checks.check_eap_ig(my_eap_ig)

# %% [markdown]
# ### How many steps? (widget over m; a static plot when no widget frontend is present)

# %%
ms = [1, 2, 3, 5, 10, 20]
ig_by_m = [eap_ig(model, task, m)[edge] for m in ms]


def show_m(m: int = 5) -> None:
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(ms, ig_by_m, "o-", label=f"EAP-IG score of {edge}")
    ax.axhline(truth[edge], color="k", ls="--", label="exact edge patching")
    ax.scatter([m], [eap_ig(model, task, m)[edge]], c="r", zorder=3)
    ax.set(xlabel="integration steps m", ylabel=f"score of {edge}", title="EAP-IG vs the number of steps")
    ax.legend(); plt.show()


from workbook.widgets import widgets_available

if widgets_available():
    import ipywidgets

    ipywidgets.interact(show_m, m=ipywidgets.IntSlider(value=5, min=1, max=20))
else:
    show_m(5)
print("m:", ms)
print("EAP-IG:", [f"{v:.3g}" for v in ig_by_m], " truth:", f"{truth[edge]:.3g}")

# %% [markdown]
# ### Pause and think
#
# Replace GELU by a *step function* `1[h > 0]`. What do EAP and EAP-IG (m = 5) give for this
# edge, and what does exact patching give?
#
# <details><summary>Answer</summary>The gradient of a step is 0 everywhere except at the jump,
# so EAP is 0 and every IG sample point also sees 0 unless it lands exactly on the jump: both
# score 0, while patching flips the neuron and gives the full effect. IG fixes flat regions
# only when the path passes through points with a non-zero gradient; Chapter 4 is about paths
# that don't.</details>

# %% [markdown]
# ## 2. Faithfulness is not overlap (trained IOI model)
#
# Two ways to judge a circuit `C` found by a method. **Overlap**: how many of its nodes or edges
# it shares with a reference circuit (here: the greedy circuit of exact edge patching, same
# budget), as a Jaccard index. **Faithfulness**: run the model with every edge *outside* `C`
# corrupted and ask how much of the clean behaviour is left,
# `(m(C) - m(corrupt)) / (m(clean) - m(corrupt))` (1 = all of it, 0 = none).
#
# `C.greedy(scores, n, graph)` grows a circuit from the logits backwards, `n` edges at most, and
# then *prunes* every edge that is not on a complete path from the embedding to the logits
# (a dangling edge cannot carry anything), so a circuit can end up with fewer than `n` edges.

# %%
from workbook import zoo

ioi_model, ioi_task = zoo.load("ioi", n=8, seed=0)
graph = Graph.from_model(ioi_model)
ioi_truth = wb.patch_edges(ioi_model, ioi_task)
ioi_eap, ioi_ig = wb.eap(ioi_model, ioi_task), eap_ig(ioi_model, ioi_task, 5)
base = ioi_task.baselines(ioi_model)
rows = {}
print(f"{'n':>3} {'circuit from':<14} {'edges':>5} {'node overlap':>13} {'edge overlap':>13} {'faithfulness':>13}")
for n in (10, 20, 40):
    ref = C.greedy(ioi_truth, n, graph)
    for s in (ioi_eap, ioi_ig, ioi_truth):
        c = C.greedy(s, n, graph)
        ov = C.overlap(c, ref)
        rows[n, s.method] = (ov["node_jaccard"], ov["edge_jaccard"], C.faithfulness(ioi_model, ioi_task, c, base))
        print(f"{n:>3} {s.method:<14} {c.n_edges:>5} {rows[n, s.method][0]:>13.2f} {rows[n, s.method][1]:>13.2f} "
              f"{rows[n, s.method][2]:>13.2f}")

# %% [markdown]
# Read the table pairwise. Does the circuit with the larger overlap always reproduce more of the
# clean behaviour? The cell below checks every pair of circuits of the same size.

# %%
# NBVAL_CHECK_OUTPUT
methods = [ioi_eap.method, ioi_ig.method, ioi_truth.method]
for n in (10, 20, 40):
    for i, a in enumerate(methods):
        for b in methods[i + 1:]:
            for col, what in ((0, "node"), (1, "edge")):
                d_ov = rows[n, b][col] - rows[n, a][col]
                d_f = rows[n, b][2] - rows[n, a][2]
                if abs(d_ov) > 0.05 and abs(d_f) > 0.02 and (d_ov > 0) != (d_f > 0):
                    print(f"n = {n}: {b if d_ov > 0 else a} has the larger {what} overlap, "
                          f"{a if d_ov > 0 else b} the larger faithfulness")
    if rows[n, ioi_truth.method][2] < 0.95:
        print(f"n = {n}: the reference circuit itself (overlap 1 by definition) keeps less than 95 % of the "
              f"clean behaviour")

# %% [markdown]
# Overlap measures agreement with a reference that is itself only a choice (the greedy circuit
# of a ranking); faithfulness measures what the circuit *does*. They can disagree in both
# directions, which is why EAP-IG's paper argues for reporting faithfulness.
#
# Now faithfulness against circuit size, for a budget of 5 to 80 edges. The printed numbers
# are `edges after pruning: faithfulness`.

# %%
sizes = [5, 10, 20, 40, 80]
curves = {s.method: C.faithfulness_curve(ioi_model, ioi_task, s, sizes) for s in (ioi_eap, ioi_ig, ioi_truth)}
from workbook import plots

plots.faithfulness_curves(curves, title="IOI: faithfulness of greedy circuits vs size")
plt.show()
for name, (x, y) in curves.items():
    print(f"{name:<16}", " ".join(f"{n}:{v:.2f}" for n, v in zip(x, y)))

# %% [markdown]
# One of these circuits may print `0:` edges at the smallest budget. Why, when the budget was 5?
# The cell below grows EAP's 5-edge circuit *without* pruning and shows which edges it picked.

# %%
# NBVAL_CHECK_OUTPUT
raw = C.greedy(ioi_eap, 5, graph, pruned=False)
kept = C.greedy(ioi_eap, 5, graph)
print(f"EAP's greedy 5 edges before pruning: {raw.edges}")
print(f"edges from the embedding among them: {[e for e in raw.edges if e.startswith('embed->')]}")
print(f"after pruning (complete embedding -> logits paths only): {kept.n_edges} edges")
q_edges = [e for e in ioi_truth.order()[:10] if e.startswith("embed->") and e.endswith(".q")]
print(f"rank of the true top-10's embed -> query edges: by edge patching "
      f"{[ioi_truth.rank(e) for e in q_edges]}, by EAP {[ioi_eap.rank(e) for e in q_edges]}")

# %% [markdown]
# Greedy growth starts at the logits and can only add an edge *into* a component that is already
# in the circuit. EAP's best such edges all run between heads or from heads to the logits (printed), and
# the edges from the embedding into the queries of the heads it picked are ranked low by EAP
# (compare the two rank lists), so the budget runs out before any path reaches the embedding: no
# complete path, nothing survives pruning, faithfulness 0. It is the ranking failure of this
# chapter seen from the circuit's side: the IOI table at the end lists embed -> query edges as
# EAP's false negatives.

# %% [markdown]
# ## Closing tables: the flat-region specimen and the IOI model vs exact edge patching

# %%
# NBVAL_CHECK_OUTPUT
spec_ig = eap_ig(model, task, 5)
print("flat-region specimen")
print(wb.comparison_table([eap_scores, spec_ig], truth, k=3))
print(f"{edge}: rank by exact patching {truth.rank(edge)}, by EAP {eap_scores.rank(edge)}, by EAP-IG (m=5) "
      f"{spec_ig.rank(edge)} of {len(truth)};  EAP-IG / truth = {wb.scores.fmt(spec_ig[edge] / truth[edge], '.1f')}")
print()
print("trained IOI model")
print(wb.comparison_table([ioi_eap, ioi_ig], ioi_truth, k=10))

# %% [markdown]
# ## 3. Now on GPT-2 small (optional, needs internet once)
#
# Hanna et al. compared EAP and EAP-IG on GPT-2 small. This section loads it and then
# Pythia-160M ([arXiv 2304.01373](https://arxiv.org/abs/2304.01373)) from the Hugging Face hub
# and runs one of their tasks, **greater-than** (Hanna, Liu, Variengien,
# [arXiv 2305.00586](https://arxiv.org/abs/2305.00586)): after `"The war lasted from the year
# 1732 to the year 17"` the model should prefer years after 32; the corrupt prompt starts in
# `1701`. The metric is their probability difference, `p(later year) - p(same or earlier year)`.
# GPT-2 small has 32,491 edges, too many to patch one by one on a CPU, so EAP and EAP-IG
# (m = 5) each nominate their top 20 edges and exact edge patching verifies every nominated
# edge (`rm.verify_pool`). Then the faithfulness of each method's greedy circuit, the criterion
# the paper argues for.
#
# What to look for: truly important edges that EAP ranks far down (an "EAP/truth" near 0: a
# flat region at the clean point) and whether EAP-IG recovers them (the "verdict" line); and
# whether the EAP-IG circuit is more faithful than the EAP circuit of the same size.
# The numbers are computed on the spot; this text does not know them. Offline the first cell
# prints one line saying it skipped, and nothing else in the notebook depends on this section.
# Each model takes a minute or two on a CPU (the cell prints the time); on a GPU runtime the
# models go to the GPU.

# %%
# NBVAL_IGNORE_OUTPUT
from workbook import real_models as rm

models = rm.load_or_skip("gpt2", "EleutherAI/pythia-160m")  # {} and one line saying why, without internet

# %%
# NBVAL_IGNORE_OUTPUT
for name, real in models.items():
    with rm.timed(real, f"EAP vs EAP-IG on {name}, every edge"):
        years = rm.greater_than_task(real, n=8)
        print(rm.describe_task(real, years))
        real_eap = wb.eap(real, years)
        real_ig = eap_ig(real, years, 5)
        real_truth = rm.verify_pool(real, years, [real_eap, real_ig], top=20)
        print(rm.screen_report(real_truth, [real_eap, real_ig]))
        print(rm.rank_moves(real_truth, real_eap, real_ig))
        print(rm.faithfulness_report(real, years, [real_eap, real_ig], sizes=[100, 400]))
    print()

# %% [markdown]
# ## Further reading
#
# * Syed, Rager, Conmy, [Attribution Patching Outperforms Automated Circuit Discovery](https://arxiv.org/abs/2310.10348)
#   (2023): EAP, and its comparison with ACDC.
# * Hanna, Pezzelle, Belinkov, [Have Faith in Faithfulness](https://arxiv.org/abs/2403.17806) (2024): EAP-IG,
#   and why faithfulness, not overlap, should judge a circuit. Reference code:
#   [hannamw/EAP-IG](https://github.com/hannamw/EAP-IG).
# * Sundararajan, Taly, Yan, [Axiomatic Attribution for Deep Networks](https://arxiv.org/abs/1703.01365) (2017):
#   integrated gradients and the completeness axiom.
# * Miller, Chughtai, Saunders, [Transformer Circuit Faithfulness Metrics are not Robust](https://arxiv.org/abs/2407.08734)
#   (2024): how much a faithfulness number depends on the ablation choices.
