"""Learner checks for the node-level chapters: patching loop, AtP, QK fix (queries, keys), GradDrop.

Every check runs the learner's function on two fresh random GPT-2 models and on a specimen,
compares with the reference implementation, and when it disagrees recomputes the usual wrong
variants (sign flipped, gradient from the wrong run, softmax not recomputed, ...) to name the
mistake. Learner functions take ``(model, task)`` and return a tensor (shapes below); values are
noising effects/estimates averaged over the batch.
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.attribution.atp import atp
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix, attn_scale, causal_mask
from workbook.core.runs import cache_activations, cache_activations_and_grads
from workbook.core.task import Task
from workbook.course.checks._runner import CheckFailed, learner_check
from workbook.models.loading import build_gpt2
from workbook.models.specimens import build
from workbook.patching.nodes import patch_nodes

__all__ = ["check_patch_heads", "check_atp_heads", "check_qk_fix_queries", "check_qk_fix_keys", "check_graddrop",
           "random_cases", "qk_fix_variant"]


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-3) -> bool:
    """``a`` equals ``b`` up to ``rel`` of ``b``'s scale."""
    a, b = a.double(), b.double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() <= rel * scale + 1e-7


def _judge(results: list[tuple[str, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]],
           hints: list[tuple[str, str]]) -> None:
    """Pass if every case matches its reference; else name the first mistake that explains EVERY case.

    ``results``: ``(label, learner output, reference, {variant key: what that mistake would give})``.
    """
    for label, out, ref, _ in results:
        if not torch.isfinite(out).all():
            raise CheckFailed(f"{label}: contains NaN or inf.")
    bad = [r for r in results if not _close(r[1], r[2], rel=2e-3) and (r[1] - r[2]).abs().max() > 1e-6]
    if not bad:
        return
    for key, message in hints:
        informative = any(key in v and v[key].abs().max() > 1e-6 for _, _, _, v in results)
        if informative and all(key in v and _close(out, v[key], rel=2e-2) for _, out, _, v in results):
            raise CheckFailed(message)
    label, out, ref, _ = bad[0]
    raise CheckFailed(f"{label}: values differ from the reference (max abs difference "
                      f"{(out - ref).abs().max().item():.3g}, reference scale {ref.abs().max().item():.3g}).")


def random_cases(n_layers: int = 2, seeds: tuple[int, ...] = (101, 202)) -> list[tuple[str, object, Task]]:
    """Small random GPT-2 models with a clean/corrupt task each: ``[(label, model, task)]``."""
    out = []
    for seed in seeds:
        model = build_gpt2(seed=seed, n_layers=n_layers, d_model=32, n_heads=2, d_vocab=20, d_mlp=32)
        g = torch.Generator().manual_seed(seed)
        clean = torch.randint(0, 20, (3, 6), generator=g)
        corr = clean.clone()
        corr[:, 1:4] = torch.randint(0, 20, (3, 3), generator=g)
        out.append((f"random model (seed {seed})", model, Task(clean, corr, clean[:, 2], corr[:, 2])))
    return out


def _cases(specimen: str, n_layers: int = 2) -> list[tuple[str, object, Task]]:
    model, task = wb_build(specimen)
    return random_cases(n_layers) + [(f"the {specimen} specimen", model, task)]


def wb_build(name: str):

    return build(name)


def _call(fn: Callable, model, task, shape: tuple[int, ...], what: str) -> torch.Tensor:
    out = fn(model, task)
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(f"{what}: return a torch.Tensor, got {type(out).__name__}.")
    if tuple(out.shape) != shape:
        raise CheckFailed(f"{what}: expected shape {shape}, got {tuple(out.shape)}.")
    return out.detach()


# --------------------------------------------------------------------------- patching loop
@learner_check
def check_patch_heads(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads]``: M(clean, head := corrupt) - M(clean)."""
    results = []
    for label, model, task in _cases("saturation"):
        L, H = model.cfg.n_layers, model.cfg.n_heads
        ref = patch_nodes(model, task, "head").values.reshape(L, H)
        den = patch_nodes(model, task, "head", direction="denoising").values.reshape(L, H)
        last = patch_nodes(model, task, "head", per_position=True).values.reshape(L, H, task.seq_len)[..., -1]
        clean_v, _ = task.baselines(model)
        out = _call(fn, model, task, (L, H), label)
        results.append((label, out, ref, {"sign": -ref, "den": den, "nosub": ref + clean_v,
                                          "sum": ref * task.batch_size, "last": last}))
    _judge(results, [
        ("last", "you patched only the last position: a head's output at EVERY position can matter (a later "
                 "head reads earlier positions); write the corrupt values into act[:, :, h] for all positions."),
        ("sign", "sign flipped: the effect is M(patched) - M(clean), not M(clean) - M(patched)."),
        ("den", "you patched clean activations into the corrupt run (denoising); here we noise: corrupt "
                "values into the clean run."),
        ("nosub", "you returned M(patched) without subtracting M(clean)."),
        ("sum", "you summed over the batch; average it (task.metric_value)."),
    ])


# --------------------------------------------------------------------------- AtP
@learner_check
def check_atp_heads(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads]``: noising AtP of each head output (hook_z)."""
    results = []
    for label, model, task in _cases("saturation"):
        L, H = model.cfg.n_layers, model.cfg.n_heads
        ref = atp(model, task, "head").values.reshape(L, H)
        den = atp(model, task, "head", direction="denoising").values.reshape(L, H)
        last = atp(model, task, "head", per_position=True).values.reshape(L, H, task.seq_len)[..., -1]
        out = _call(fn, model, task, (L, H), label)
        B = task.batch_size
        results.append((label, out, ref, {"sign": -ref, "corrupt_grad": -den, "den": den, "small": ref / B,
                                          "big": ref * B, "last": last}))
    _judge(results, [
        ("last", "you summed only the last position: the metric is read at the last position, but a head's "
                 "output at every position reaches it (through later heads); sum (Δz · grad) over ALL positions "
                 "and d_head."),
        ("sign", "sign flipped: did you take clean - corrupt? Noising uses corrupt - clean."),
        ("corrupt_grad", "you took the gradient on the corrupt run; take it on the clean run."),
        ("den", "you computed the denoising estimate (clean - corrupt) x gradient on the corrupt run."),
        ("small", "values are 1/B too small: the backward of a batch MEAN scales each example's gradient by "
                  "1/B; sum the products over examples, or multiply the gradient by B and average."),
        ("big", "values are B times too large: average over the batch."),
    ])


# --------------------------------------------------------------------------- QK fix
def _pattern_grads(model, task):
    L = model.cfg.n_layers
    names = [f"blocks.{l}.attn.hook_{x}" for l in range(L) for x in ("q", "k")]
    pats = [f"blocks.{l}.attn.hook_pattern" for l in range(L)]
    _, corr = cache_activations(model, task.corrupt, names)
    _, clean, grads = cache_activations_and_grads(model, task, names, pats)
    return clean, corr, grads


def _keys_all_at_once(model, task) -> torch.Tensor:
    """Wrong variant: every key patched together, then each column's change credited to its key."""
    clean, corr, grads = _pattern_grads(model, task)
    out = []
    for l in range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"].double(), clean[f"blocks.{l}.attn.hook_k"].double()
        kn = corr[f"blocks.{l}.attn.hook_k"].double()
        g = grads[f"blocks.{l}.attn.hook_pattern"].double()
        mask = causal_mask(q.shape[1])
        sc = attn_scale(model, l)
        A = (torch.einsum("bthd,bshd->bhts", q, k) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        A2 = (torch.einsum("bthd,bshd->bhts", q, kn) / sc).masked_fill(~mask, float("-inf")).softmax(-1)
        out.append(((A2 - A) * g).sum(-2).mean(0))  # [H, S]
    return torch.stack(out).float()


def qk_fix_variant(model, task, kind: str, scaled: bool = True, masked: bool = True) -> torch.Tensor:
    """The QK fix computed directly (one query / one key patched at a time): ``[L, H, T]``.

    ``scaled=False`` forgets the ``1/sqrt(d_head)`` of the scores, ``masked=False`` the causal
    mask: two planted mistakes (with both True this is the reference, in float64).
    """
    clean, corr, grads = _pattern_grads(model, task)
    T = task.seq_len
    mask = causal_mask(T) if masked else torch.ones(T, T, dtype=torch.bool)
    out = []
    for l in range(model.cfg.n_layers):
        q, k = clean[f"blocks.{l}.attn.hook_q"].double(), clean[f"blocks.{l}.attn.hook_k"].double()
        new = corr[f"blocks.{l}.attn.hook_{kind}"].double()
        g = grads[f"blocks.{l}.attn.hook_pattern"].double()
        sc = attn_scale(model, l) if scaled else 1.0

        def pattern(qq, kk):
            return (torch.einsum("bthd,bshd->bhts", qq, kk) / sc).masked_fill(~mask, float("-inf")).softmax(-1)

        A = pattern(q, k)
        if kind == "q":
            out.append(((pattern(new, k) - A) * g).sum(-1).mean(0))  # [H, T]
            continue
        per_key = []
        for s_ in range(T):
            k2 = k.clone()
            k2[:, s_] = new[:, s_]
            per_key.append(((pattern(q, k2) - A) * g).sum((-1, -2)).mean(0))  # [H]
        out.append(torch.stack(per_key, -1))
    return torch.stack(out).float()


def _check_qk(fn: Callable, kind: str) -> None:
    results = []
    for label, model, task in _cases("saturation"):
        L, H, T = model.cfg.n_layers, model.cfg.n_heads, task.seq_len
        ref = atp_qk_fix(model, task, kind, per_position=True).values.reshape(L, H, T)
        plain = atp(model, task, kind, per_position=True).values.reshape(L, H, T)
        variants = {"sign": -ref, "plain": plain, "big": ref * task.batch_size,
                    "noscale": qk_fix_variant(model, task, kind, scaled=False),
                    "nomask": qk_fix_variant(model, task, kind, masked=False)}
        if kind == "k":
            variants["at_once"] = _keys_all_at_once(model, task)
        out = _call(fn, model, task, (L, H, T), label)
        results.append((label, out, ref, variants))
    noun = "query" if kind == "q" else "key"
    _judge(results, [
        ("sign", f"sign flipped: use (pattern with the corrupt {noun}) - (clean pattern)."),
        ("plain", f"softmax not recomputed: this is plain AtP on hook_{kind}. Recompute the pattern with the "
                  f"corrupt {noun} and multiply its exact change by dM/dpattern."),
        ("at_once", "keys patched all at once instead of one at a time: patch key s alone (only column s "
                    "changes, then each row is re-softmaxed)."),
        ("noscale", "the scores are not divided by sqrt(d_head): the model's attention divides q·k by "
                    "attn_scale(model, layer) before the softmax, so your patterns are not the model's."),
        ("nomask", "no causal mask: query t may only attend to keys s <= t; fill the scores with -inf where "
                   "s > t before the softmax."),
        ("big", "values are B times too large: average over the batch."),
    ])


@learner_check
def check_qk_fix_queries(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads, seq]``: QK fix for the query at each position."""
    _check_qk(fn, "q")


@learner_check
def check_qk_fix_keys(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads, seq]``: QK fix, each key position patched on its own."""
    _check_qk(fn, "k")


# --------------------------------------------------------------------------- GradDrop
@learner_check
def check_graddrop(fn: Callable) -> None:
    """``fn(model, task) -> Tensor[n_layers, n_heads]``: GradDrop scores of head outputs (hook_z)."""
    results = []
    spec_model, spec_task = wb_build("cancellation")
    for label, model, task in random_cases(n_layers=3) + [("the cancellation specimen", spec_model, spec_task)]:
        L, H = model.cfg.n_layers, model.cfg.n_heads
        ref_s = graddrop(model, task, "head")
        ref = ref_s.values.reshape(L, H)
        per_pass = ref_s.info["per_pass"]  # [L, B, n] signed
        plain = atp(model, task, "head").per_example  # [B, n]
        layer = torch.arange(L).repeat_interleave(H)
        out = _call(fn, model, task, (L, H), label)
        results.append((label, out, ref, {
            "by_L": ref * (L - 1) / L,
            "resid": (plain.abs() * layer[None] / (L - 1)).mean(0).reshape(L, H),
            "abs_after": (per_pass.mean(1).abs().sum(0) / (L - 1)).reshape(L, H),
            "no_abs": (per_pass.sum(0) / (L - 1)).mean(0).reshape(L, H),
            "no_div": ref * (L - 1),
            "no_B": ref / task.batch_size,
        }))
    _judge(results, [
        ("by_L", "divided by L instead of L-1 (the pass that drops the node's own layer is always 0)."),
        ("resid", "dropped the residual stream too: stop the gradient only at hook_attn_out and hook_mlp_out, "
                  "not at the block output."),
        ("abs_after", "abs taken after averaging: take |estimate| per prompt pair and pass, then average."),
        ("no_abs", "no absolute value: sum |estimate_l| over the passes, not the signed estimates."),
        ("no_div", "forgot to divide by L-1."),
        ("no_B", "values are 1/B too small: the metric is a batch MEAN, so each example's gradient carries a "
                 "factor 1/B; multiply the gradients by B (task.batch_size) before taking |estimate| per example."),
    ])
