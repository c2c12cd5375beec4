"""How many backward passes the learner's function runs, against the number its method needs.

GradDrop runs one backward pass per layer (pass ``l`` cuts layer ``l``'s writes), with perhaps one plain pass
besides. A function that loops over something else (the positions, the heads, the prompt pairs) runs another
number of passes; on a test model whose sizes all differ, that number names what the loop runs over. The
count covers ``Tensor.backward`` / ``torch.autograd.backward`` and ``torch.autograd.grad`` called through the
``torch.autograd`` module while the function runs (a name imported before the check, ``from torch.autograd
import grad``, is not seen; then nothing is said).
"""

from __future__ import annotations

import contextlib
import io
from typing import Callable

import torch

from workbook.core.task import Task

__all__ = ["backward_passes", "pass_count_note"]


def backward_passes(fn: Callable, model, task: Task, *args) -> int | None:
    """The number of backward passes ``fn(model, task, *args)`` runs (None when it raises)."""
    count = [0]
    backward, grad = torch.autograd.backward, torch.autograd.grad

    def counted(real: Callable) -> Callable:
        def run(*a, **k):
            count[0] += 1
            return real(*a, **k)
        return run

    torch.autograd.backward, torch.autograd.grad = counted(backward), counted(grad)
    try:
        with contextlib.redirect_stdout(io.StringIO()), torch.enable_grad():
            fn(model, task, *args)
    except Exception:  # noqa: BLE001 - a crash is diagnosed elsewhere
        return None
    finally:
        torch.autograd.backward, torch.autograd.grad = backward, grad
    return count[0]


def pass_count_note(fn: Callable, cases: list[tuple[str, object, Task]], method: str = "GradDrop") -> str:
    """A sentence when ``fn`` runs as many backward passes as one of the test model's other sizes (positions,
    prompt pairs, heads, layers x heads) and not one per layer (``L`` or ``L + 1``); "" otherwise."""
    for label, model, task in cases:
        L, H = model.cfg.n_layers, model.cfg.n_heads
        n = backward_passes(fn, model, task)
        if n is None or n in (L, L + 1):
            return ""
        sizes = {"positions (T)": task.seq_len, "prompt pairs (B)": task.batch_size, "heads (H)": H,
                 "heads of all layers (L x H: a pass for each head)": L * H, "layers minus one (L - 1)": L - 1}
        what = [k for k, v in sizes.items() if v == n]
        if what:
            return (f"your function runs {n} backward passes on {label}: as many as the {' or '.join(what)}, where "
                    f"{method} runs one per layer (L = {L}), pass l cutting layer l's attention and MLP writes; "
                    "what does your loop over passes run over? ")
        return ""
    return ""
