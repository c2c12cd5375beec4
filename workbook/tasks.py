"""Tasks: clean/corrupt prompt pairs, the answers, and the metric read off the logits.

A :class:`Task` is everything a method needs besides the model. Metrics are *per example*:
a function ``metric(logits, answer, wrong, pos) -> Tensor[N]``; the task metric is their mean
over the batch. Keeping them per example lets ground-truth patching run many patches in one
batched forward pass, and lets GradDrop take absolute values per prompt pair.

Sign convention used across the package (noising, as in AtP* and EAP):
``effect(node) = M(clean run with node := its corrupt value) - M(clean run)``.
Denoising is the same computation on :meth:`Task.swapped` (clean and corrupt exchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import torch

from workbook.validate import MetricError, TaskError, check_finite, check_tokens

__all__ = ["Task", "logit_diff", "prob_diff", "answer_logprob", "METRICS", "make_task"]

Metric = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _read(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Logits at each example's read position: ``[N, S, V] -> [N, V]``."""
    return logits[torch.arange(logits.shape[0], device=logits.device), pos]


def logit_diff(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Per-example logit(answer) - logit(wrong) at ``pos``: ``[N, S, V] -> [N]``."""
    last = _read(logits, pos)
    return last.gather(1, answer[:, None])[:, 0] - last.gather(1, wrong[:, None])[:, 0]


def prob_diff(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Per-example p(answer) - p(wrong) at ``pos`` (saturates when the model is confident)."""
    probs = _read(logits, pos).softmax(-1)
    return probs.gather(1, answer[:, None])[:, 0] - probs.gather(1, wrong[:, None])[:, 0]


def answer_logprob(logits: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Per-example log p(answer) at ``pos`` (``wrong`` is ignored)."""
    return _read(logits, pos).log_softmax(-1).gather(1, answer[:, None])[:, 0]


METRICS: dict[str, Metric] = {"logit_diff": logit_diff, "prob_diff": prob_diff, "answer_logprob": answer_logprob}


@dataclass
class Task:
    """Clean/corrupt token pairs plus what to measure.

    Attributes:
        clean, corrupt: ``LongTensor[B, S]`` token ids, paired row by row, same shape.
        answer: ``LongTensor[B]`` the token the clean prompt should predict.
        wrong: ``LongTensor[B]`` the competing token (usually the corrupt prompt's answer).
        pos: ``LongTensor[B]`` position the metric reads (default: the last position).
        metric: a name in :data:`METRICS` or a per-example function
            ``(logits[N,S,V], answer[N], wrong[N], pos[N]) -> Tensor[N]``.
        name, description: labels for plots and reports.
        vocab: optional list of token strings, for readable labels.
        attention_mask: optional ``LongTensor[B, S]``, 1 on real tokens and 0 on padding,
            shared by the clean and the corrupt row of each pair (a pair must have the same
            token length; padding may sit left or right). ``None``: no padding. Methods pass
            it to every forward pass, so padded positions change nothing; ``pos`` must point
            at a real token.
    """

    clean: torch.Tensor
    corrupt: torch.Tensor
    answer: torch.Tensor
    wrong: torch.Tensor
    pos: torch.Tensor | None = None
    metric: str | Metric = "logit_diff"
    name: str = "task"
    description: str = ""
    vocab: Sequence[str] | None = field(default=None, repr=False)
    attention_mask: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_tokens(self.clean, self.corrupt)
        B, S = self.clean.shape
        self.answer = torch.as_tensor(self.answer, dtype=torch.long).reshape(-1)
        self.wrong = torch.as_tensor(self.wrong, dtype=torch.long).reshape(-1)
        if self.pos is None:
            self.pos = torch.full((B,), S - 1, dtype=torch.long)
        self.pos = torch.as_tensor(self.pos, dtype=torch.long).reshape(-1)
        if self.pos.numel() == 1 and B > 1:
            self.pos = self.pos.expand(B).clone()
        self.pos = torch.where(self.pos < 0, self.pos + S, self.pos)
        for nm in ("answer", "wrong", "pos"):
            t = getattr(self, nm)
            if t.shape != (B,):
                raise TaskError(f"task.{nm} must have one entry per example ({B}), got shape {tuple(t.shape)}.")
        if (self.pos < 0).any() or (self.pos >= S).any():
            raise TaskError(f"task.pos must index positions in [0, {S}), got {self.pos.tolist()}.")
        if self.attention_mask is not None:
            m = torch.as_tensor(self.attention_mask)
            if m.shape != (B, S):
                raise TaskError(f"task.attention_mask must have the token shape {(B, S)}, got {tuple(m.shape)}.")
            if m.is_floating_point() or not bool(((m == 0) | (m == 1)).all()):
                raise TaskError("task.attention_mask must hold 0 (padding) and 1 (real token) only.")
            self.attention_mask = m.to(torch.long)
            if not bool(self.attention_mask[torch.arange(B), self.pos].all()):
                bad = (self.attention_mask[torch.arange(B), self.pos] == 0).nonzero()[:, 0].tolist()
                raise TaskError(f"task.pos points at a padding token in example(s) {bad[:5]}; read the last real token.")
        if isinstance(self.metric, str) and self.metric not in METRICS:
            raise TaskError(f"unknown metric {self.metric!r}; choose one of {sorted(METRICS)} or pass a function.")

    # ------------------------------------------------------------------ basics
    @property
    def batch_size(self) -> int:
        return int(self.clean.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.clean.shape[1])

    @property
    def metric_fn(self) -> Metric:
        return METRICS[self.metric] if isinstance(self.metric, str) else self.metric

    def per_example(self, logits: torch.Tensor) -> torch.Tensor:
        """Metric per example. ``logits`` is ``[k*B, S, V]`` (k stacked copies of the batch) -> ``[k*B]``."""
        if logits.ndim != 3:
            raise MetricError(f"expected logits of shape [batch, seq, vocab], got {tuple(logits.shape)}.")
        N, B = logits.shape[0], self.batch_size
        if N % B:
            raise MetricError(f"logits batch {N} is not a multiple of the task batch {B}.")
        k = N // B
        dev = logits.device
        out = self.metric_fn(logits, self.answer.to(dev).repeat(k), self.wrong.to(dev).repeat(k), self.pos.to(dev).repeat(k))
        if not isinstance(out, torch.Tensor):
            raise MetricError(f"the metric must return a tensor, got {type(out).__name__}.")
        if out.ndim == 0:
            raise MetricError(
                "the metric returned a single scalar, but workbook metrics are per example "
                f"(shape [{N}]): do not average over the batch inside the metric."
            )
        if out.shape != (N,):
            raise MetricError(
                f"the metric must return one value per example, shape [{N}]; got {tuple(out.shape)}. "
                "Reduce over vocabulary/positions inside the metric."
            )
        return check_finite(out, "the metric value")

    def metric_value(self, logits: torch.Tensor) -> torch.Tensor:
        """The scalar task metric: mean over the batch of :meth:`per_example`."""
        return self.per_example(logits).mean()

    # ------------------------------------------------------------------ baselines
    @torch.no_grad()
    def baselines(self, model) -> tuple[float, float]:
        """``(M(clean), M(corrupt))`` for ``model``."""
        return (
            float(self.metric_value(model(self.clean))),
            float(self.metric_value(model(self.corrupt))),
        )

    def normalize(self, value, model=None, baselines: tuple[float, float] | None = None):
        """Map a metric value to 0 at corrupt and 1 at clean: ``(v - M_corr)/(M_clean - M_corr)``."""
        if baselines is None:
            if model is None:
                raise TaskError("normalize needs either the model or precomputed baselines.")
            baselines = self.baselines(model)
        clean_v, corr_v = baselines
        if abs(clean_v - corr_v) < 1e-12:
            raise MetricError("M(clean) == M(corrupt): the normalised metric is undefined for this task.")
        return (value - corr_v) / (clean_v - corr_v)

    # ------------------------------------------------------------------ variants
    def swapped(self) -> "Task":
        """The denoising view: clean and corrupt exchanged, same answers and metric.

        Noising on the swapped task *is* denoising on this one:
        ``M(corrupt run with node := clean value) - M(corrupt run)``. Methods accept
        ``direction="denoising"`` and do this for you.
        """
        return replace(self, clean=self.corrupt, corrupt=self.clean, name=f"{self.name} (denoising)")

    def subset(self, index) -> "Task":
        """The task restricted to examples ``index`` (a slice, list or tensor)."""
        idx = torch.arange(self.batch_size)[index]
        return replace(
            self,
            clean=self.clean[idx],
            corrupt=self.corrupt[idx],
            answer=self.answer[idx],
            wrong=self.wrong[idx],
            pos=self.pos[idx],
            attention_mask=None if self.attention_mask is None else self.attention_mask[idx],
        )

    def to(self, device) -> "Task":
        return replace(
            self,
            clean=self.clean.to(device),
            corrupt=self.corrupt.to(device),
            answer=self.answer.to(device),
            wrong=self.wrong.to(device),
            pos=self.pos.to(device),
            attention_mask=None if self.attention_mask is None else self.attention_mask.to(device),
        )

    def labels(self, tokens: torch.Tensor) -> list[str]:
        """Readable strings for a row of token ids (``vocab`` if given, else ``t<id>``)."""
        return [self.vocab[int(t)] if self.vocab is not None else f"t{int(t)}" for t in tokens]


def make_task(
    clean,
    corrupt,
    answer,
    wrong,
    pos=None,
    metric: str | Metric = "logit_diff",
    name: str = "custom",
    vocab: Sequence[str] | None = None,
    description: str = "",
) -> Task:
    """Build a :class:`Task` from lists or tensors (convenience for your own prompts)."""
    as_long = lambda x: torch.as_tensor(x, dtype=torch.long)  # noqa: E731
    clean, corrupt = as_long(clean), as_long(corrupt)
    if clean.ndim == 1:
        clean, corrupt = clean[None], corrupt[None]
    return Task(clean, corrupt, as_long(answer), as_long(wrong), pos, metric, name, description, vocab)
