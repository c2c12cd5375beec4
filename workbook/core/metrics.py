"""Per-example task metrics and the tensor shapes they take.

A metric is ``metric(logits, answer, wrong, pos) -> Tensor[rows]``: one value per row, computed
from that row alone (so patching can stack copies of the batch). These are the metrics of
Hanna et al.'s ``metrics.py`` that the course uses; :class:`~workbook.core.task.Task` accepts
any function of the same shape.
"""

from __future__ import annotations

from typing import Callable

import torch
from jaxtyping import Float, Int

__all__ = ["Tokens", "PerExampleIds", "Logits", "PerExample", "Metric", "logit_diff", "prob_diff",
           "answer_logprob", "METRICS"]

#: token ids of a batch of prompts
Tokens = Int[torch.Tensor, "batch seq"]
#: one token id (or position) per example
PerExampleIds = Int[torch.Tensor, " batch"]
#: logits of a batch; ``rows`` is ``batch`` or ``copies * batch`` for stacked patched copies
Logits = Float[torch.Tensor, "rows seq vocab"]
#: one metric value per example (per row)
PerExample = Float[torch.Tensor, " rows"]
#: ``metric(logits, answer, wrong, pos) -> per-example values``
Metric = Callable[[Logits, PerExampleIds, PerExampleIds, PerExampleIds], PerExample]


def _read(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Logits at each example's read position: ``[N, S, V] -> [N, V]``."""
    return logits[torch.arange(logits.shape[0], device=logits.device), pos]


def logit_diff(logits: Logits, answer: PerExampleIds, wrong: PerExampleIds, pos: PerExampleIds) -> PerExample:
    """Per-example logit(answer) - logit(wrong) at ``pos``: ``[N, S, V] -> [N]``."""
    last = _read(logits, pos)
    return last.gather(1, answer[:, None])[:, 0] - last.gather(1, wrong[:, None])[:, 0]


def prob_diff(logits: Logits, answer: PerExampleIds, wrong: PerExampleIds, pos: PerExampleIds) -> PerExample:
    """Per-example p(answer) - p(wrong) at ``pos`` (saturates when the model is confident)."""
    probs = _read(logits, pos).softmax(-1)
    return probs.gather(1, answer[:, None])[:, 0] - probs.gather(1, wrong[:, None])[:, 0]


def answer_logprob(logits: Logits, answer: PerExampleIds, wrong: PerExampleIds, pos: PerExampleIds) -> PerExample:
    """Per-example log p(answer) at ``pos`` (``wrong`` is ignored)."""
    return _read(logits, pos).log_softmax(-1).gather(1, answer[:, None])[:, 0]


METRICS: dict[str, Metric] = {"logit_diff": logit_diff, "prob_diff": prob_diff, "answer_logprob": answer_logprob}
