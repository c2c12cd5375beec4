"""Forward and backward passes with hooks: the plumbing every method shares.

* :func:`run_model` — THE forward every method uses: passes the task's padding mask
  (``Task.attention_mask``, repeated for stacked copies of the batch) and returns logits in
  float32 or wider, so metrics never round in half precision.
* :func:`cache_activations` — one no-grad forward, activations at the named hooks.
* :func:`cache_activations_and_grads` — one forward + one backward of the task metric,
  activations at some hooks and metric gradients at others.
* :func:`baselines` — ``(M(clean), M(corrupt))`` with the mask.
* :func:`progress` — tqdm for long sweeps (silence with ``WORKBOOK_PROGRESS=0``).

Gradients are *per example*: the metric is the batch mean, so every gradient is multiplied
by the batch size to undo the ``1/B`` (``per_example=False`` leaves that to the caller).
Parameters are frozen for the backward pass (only activation gradients are needed), which
makes it cheaper than a training step.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Iterable, Iterator, Sequence

import torch

from workbook.core.errors import TaskError, WorkbookError, check_finite

__all__ = [
    "is_long",
    "compute_dtype",
    "model_dtype",
    "fused_attention",
    "chunks",
    "resid_pre_names",
    "leaf",
    "run_model",
    "metric_per_example",
    "model_device",
    "baselines",
    "cache_activations",
    "cache_activations_and_grads",
    "hook_list",
    "frozen_params",
    "progress",
    "embeddings",
    "LEAF_HOOK",
    "NO_LOGITS",
]

LEAF_HOOK = "hook_embed"

#: ``positions`` for a caching run whose logits nobody reads: the unembedding runs on one position only
NO_LOGITS = torch.tensor([0])


def progress(iterable: Iterable, total: int | None = None, desc: str = "", enabled: bool | None = None):
    """Wrap ``iterable`` in a tqdm bar when ``enabled`` (default: long sweeps, unless WORKBOOK_PROGRESS=0)."""
    if enabled is None:
        enabled = (total or 0) >= 16
    if os.environ.get("WORKBOOK_PROGRESS", "1") == "0":
        enabled = False
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


#: a rough CPU rate (multiply-adds per second, one thread) for deciding when a call shows progress
_CPU_MACS_PER_S = 2e10


def is_long(model, rows: int, seq: int, passes: float, seconds: float = 10.0) -> bool | None:
    """Whether ``passes`` forward-equivalents over ``rows x seq`` tokens may take over ``seconds``.

    A rough estimate (parameters x tokens x passes at ~2e10 multiply-adds/s, one CPU thread),
    used to show a progress bar on calls that would otherwise sit silent; ``None`` (progress's
    own default) when short. ``WORKBOOK_PROGRESS=0`` still silences it (:func:`progress`).
    """
    n_params = sum(p.numel() for p in model.parameters())
    return True if n_params * rows * seq * passes / _CPU_MACS_PER_S > seconds else None


@contextlib.contextmanager
def frozen_params(model) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on every parameter (restored on exit)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _mask_for(attention_mask: torch.Tensor | None, rows: int) -> torch.Tensor | None:
    if attention_mask is None:
        return None
    n = attention_mask.shape[0]
    if rows % n:

        raise TaskError(f"{rows} token rows are not a whole number of copies of the {n}-row attention mask.")
    return attention_mask if rows == n else attention_mask.repeat(rows // n, 1)


_F32_MIN = torch.finfo(torch.float32).min


def _finite_mask_fill(t: torch.Tensor, hook) -> torch.Tensor:
    # float64 models: the bridge softmaxes in float32, where float64's mask value (finfo.min)
    # becomes -inf; a fully masked (left-padding) row then gives NaN that leaks into real rows
    # through 0 * NaN. Clamping masked scores to float32's min keeps them masked (exp -> 0).
    return t.clamp(min=_F32_MIN)


def run_model(
    model, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None, positions: torch.Tensor | None = None
) -> torch.Tensor:
    """``model(tokens)`` with the padding mask, logits upcast to float32 for half-precision models.

    ``attention_mask`` is ``[B, S]`` (1 = real token); when ``tokens`` holds ``k`` stacked copies
    of the batch (``[k*B, S]``) the mask is repeated to match. TransformerLens derives the
    position ids from the mask, so left and right padding give the same real-token logits.
    ``positions`` (sorted sequence indices, :meth:`Task.logit_positions`): compute the final norm
    and unembedding there only (HF's ``logits_to_keep``); logits are then ``[N, len(positions), V]``.
    Tokens and mask are moved to the model's device.
    """
    device = model_device(model)
    tokens = tokens.to(device)
    kw = {} if positions is None else {"logits_to_keep": positions.to(device)}
    mask = _mask_for(attention_mask, tokens.shape[0])
    if mask is None:
        logits = model(tokens, **kw)
    else:
        mask = mask.to(device)
        if bool((mask == 0).any()) and model_dtype(model) == torch.float64:
            names = [f"blocks.{l}.attn.hook_attn_scores" for l in range(model.cfg.n_layers)]
            with model.hooks(fwd_hooks=[(n, _finite_mask_fill) for n in names]):
                logits = model(tokens, attention_mask=mask, **kw)
        else:
            logits = model(tokens, attention_mask=mask, **kw)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits


def compute_dtype(model_or_dtype) -> torch.dtype:
    """float64 for a float64 model, else float32: what scores and products accumulate in."""
    dtype = model_or_dtype if isinstance(model_or_dtype, torch.dtype) else model_dtype(model_or_dtype)
    return torch.float64 if dtype == torch.float64 else torch.float32


def model_dtype(model) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def model_device(model) -> torch.device:
    """The device of the model's parameters (every tensor a method creates goes there)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def metric_per_example(model, task, tokens: torch.Tensor | None = None) -> torch.Tensor:
    """``task.per_example`` of ``model(tokens)`` (default ``task.clean``), with the task's mask and
    logits computed only where the metric reads them."""
    tokens = task.clean if tokens is None else tokens
    P = task.logit_positions()
    return task.per_example(run_model(model, tokens, task.attention_mask, P), P)


@torch.no_grad()
def baselines(model, task) -> tuple[float, float]:
    """``(M(clean), M(corrupt))`` of ``task`` on ``model``, with the task's padding mask."""
    return (
        float(metric_per_example(model, task, task.clean).mean()),
        float(metric_per_example(model, task, task.corrupt).mean()),
    )


@torch.no_grad()
def embeddings(model, tokens: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The ``hook_embed`` activation of ``tokens`` (no block runs: ``stop_at_layer=0``)."""
    out: dict[str, torch.Tensor] = {}

    def save(t, hook):
        out["e"] = t.detach()

    device = model_device(model)
    mask = _mask_for(attention_mask, tokens.shape[0])
    kw = {} if mask is None else {"attention_mask": mask.to(device)}
    with model.hooks(fwd_hooks=[(LEAF_HOOK, save)]):
        model(tokens.to(device), stop_at_layer=0, **kw)
    return out["e"]


def leaf(t: torch.Tensor, hook) -> torch.Tensor:
    """Hook function: the activation as a fresh grad-requiring leaf (gradients start here)."""
    # With parameters frozen, make the embedding a grad-requiring leaf so a graph is built.
    return t.detach().requires_grad_(True)


@torch.no_grad()
def cache_activations(
    model,
    tokens: torch.Tensor,
    names: Sequence[str],
    check: bool = True,
    attention_mask: torch.Tensor | None = None,
    positions: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``tokens`` once (with ``attention_mask``); return ``(logits, {name: activation})`` for the
    hooks in ``names`` (logits only at ``positions`` when given, see :func:`run_model`)."""
    acts: dict[str, torch.Tensor] = {}

    def save(name: str) -> Callable:
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    with model.hooks(fwd_hooks=[(n, save(n)) for n in dict.fromkeys(names)]):
        logits = run_model(model, tokens, attention_mask, positions)
    if check:
        check_finite(logits, "the logits")
        for n, a in acts.items():
            check_finite(a, f"activation {n}")
    return logits, acts


def hook_list(hooks: Sequence, what: str = "hooks") -> list:
    """``hooks`` as a list of ``(name, fn)`` pairs; one pair given alone is a clear error."""
    if len(hooks) == 2 and isinstance(hooks[0], str) and callable(hooks[1]):
        raise WorkbookError(f"{what} must be a list of (name, fn) pairs, got one pair {hooks[0]!r}, fn: pass "
                            f"[({hooks[0]!r}, fn)].")
    return list(hooks)


def cache_activations_and_grads(
    model,
    task,
    act_names: Sequence[str],
    grad_names: Sequence[str],
    tokens: torch.Tensor | None = None,
    extra_fwd_hooks: Sequence = (),
    extra_bwd_hooks: Sequence = (),
    check: bool | str = True,
    full_logits: bool = False,
    per_example: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """One forward on ``tokens`` (default ``task.clean``) and one backward of the task metric.

    The task's ``attention_mask`` is passed (repeated when ``tokens`` stacks copies of the batch).
    Returns ``(per_example_metric[B], activations, gradients)``. Gradients are per example:
    ``d metric_b / d act_b`` (the batch-mean's ``1/B`` is undone). A gradient that never
    arrives (the hook is not upstream of the metric) is returned as zeros. Logits are computed
    only where the metric reads them (:meth:`Task.logit_positions`), unless ``full_logits``.

    ``per_example=False`` returns the batch mean's gradients as they come (the caller multiplies
    by the number of rows, e.g. folded into a product it forms anyway: one pass over them fewer).
    ``check``: raise :class:`~workbook.core.errors.NonFiniteError` naming the first non-finite
    logits, activation or gradient; ``"logits"``: the logits only (a caller that checks what it
    derives from the rest, e.g. :meth:`~workbook.patching.edge_scorer.EdgeScorer.add_pass`).
    """
    tokens = (task.clean if tokens is None else tokens).to(model_device(model))
    B = tokens.shape[0] if per_example else 1
    acts: dict[str, torch.Tensor] = {}
    grads: dict[str, torch.Tensor] = {}

    def save_act(name: str) -> Callable:
        def fn(t, hook):
            acts[name] = t.detach()

        return fn

    def save_grad(name: str) -> Callable:
        def fn(g, hook):
            g = g.detach() * B if B != 1 else g.detach()
            grads[name] = g if name not in grads else grads[name] + g

        return fn

    # Without gradient-rewriting hooks the gradients are taken with torch.autograd.grad at the hook
    # outputs themselves (a view each hook hands on), which skips TransformerLens' backward-hook
    # machinery; with them (GradDrop) the backward hooks record the gradients as they arrive.
    outs: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable:
        def fn(t, hook):
            outs[name] = t.view_as(t)
            return outs[name]

        return fn

    fwd = [(LEAF_HOOK, leaf)] + [(n, save_act(n)) for n in dict.fromkeys(act_names)]
    if extra_bwd_hooks:
        bwd = [(n, save_grad(n)) for n in dict.fromkeys(grad_names)] + hook_list(extra_bwd_hooks, "extra_bwd_hooks")
    else:
        fwd, bwd = fwd + [(n, keep(n)) for n in dict.fromkeys(grad_names)], []
    fwd += hook_list(extra_fwd_hooks, "extra_fwd_hooks")
    with frozen_params(model), torch.enable_grad(), model.hooks(fwd_hooks=fwd, bwd_hooks=bwd):
        P = None if full_logits else task.logit_positions()
        logits = run_model(model, tokens, getattr(task, "attention_mask", None), P)
        per_ex = task.per_example(logits, P)
        if bwd:
            per_ex.mean().backward()
        elif outs:
            names = list(outs)
            got = torch.autograd.grad(per_ex.mean(), [outs[n] for n in names], allow_unused=True)
            grads.update({n: g.detach() * B if B != 1 else g.detach() for n, g in zip(names, got) if g is not None})
        outs.clear()  # drop the graph views before returning
    _check_cached(check, logits, acts, grads)
    for n in grad_names:
        if n not in grads:
            grads[n] = torch.zeros_like(acts[n]) if n in acts else None
    return per_ex.detach(), acts, grads


def _check_cached(check: bool | str, logits: torch.Tensor, acts: dict, grads: dict) -> None:
    """``check`` of :func:`cache_activations_and_grads`: the logits, then (``True``) activations and gradients."""
    if check:
        check_finite(logits, "the logits")
    if check is True:
        for n, a in acts.items():
            check_finite(a, f"activation {n}")
        for n, g in grads.items():
            check_finite(g, f"the gradient at {n}")


def resid_pre_names(L: int) -> list[str]:
    return [f"blocks.{l}.hook_resid_pre" for l in range(L)]


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@contextlib.contextmanager
def fused_attention(model):
    """Temporarily run attention with fused q/k/v inputs and summed head outputs (faster)."""
    split, result = model.cfg.use_split_qkv_input, model.cfg.use_attn_result
    model.set_use_split_qkv_input(False)
    model.set_use_attn_result(False)
    try:
        yield
    finally:
        model.set_use_split_qkv_input(split)
        model.set_use_attn_result(result)
