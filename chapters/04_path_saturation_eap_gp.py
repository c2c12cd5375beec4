# %% [markdown]
# # Chapter 4 — Saturation along the path and EAP-GP
#
# **Learning objectives**
#
# * See why straight-line EAP-IG can be damped: when the straight corrupt->clean path crosses
#   a saturated region, its sample points see ~0 gradient for an edge that matters, and more
#   steps do not help because the straight-path integral itself is small.
# * Implement GradPath (the path EAP-GP integrates along, in the reading documented in
#   `workbook.eap_gp`) and watch where its points go.
# * Measure, rather than assume, what the adaptive path fixes on a specimen, what it does not,
#   and how it fares on trained models.
#
# Sign convention: noising, `effect = M(clean with x := corrupt) - M(clean)`.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = getattr(workbook, "setup", lambda: "cpu")()

# %%
import torch
import matplotlib.pyplot as plt

import workbook as wb
from workbook import circuits as C, plots
from workbook.checks import edge_methods as checks
from workbook.eap_gp import _step_sizes, eap_gp, gradpath, output_distance
from workbook.eap_ig import eap_ig
from workbook.hooks import cache_activations, frozen_params
from workbook.specimens import build, describe
from workbook.specimens import path_saturation as ps

torch.manual_seed(0)

# %% [markdown]
# ## 1. The specimen: a saturated gate and a linear signal
#
# One attention head, the rest of the model switched off. The last position's query comes from
# a *gate* token; the key and the value come from a *signal* token. Clean `[A, F, G_on]` opens
# the gate (the head attends to the signal with probability ~1, a saturated softmax); corrupt
# `[A', F, G_off]` shuts it hard. The signal's value is `+a` on the clean prompt and `-a` on the
# corrupt one. Read the mechanism, then look at the exact edge effects.

# %%
print(describe("path_saturation"))
model, task = build("path_saturation")
edge = ps.EDGE
truth = wb.patch_edges(model, task)
clean_v, corr_v = task.baselines(model)
print(f"M(clean) = {clean_v:.2f}, M(corrupt) = {corr_v:.2f}")
for name, v in truth.top(len(truth)):
    print(f"{name:<16} exact edge patching {v:+.3g}")

# %% [markdown]
# Patching only the value input keeps the gate open and feeds it `-a`: the answer flips, so
# `embed->L0H0.v` is the largest edge (about twice the clean logit difference).
#
# ## 2. Where the straight path goes
#
# Every embedding on our paths is a point in a plane with two coordinates that matter: the
# signal's value coordinate `a` (position 0) and the gate coordinate `t` (position 2). We
# evaluate the metric and the attention on the signal at any set of embeddings by running the
# clean tokens with `hook_embed` replaced.

# %%
def run_embeds(embeds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(metric [N], attention of the last position on the signal [N]) for embeddings [N, P, D]."""
    attn = ps.attention_on_signal(model, task, embeds[:, None])[:, 0]
    with torch.no_grad(), model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: embeds.to(t.dtype))]):
        metric = task.per_example(model(task.clean.repeat(len(embeds), 1)))
    return metric, attn


def coords(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a at position 0, t at position 2) of embeddings [N, P, D]."""
    return points[:, 0] @ ps.A_DIR, points[:, 2] @ ps.G_DIR


_, c0 = cache_activations(model, task.clean, ["hook_embed"])
_, n0 = cache_activations(model, task.corrupt, ["hook_embed"])
e_c, e_n = c0["hook_embed"][0], n0["hook_embed"][0]  # [P, D], one example
ig_alpha = torch.arange(1, 6) / 5
ig_points = torch.stack([e_n + a * (e_c - e_n) for a in ig_alpha])  # EAP-IG's m = 5 points
ig_metric, ig_attn = run_embeds(ig_points)
for a, m, p in zip(ig_alpha, ig_metric, ig_attn):
    print(f"alpha = {a:.1f}: attention on the signal {p:.2g}, metric {m:.3g}")

# %% [markdown]
# The map below shows the metric over the `(a, t)` plane (everything else clean), the
# straight path from corrupt to clean and EAP-IG's points on it. The gate opens only above
# `t ~ 0`; the straight path gets there in its last tenth.

# %%
a_grid, t_grid = torch.linspace(-3, 3, 61), torch.linspace(-10, 2, 61)
grid = e_c.repeat(len(a_grid) * len(t_grid), 1, 1)
A_, T_ = torch.meshgrid(a_grid, t_grid, indexing="xy")
grid[:, 0] += (A_.flatten() - float(e_c[0] @ ps.A_DIR))[:, None] * ps.A_DIR
grid[:, 2] += (T_.flatten() - float(e_c[2] @ ps.G_DIR))[:, None] * ps.G_DIR
grid_metric, _ = run_embeds(grid)
lim = float(grid_metric.abs().max())
levels = torch.linspace(-lim, lim, 22)  # symmetric: white = metric ~0 (the shut gate)
line = torch.stack([e_n + a * (e_c - e_n) for a in torch.linspace(0, 1, 41)])
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
cs = ax.contourf(A_, T_, grid_metric.view(A_.shape), levels=levels, cmap="RdBu")
fig.colorbar(cs, ax=ax, label="metric (logit diff)")
ax.plot(*coords(line), "k--", label="straight path")
ax.scatter(*coords(ig_points), c="k", zorder=3, label="EAP-IG points (m=5)")
ax.set_xlabel("signal value coordinate a (position 0)"); ax.set_ylabel("gate coordinate t (position 2)")
ax.legend(loc="lower right"); plt.show()

# %%
ig5, ig50 = eap_ig(model, task, 5), eap_ig(model, task, 50)
print(f"{edge}: EAP-IG m=5 {ig5[edge]:.3g}, m=50 {ig50[edge]:.3g}, exact edge patching {truth[edge]:.3g}")
embed_total = sum(v for n, v in ig50.to_dict().items() if n.startswith("embed->"))
print(f"sum of all embed edges, EAP-IG m=50: {embed_total:.3g}   M(corrupt) - M(clean): {corr_v - clean_v:.3g}")

# %% [markdown]
# More steps do not rescue the edge: with m = 50 the path integral is right in total (the
# second line: IG's completeness), but the straight path credits most of it to the query,
# because along that path the value input matters only where the gate is open. The edge
# effect we want is measured with the gate open *all the time*.
#
# ### Exercise — GradPath
# > Difficulty: 🔴🔴🔴🔴⚪  Importance: 🔵🔵🔵⚪⚪  ~25 min
#
# Start at `gamma_0 = e_clean` (`hook_embed` of the clean run). Repeat `steps` times:
# `g = grad_gamma ||G(gamma) - G(e_corrupt)||^2` (G = all logits; use `output_distance`),
# then `gamma <- gamma - eta * g / ||g||` with the norm **per example**. `eta` per example comes
# from `_step_sizes(step_size, e_clean, e_corrupt, steps)`. Return all points `[steps+1, B, P, D]`.
#
# <details><summary>Hint</summary>Wrap the loop in <code>frozen_params(model)</code> and
# <code>torch.enable_grad()</code>; make <code>gamma.detach().requires_grad_(True)</code> each step
# and use <code>torch.autograd.grad</code>.</details>

# %%
def my_gradpath(model, task, steps: int, step_size="unit") -> torch.Tensor:
    """GradPath points [steps + 1, B, P, d_model] from e_clean toward corrupt-like outputs."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("my_gradpath")
    # END EXERCISE
    # SOLUTION
    _, c = cache_activations(model, task.clean, ["hook_embed"])
    target, n = cache_activations(model, task.corrupt, ["hook_embed"])
    e_c, e_n = c["hook_embed"], n["hook_embed"]
    eta = _step_sizes(step_size, e_c, e_n, steps).view(-1, 1, 1)
    gamma, points = e_c.clone(), [e_c.clone()]
    with frozen_params(model), torch.enable_grad():
        for _ in range(steps):
            leaf = gamma.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(output_distance(model, task.clean, leaf, target).sum(), leaf)
            gamma = (leaf - eta * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1)).detach()
            points.append(gamma)
    return torch.stack(points)
    # END SOLUTION


checks.check_gradpath(my_gradpath)

# %% [markdown]
# ## 3. Straight path vs GradPath
#
# GradPath with the reading's default unit steps. Where do its points sit in the plane, and
# how much attention does the head pay to the signal at each of them?

# %%
gp_points, log = gradpath(model, task, 5)  # [6, 1, P, D]; point 0 is e_clean
gp_points = gp_points[:, 0]
gp_metric, gp_attn = run_embeds(gp_points[1:])
fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
cs = axes[0].contourf(A_, T_, grid_metric.view(A_.shape), levels=levels, cmap="RdBu")
fig.colorbar(cs, ax=axes[0], label="metric (logit diff)")
axes[0].plot(*coords(line), "k--", label="straight path")
axes[0].scatter(*coords(ig_points), c="k", zorder=3, label="EAP-IG points")
axes[0].plot(*coords(gp_points), "o-", c="orange", zorder=3, label="GradPath points")
axes[0].set_xlabel("signal value coordinate a"); axes[0].set_ylabel("gate coordinate t"); axes[0].legend(loc="lower right")
axes[1].plot(range(1, 6), ig_attn, "ko--", label="EAP-IG points (alpha = j/5)")
axes[1].plot(range(1, 6), gp_attn, "o-", c="orange", label="GradPath points (gamma_j)")
axes[1].set_yscale("symlog", linthresh=1e-3); axes[1].set_xlabel("point j"); axes[1].set_ylabel("attention on the signal")
axes[1].legend(); plt.show()
a_gp, t_gp = coords(gp_points)
print("GradPath a:", [f"{v:.2f}" for v in a_gp.tolist()], " t:", [f"{v:.2f}" for v in t_gp.tolist()])
print("attention on the signal, EAP-IG points:", [f"{v:.2g}" for v in ig_attn.tolist()])
print("attention on the signal, GradPath points:", [f"{v:.4f}" for v in gp_attn.tolist()])

# %% [markdown]
# ### Pause and think
#
# Why does GradPath walk along `a` and leave the gate alone, although the corrupt prompt's gate
# is shut?
#
# <details><summary>Answer</summary>GradPath follows the steepest descent of the output
# distance from where it is. At the clean point the softmax is saturated, so the gate direction
# is flat (its gradient is ~p(1 - p)), while the value side is linear and steep. Unit steps
# along `a` lower the output distance fastest, and the gate stays open. The value input's
# gradient at every GradPath point is then the clean-point gradient, which is what the exact
# edge effect (gate open, value corrupted) needs. The specimen makes writing the readout
# straight into the embedding (the direct `embed -> logits` route) a shallower direction than
# `a`; if it were steeper, GradPath would take that route and miss the edge, as an earlier
# version of this specimen showed.</details>

# %%
# NBVAL_CHECK_OUTPUT
scores = {
    "EAP": wb.eap(model, task),
    "EAP-IG (m=5)": ig5,
    "EAP-IG (m=50)": ig50,
    "EAP-GP (k=5, unit)": eap_gp(model, task, 5),
    "EAP-GP (k=5, scaled)": eap_gp(model, task, 5, step_size="scaled"),
}
scores = {name: s.with_values(s.values, method=name) for name, s in scores.items()}
shown = [n for n, v in truth.top(len(truth)) if abs(v) > 1e-3]
print(f"{'method':<22}" + "".join(f"{n:>16}" for n in shown))
print(f"{'exact edge patching':<22}" + "".join(f"{truth[n]:>16.2f}" for n in shown))
for name, s in scores.items():
    print(f"{name:<22}" + "".join(f"{s[n]:>16.2f}" for n in shown))

# %% [markdown]
# ### Pause and think
#
# Read the `embed->L0H0.q` column. Which methods get the query edge, and why do EAP and
# EAP-GP miss it?
#
# <details><summary>Answer</summary>Patching the query shuts the gate: a large effect. At the
# clean point, and at every GradPath point, the gate is saturated open, so the query gradient is
# ~0: this is chapter 1's attention saturation (the AtP* QK fix recomputes the softmax). The
# straight path crosses the gate's transition, so EAP-IG with enough steps sees it. No single
# path gets both edges here: an adaptive path fixes the edges *along* the directions it walks,
# and can miss those it never crosses. Verify with activation patching.</details>
#
# ## 4. Trained models: rank correlation and faithfulness
#
# On the trained models the specimen's clean picture need not hold. We compare each method's
# edge ranking with exact edge patching (Spearman on magnitudes), then faithfulness curves of
# the circuits each method picks on IOI.

# %%
from workbook import zoo

trained = {}
for name in zoo.trained_models():
    tm, tt = zoo.load(name, n=8, seed=0)
    t_truth = wb.patch_edges(tm, tt)
    methods = [wb.eap(tm, tt), eap_ig(tm, tt, 5)]
    for step_size in ("unit", "scaled"):
        gp = eap_gp(tm, tt, 5, step_size=step_size)
        methods.append(gp.with_values(gp.values, method=f"EAP-GP (k=5, {step_size})"))
    trained[name] = (tm, tt, t_truth, methods)
    rho = {s.method: wb.rank_correlation(s, t_truth) for s in methods}
    print(f"{name:<10}" + "  ".join(f"{m} {r:.2f}" for m, r in rho.items()))
    better = [m for m in rho if m.startswith("EAP-GP") and rho[m] > rho["EAP-IG (m=5)"]]
    print(f"{'':<10}EAP-GP variants ranking better than EAP-IG (m=5): {', '.join(better) or 'none'}")

# %%
ioi_model, ioi_task, ioi_truth, ioi_methods = trained["ioi"]
sizes = [5, 10, 20, 40, 80]
curves = {s.method: C.faithfulness_curve(ioi_model, ioi_task, s, sizes) for s in ioi_methods}
plots.faithfulness_curves(curves)
plt.show()
for name, (x, y) in curves.items():
    print(f"{name:<22}", " ".join(f"{k}:{v:.2f}" for k, v in zip(x, y)))

# %% [markdown]
# Read the printed lines before drawing a conclusion. The adaptive path is designed for a
# specific geometry (a flat stretch on the straight path with a steep, relevant direction
# nearby); the "ranking better than EAP-IG" lines say, model by model, whether it paid off
# here, and the faithfulness curves show whether a better ranking bought a more faithful
# circuit. Where the lines say "none", EAP-GP is no upgrade on that model.
#
# ## Closing table: the path-saturation specimen vs exact edge patching
#
# recall@1 asks whether each method's top edge is `embed->L0H0.v`; an edge counts as important
# when its exact effect is at least 0.3 x the largest.

# %%
# NBVAL_CHECK_OUTPUT
print(wb.comparison_table(list(scores.values()), truth, k=1, threshold=0.3))
