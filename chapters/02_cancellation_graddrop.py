# %% [markdown]
# # Chapter 2 — Effect cancellation and GradDrop
#
# **Learning objectives**
#
# * Split a component's effect into a direct and an indirect part by patching edges, and see
#   how a small relative error in a large indirect part wrecks AtP's total.
# * Build intuition for the dangerous case, a false negative: a head with the largest true
#   effect whose AtP estimate is about zero, because a saturating neuron makes the
#   linearised indirect path over-cancel the direct one.
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
#
# The specimen has two layer-0 heads built the same way: each has a direct path to the
# logits and an opposing indirect path through a neuron of `MLP1`. `L0H0` is the seed's
# worked example; `L0H1` comes in section 2. `L1H0` is an honest distractor (a direct effect
# only).

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
# print its linearisation: the head's change `Δ` (at `attn.hook_result`) dotted with the
# clean-run gradient at that reader's input (`blocks.1.hook_resid_post` for the logits,
# `blocks.1.hook_mlp_in` for the MLP) — the two terms whose sum is AtP.

# %%
def path_split(model, task: wb.Task, head: int) -> dict[str, float]:
    """Direct/indirect effects of layer-0 head ``head``: patched (edges) and linearised (AtP's terms).

    Noising; the linearised terms are ``Δ · ∂M/∂(reader input)`` summed over positions and
    ``d_model``, averaged over the batch.
    """
    name = f"L0H{head}"
    direct_edge, indirect_edge = f"{name}->logits", f"{name}->MLP1"
    edges = wb.patch_edges(model, task, [direct_edge, indirect_edge])
    src, readers = "blocks.0.attn.hook_result", ["blocks.1.hook_resid_post", "blocks.1.hook_mlp_in"]
    _, corr_res = cache_activations(model, task.corrupt, [src])
    _, clean_res, reader_grads = cache_activations_and_grads(model, task, [src], readers)
    delta = corr_res[src][:, :, head] - clean_res[src][:, :, head]  # [B, pos, d_model]
    lin_direct, lin_indirect = ((delta * reader_grads[r]).sum((1, 2)).mean().item() for r in readers)
    return {"direct": edges[direct_edge], "indirect": edges[indirect_edge],
            "lin_direct": lin_direct, "lin_indirect": lin_indirect}


def print_split(name: str, p: dict[str, float], truth: wb.Scores, plain: wb.Scores) -> None:
    print(f"direct   (patch {name}->logits): {p['direct']:+.3g}   linearised: {p['lin_direct']:+.3g}")
    print(f"indirect (patch {name}->MLP1):   {p['indirect']:+.3g}   linearised: {p['lin_indirect']:+.3g}")
    print(f"direct + indirect = {p['direct'] + p['indirect']:+.3g};  true total (patch {name}) = {truth[name]:+.3g}")
    print(f"linearised sum = {p['lin_direct'] + p['lin_indirect']:+.3g};  AtP({name}) = {plain[name]:+.3g}")
    print(f"rank of {name}: truth {truth.rank(name)}, AtP {plain.rank(name)} of {len(truth)}")


# %%
# NBVAL_CHECK_OUTPUT
comp, fn_comp = cancellation.COMPONENT, cancellation.FN_COMPONENT
truth = wb.patch_nodes(model, task, "head")
plain = wb.atp(model, task, "head")
seed = path_split(model, task, head=0)
print_split(comp, seed, truth, plain)

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
# distribution a little) and the head's effect is large. And AtP's error is about the size of
# the *parts*, not of the total: the same structure can hide a head whose total effect is
# large — section 2 builds one. AtP is a pre-filter whose top components get verified; a
# false negative is never verified.
# </details>

# %% [markdown]
# ## 2. A genuine false negative: the linearisation over-cancels
#
# `L0H1` has the same two paths, but the neuron on its indirect path *saturates*: the patch
# pushes it from a steep part of GELU into the flat negative tail. The true indirect effect is
# then much smaller than its linearisation, the true total is large, and AtP's linearised
# paths still cancel to about zero.

# %%
# NBVAL_CHECK_OUTPUT
fn_split = path_split(model, task, head=1)
print_split(fn_comp, fn_split, truth, plain)
print(f"largest |true effect| among heads: {truth.order()[0]} = {truth[truth.order()[0]]:+.3g}")
print(f"AtP false negatives (|truth| >= 0.5 x max, |AtP| below that): "
      f"{wb.false_negatives(plain, truth, threshold=0.5, relative=True)}")
screened = [n for n in plain.order() if abs(plain[n]) >= 0.5 * abs(plain.values).max()]
print(f"heads AtP scores above half its own largest score (what gets verified): {screened}")

# %% [markdown]
# ### Where the linearisation goes wrong: one neuron
#
# Neuron 1 of `MLP1` reads `L0H1`'s write. Below: its pre-activation on the clean run and
# with `L0H1` patched (the corrupt value of head 1's `hook_z`), GELU's slope at both points,
# and the change the clean-point slope predicts against the real change. The seed's neuron 0
# is printed for contrast.

# %%
# NBVAL_CHECK_OUTPUT
gelu = torch.nn.functional.gelu
z_name, pre_name, post_name = "blocks.0.attn.hook_z", "blocks.1.mlp.hook_pre", "blocks.1.mlp.hook_post"
_, corr_z = cache_activations(model, task.corrupt, [z_name])
_, clean_mlp = cache_activations(model, task.clean, [pre_name, post_name])


def gelu_slope(x: torch.Tensor) -> torch.Tensor:
    """d GELU / dx at ``x`` (elementwise)."""
    x = x.detach().clone().requires_grad_(True)
    gelu(x).sum().backward()
    return x.grad


def patch_head(head: int):
    """Forward hook on ``hook_z`` that puts head ``head``'s corrupt value in the clean run."""
    def fn(t, hook):
        t = t.clone()
        t[:, :, head] = corr_z[z_name][:, :, head]
        return t

    return fn


moves = {}
for head, neuron in [(0, 0), (1, 1)]:
    with model.hooks(fwd_hooks=[(z_name, patch_head(head))]):
        _, patched_mlp = cache_activations(model, task.clean, [pre_name, post_name])
    x0, x1 = clean_mlp[pre_name][0, -1, neuron], patched_mlp[pre_name][0, -1, neuron]  # example 0, last position
    true_change = patched_mlp[post_name][0, -1, neuron] - clean_mlp[post_name][0, -1, neuron]
    moves[head] = (x0.item(), x1.item())
    print(f"L0H{head} -> neuron {neuron}: pre-activation {x0.item():+.3g} -> {x1.item():+.3g};  "
          f"GELU slope {gelu_slope(x0).item():+.3g} -> {gelu_slope(x1).item():+.3g};  "
          f"change: linearised {(gelu_slope(x0) * (x1 - x0)).item():+.3g}, true {true_change.item():+.3g}")

# %%
xs = torch.linspace(-4, 6, 200)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(xs, gelu(xs), color="black", label="GELU")
for head, color in [(0, "tab:blue"), (1, "tab:red")]:
    x0, x1 = moves[head]
    g0, slope = gelu(torch.tensor(x0)).item(), gelu_slope(torch.tensor(x0)).item()
    ax.plot([x0, x1], [g0, g0 + slope * (x1 - x0)], "--", color=color, label=f"L0H{head}: tangent at clean")
    ax.scatter([x0, x1], gelu(torch.tensor([x0, x1])), color=color, zorder=3)
ax.set(xlabel="pre-activation", ylabel="GELU(pre)", title="true move (dots) vs tangent (dashes)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The seed's neuron moves along a gently curved part of GELU, so the tangent is a few percent
# off. `L0H1`'s neuron starts where GELU is steep and lands in the flat tail: after a small
# move the function stops falling, but the tangent keeps going. AtP inherits the tangent's
# answer, which cancels the direct path almost exactly.
#
# ### Pause and think
#
# At a screening threshold of half the largest AtP score, a practitioner verifies only the
# heads AtP puts above it. Which head would they never patch, and what would their circuit
# look like? Is there any gradient-only number from this section that hints at the problem?
#
# <details><summary>Answer</summary>
#
# `L0H1`, the head with the largest true effect, is never patched: the screened list printed
# in this section holds only what AtP ranks high, so the verified "circuit" misses the most
# important head. The hint is that AtP's two *terms* for `L0H1` (the linearised direct and
# indirect values printed above) are large and opposite: a tiny sum of large parts means the
# estimate is fragile. Edge-level attribution (EAP) shows exactly these terms; GradDrop turns
# the observation into a score.
# </details>

# %% [markdown]
# ## 3. GradDrop
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
# ## 4. Both heads, exposed
#
# The reference `graddrop` also returns each pass's signed estimates (`info["per_pass"]`).
# For a layer-0 head in a 2-layer model, pass 0 cuts every path out of the head and pass 1
# (dropping layer 1's writes, including `MLP1`) leaves only the direct path.

# %%
# NBVAL_CHECK_OUTPUT
gd = graddrop(model, task, "head")
splits = {comp: seed, fn_comp: fn_split}
for name in (comp, fn_comp):
    i = gd.names.index(name)
    for l in range(model.cfg.n_layers):
        print(f"{name} pass {l} (drop layer {l}'s writes): estimate per example "
              f"{[f'{v:+.3g}' for v in gd.info['per_pass'][l, :, i].tolist()]}")
    print(f"{name}: GradDrop {gd[name]:.3g} (direct path {splits[name]['direct']:+.3g})   "
          f"|AtP| {abs(plain[name]):.3g}   |truth| {abs(truth[name]):.3g}")
    print(f"{name}: rank by GradDrop {gd.rank(name)}, by AtP {plain.rank(name)}, by truth {truth.rank(name)}")
print(f"GradDrop false negatives at 0.5 x max: {wb.false_negatives(gd, truth, threshold=0.5, relative=True)}")

# %%
names = truth.order()[:3]
bar_compare(names, {"|activation patching|": [abs(truth[n]) for n in names], "|AtP|": [abs(plain[n]) for n in names],
                    "GradDrop": [gd[n] for n in names],
                    "direct path": [splits[n]["direct"] if n in splits else float("nan") for n in names]},
            title="cancellation specimen: magnitudes")
plt.show()

# %% [markdown]
# GradDrop is a *screening* score: it says "this head has a large path to the metric", not
# "patching this head changes the metric by this much". It flags both heads — the one whose
# total really is small (`L0H0`) as well as the false negative (`L0H1`) — so verify what it
# flags with activation patching: that step removes `L0H0` and keeps `L0H1`.
#
# ## 5. MLP neurons in a trained model
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
# ## 6. Advanced: how large could a missed node be?
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
# ## 7. Summary
#
# The tables score each method against the *total* effect by activation patching. On the
# specimen, the important heads are those with `|effect| >= 0.5 x max`; the "missed" column
# lists the ones a method scores below that cut-off. AtP misses `L0H1`, the head with the
# largest true effect; GradDrop and AtP* (which, for head outputs, is GradDrop) do not.
# Recall@k does not separate them here: GradDrop spends one of its top places on `L0H0`,
# whose paths are large but whose total is small — a false positive that verification
# removes, whereas a false negative is never looked at again. The last lines do that
# verification: patch each method's top 2 and keep the largest true effect found.
# Pearson is computed on signed values; GradDrop scores are magnitudes, so read its Spearman
# column (on |.|) instead.

# %%
# NBVAL_CHECK_OUTPUT
star = atp_star(model, task, "head")
print("cancellation specimen, heads")
print(wb.comparison_table([plain, gd, star], truth, k=2, threshold=0.5))
for s in (plain, gd, star):
    top2 = s.order()[:2]
    best = max(top2, key=lambda n: abs(truth[n]))
    print(f"{s.method:<14} top 2 {top2}: true effects {[f'{truth[n]:+.2g}' for n in top2]}; "
          f"verified circuit's largest head {best} ({truth[best]:+.2g})")
print()
print("trained induction model, neurons")
print(wb.comparison_table([natp, ngd], ntruth, k=10, threshold=0.25))
