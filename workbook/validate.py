"""Input checks shared by every method: a clear error naming the problem, never a silent wrong number."""

from __future__ import annotations

from typing import Iterable

import torch

__all__ = [
    "WorkbookError",
    "ModelError",
    "TaskError",
    "MetricError",
    "NonFiniteError",
    "ModelNotPreparedError",
    "UnsupportedArchitectureError",
    "check_model",
    "check_tokens",
    "check_finite",
    "REQUIRED_FLAGS",
]


class WorkbookError(ValueError):
    """Base class of every input error raised by ``workbook``."""


class ModelError(WorkbookError):
    """The model cannot be used as given (train mode, dropout, missing hooks, wrong type)."""


class ModelNotPreparedError(ModelError):
    """The model's per-head hooks are off: call ``workbook.prepare(model)`` (or build it with ``workbook.models``)."""


class UnsupportedArchitectureError(ModelError):
    """The model family, or one of its features, is not supported by the method asked for.

    The message names the architecture and the feature; see ``workbook.arch`` for what each
    supported family can do.
    """


class TaskError(WorkbookError):
    """Clean/corrupt tokens, answers or positions are inconsistent."""


class MetricError(WorkbookError):
    """The metric does not return one finite value per example."""


class NonFiniteError(WorkbookError):
    """NaN or inf appeared in activations, gradients or logits."""


REQUIRED_FLAGS = {
    "use_attn_result": "per-head outputs (blocks.L.attn.hook_result): call workbook.prepare(model)",
    "use_split_qkv_input": "split q/k/v inputs (blocks.L.hook_q_input ...): call workbook.prepare(model)",
    "use_hook_mlp_in": "blocks.L.hook_mlp_in: call workbook.prepare(model)",
}


def check_model(model, hooks: Iterable[str] = (), flags: Iterable[str] = tuple(REQUIRED_FLAGS)) -> None:
    """Raise :class:`ModelError` unless ``model`` is an eval-mode bridge with the needed hooks.

    Checks, in order: it is a ``TransformerBridge``; its architecture has an adapter in
    :mod:`workbook.arch` (else :class:`UnsupportedArchitectureError`); no submodule is in train
    mode (dropout would make the clean and corrupt runs use different masks); the hook flags in
    ``flags`` are on (else :class:`ModelNotPreparedError`); every name in ``hooks`` exists in
    ``model.hook_dict``.
    """
    from transformer_lens import TransformerBridge

    from workbook.arch import adapter_for

    if not isinstance(model, TransformerBridge):
        raise ModelError(
            f"expected a transformer_lens TransformerBridge, got {type(model).__name__}; "
            "see workbook.models (build_gpt2, bridge_from_hf, load_pretrained)."
        )
    adapter_for(model)  # UnsupportedArchitectureError for a family workbook does not know
    training = [name or "<root>" for name, mod in model.named_modules() if mod.training]
    if training:
        drop = [
            name or "<root>"
            for name, mod in model.named_modules()
            if isinstance(mod, torch.nn.Dropout) and mod.training and mod.p > 0
        ]
        extra = f" Dropout is active in {drop[:3]}." if drop else ""
        raise ModelError(
            f"the model is in train mode ({len(training)} modules, e.g. {training[0]!r}).{extra} "
            "Clean and corrupt runs would not be comparable. Call model.eval() first."
        )
    for flag in flags:
        if not getattr(model.cfg, flag, False):
            raise ModelNotPreparedError(
                f"the model is not prepared for attribution: model.cfg.{flag} is off, so it lacks "
                f"{REQUIRED_FLAGS[flag]}."
            )
    missing = [h for h in hooks if h not in model.hook_dict]
    if missing:
        raise ModelError(
            f"the model has no hook point {missing[0]!r} ({len(missing)} missing). "
            "Build or wrap the model with workbook.models (build_gpt2, bridge_from_hf, load_pretrained)."
        )


def check_tokens(clean: torch.Tensor, corrupt: torch.Tensor, d_vocab: int | None = None) -> None:
    """Raise :class:`TaskError` unless clean/corrupt are equal-shape ``[batch, seq]`` token ids."""
    for name, t in (("clean", clean), ("corrupt", corrupt)):
        if not isinstance(t, torch.Tensor):
            raise TaskError(f"{name} tokens must be a torch.LongTensor, got {type(t).__name__}.")
        if t.dtype not in (torch.int64, torch.int32):
            raise TaskError(f"{name} tokens must be integer token ids, got dtype {t.dtype}.")
        if t.ndim != 2:
            raise TaskError(f"{name} tokens must be 2-D [batch, seq], got shape {tuple(t.shape)}.")
    if clean.shape != corrupt.shape:
        raise TaskError(
            f"clean and corrupt tokens have different shapes {tuple(clean.shape)} vs "
            f"{tuple(corrupt.shape)}: patching aligns them example-by-example and "
            "position-by-position, so pad or re-template them to the same length."
        )
    if d_vocab is not None:
        hi = int(max(clean.max(), corrupt.max()))
        lo = int(min(clean.min(), corrupt.min()))
        if lo < 0 or hi >= d_vocab:
            raise TaskError(f"token ids must lie in [0, {d_vocab}); got range [{lo}, {hi}].")


def check_finite(tensor: torch.Tensor, where: str) -> torch.Tensor:
    """Return ``tensor`` or raise :class:`NonFiniteError` naming ``where`` the NaN/inf appeared."""
    # one reduction first (cheap); the element-wise check only runs if the sum is not finite
    if not torch.isfinite(tensor.sum()) and not torch.isfinite(tensor).all():
        n_nan = int(torch.isnan(tensor).sum())
        n_inf = int(torch.isinf(tensor).sum())
        raise NonFiniteError(
            f"non-finite values in {where}: {n_nan} NaN, {n_inf} inf. Check the model weights "
            "and inputs (a NaN upstream poisons every score)."
        )
    return tensor
