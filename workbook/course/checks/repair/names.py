"""Names that a learner's slip swaps (for :mod:`.nodes`): twin variables (``clean_q`` / ``corr_q``, ``q`` /
``k``, ``e_c`` / ``e_n``, an edited copy ``k2`` and its original ``k``), twin hook names (``hook_q`` / ``hook_k``) and
the einsum equations one letter away from the learner's."""

from __future__ import annotations

import re
from typing import Iterator

__all__ = ["TWINS", "STR_TWINS", "swap_tokens", "roles", "einsum_swaps"]

#: pairs of names (or ``_``-separated parts of names and attributes) a learner writes one for the other
TWINS = [("clean", "corrupt"), ("clean", "corr"), ("q", "k"), ("k", "v"), ("q", "v"), ("src", "dst"),
         ("first", "last"), ("start", "end"), ("n_layers", "n_heads"), ("n_heads", "n_kv_heads"),
         ("d_head", "d_model"), ("pre", "post"), ("in", "out"), ("clean_answer", "corrupt_answer"), ("L", "H"),
         ("B", "T"), ("l", "h"), ("i", "j"), ("t", "s"), ("c", "n"),
         ("per_example", "metric_value")]
_COPY_SUFFIX = re.compile(r"^(?P<base>\w+?)(_?\d+|_new|_patched|_p|_orig|_copy)$")  # k2 / k, q_new / q
#: pairs of hook-name parts (inside string constants) written one for the other
STR_TWINS = [("hook_q", "hook_k"), ("hook_k", "hook_v"), ("hook_q", "hook_v"), ("resid_pre", "resid_post"),
             ("resid_pre", "resid_mid"), ("mlp_in", "mlp_out"), ("attn_out", "mlp_out"), ("hook_z", "hook_result"),
             ("hook_pattern", "hook_attn_scores"), ("hook_v", "hook_z"), ("clean", "corrupt")]


def swap_tokens(name: str, names: set[str]) -> Iterator[str]:
    """Names in ``names`` that are ``name`` with one ``_``-separated part (or the whole) replaced by its twin."""
    parts = name.split("_")
    for a, b in TWINS + [(y, x) for x, y in TWINS]:
        if name == a and b in names:
            yield b
        for i, p in enumerate(parts):
            if p == a:
                cand = "_".join(parts[:i] + [b] + parts[i + 1:])
                if cand in names and cand != name:
                    yield cand
    m = _COPY_SUFFIX.match(name)  # an edited copy and its original: k2 / k, q_new / q, new_q / q
    for other in names:
        if other != name and (m and m.group("base") == other or _COPY_SUFFIX.match(other) and
                              _COPY_SUFFIX.match(other).group("base") == name or other in (f"new_{name}",) or
                              name == f"new_{other}"):
            yield other


_ROLE = {"clean": "the clean run's values", "corr": "the corrupt run's values", "corrupt": "the corrupt run's values",
         "q": "the queries", "k": "the keys", "v": "the values", "src": "the source's values",
         "dst": "the destination's values", "c": "the clean run's values", "n": "the corrupt run's values",
         "pre": "the block's input", "post": "the block's output"}


def roles(a: str, b: str) -> str:
    """``": the corrupt run's values read where the clean run's belong"`` for twin names, else ""."""
    pa, pb = a.split("_"), b.split("_")
    diff = [(x, y) for x, y in zip(pa, pb) if x != y] if len(pa) == len(pb) else []
    if len(diff) != 1 or diff[0][0] not in _ROLE or diff[0][1] not in _ROLE:
        return ""
    x, y = diff[0]
    return f": {_ROLE[x]} read where {_ROLE[y]} belong"


def einsum_swaps(s: str) -> Iterator[tuple[str, str]]:
    """Equations with two letters of one term swapped, then with one letter of a term replaced by another letter of
    the equation (a d_head letter written twice as d and e); an equation without ``->`` first gets one or two
    output letters written out."""
    lhs, arrow, rhs = s.partition("->")
    terms = lhs.split(",") + [rhs]
    letters = sorted({c for c in s if c.isalpha()})
    if not arrow:  # the implicit output: the letters written once, alphabetical; one or two output letters tried
        for out in letters + [a + b for a in letters for b in letters if a != b]:
            yield f"{lhs}->{out}", (f"without `->`: it keeps only the letters written once, in alphabetical order, "
                                    f"and sums every other; the output `->{out}` is missing")
    yield from _einsum_transpositions(terms)
    for t, term in enumerate(terms):
        for i, c in enumerate(term):
            for other in letters:
                if c.isalpha() and other not in term:
                    ts = terms[:t] + [term[:i] + other + term[i + 1:]] + terms[t + 1:]
                    alone = " (no other term has that axis: it is summed on its own)" if s.count(c) == 1 else ""
                    yield ",".join(ts[:-1]) + "->" + ts[-1], f"`{c}` where `{other}` belongs in `{term}`{alone}"


def _einsum_transpositions(terms: list[str]) -> Iterator[tuple[str, str]]:
    for t, term in enumerate(terms):
        for i in range(len(term)):
            for j in range(i + 1, len(term)):
                if term[i] == term[j] or not (term[i].isalpha() and term[j].isalpha()):
                    continue
                new = term[:i] + term[j] + term[i + 1:j] + term[i] + term[j + 1:]
                ts = terms[:t] + [new] + terms[t + 1:]
                yield ",".join(ts[:-1]) + "->" + ts[-1], f"the letters {term[i]} and {term[j]} of `{term}` swapped"
