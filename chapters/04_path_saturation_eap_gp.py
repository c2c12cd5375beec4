# %% [markdown]
# # Chapter 4 — Saturation along the path and EAP-GP
#
# **Learning objectives**
#
# * See why straight-line EAP-IG can still be damped: with few steps, every sample point can
#   land on a broad saturated stretch of the path.
# * Implement GradPath (the path EAP-GP integrates along, in the reading documented in
#   `workbook.eap_gp`) and compare its points with the straight path.
# * Measure, rather than assume, whether the adaptive path helps: on this specimen it does
#   not, and the chapter shows why.
# * Compare faithfulness curves of EAP, EAP-IG and EAP-GP on a trained model.
#
# Sign convention: noising.

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
from workbook.graph import Graph
from workbook.hooks import cache_activations, frozen_params
from workbook.specimens import build, describe
from workbook.specimens.flat_region import U_DIR

torch.manual_seed(0)

# %%
print(describe("path_saturation"))
model, task = build("path_saturation")
edge = "embed->MLP0"
truth = wb.patch_edges(model, task)
for m in (5, 50):
    print(f"EAP-IG m={m}: {eap_ig(model, task, m)[edge]:.3g}   exact edge patching: {truth[edge]:.3g}")

# %% [markdown]
# The metric along the straight path `e_corrupt + a (e_clean - e_corrupt)`, and where EAP-IG
# (m = 5) samples it.

# %%
def metric_at(embed: torch.Tensor) -> float:
    """Task metric with hook_embed replaced by ``embed`` [B, P, D] (clean tokens)."""
    with torch.no_grad(), model.hooks(fwd_hooks=[("hook_embed", lambda t, hook: embed)]):
        return float(task.metric_value(model(task.clean)))


_, c0 = cache_activations(model, task.clean, ["hook_embed"])
_, n0 = cache_activations(model, task.corrupt, ["hook_embed"])
grid = torch.linspace(0, 1, 81)
curve = [metric_at(n0["hook_embed"] + a * (c0["hook_embed"] - n0["hook_embed"])) for a in grid]
ig_a = torch.arange(1, 6) / 5
ig_m = [metric_at(n0["hook_embed"] + a * (c0["hook_embed"] - n0["hook_embed"])) for a in ig_a]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(grid, curve, label="metric on the straight path")
ax.scatter(ig_a, ig_m, c="r", zorder=3, label="EAP-IG sample points (m=5)")
ax.set_xlabel("a (0 = corrupt, 1 = clean)"); ax.legend(); plt.show()
slopes = torch.diff(torch.tensor(curve)) / torch.diff(grid)
print(f"largest |slope| on the path {slopes.abs().max():.3g} at a = {grid[int(slopes.abs().argmax())]:.2f}")
print("metric at the IG points:", [f"{v:.3g}" for v in ig_m])

# %% [markdown]
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
def my_gradpath(model, task, steps: int, step_size="scaled") -> torch.Tensor:
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
# ## Straight path vs GradPath
#
# Coordinates of each point at the answer position: along the clean->corrupt token direction
# `u`, and the distance off that line. Plus the output distance to the corrupt output.

# %%
pts, log = gradpath(model, task, 5, "scaled")
_, c = cache_activations(model, task.clean, ["hook_embed"])
target, n = cache_activations(model, task.corrupt, ["hook_embed"])
e_c, e_n = c["hook_embed"], n["hook_embed"]
straight = torch.stack([e_n + a * (e_c - e_n) for a in torch.arange(5, -1, -1) / 5])  # from clean to corrupt
with torch.no_grad():
    d_straight = torch.stack([output_distance(model, task.clean, p, target) for p in straight])[:, 0]
rows = {}
for name, p, d in [("straight", straight, d_straight), ("GradPath", pts, log["objective"][:, 0])]:
    x = p[:, 0, -1]
    along = x @ U_DIR
    off = (x - along[:, None] * U_DIR).norm(dim=1)
    rows[name] = (along, off, d)
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for name, (along, off, d) in rows.items():
    axes[0].plot(along, off, "o-", label=name)
    axes[1].plot(range(len(d)), d, "o-", label=name)
axes[0].set_xlabel("coordinate along u"); axes[0].set_ylabel("distance off the line"); axes[0].legend()
axes[1].set_xlabel("step"); axes[1].set_ylabel("||G - G(corrupt)||^2"); axes[1].legend(); plt.show()
for name, (along, off, d) in rows.items():
    print(f"{name:<9} along u: {[round(v, 2) for v in along.tolist()]}  off line: {[round(v, 2) for v in off.tolist()]}")

# %% [markdown]
# ### Pause and think
#
# The GradPath output distance falls fast, yet its points stay at `u ~ -1`. Where did it go?
#
# <details><summary>Answer</summary>The objective only asks the *output* to look corrupt. The
# cheapest way is to write the readout direction straight into the embedding (the linear
# `embed -> logits` route), not to walk through the saturated neuron. The path never visits the
# ramp, so its gradients for `embed -> MLP0` stay ~0. An adaptive path helps only if moving
# toward corrupt *outputs* also moves through the edge you are scoring.</details>

# %%
scores = {
    "EAP": wb.eap(model, task),
    "EAP-IG (m=5)": eap_ig(model, task, 5),
    "EAP-GP (k=5, unit)": eap_gp(model, task, 5),
    "EAP-GP (k=5, scaled)": eap_gp(model, task, 5, step_size="scaled"),
}
scores = {name: s.with_values(s.values, method=name) for name, s in scores.items()}
for name, s in scores.items():
    print(f"{name:<22} {edge}: {s[edge]:.3g}")
print(f"{'exact edge patching':<22} {edge}: {truth[edge]:.3g}")

# %% [markdown]
# ## Faithfulness curves on the trained IOI model

# %%
from workbook import zoo

ioi_model, ioi_task = zoo.load("ioi", n=8, seed=0)
gp_ioi = eap_gp(ioi_model, ioi_task, 5, step_size="scaled")
methods = [wb.eap(ioi_model, ioi_task), eap_ig(ioi_model, ioi_task, 5), gp_ioi.with_values(gp_ioi.values, method="EAP-GP (k=5, scaled)")]
sizes = [5, 10, 20, 40, 80]
curves = {s.method: C.faithfulness_curve(ioi_model, ioi_task, s, sizes) for s in methods}
plots.faithfulness_curves(curves)
plt.show()
for name, (x, y) in curves.items():
    print(f"{name:<14}", " ".join(f"{k}:{v:.2f}" for k, v in zip(x, y)))

# %% [markdown]
# ## Closing table: the path-saturation specimen vs exact edge patching

# %%
# NBVAL_CHECK_OUTPUT
print(wb.comparison_table(list(scores.values()), truth, k=3, threshold=0.5))
