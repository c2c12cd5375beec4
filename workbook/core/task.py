"""Tasks: clean/corrupt prompt pairs, the answers, and the metric read off the logits.

A :class:`Task` is everything a method needs besides the model. Metrics are *per example*:
a function ``metric(logits, answer, wrong, pos) -> Tensor[N]``; the task metric is their mean
over the batch. Keeping them per example lets ground-truth patching run many patches in one
batched forward pass, and lets GradDrop take absolute values per prompt pair. A metric must
therefore be *batch-agnostic* (any number of rows, each computed from its own row);
:meth:`Task.per_example` checks this on every call and raises :class:`MetricError` otherwise.

Token ids are integers, never truncated floats; for prompt strings use
:func:`workbook.tasks.strings.task_from_strings` (tokenizer, BOS, padding, answer tokens).

Sign convention used across the package (noising, as in AtP* and EAP):
``effect(node) = M(clean run with node := its corrupt value) - M(clean run)``.
Denoising is the same computation on :meth:`Task.swapped` (clean and corrupt exchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import torch
from jaxtyping import Int

from workbook.core.errors import MetricError, TaskError, WorkbookError, check_finite, check_tokens
from workbook.core.metrics import (
    METRICS,
    Logits,
    Metric,
    PerExample,
    PerExampleIds,
    Tokens,
    answer_logprob,
    logit_diff,
    prob_diff,
)
from workbook.core.runs import baselines

__all__ = [
    "Task",
    "Tokens",
    "PerExampleIds",
    "Logits",
    "PerExample",
    "Metric",
    "logit_diff",
    "prob_diff",
    "answer_logprob",
    "METRICS",
    "make_task",
    "as_token_ids",
]

def as_token_ids(x, what: str, allow_negative: bool = False, kind: str = "token ids") -> torch.Tensor:
    """``x`` as a ``LongTensor`` of token ids (or positions); never truncates.

    Raises :class:`TaskError` naming ``what`` for floats (``3.7`` would silently become token 3),
    booleans, or negative ids (unless ``allow_negative``, for positions counted from the end).
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
    if t.numel() == 0:
        return t.to(torch.long)  # torch.as_tensor([]) is float32: nothing to truncate
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TaskError(
            f"{what} must hold integer {kind}, got dtype {t.dtype}"
            + (f" (e.g. {t.reshape(-1)[:3].tolist()})" if t.numel() else "")
            + ". Convert with .long() yourself if the values really are whole numbers; "
            "workbook never truncates them."
        )
    t = t.to(torch.long)
    if not allow_negative and t.numel() and int(t.min()) < 0:
        raise TaskError(f"{what} must hold {kind} >= 0, got {int(t.min())}.")
    return t



_BATCH_AGNOSTIC = (
    "A metric must be per-example and batch-agnostic: compute each row's value from that row's "
    "logits and the answer/wrong/pos arguments it is given, for any number of rows. Do not close "
    "over a tensor sized to one batch (patching calls the metric on stacked copies of the batch, "
    "Task.subset on fewer examples) and do not mix examples (e.g. subtract the batch mean)."
)


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

    clean: Tokens
    corrupt: Tokens
    answer: PerExampleIds
    wrong: PerExampleIds
    pos: PerExampleIds | None = None
    metric: str | Metric = "logit_diff"
    name: str = "task"
    description: str = ""
    vocab: Sequence[str] | None = field(default=None, repr=False)
    attention_mask: Int[torch.Tensor, "batch seq"] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_tokens(self.clean, self.corrupt)
        B, S = self.clean.shape
        if B == 0:
            raise TaskError("the task has no examples (empty batch): clean and corrupt need at least one row.")
        if S == 0:
            raise TaskError("the prompts are empty (0 tokens): every example needs at least one token.")
        if int(min(self.clean.min(), self.corrupt.min())) < 0:
            raise TaskError(f"token ids must be >= 0; got {int(min(self.clean.min(), self.corrupt.min()))}.")
        self.answer = as_token_ids(self.answer, "task.answer").reshape(-1)
        self.wrong = as_token_ids(self.wrong, "task.wrong").reshape(-1)
        if self.pos is None:
            self.pos = torch.full((B,), S - 1, dtype=torch.long)
        self.pos = as_token_ids(self.pos, "task.pos", allow_negative=True, kind="positions").reshape(-1)
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
                raise TaskError(
                    f"task.pos points at a padding token in example(s) {bad[:5]}; read the last real token."
                )
        if self.vocab is not None:
            n = len(self.vocab)
            for nm, t in (
                ("clean", self.clean),
                ("corrupt", self.corrupt),
                ("answer", self.answer),
                ("wrong", self.wrong),
            ):
                if int(t.max()) >= n:
                    raise TaskError(f"task.{nm} holds token id {int(t.max())}, outside task.vocab ({n} entries).")
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

    @property
    def reads_only_pos(self) -> bool:
        """True when the metric reads nothing but the logits at ``pos``: the built-in metrics, or a
        metric function carrying the attribute ``reads_only_pos = True``. Methods then compute the
        logits (the final norm and the unembedding) at those positions only."""
        return isinstance(self.metric, str) or bool(getattr(self.metric, "reads_only_pos", False))

    def logit_positions(self) -> torch.Tensor | None:
        """The sorted distinct positions the metric reads (``LongTensor``), or ``None`` when it may
        read every position (a metric function without ``reads_only_pos``)."""
        return torch.unique(self.pos) if self.reads_only_pos else None

    def per_example(self, logits: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Metric per example. ``logits`` is ``[k*B, S, V]`` (k stacked copies of the batch) -> ``[k*B]``.

        ``positions``: the logits hold only these sequence positions (``[k*B, len(positions), V]``,
        from :meth:`logit_positions`); ``pos`` is re-indexed into them.

        Checks that the answer ids exist in the model's vocabulary ``V`` and that the metric is
        per-example and batch-agnostic: called on the first example alone it must return that
        example's value (a metric that closes over a tensor sized to one batch, or mixes
        examples, would give wrong numbers on stacked patched copies and on subsets).
        """
        if logits.ndim != 3:
            two = (" (logits of one position, e.g. logits[:, -1]: pass the full logits, the task reads its answer "
                   "position itself)" if logits.dim() == 2 else "")
            raise MetricError(f"expected logits of shape [batch, seq, vocab], got {tuple(logits.shape)}{two}.")
        N, B, V = logits.shape[0], self.batch_size, logits.shape[-1]
        if N % B:
            raise MetricError(f"logits batch {N} is not a multiple of the task batch {B}.")
        for nm in ("answer", "wrong"):
            ids = getattr(self, nm)
            if int(ids.max()) >= V:
                bad = (ids >= V).nonzero()[:, 0].tolist()
                raise TaskError(
                    f"task.{nm} id {int(ids.max())} is out of the model's vocabulary (d_vocab={V}); "
                    f"example(s) {bad[:5]}. Token ids must lie in [0, {V})."
                )
        k = N // B
        dev = logits.device
        pos = self.pos
        if positions is not None:
            positions = positions.to(pos.device)
            pos = torch.searchsorted(positions, pos)
            if logits.shape[1] != positions.numel() or not bool(
                (positions[pos.clamp(max=positions.numel() - 1)] == self.pos).all()
            ):
                raise MetricError(
                    f"logits hold {logits.shape[1]} positions {positions.tolist()[:8]}, "
                    f"not every read position {self.pos.tolist()[:8]}."
                )
        args = (self.answer.to(dev).repeat(k), self.wrong.to(dev).repeat(k), pos.to(dev).repeat(k))
        try:
            out = self.metric_fn(logits, *args)
        except (RuntimeError, IndexError) as err:
            raise MetricError(
                f"the metric failed on logits of shape {tuple(logits.shape)} ({k} stacked "
                f"cop{'y' if k == 1 else 'ies'} of the batch of {B}): {err}. {_BATCH_AGNOSTIC}"
            ) from err
        if not isinstance(out, torch.Tensor):
            raise MetricError(f"the metric must return a tensor, got {type(out).__name__}.")
        if out.ndim == 0:
            raise MetricError(
                "the metric returned a single scalar, but workbook metrics are per example "
                f"(shape [{N}]): do not average over the batch inside the metric."
            )
        if out.shape != (N,):
            hint = _BATCH_AGNOSTIC if out.ndim == 1 else "Reduce over vocabulary/positions inside the metric."
            raise MetricError(
                f"the metric must return one value per example, shape [{N}]; got {tuple(out.shape)}. {hint}"
            )
        if N > 1:
            self._check_batch_agnostic(logits, args, out)
        return check_finite(out, "the metric value")

    def _check_batch_agnostic(self, logits: torch.Tensor, args, out: torch.Tensor) -> None:
        """The metric on example 0 alone must equal its value inside the batch."""
        with torch.no_grad():
            try:
                one = self.metric_fn(logits[:1].detach(), *(a[:1] for a in args))
            except (RuntimeError, IndexError) as err:
                raise MetricError(f"the metric failed on a single example: {err}. {_BATCH_AGNOSTIC}") from err
            ref = out[:1].detach()
            tol = 1e-2 if logits.dtype in (torch.float16, torch.bfloat16) else 1e-4
            ok = isinstance(one, torch.Tensor) and one.shape == (1,)
            if ok:
                one_f, ref_f = one.double(), ref.double()
                both_nan = torch.isnan(one_f) & torch.isnan(ref_f)
                ok = bool(
                    both_nan.all() or torch.allclose(one_f, ref_f, rtol=tol, atol=tol * (1 + float(ref_f.abs().max())))
                )
        if not ok:
            if not isinstance(one, torch.Tensor):
                got = type(one).__name__
            elif one.shape != (1,):
                got = f"shape {tuple(one.shape)}"
            else:
                got = f"{float(one):.6g}"
            raise MetricError(
                f"the metric is not per-example: on example 0 alone it returned {got}, but "
                f"{float(ref):.6g} for the same example inside a batch of {logits.shape[0]}. {_BATCH_AGNOSTIC}"
            )

    def metric_value(self, logits: torch.Tensor) -> torch.Tensor:
        """The scalar task metric: mean over the batch of :meth:`per_example`."""
        return self.per_example(logits).mean()

    # ------------------------------------------------------------------ baselines
    @torch.no_grad()
    def baselines(self, model) -> tuple[float, float]:
        """``(M(clean), M(corrupt))`` for ``model`` (with the task's padding mask)."""

        return baselines(model, self)

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
    attention_mask=None,
) -> Task:
    """Build a :class:`Task` from lists or tensors of token ids (convenience for your own prompts).

    Ids must be integers: floats raise :class:`TaskError` instead of being truncated. For
    prompt *strings*, use :func:`workbook.tasks.strings.task_from_strings`.
    """
    clean, corrupt = as_token_ids(clean, "clean tokens"), as_token_ids(corrupt, "corrupt tokens")
    if clean.ndim == 1:
        clean, corrupt = clean[None], corrupt[None]
    if attention_mask is not None:
        attention_mask = torch.as_tensor(attention_mask)
        if attention_mask.ndim == 1:
            attention_mask = attention_mask[None]
    return Task(
        clean,
        corrupt,
        as_token_ids(answer, "answer"),
        as_token_ids(wrong, "wrong"),
        pos,
        metric,
        name,
        description,
        vocab,
        attention_mask,
    )


def oriented(task: Task, direction: str) -> Task:
    """``task`` for ``direction="noising"``, its clean/corrupt swap for ``"denoising"``."""
    if direction == "noising":
        return task
    if direction == "denoising":
        return task.swapped()
    raise WorkbookError(f"direction must be 'noising' or 'denoising', got {direction!r}.")
