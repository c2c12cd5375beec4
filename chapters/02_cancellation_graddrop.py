# %% [markdown]
# # Chapter 2 — Effect cancellation and GradDrop
#
# **Learning objectives**
#
# * Split a component's effect into a direct and an indirect part by patching edges, and see
#   how a small relative error in a large indirect part wrecks AtP's total.
# * Implement GradDrop (AtP*'s backward-pass dropout): `L` backward passes, each cutting one
#   layer's writes to the residual stream, `Σ_l |estimate_l| / (L-1)` per prompt pair.
# * Compare AtP and GradDrop on MLP neurons of a trained model, and bound how large a missed
#   component can be with subset sampling (advanced).
#
# Sign convention: noising, `effect(n) = M(clean with n := n(corrupt)) - M(clean)`.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # installs the course package on Colab; picks the device; seeds everything

# %%
import matplotlib.pyplot as plt
import torch

import workbook as wb
from workbook import zoo
from workbook.atp_star import atp_star
from workbook.checks import node_methods as checks
from workbook.fn_bound import false_negative_bound
from workbook.graddrop import graddrop
from workbook.hooks import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params
from workbook.plots import bar_compare
from workbook.specimens import cancellation, describe

torch.manual_seed(0)

# %% [markdown]
# ## 1. The specimen: +5 direct, about -4.8 indirect

# %%
print(describe("cancellation"))
model, task = cancellation.build()
clean_m, corr_m = task.baselines(model)
print(f"M(clean) = {clean_m:.3g}   M(corrupt) = {corr_m:.3g}")

# %% [markdown]
# ### Measure the two paths
#
# Edge patching (`wb.patch_edges`) changes only one reader's input. `L0H0->logits` is the
# head's direct effect; `L0H0->MLP1` is the effect through the downstream MLP. Next to each we
# print its linearisation: the head's change `Δ` (at `attn.hook_result`, head 0) dotted with
# the clean-run gradient at that reader's input (`blocks.1.hook_resid_post` for the logits,
# `blocks.1.hook_mlp_in` for the MLP) — the two terms whose sum is AtP.

# %%
# NBVAL_CHECK_OUTPUT
comp = cancellation.COMPONENT
edges = wb.patch_edges(model, task, [cancellation.DIRECT_EDGE, cancellation.INDIRECT_EDGE])
direct, indirect = edges[cancellation.DIRECT_EDGE], edges[cancellation.INDIRECT_EDGE]
src, readers = "blocks.0.attn.hook_result", ["blocks.1.hook_resid_post", "blocks.1.hook_mlp_in"]
_, corr_res = cache_activations(model, task.corrupt, [src])
_, clean_res, reader_grads = cache_activations_and_grads(model, task, [src], readers)
delta = corr_res[src][:, :, 0] - clean_res[src][:, :, 0]  # head 0's write, [B, pos, d_model]
lin_direct, lin_indirect = ((delta * reader_grads[r]).sum((1, 2)).mean().item() for r in readers)
truth = wb.patch_nodes(model, task, "head")
plain = wb.atp(model, task, "head")
print(f"direct   (patch {cancellation.DIRECT_EDGE}): {direct:+.3g}   linearised: {lin_direct:+.3g}")
print(f"indirect (patch {cancellation.INDIRECT_EDGE}):  {indirect:+.3g}   linearised: {lin_indirect:+.3g}")
print(f"direct + indirect = {direct + indirect:+.3g};  true total (patch {comp}) = {truth[comp]:+.3g}")
print(f"linearised sum = {lin_direct + lin_indirect:+.3g};  AtP({comp}) = {plain[comp]:+.3g}")
print(f"rank of {comp}: truth {truth.rank(comp)}, AtP {plain.rank(comp)} of {len(truth)}")

# %% [markdown]
# The indirect path goes through a GELU neuron whose pre-activation moves a long way; the
# gradient at the clean point over-predicts that move by a few percent. A few percent of a
# large number is larger than the true total, so the estimated total has the wrong sign.
#
# ### Pause and think
#
# The true total is small here. Why would we still want a method to flag this head?
#
# <details><summary>Answer</summary>
#
# Because both of its paths are part of the mechanism: remove the MLP (or change the prompt
# distribution a little) and the head's effect is large. Also, in other examples of the same
# structure the two paths need not cancel so neatly: AtP's error is about the size of the
# *parts*, not of the total, so the same failure can hide a head with a large total effect.
# AtP is a pre-filter whose top components get verified; a false negative is never verified.
# </details>

# %% [markdown]
# ## 2. GradDrop
#
# Run the backward pass `L` times. In pass `l` stop the gradient at layer `l`'s two writes to
# the residual stream, `blocks.l.hook_attn_out` and `blocks.l.hook_mlp_out` (a backward hook
# that returns zeros), but **not** on the residual skip connection. Then, per prompt pair,
#
# `GradDrop(n) = 1/(L-1) · Σ_l |Δn · ∂M^(l)/∂n|`,
#
# and average over pairs. The pass of a node's own layer is 0, which is why the normaliser is
# `L-1`; a pass that removes the cancelling path leaves the direct one standing.
#
# ### Exercise — GradDrop for head outputs
# > Difficulty: 🔴🔴🔴🔴⚪  Importance: 🔵🔵🔵🔵⚪  ~25 min
#
# Return `[n_layers, n_heads]`. Freeze the parameters (`frozen_params(model)`) and make the
# embedding a gradient leaf with the forward hook `(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))`
# so the graph exists; one forward with all hooks on, then `L` calls of
# `metric.backward(retain_graph=True)`. The metric is the batch mean, so multiply gradients by
# `B` to get per-example ones.
#
# <details><summary>Hint 1</summary>
#
# Backward hooks bind at forward time: register them (inside `model.hooks(fwd_hooks=..., bwd_hooks=...)`)
# before the forward and keep the context open for all backward calls. A mutable
# `drop = {"layer": None}` read inside the gating hook selects the layer per pass.
# </details>
# <details><summary>Hint 2</summary>
#
# Take `abs` of each pass's per-example estimate *before* averaging over examples.
# </details>

# %%
def graddrop_heads(model, task: wb.Task) -> torch.Tensor:
    """GradDrop score of every head output (``hook_z``): ``[n_layers, n_heads]`` (non-negative)."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("graddrop_heads")
    # END EXERCISE
    # SOLUTION
    L, B = model.cfg.n_layers, task.batch_size
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    drop, acts, grads = {"layer": None}, {}, {}

    def save(t, hook, n=None):
        acts[n] = t.detach()

    def grab(g, hook, n=None):
        grads[n] = g.detach() * B

    def gate(g, hook, l=None):
        return torch.zeros_like(g) if drop["layer"] == l else g

    fwd = [(LEAF_HOOK, lambda t, hook: t.detach().requires_grad_(True))]
    fwd += [(n, lambda t, hook, n=n: save(t, hook, n)) for n in names]
    bwd = [(n, lambda g, hook, n=n: grab(g, hook, n)) for n in names]
    bwd += [(f"blocks.{l}.hook_{w}_out", lambda g, hook, l=l: gate(g, hook, l)) for l in range(L) for w in ("attn", "mlp")]
    per_pass = []
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        metric = task.metric_value(model(task.clean))
        for l in range(L):
            drop["layer"] = l
            grads.clear()
            metric.backward(retain_graph=True)
            per_pass.append(torch.stack([((corr[n] - acts[n]) * grads.get(n, torch.zeros_like(acts[n]))).sum((1, 3))
                                         for n in names], 1))  # [B, L, H]
    return (torch.stack(per_pass).abs().sum(0) / (L - 1)).mean(0)
    # END SOLUTION


checks.check_graddrop(graddrop_heads)

# %% [markdown]
# ## 3. The cancelling head, exposed
#
# The reference `graddrop` also returns each pass's signed estimates (`info["per_pass"]`).

# %%
# NBVAL_CHECK_OUTPUT
gd = graddrop(model, task, "head")
i = gd.names.index(comp)
for l in range(model.cfg.n_layers):
    print(f"pass {l} (drop layer {l}'s writes): {comp} estimate per example "
          f"{[f'{v:+.3g}' for v in gd.info['per_pass'][l, :, i].tolist()]}")
print(f"GradDrop({comp}) = {gd[comp]:.3g}   |AtP| = {abs(plain[comp]):.3g}   |truth| = {abs(truth[comp]):.3g}")
print(f"rank of {comp}: GradDrop {gd.rank(comp)}, AtP {plain.rank(comp)}")

# %%
names = truth.order()[:2]
bar_compare(names, {"|activation patching|": [abs(truth[n]) for n in names], "|AtP|": [abs(plain[n]) for n in names],
                    "GradDrop": [gd[n] for n in names], "direct path": [direct if n == comp else float("nan") for n in names]},
            title="cancellation specimen: magnitudes")
plt.show()

# %% [markdown]
# GradDrop is a *screening* score: it says "this head has a large path to the metric", not
# "patching this head changes the metric by this much". Verify what it flags with activation
# patching.
#
# ## 4. MLP neurons in a trained model
#
# The AtP* paper reports cancellation mostly among MLP neurons. Here is the zoo's trained
# induction model: every neuron patched, then AtP and GradDrop scored against it. The
# printout says whether GradDrop finds neurons AtP misses *in this model*.

# %%
# NBVAL_CHECK_OUTPUT
tmodel, ttask = zoo.load("induction", n=16, seed=0)
ntruth = wb.patch_nodes(tmodel, ttask, "neuron", progress_bar=False)
natp = wb.atp(tmodel, ttask, "neuron")
ngd = graddrop(tmodel, ttask, "neuron")
print(wb.comparison_table([natp, ngd], ntruth, k=10, threshold=0.25))
top = ntruth.order()[:10]
under = [n for n in top if abs(natp[n]) < 0.5 * abs(ntruth[n])]
print(f"of the true top-10 neurons, AtP underestimates {len(under)} by more than 2x: {under}")
for n in under:
    print(f"  {n}: truth {ntruth[n]:+.2g}   AtP {natp[n]:+.2g} (rank {natp.rank(n)})   GradDrop {ngd[n]:.2g} (rank {ngd.rank(n)})")

# %% [markdown]
# ## 5. Advanced: how large could a missed node be?
#
# AtP* verifies its top-K nodes by activation patching and bounds the rest: patch random
# subsets of the unverified nodes jointly, compare the subsets that contain a node with those
# that do not, and put a one-sided Welch t upper confidence bound on each node's effect
# (`workbook.fn_bound`). Here: head outputs per position in the trained model, the top 10 by
# AtP* verified, 64 random subsets for the remaining nodes.

# %%
# NBVAL_CHECK_OUTPUT
res = false_negative_bound(tmodel, ttask, "head", per_position=True, top_k=10, n_samples=64, confidence=0.95)
htruth = wb.patch_nodes(tmodel, ttask, "head", per_position=True)
worst_missed = max(res.unverified, key=lambda n: abs(htruth[n]))
print(res)
print(f"largest true |effect| among unverified nodes: {worst_missed} = {abs(htruth[worst_missed]):.2g}; "
      f"its bound {res.bound(worst_missed):.2g}; max bound {res.max_bound:.2g}")
covered = sum(res.bound(n) >= abs(htruth[n]) for n in res.unverified)
print(f"bound >= true |effect| for {covered} of {len(res.unverified)} unverified nodes")
print(f"largest true |effect| overall: {abs(htruth.values).max():.2g} (for scale)")
smallest_verified = min(abs(v) for v in res.verified.values.tolist())
print(f"smallest verified |effect| {smallest_verified:.2g}: the ranking left a larger node unverified: "
      f"{abs(htruth[worst_missed]) > smallest_verified}")

# %% [markdown]
# ### Pause and think
#
# Look at the unverified node with the largest true effect (printed above) and at its scores
# below. Which layer and position is it in, and what does GradDrop do to such a node in a
# 2-layer model?

# %%
# NBVAL_CHECK_OUTPUT
hatp = wb.atp(tmodel, ttask, "head", per_position=True)
hgd = graddrop(tmodel, ttask, "head", per_position=True)
j = hgd.names.index(worst_missed)
print(f"{worst_missed}: truth {htruth[worst_missed]:+.2g}   AtP {hatp[worst_missed]:+.2g} (rank {hatp.rank(worst_missed)})   "
      f"GradDrop {hgd[worst_missed]:.2g} (rank {hgd.rank(worst_missed)})")
print("GradDrop passes (mean over examples):", [f"{v:+.2g}" for v in hgd.info["per_pass"][:, :, j].mean(1).tolist()])

# %% [markdown]
# <details><summary>Answer</summary>
#
# With `L = 2`, a layer-0 node's GradDrop score is its estimate in the one pass that drops
# layer 1, i.e. its **direct** path only (the own-layer pass is 0). A layer-0 head writing at
# an earlier position has no direct path to the metric at the last position — it acts only
# through layer-1 attention — so GradDrop scores it 0, whatever its true effect. GradDrop
# trades one kind of false negative (cancellation) for another (purely indirect nodes when
# `L` is small); plain AtP, by contrast, at least sees the indirect path linearly. The
# subset-sampling bound is what catches it.
# </details>

# %% [markdown]
# If the ranking left a large node unverified, the bound is where you find out: a large
# `max_bound` means "patch more nodes before trusting the circuit". The bound is only as good
# as additivity: nodes patched together interact (here a head's
# output at one position feeds later heads), so treat it as a diagnostic, not a proof.
#
# ## 6. Summary
#
# The tables score each method against the *total* effect. On the specimen that total is
# small by construction, so ranking by it rewards AtP's accidental near-zero; GradDrop's value
# is that it ranks the head with the large direct and indirect paths first (section 3).
# Pearson is computed on signed values; GradDrop scores are magnitudes, so read its Spearman
# column (on |.|) instead.

# %%
# NBVAL_CHECK_OUTPUT
star = atp_star(model, task, "head")
print("cancellation specimen, heads")
print(wb.comparison_table([plain, gd, star], truth, k=2, threshold=0.1))
print()
print("trained induction model, neurons")
print(wb.comparison_table([natp, ngd], ntruth, k=10, threshold=0.25))
