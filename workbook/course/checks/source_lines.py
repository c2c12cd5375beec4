"""Words for a diagnosis: the learner's line that most likely holds the mistake, and the numbers.

:func:`point_at` reads the function's source (``inspect``) and returns the first line that
matches the patterns of a probe's key (``"sign"``: a subtraction of clean and corrupt values;
``"scale"``: a batch size, a mean or a sum; ...), tried in order. No source (a lambda typed in a
console, a builtin) gives an empty string.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Callable

import torch

__all__ = ["LINE_PATTERNS", "point_at", "describe_numbers", "own_metric", "unused_arguments", "low_precision"]

LINE_PATTERNS: dict[str, tuple[str, ...]] = {  # tried in order: the first pattern any line matches wins
    "sign": (r"corr\w*(\[[^\]]*\])?\s*-\s*\w*clean", r"clean\w*(\[[^\]]*\])?\s*-\s*\w*corr", r"-\s*base", r"\s-\s"),
    "scale": (r"batch_size|\* *B\b|/ *B\b", r"steps|L *- *1", r"\.mean\(|\.sum\("),
    "offset": (r"base|baselines", r"metric_value", r"-"),
    "swap": (r"einsum|transpose|permute|\.T\b", r"softmax|stack"),
    "flip": (r"reversed|flip|sorted", r"range\("),
    "shift": (r"\[ *-1|\+ *1\]|- *1\]|\bl *[+-] *1|\bk *[+-] *1|range\(1|range\(0", r"range\("),
    "one_slice": (r"lambda",),
    "subset": (r"\[ *-1\]|\[:, *-1|\[:1\]|\[0\]", r"range\("),
    "groups": (r"startswith|kind|elif", r"if "),
    "zero": (r"cache_activations\w*\(.*corrupt|tokens=", r"clone|-"),
}


def point_at(fn: Callable | None, key: str) -> str:
    """`` Look at line N: `code`.`` for the line of ``fn`` that most likely holds the mistake, or ""."""
    patterns = LINE_PATTERNS.get(key.split(":")[0])
    if fn is None or patterns is None:
        return ""
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return ""
    code = [(k, line.split("#")[0].strip()) for k, line in enumerate(lines[1:], start=start + 1)]
    code = [(k, c) for k, c in code if c and not c.startswith(("def ", '"""', "return", "raise"))]
    for pattern in patterns:
        rx = re.compile(pattern)
        for k, c in code:
            if rx.search(c):
                last = key.startswith("subset") and re.search(r"\[(:, *)*-1\]", c)
                return f" Look at line {k}: `{c}`" + (
                    ": it reads index -1, the last entry, for every entry (the loop's own index, or the whole "
                    "axis, belongs there)." if last else ".")
    return ""


_TASK_METRIC = re.compile(r"metric_value|per_example|metric_fn|task\.metric\b|cache_activations_and_grads")
_OWN_METRIC = re.compile(r"kl_div|log_softmax|\.softmax\(|def \w*metric|logits?\[|\)\[:, *-1\]")


def own_metric(fn: Callable | None) -> str:
    """`` Your function measures ...`` when ``fn`` never reads the task's metric (``task.metric_value``, its
    ``per_example``, or a workbook helper that takes it) but computes something of its own from the logits; or ""."""
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return ""
    code = [(k, line.split("#")[0].strip()) for k, line in enumerate(lines[1:], start=start + 1)]
    helper = any(re.search(r"\blogit_diff\(", c) for _, c in code) and not any(
        c.startswith("def logit_diff") for _, c in code)  # the workbook's own, not one written here
    if helper or any(_TASK_METRIC.search(c) for _, c in code):
        return ""
    for k, c in code:
        if _OWN_METRIC.search(c):
            return (f"Your function measures with its own metric (line {k}: `{c}`) and never with the task's, "
                    "task.metric_value(logits) (the task's metric averaged over the prompt pairs: for a logit "
                    "difference, each pair's answer against its own wrong answer): unless yours equals it on every "
                    "prompt pair, that alone changes every number. ")
    return ""


_LOW = re.compile(r"\bautocast\b|\bbfloat16\b|\bfloat16\b|\.half\(\)|\btorch\.half\b|\.bfloat16\(\)")


def low_precision(fn: Callable | None) -> str:
    """``Your function computes in low precision ...`` when a line of ``fn`` runs or casts in bfloat16 or float16
    (``torch.autocast``, ``.half()``), or ""."""
    try:
        lines, start = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return ""
    for k, line in enumerate(lines, start=start):
        code = line.split("#")[0].strip()
        if _LOW.search(code):
            return (f"Your function computes in low precision (line {k}: `{code}`): bfloat16 keeps about 3 "
                    "significant digits and float16 about 4, so an effect, a difference of two nearly equal metrics, "
                    "loses most of its own; compute in the model's float32 (or float64). ")
    return ""


def unused_arguments(fn: Callable | None) -> str:
    """``Your function never reads its argument `steps` ...`` for the learner's parameters that its body never
    reads (``*args``/``**kwargs`` and ``_``-names aside), or "": an exercise's every argument shapes its result."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return ""
    func = tree.body[0] if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    if func is None:
        return ""
    params = [a.arg for a in func.args.posonlyargs + func.args.args + func.args.kwonlyargs if not a.arg.startswith("_")]
    read = {n.id for stmt in func.body for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    unused = [p for p in params if p not in read]
    if not unused:
        return ""
    names = " and ".join(f"`{p}`" for p in unused)
    return (f"Your function never reads its argument{'s' * (len(unused) > 1)} {names}: each argument of the exercise "
            "shapes the result (a number fixed in the code, or another count read in its place?). ")


def describe_numbers(c, n: int = 3, rel: float = 2e-2) -> str:
    """``On <label>: L1H2: yours -0.31, expected 0.31; ...`` for the entries of ``c`` (a
    :class:`~workbook.course.checks.diagnose_diff.Case`) that matter most; ``rel``: what counts as agreeing."""
    if c.want.numel() == 0:
        return ""
    diff = (c.got - c.want).abs().flatten()
    top_want = c.want.abs().flatten().argsort(descending=True)[:n].tolist()
    top_diff = diff.argsort(descending=True)[:n].tolist()
    picks = list(dict.fromkeys(top_want[:2] + top_diff))[:n]
    parts = []
    for f in picks:
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(f), c.want.shape))
        mine, ref = c.got.flatten()[f].item(), c.want.flatten()[f].item()
        parts.append(f"{c.label_of(idx)}: yours {mine:.3g}, expected {ref:.3g}")
    agree = (diff <= rel * c.scale).float().mean().item()
    return f"On {c.label}: " + "; ".join(parts) + f" ({agree:.0%} of the entries agree)."
