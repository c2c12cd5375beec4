"""Input checks shared by every method: a clear error naming the problem, never a silent wrong number."""

from __future__ import annotations

import torch

__all__ = [
    "WorkbookError",
    "ModelError",
    "TaskError",
    "MetricError",
    "NonFiniteError",
    "ModelNotPreparedError",
    "UnsupportedArchitectureError",
    "check_tokens",
    "check_finite",
]


class WorkbookError(ValueError):
    """Base class of every input error raised by ``workbook``."""


class ModelError(WorkbookError):
    """The model cannot be used as given (train mode, dropout, missing hooks, wrong type)."""


class ModelNotPreparedError(ModelError):
    """The model's per-head hooks are off.

    Call ``workbook.prepare(model)``, or build it with :mod:`workbook.models.loading`.
    """


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
