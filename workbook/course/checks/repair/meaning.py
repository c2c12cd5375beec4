"""What a one-line fix means for the method, read off the learner's line as written (no run needed).

The generic words of an edit ("the clamp is extra", "a minus where a plus belongs", "the `not` is extra") say what
changes on the line; a learner also needs to know what that does to the computation. :func:`meaning` adds it where
the line shows it:

- a clamp or relu of a product (``(delta * grad).clamp(min=0)``) sets the product's negative entries to 0 before
  they are summed: the estimate is the sum of the signed terms;
- ``x - (y - x)`` where ``x + (y - x)`` belongs moves ``x`` the opposite way along the difference (the patched
  value is ``y`` itself);
- a condition on state kept from an earlier call (``hasattr(the_function, ...)``, ``key in A_MODULE_DICT``, a
  module-level value tested against None) decides whether a stored result is reused: the state is kept across calls;
- a twin name swapped on a cache lookup (``corr[...hook_k]`` where ``clean[...]`` belongs) reads that run's
  quantity, named from the hook ("the corrupt run's keys");
- a ``linspace`` whose count is one off (``steps + 1``) gives one point too many;
- a fixed pair index moved (``task.clean[0]`` -> ``task.clean[1]``): one pair's prompts are read for every pair;
- a division by a count of the edge mask (each source's scores shared among its destinations: its out-degree), or
  by the attention scale (then applied twice);
- a plus where a minus belongs in an interpolation (``e_n + a * (e_c + e_n)``): the points leave the segment;
- an einsum letter in no other term: that axis summed in each term on its own (a product of sums);
- a mean over axis 0 of an attention pattern: one batch-averaged pattern for every pair.

Each returns "" when the line does not show it. Nothing is evaluated; only the line's ``ast`` is read.
"""

from __future__ import annotations

import ast
import re
from typing import Callable

from workbook.course.checks.repair.edits import Edit
from workbook.course.checks.repair.source import unparsed

__all__ = ["meaning"]

_CUTS = ("clamp", "clamp_min", "clip", "relu")


def _parsed(line: str) -> ast.AST | None:
    """The line as an ``ast`` (a block header such as ``if x:`` gets a body so that it parses)."""
    text = line.strip()
    for candidate in (text, text + " pass", text.rstrip(":")):
        try:
            return ast.parse(candidate)
        except SyntaxError:
            continue
    return None


def _cut_product(tree: ast.AST, after: ast.AST | None) -> str:
    kept = {unparsed(n) for n in ast.walk(after)} if after is not None else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CUTS \
                and isinstance(node.func.value, ast.BinOp) and isinstance(node.func.value.op, ast.Mult) \
                and unparsed(node) not in kept:
            product = unparsed(node.func.value)
            product = f"`{product}`" if len(product) <= 60 else "it"
            return (f"it sets the negative entries of the product {product} to 0 before they are summed, so terms "
                    "of opposite sign no longer cancel: the estimate is the sum of the signed terms")
    return ""


def _opposite_way(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and isinstance(node.right, ast.BinOp) \
                and isinstance(node.right.op, ast.Sub) and unparsed(node.right.right) == unparsed(node.left):
            x, y = unparsed(node.left), unparsed(node.right.left)
            return (f"subtracting the difference moves `{x}` the opposite way, away from `{y}`: "
                    f"`{x} + ({y} - {x})` is `{y}` itself")
    return ""


def _stored_state(tree: ast.AST, fn: Callable) -> str:
    glob = getattr(fn, "__globals__", {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hasattr" \
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id == fn.__name__:
            where = f"on the function itself (`{fn.__name__}`)"
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and (
                isinstance(node.ops[0], (ast.In, ast.NotIn, ast.Is, ast.IsNot))) and any(
                isinstance(n, ast.Name) and n.id in glob and not callable(glob[n.id])
                for n in (node.left, *node.comparators)):
            name = next(n.id for n in (node.left, *node.comparators) if isinstance(n, ast.Name) and n.id in glob)
            where = f"in the module-level `{name}`"
        else:
            continue
        return (f"this condition decides whether a result stored {where} by an earlier call is reused: state kept "
                "across calls, so a later call (another model, task or set of scores) gets the stale result; "
                "compute it on every call")
    return ""


#: what a hook holds, for "the corrupt run's keys (hook_k)"
_HOLDS = {"q": "queries", "k": "keys", "v": "values", "z": "head outputs z", "pattern": "attention pattern",
          "attn_scores": "attention scores", "result": "head outputs", "attn_out": "attention outputs",
          "mlp_out": "MLP outputs", "resid_pre": "residual stream", "resid_mid": "residual stream",
          "resid_post": "residual stream", "embed": "token embeddings", "q_input": "query inputs",
          "k_input": "key inputs", "v_input": "value inputs", "mlp_in": "MLP inputs"}


def _which_run(tree: ast.AST, after: ast.AST | None, words: str) -> str:
    """For "`corr` where `clean` belongs": which quantity of which run is read, from the hook name it indexes."""
    found = re.match(r"`(\w+)` where `(\w+)` belongs: the (\w+) run's values read where the (\w+) run's", words)
    if not found:
        return ""
    kept = {unparsed(n) for n in ast.walk(after)} if after is not None else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == found.group(1) \
                and unparsed(node) not in kept:
            hook = re.search(r"hook_(\w+?)[\"']", unparsed(node.slice))
            held = _HOLDS.get(hook.group(1)) if hook else None
            if held:
                return (f"here the {found.group(3)} run's {held} (hook_{hook.group(1)}) are read where the "
                        f"{found.group(4)} run's {held} belong")
    return ""


def _point_count(tree: ast.AST, words: str) -> str:
    """For "adding `1` is extra" on the count of a ``linspace``: one point too many (or too few)."""
    found = re.match(r"(adding|subtracting) `1` is extra", words)
    if not found:
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "linspace":
            count = node.args[2] if len(node.args) > 2 else next(
                (k.value for k in node.keywords if k.arg == "steps"), None)
            if isinstance(count, ast.BinOp) and isinstance(count.right, ast.Constant) and count.right.value == 1:
                more = "too many" if found.group(1) == "adding" else "too few"
                return (f"linspace's third argument is the number of points, so `{unparsed(count)}` gives one point "
                        f"{more}, and their spacing is no longer the step between them")
    return ""


def _one_pair(before: str, words: str) -> str:
    """For a fix that moves ``task.clean[0]`` to another index: one pair's tokens are read for every pair."""
    found = re.search(r"\btask\.(clean|corrupt|answer|wrong)\[(\d+)\]", before)
    if not found or "belongs" not in words:
        return ""
    return (f"`{found.group(0)}` is prompt pair {found.group(2)}'s alone: a value read from one pair is used for every "
            "pair, and the fix only picks a pair for which that happens to be right on the test cases; compute it "
            "from each pair's own prompts")


_SCALE_NAMES = re.compile(r"^(sc|scale|scales|attn_scale\w*|sqrt_?d\w*|.*attn_scale\(.*|.*sqrt\(.*d_head.*)$")


def _extra_divisor(words: str) -> str:
    """For "dividing by `X` is extra": a count of edges per source or per destination (an out- or in-degree), or the
    attention scale (then applied twice, as the scores divide by it too)."""
    found = re.match(r"dividing by `(.+)` is extra", words)
    if not found:
        return ""
    divisor = found.group(1)
    degree = re.search(r"edge_mask\w*\.sum\((\w+|-?\d)", divisor)
    if degree:
        per = "source by its number of destinations (its out-degree)" if degree.group(1) in ("1", "-1") else \
            "destination by its number of sources (its in-degree)"
        return (f"it divides the scores of each {per}: an edge's attribution is its own product of delta and "
                "gradient, not shared among the source's or destination's other edges")
    if _SCALE_NAMES.match(divisor):
        return ("this value is divided by the attention scale here and again where the scores q.k are divided by "
                "it (the scale applied twice); scale the scores once, as the model does")
    return ""


def _two_ends_added(before: str, words: str) -> str:
    """For "a plus where a minus belongs" on an interpolation (``e_n + a * (e_c + e_n)``): the points leave the
    segment between the two ends."""
    pair = re.search(r"\(\s*([\w.\[\]]+)\s*\+\s*([\w.\[\]]+)\s*\)", before)
    if not words.startswith("a plus where a minus belongs") or not pair \
            or not re.search(r"steps|alpha|\bk\s*/|linspace|\bt\b|frac", before):
        return ""
    return (f"`({pair.group(1)} + {pair.group(2)})` is the sum of the two ends, not the difference between them, so "
            "the points are not between the corrupt and the clean embedding: they leave the straight segment that "
            "the integral follows")


def _summed_apart(words: str) -> str:
    """For an einsum letter "in no other term": the two terms are summed over that axis each on its own."""
    found = re.match(r"einsum `(\w)` where `(\w)` belongs in `(\w+)` \(no other term has that axis", words)
    if not found:
        return ""
    return (f"with `{found.group(1)}` alone, each term is summed over that axis separately, so every entry of one "
            "meets every entry of the other (a product of two sums) where matched entries belong (the sum of their "
            "products); on a position axis: every source position paired with every destination position, where an "
            "edge pairs each position with the same position")


def _pattern_averaged(before: str, after: str, words: str) -> str:
    """For a mean over axis 0 extra on a line that computes an attention pattern (a softmax): one pattern for all."""
    if "over that axis is extra" not in words or "softmax" not in before or not re.search(r"\.mean\(\s*0", before) \
            or re.search(r"\.mean\(\s*0", after or ""):
        return ""
    return ("the pattern computed here is then a batch-averaged attention pattern, one shared by every prompt pair "
            "(axis 0), where each pair has its own")


def meaning(fn: Callable, edit: Edit) -> str:
    """What ``edit`` changes in the method's terms, read off its line (see the module docstring); "" if nothing."""
    tree = _parsed(edit.before)
    if tree is None:
        return ""
    after = _parsed(edit.after) if edit.after else None
    words = edit.words
    if words.startswith(("the clamp is extra", "the relu is extra")):
        return _cut_product(tree, after)
    if words.startswith("a minus where a plus belongs"):
        return _opposite_way(tree)
    if words.startswith(("the `not` is extra", "the condition is inverted")):
        return _stored_state(tree, fn)
    return _which_run(tree, after, words) or _point_count(tree, words) or _one_pair(edit.before, words) \
        or _extra_divisor(words) or _two_ends_added(edit.before, words) or _summed_apart(words) \
        or _pattern_averaged(edit.before, edit.after, words)
