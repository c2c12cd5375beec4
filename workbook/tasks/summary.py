"""Can the model do the task? One row of numbers per task, and a printable table.

:func:`task_summary` runs the clean and the corrupt prompts once each (with the task's padding
mask) and reports, over the task's pairs:

* ``frac_positive``: the fraction of pairs whose clean metric is > 0 (the model prefers the
  right answer, or the right answer set, to the competing one);
* ``clean_mean`` / ``corrupt_mean``: the metric's mean on the clean and on the corrupt prompts;
* ``top1``: the fraction of pairs whose most likely next token, over the whole vocabulary, is a
  right answer (Hanna et al.'s accuracy); ``top1_among`` the same with the argmax taken over the
  tokens the metric compares only, and ``chance`` what ``top1_among`` would be for a model that
  picked uniformly among them (0.5 for answer vs wrong). ``None`` where the metric names no
  answer tokens (``answer_logprob``, a custom function without ``answer_sets``).

The answer tokens: ``answer`` (right) and ``wrong`` for ``"logit_diff"`` and ``"prob_diff"``; a
metric object may define ``answer_sets(answer[N], wrong[N], d_vocab) -> (good, bad)``, boolean
``[N, d_vocab]`` masks (:mod:`workbook.tasks.metrics`). The verdict says in words that the model
*cannot do* the task when the clean mean is no higher than the corrupt mean (the corruption
removes nothing the model uses) or ``top1_among`` is at or below ``chance``. Nothing here is
approximated: every number is from full forward passes.
"""

from __future__ import annotations

from typing import Sequence

import torch

from workbook.core.runs import metric_per_example, run_model
from workbook.core.task import Task

__all__ = ["task_summary", "summary_table", "answer_sets"]


def answer_sets(task: Task, d_vocab: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(good, bad)`` boolean ``[B, d_vocab]``: the tokens the task's metric counts as right / as wrong,
    or ``None`` when the metric does not name them."""
    metric = task.metric
    if isinstance(metric, str):
        if metric not in ("logit_diff", "prob_diff"):
            return None
        rows = torch.arange(task.batch_size)
        good = torch.zeros(task.batch_size, d_vocab, dtype=torch.bool)
        bad = good.clone()
        good[rows, task.answer.cpu()] = True
        bad[rows, task.wrong.cpu()] = True
        return good, bad & ~good
    sets = getattr(metric, "answer_sets", None)
    if sets is None:
        return None
    good, bad = sets(task.answer.cpu(), task.wrong.cpu(), d_vocab)
    return good.cpu(), bad.cpu()


def _last_logits(model, task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean metric [B], logits at each example's read position [B, V])`` from one forward pass."""
    P = task.logit_positions()
    logits = run_model(model, task.clean, task.attention_mask, P)
    per = task.per_example(logits, P)
    pos = task.pos.to(logits.device)
    idx = pos if P is None else torch.searchsorted(P.to(pos.device), pos)
    return per.detach().cpu(), logits[torch.arange(task.batch_size, device=logits.device), idx].detach().cpu()


def _verdict(clean_mean: float, corrupt_mean: float, top1_among: float | None, chance: float | None) -> str:
    if not clean_mean > corrupt_mean:
        return f"cannot do it: clean mean {clean_mean:.3g} is not above the corrupt mean {corrupt_mean:.3g}"
    if top1_among is not None and chance is not None and top1_among <= chance:
        return f"cannot do it: top-1 among the compared answers {top1_among:.0%} is at chance ({chance:.0%})"
    return "does it"


@torch.no_grad()
def task_summary(model, task: Task) -> dict:
    """How well ``model`` does ``task``: the module's numbers as a dict, plus a ``verdict`` in words.

    Keys: ``name``, ``pairs`` (B), ``kept`` / ``examined`` / ``generated`` / ``prepend_bos`` / ``variant`` (from
    ``task.info`` when the task has one, else ``None``), ``frac_positive``, ``clean_mean``,
    ``corrupt_mean``, ``top1``, ``top1_among``, ``chance`` (the last three ``None`` where
    undefined; see the module doc) and ``verdict``.
    """
    clean, last = _last_logits(model, task)
    corrupt = metric_per_example(model, task, task.corrupt).detach().cpu()
    info = getattr(task, "info", None) or {}
    out = {"name": task.name, "pairs": task.batch_size, "kept": info.get("kept"), "examined": info.get("examined"),
           "generated": info.get("generated"),
           "prepend_bos": info.get("prepend_bos"), "variant": info.get("variant"),
           "frac_positive": float((clean > 0).double().mean()), "clean_mean": float(clean.double().mean()),
           "corrupt_mean": float(corrupt.double().mean()), "top1": None, "top1_among": None, "chance": None}
    sets = answer_sets(task, last.shape[-1])
    if sets is not None:
        good, bad = sets
        rows = torch.arange(task.batch_size)
        candidates = good | bad
        out["top1"] = float(good[rows, last.argmax(-1)].double().mean())
        among = last.masked_fill(~candidates, float("-inf")).argmax(-1)
        out["top1_among"] = float(good[rows, among].double().mean())
        out["chance"] = float((good.sum(-1).double() / candidates.sum(-1).clamp(min=1).double()).mean())
    out["verdict"] = _verdict(out["clean_mean"], out["corrupt_mean"], out["top1_among"], out["chance"])
    return out


def _cell(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def summary_table(summaries: Sequence[dict]) -> str:
    """One line per :func:`task_summary` dict: task, BOS, pairs kept / tried, fraction > 0, clean and
    corrupt means, top-1 (vocabulary), top-1 among the compared answers (chance), verdict."""
    head = (f"{'task':<16}{'BOS':>4}{'kept':>9}{'>0':>6}{'clean':>9}{'corrupt':>9}{'top1':>6}"
            f"{'among (chance)':>16}  verdict")
    lines = [head, "-" * len(head)]
    for s in summaries:
        bos = {True: "yes", False: "no"}.get(s.get("prepend_bos"), "?")
        kept = f"{s['pairs']}/{s['examined']}" if s.get("examined") else str(s["pairs"])
        among = "-" if s["top1_among"] is None else f"{s['top1_among']:.2f} ({s['chance']:.2f})"
        lines.append(f"{s['name']:<16}{bos:>4}{kept:>9}{s['frac_positive']:>6.2f}{s['clean_mean']:>9.3f}"
                     f"{s['corrupt_mean']:>9.3f}{_cell(s['top1'], '.2f'):>6}{among:>16}  {s['verdict']}")
    return "\n".join(lines)
