"""The memory budget: how many copies of a batch one batched pass may hold.

EAP-IG and EAP-GP run several path points, and patching runs several patched copies of the
batch, stacked along the batch dimension. How many go into one pass is chosen here from a
memory budget, never by the user: ``2 GiB`` by default, settable with :func:`set_memory_budget`
or the environment variable ``WORKBOOK_MEMORY_BUDGET`` (``"3GB"``, ``"1500MB"``, bytes).
Results do not depend on the chunking (``tests/test_scale.py`` compares chunked and unchunked
runs); only peak memory and speed do.

The estimate of one row's memory is deliberately simple and on the safe side: per token and
layer, a forward+backward keeps about ``13 d_model + 3 d_mlp + 2 n_heads * seq`` numbers
(activations saved for the backward pass plus the hooks' cached activations and gradients;
measured as the growth of peak RSS with the batch on GPT-2-shaped models), a no-grad forward a
few layers' worth; the logits add ``3 * d_vocab`` numbers per position the metric reads.

On a CPU a forward+backward pass also stops at :data:`CPU_ROWS_PER_PASS` token rows (copies x
batch x positions; one copy always fits): past about a thousand rows its matmuls run no faster per
row, while every extra copy is fresh memory the kernel must fault in page by page. Measured on a
2-core Xeon, one torch thread, EAP-IG (m = 5) on a 12-layer d 240 model at batch 32 x 64: the
first call 9.3 s with two path points per pass, 6.4 s with one (the same user time; the rest was
system time spent faulting 1.6 GB in), five points per pass 13.6 s; at 16 x 16 (256 rows) stacking
still pays (0.12 s against 0.14 s a call). A GPU keeps the budget's choice.

Freed memory between passes: :class:`MemoryGuard` hands it back to the operating system only
when the process has grown past the budget during the call (handing it back after every pass
made every pass fault its pages in again).
"""

from __future__ import annotations

import os
import re

import torch

from workbook.core.errors import WorkbookError
from workbook.core.runs import model_device

__all__ = [
    "CPU_ROWS_PER_PASS",
    "memory_budget",
    "set_memory_budget",
    "row_bytes",
    "copies_per_pass",
    "release_memory",
    "MemoryGuard",
]

_DEFAULT = 2 * 1024**3
#: most token rows (copies x batch x positions) one forward+backward pass stacks on a CPU (see above)
CPU_ROWS_PER_PASS = 1024
_budget: int | None = None
_UNITS = {"": 1, "b": 1, "kb": 1024, "k": 1024, "mb": 1024**2, "m": 1024**2, "gb": 1024**3, "g": 1024**3}


def _parse(value) -> int:
    if isinstance(value, (int, float)):
        out = int(value)
    else:
        m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", str(value))
        if not m or m.group(2).lower().replace("i", "") not in _UNITS:

            raise WorkbookError(f"memory budget {value!r}: give bytes or a size such as '2GB' or '1500MB'.")
        out = int(float(m.group(1)) * _UNITS[m.group(2).lower().replace("i", "")])
    if out <= 0:

        raise WorkbookError(f"memory budget must be positive, got {value!r}.")
    return out


def memory_budget() -> int:
    """The budget in bytes: :func:`set_memory_budget`, else ``WORKBOOK_MEMORY_BUDGET``, else 2 GiB."""
    if _budget is not None:
        return _budget
    env = os.environ.get("WORKBOOK_MEMORY_BUDGET")
    return _parse(env) if env else _DEFAULT


def set_memory_budget(value) -> None:
    """Set the budget (bytes, or a string such as ``"3GB"``); ``None`` restores the default."""
    global _budget
    _budget = None if value is None else _parse(value)


def row_bytes(model, seq_len: int, backward: bool = True, logit_positions: int | None = None) -> int:
    """Estimated bytes one row (one prompt) of a pass holds at its peak (see the module docstring)."""
    cfg = model.cfg
    D, L, H = int(cfg.d_model), int(cfg.n_layers), int(cfg.n_heads)
    d_mlp = int(getattr(cfg, "d_mlp", None) or 4 * D)
    item = max(4, next(model.parameters()).element_size())  # products accumulate in >= float32
    n_pos = seq_len if logit_positions is None else logit_positions
    logits = 3 * int(cfg.d_vocab) * n_pos
    if backward:
        per_token_layer = 13 * D + 3 * d_mlp + 2 * H * seq_len
        return item * (L * seq_len * per_token_layer + logits)
    return item * (seq_len * (4 * D + 2 * d_mlp + 3 * H * seq_len) + 2 * logits)


def copies_per_pass(
    model, task, wanted: int, backward: bool = True, reserved: int = 0, budget: int | None = None
) -> int:
    """How many copies of ``task``'s batch (at most ``wanted``, at least 1) fit in one pass; a
    forward+backward pass on a CPU holds at most :data:`CPU_ROWS_PER_PASS` token rows.

    ``reserved``: bytes the method already holds (accumulators, caches) out of the budget.
    """
    budget = memory_budget() if budget is None else budget
    P = task.logit_positions()
    per_copy = task.batch_size * row_bytes(model, task.seq_len, backward, None if P is None else int(P.numel()))
    n = min(wanted, (budget - reserved) // max(1, per_copy))
    if backward and model_device(model).type == "cpu":
        n = min(n, CPU_ROWS_PER_PASS // max(1, task.batch_size * task.seq_len))
    return int(max(1, n))


_trim = None


def release_memory() -> None:
    """Hand freed heap memory back to the operating system (glibc's ``malloc_trim``; a no-op elsewhere).

    A batched pass frees gigabytes in blocks below glibc's mmap threshold; without this the
    process keeps them (its peak RSS then grows pass after pass although the live tensors do not)."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


def tensor_bytes(*tensors: torch.Tensor) -> int:
    """Bytes held by ``tensors`` (for the ``reserved`` argument)."""
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def rss_bytes() -> int | None:
    """This process's resident memory now (Linux ``/proc/self/statm``), or None where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class MemoryGuard:
    """Between the batched passes of one call: hand freed memory back only when needed.

    ``release_memory`` after every pass keeps the process small but makes every pass fault its
    pages in afresh (on a 2-core machine about one forward+backward per EAP-IG call). The guard
    trims only when the process has grown by more than the memory budget since the call began;
    where the resident size cannot be read it trims every time. EAP-GP trims after every pass
    instead: its full-vocabulary output distance makes one pass of GPT-2 small as large as the
    budget, and freed memory kept between its passes would push its peak past 4 GB.
    """

    def __init__(self):
        self.start = rss_bytes()

    def after_pass(self) -> None:
        now = rss_bytes()
        if now is None or self.start is None or now - self.start > memory_budget():
            release_memory()
