"""The one IOI sentence generator: templates, name orders (ABBA/BABA) and the corruption.

:func:`ioi_sentences` writes indirect-object-identification prompt pairs (Wang et al., arXiv
2211.00593) as strings::

    "When Mary and John went to the store, John gave a drink to"  -> " Mary" (IO), wrong " John" (S)

A template names its slots ``{X}`` and ``{Y}`` (the two names in order of appearance), ``{S}``
(the repeated subject), ``{P}`` (a place) and ``{O}`` (an object); a template may leave out
``{P}`` or ``{O}``. Name orders: ``"ABBA"`` puts the IO first (``X=IO, Y=S``), ``"BABA"`` the
subject first. Corruptions of the clean prompt (only ``{S}`` changes, so the twin differs in one
word):

* ``"ABC"``: ``S :=`` a third name, so no name is repeated and nothing says which of the first
  two is the IO (a model that solves IOI has logit difference near 0 on it);
* ``"flip"``: ``S := IO``, so the right answer flips to the subject (logit difference negative).

Every draw comes from one seeded ``torch.Generator``, in a fixed order per row (a permutation of
the names, then a place, then an object), so the output is a pure function of the arguments.
:mod:`workbook.tasks.prompt` (real tokenizers: the word lists below, ABC) and
:mod:`workbook.models.local` (tiny offline tokenizers: its own small word vocabulary, flip) both
write their sentences with it.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch

from workbook.core.errors import TaskError

__all__ = ["PromptPair", "ioi_sentences", "NAMES", "PLACES", "OBJECTS", "TEMPLATES", "ORDERS", "CORRUPTIONS"]

# single tokens with a leading space in GPT-2's tokenizer (tests/test_gpt2_tokenizer.py)
NAMES = ("Mary", "John", "Tom", "James", "Paul", "David", "Mark", "Kevin", "Sarah", "Laura", "Anna", "Michael",
         "Daniel", "Eric", "Ryan", "Jack", "Kate", "Lisa", "Rachel", "Emily", "Peter", "George", "Alice", "Steven")
PLACES = ("store", "park", "school", "office", "garden", "station", "restaurant", "hospital")
OBJECTS = ("drink", "book", "ring", "ball", "letter", "gift", "bone", "kiss")
TEMPLATES = (
    "When {X} and {Y} went to the {P}, {S} gave a {O} to",
    "After {X} and {Y} went to the {P}, {S} gave a {O} to",
    "While {X} and {Y} were working at the {P}, {S} gave a {O} to",
    "Then, {X} and {Y} went to the {P}. {S} gave a {O} to",
    "When {X} and {Y} got a {O} at the {P}, {S} decided to give it to",
    "Friends {X} and {Y} found a {O} at the {P}. {S} gave it to",
)
ORDERS = ("ABBA", "BABA")
CORRUPTIONS = ("ABC", "flip")


class PromptPair(NamedTuple):
    """One example: the clean and corrupt prompts and the clean answer / competing answer (leading space)."""

    clean: str
    corrupt: str
    answer: str
    wrong: str


def _check(names: Sequence[str], templates: Sequence[str], orders: Sequence[str], corruption: str) -> None:
    if corruption not in CORRUPTIONS:
        raise TaskError(f"unknown IOI corruption {corruption!r}; choose one of {CORRUPTIONS}.")
    bad = [o for o in orders if o not in ORDERS]
    if not orders or bad:
        raise TaskError(f"IOI name orders must be a non-empty list of {ORDERS}, got {list(orders)}.")
    if len(names) < 3:
        raise TaskError(f"IOI needs at least 3 distinct names (IO, subject, and the ABC name), got {len(names)}.")
    if not templates:
        raise TaskError("IOI needs at least one template.")
    for t in templates:
        if not all(f"{{{slot}}}" in t for slot in "XYS"):
            raise TaskError(f"IOI template {t!r} must contain the slots {{X}}, {{Y}} and {{S}}.")


def ioi_sentences(
    n: int,
    seed: int = 0,
    *,
    names: Sequence[str] = NAMES,
    places: Sequence[str] = PLACES,
    objects: Sequence[str] = OBJECTS,
    templates: Sequence[str] = TEMPLATES,
    orders: Sequence[str] = ORDERS,
    corruption: str = "ABC",
) -> list[PromptPair]:
    """``n`` IOI prompt pairs ``(clean, corrupt, " IO", " S")``.

    Row ``i`` uses template ``i % len(templates)`` and the name order
    ``orders[(i // len(templates)) % len(orders)]`` (so with the default orders each template
    occurs in both ABBA and BABA). Per row, IO, S and the third name C are the first three
    entries of a seeded permutation of ``names`` (distinct), then a place and an object are drawn.

    Raises:
        TaskError: an unknown corruption or order, fewer than 3 names, a template without
            ``{X}``, ``{Y}`` or ``{S}``.
    """
    _check(names, templates, orders, corruption)
    g, rows = torch.Generator().manual_seed(int(seed)), []
    for i in range(int(n)):
        io, s, c = (names[int(j)] for j in torch.randperm(len(names), generator=g)[:3])
        p = places[int(torch.randint(len(places), (1,), generator=g))]
        o = objects[int(torch.randint(len(objects), (1,), generator=g))]
        order = orders[(i // len(templates)) % len(orders)]
        x, y = (io, s) if order == "ABBA" else (s, io)
        t = templates[i % len(templates)]
        repeat = c if corruption == "ABC" else io
        rows.append(PromptPair(t.format(X=x, Y=y, P=p, O=o, S=s), t.format(X=x, Y=y, P=p, O=o, S=repeat),
                               f" {io}", f" {s}"))
    return rows
