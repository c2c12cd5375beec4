"""Synthetic tasks for the trained models: small vocabularies, fixed-length templates.

Every generator is deterministic given ``seed`` and returns a :class:`workbook.core.task.Task`
whose clean and corrupt prompts have the same length and line up position by position
(only the corrupted token differs), with ``task.vocab`` set so labels are readable.
Metric: ``logit_diff`` = logit(answer) - logit(wrong) at the last position.
The IOI here keeps its own word lists and token-level generator rather than
:func:`workbook.tasks.ioi.ioi_sentences`: the shipped 2-layer weights were trained on exactly
these vocabularies and sequences, and tests pin what they generate.

Tasks
-----
``ioi`` — indirect-object identification, 15 tokens::

    <bos> When Mary and John went to the store , John gave a drink to   -> Mary
    pos:  0    1    2   3    4    5  6   7    8   9  10   11  12  13  14

  Both name orders (ABBA and BABA) occur, so position alone does not reveal the answer.
  ``answer`` = indirect object (IO), ``wrong`` = subject (S).
  Corruption is **ABC**: the repeated subject at position 10 is replaced by a third name, so the
  corrupt prompt contains no duplicated name and carries no information about which of the
  two first names is the IO (a model that solves IOI has logit diff near 0 on it).

``induction`` — single-token induction on random letters, 12 tokens::

    <bos> x1 x2 ... x10 xj   -> x(j+1)

  The ten letters are distinct; ``j`` is uniform in 1..9. Corruption: the token after the
  first occurrence, ``x(j+1)``, is replaced by a letter ``w`` not in the sequence, so the
  induction answer of the corrupt prompt is ``w``. ``answer = x(j+1)``, ``wrong = w``.

Training streams: :func:`train_batch` returns ``(tokens[B,S'], targets[B,S'])`` with target
``-100`` (ignored) wherever there is nothing to learn. IOI: the clean prompts, target = the IO at
the last position. Induction: the clean prompt continued by copying, ``<bos> x1..x10 xj x(j+1) ...``
up to 16 tokens, target = the next copied token at every position from 11 on (more signal per
sequence; position 11 is exactly the evaluation prompt).
"""

from __future__ import annotations

from typing import Callable

import torch

from workbook.core.errors import TaskError
from workbook.core.task import Task

__all__ = [
    "IOI_VOCAB",
    "INDUCTION_VOCAB",
    "ioi_task",
    "induction_task",
    "train_batch",
    "TASKS",
    "VOCABS",
    "make",
]

NAMES = ["Mary", "John", "Tom", "Anna", "Paul", "Kate", "Mark", "Lucy", "Jack", "Emma", "Sam", "Rose"]
INTROS = ["When", "After", "While"]
PLACES = ["store", "park", "school", "office"]
VERBS = ["gave", "handed", "passed", "threw"]
OBJECTS = ["drink", "book", "ball", "key"]
IOI_VOCAB: list[str] = ["<bos>"] + NAMES + INTROS + ["and", "went", "to", "the", ","] + PLACES + VERBS + ["a"] + OBJECTS
_IOI_ID = {w: i for i, w in enumerate(IOI_VOCAB)}
IOI_S2_POS = 10  # position of the repeated subject, the token the ABC corruption replaces

LETTERS = [chr(ord("A") + i) for i in range(26)]
INDUCTION_VOCAB: list[str] = ["<bos>"] + LETTERS
INDUCTION_SPAN = 10


def _ids(words: list[str]) -> torch.Tensor:
    return torch.tensor([_IOI_ID[w] for w in words], dtype=torch.long)


def _pick(options: list[str], n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` token ids drawn uniformly from ``options``: ``[n]``."""
    return _ids(options)[torch.randint(len(options), (n,), generator=g)]


def _ioi_tokens(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(clean[n,15], corrupt[n,15], io[n], s[n])`` token ids for ``n`` IOI prompts."""
    names = _ids(NAMES)
    # three distinct names per prompt: IO, S, and C (the ABC replacement)
    trio = torch.stack([torch.randperm(len(NAMES), generator=g)[:3] for _ in range(n)])
    io, s, c = names[trio[:, 0]], names[trio[:, 1]], names[trio[:, 2]]
    abba = torch.rand(n, generator=g) < 0.5
    first = torch.where(abba, io, s)
    second = torch.where(abba, s, io)
    col = lambda w: torch.full((n,), _IOI_ID[w], dtype=torch.long)  # noqa: E731
    clean = torch.stack(
        [
            col("<bos>"), _pick(INTROS, n, g), first, col("and"), second, col("went"), col("to"),
            col("the"), _pick(PLACES, n, g), col(","), s, _pick(VERBS, n, g), col("a"),
            _pick(OBJECTS, n, g), col("to"),
        ],
        dim=1,
    )
    corrupt = clean.clone()
    corrupt[:, IOI_S2_POS] = c
    return clean, corrupt, io, s


def _induction_tokens(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(clean[n,12], corrupt[n,12], answer[n], wrong[n])`` for ``n`` induction prompts."""
    k = INDUCTION_SPAN
    perms = torch.stack([torch.randperm(len(LETTERS), generator=g)[: k + 1] + 1 for _ in range(n)])
    seq, spare = perms[:, :k], perms[:, k]  # spare: a letter absent from the sequence
    j = torch.randint(0, k - 1, (n,), generator=g)  # 0-based index of the repeated letter
    rows = torch.arange(n)
    bos = torch.zeros(n, 1, dtype=torch.long)
    clean = torch.cat([bos, seq, seq[rows, j][:, None]], dim=1)
    answer = seq[rows, j + 1]
    corrupt = clean.clone()
    corrupt[rows, j + 2] = spare  # +1 for <bos>, +1 for "the token after"
    return clean, corrupt, answer, spare


def ioi_task(n: int = 32, seed: int = 0) -> Task:
    """``n`` IOI prompt pairs (clean vs ABC corrupt), deterministic in ``seed``. See module doc."""
    _check_n(n)
    clean, corrupt, io, s = _ioi_tokens(n, torch.Generator().manual_seed(seed))
    return Task(
        clean, corrupt, io, s, metric="logit_diff", name="ioi", vocab=IOI_VOCAB,
        description="indirect object identification; corrupt = ABC (S2 replaced by a third name)",
    )


def induction_task(n: int = 32, seed: int = 0) -> Task:
    """``n`` single-token induction pairs, deterministic in ``seed``. See module doc."""
    _check_n(n)
    clean, corrupt, answer, wrong = _induction_tokens(n, torch.Generator().manual_seed(seed))
    return Task(
        clean, corrupt, answer, wrong, metric="logit_diff", name="induction", vocab=INDUCTION_VOCAB,
        description="single-token induction; corrupt = the token after the first occurrence replaced",
    )


TASKS: dict[str, Callable[..., Task]] = {"ioi": ioi_task, "induction": induction_task}
VOCABS: dict[str, list[str]] = {"ioi": IOI_VOCAB, "induction": INDUCTION_VOCAB}
_TOKENS = {"ioi": _ioi_tokens, "induction": _induction_tokens}


def make(name: str, n: int = 32, seed: int = 0) -> Task:
    """The task ``name`` (a key of :data:`TASKS`) with ``n`` prompt pairs."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; choose from {sorted(TASKS)}.")
    return TASKS[name](n=n, seed=seed)


INDUCTION_TRAIN_LEN = 16


def _induction_train(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Induction prompts continued by copying: ``(tokens[n,16], targets[n,16])``, -100 = no loss."""
    k, L = INDUCTION_SPAN, INDUCTION_TRAIN_LEN
    seq = torch.stack([torch.randperm(len(LETTERS), generator=g)[:k] + 1 for _ in range(n)])
    j = torch.randint(0, k - 1, (n,), generator=g)
    # copied index for positions k+1 .. L-1 of the output; clamp keeps tokens in range, masked below
    steps = torch.arange(L - k - 1)
    src = (j[:, None] + steps[None]).clamp(max=k - 1)
    tokens = torch.cat([torch.zeros(n, 1, dtype=torch.long), seq, seq.gather(1, src)], dim=1)
    nxt = (j[:, None] + steps[None] + 1)
    targets = torch.full((n, L), -100, dtype=torch.long)
    valid = nxt <= k - 1
    targets[:, k + 1 :] = torch.where(valid, seq.gather(1, nxt.clamp(max=k - 1)), torch.full_like(nxt, -100))
    return tokens, targets


def _ioi_train(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    clean, _, io, _ = _ioi_tokens(n, g)
    targets = torch.full_like(clean, -100)
    targets[:, -1] = io
    return clean, targets


_TRAIN = {"ioi": _ioi_train, "induction": _induction_train}


def train_batch(name: str, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch: ``(tokens[n, S'], targets[n, S'])``, targets ``-100`` where no loss applies.

    ``g`` is advanced, so successive calls give a reproducible stream. See the module doc for
    what each task trains on.
    """
    if name not in _TRAIN:
        raise KeyError(f"unknown task {name!r}; choose from {sorted(_TRAIN)}.")
    _check_n(n)
    return _TRAIN[name](n, g)


def _check_n(n: int) -> None:
    if not isinstance(n, int) or n < 1:
        raise TaskError(f"n (number of prompt pairs) must be a positive int, got {n!r}.")
