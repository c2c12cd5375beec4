"""The six tasks of the ``mixture`` model: small synthetic grammars modelled on Hanna et al. (2024).

One word-level vocabulary (:data:`VOCAB`, readable strings) serves all six tasks and the filler
text, so one model can learn them all. Every task has several templates of the *same* token
length (the key words sit at different positions, and distractor clauses mention other names,
years, nouns, countries or animals), so a task's clean and corrupt prompts stack into one batch
without padding. :func:`make` returns a :class:`workbook.core.task.Task` with ``task.vocab = VOCAB``.
Its IOI (and the other five) keep their own word lists (:mod:`workbook.tasks.mixture_vocab`) rather
than :mod:`workbook.tasks.ioi` and :mod:`workbook.tasks.prompt`: the shipped ``mixture`` weights were
trained on exactly them, and tests pin what they generate.

Tasks (one template each; ``->`` the answer, then the corruption and the metric):

* ``ioi`` — "When Mary and John went to the park , John then gave a ball to" -> Mary (wrong:
  John). Corrupt: the second "John" (S2) becomes a third name (ABC). ``logit_diff``.
* ``greater_than`` — "The war of 15 40 ended . The siege lasted from the year 17 32 to the
  year 17" -> any year above 32. Corrupt: 32 becomes 01. ``greater_than_prob_diff``.
* ``sva`` — "Tom said that the author near the old guards" -> is / was / has / does (wrong: the
  plural verbs). Corrupt: the subject's number flipped (authors). ``sva_prob_diff``.
* ``capital`` — "Anna flew from Peru to Chile . The capital of France is" -> Paris. Corrupt:
  another country (wrong: its capital). ``prob_diff``.
* ``hypernymy`` — "Tom saw a trout near the lake . A robin is a kind of" -> bird. Corrupt: a
  hyponym of another category (wrong: that category). ``logit_diff``.
* ``gender`` — "The nurse met Tom at the bank and said that" -> she (wrong: he). Corrupt: the
  paired profession of the other stereotype (pilot). ``logit_diff``.

Metrics follow Hanna et al.'s ``metrics.py``: ``prob_diff`` for greater-than, SVA and
country-capital, ``logit_diff`` for the others. Greater-than reads ``answer`` as the start year
``YY`` and scores ``sum p(years > YY) - sum p(years <= YY)`` over the 100 two-digit tokens; SVA
reads ``answer`` as one verb of the correct number and scores ``sum p(verbs of that number) -
sum p(verbs of the other number)``. Gender is a *bias*: in the training stream a profession
takes its stereotyped pronoun 90% of the time (so the clean logit difference is about log 9).
Hanna et al. corrupt with "man"/"woman"; our model never sees those in this context, so the
corrupt prompt uses the profession paired with the clean one (same index in the other list).

Accuracy (:func:`accuracy`): the model's top-1 token over the whole vocabulary at the read
position is a correct answer (IO name; a year above YY; a verb of the subject's number; the
capital; the category; the stereotyped pronoun).
Training rows (:func:`training_rows`) pack task instances (prompt + sampled answer) and filler
sentences (plain next-token loss) into fixed-length rows; see its docstring.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

import torch

from workbook.core.errors import TaskError
from workbook.core.task import Task, logit_diff, prob_diff
from workbook.tasks.mixture_vocab import (
    ADJS,
    CAPITALS,
    CATEGORIES,
    CENTURIES,
    COUNTRIES,
    EVENTS,
    FEMALE,
    FEMALE_JOBS,
    HYPONYMS,
    ID,
    MALE,
    MALE_JOBS,
    NAMES,
    NOUNS,
    OBJECTS,
    PL_VERBS,
    PLACES,
    SG_VERBS,
    VOCAB,
    YEARS,
    decode,
    encode,
)

__all__ = ["VOCAB", "TASK_NAMES", "TEMPLATES", "make", "accuracy", "correct", "training_rows",
           "greater_than_prob_diff", "sva_prob_diff", "encode", "decode"]

# ----------------------------------------------------------------------------- templates
#: per task: templates of equal length; ``{X}`` slots are filled by the task's sampler.
TEMPLATES: dict[str, list[str]] = {
    "ioi": ["When {A} and {B} went to the {PLACE} , {S} then gave a {OBJ} to",
            "{A} and {B} went to the {PLACE} . Later , {S} gave a {OBJ} to",
            "At the {PLACE} , {A} and {B} talked . Then {S} gave a {OBJ} to",
            "Yesterday {A} and {B} found a {OBJ} at the {PLACE} . {S} gave it to"],
    "greater_than": ["In {C2} {X} the king died . The {EVENT} lasted from the year {C} {Y} to the year {C}",
                     "The {EVENT2} of {C2} {X} ended . The {EVENT} lasted from the year {C} {Y} to the year {C}",
                     "{NAME} wrote about the old {EVENT2} . The {EVENT} lasted from the year {C} {Y} to the year {C}"],
    "sva": ["{NAME} said that the {S} near the old {A}",
            "{NAME} said that the {S} that the {A} {LIKE}",
            "In the {PLACE} , the {S} with the {A}"],
    "capital": ["{NAME} flew from {C2} to {C3} . The capital of {C} is",
                "The capital of {C} , unlike the one of {C2} , is",
                "{NAME} lives in {C2} now , but the capital of {C} is"],
    "hypernymy": ["{NAME} saw a {H2} near the {PLACE} . A {H} is a kind of",
                  "Unlike the {H2} in the big {PLACE} , the {H} is a kind of",
                  "{NAME} told {NAME2} that the {H} in the big {PLACE} is a kind of"],
    "gender": ["The {P} met {NAME} at the {PLACE} and said that",
               "After the {PLACE} closed early , the {P} said that",
               "The {P} , who knew {NAME} well , said that"],
}
TASK_NAMES: tuple[str, ...] = tuple(TEMPLATES)
for _name, _ts in TEMPLATES.items():
    assert len({len(t.split()) for t in _ts}) == 1, f"{_name}: templates must have equal length"

GENDER_BIAS = 0.9  # training: P(stereotyped pronoun | profession)


@dataclass
class Example:
    """One prompt pair as words: ``target`` is what a training row continues the clean prompt with."""

    clean: list[str]
    corrupt: list[str]
    answer: str
    wrong: str
    target: str


def _fill(template: str, slots: dict[str, str]) -> list[str]:
    return [slots[w[1:-1]] if w.startswith("{") else w for w in template.split()]


def _distinct(rng: random.Random, pool: list[str], k: int) -> list[str]:
    return rng.sample(pool, k)


def _ioi(rng, t):
    io, s, c = _distinct(rng, NAMES, 3)
    a, b = (io, s) if rng.random() < 0.5 else (s, io)
    slots = {"A": a, "B": b, "S": s, "PLACE": rng.choice(PLACES), "OBJ": rng.choice(OBJECTS)}
    clean = _fill(t, slots)
    corrupt = _fill(t, {**slots, "S": c})
    return Example(clean, corrupt, io, s, io)


def _greater_than(rng, t):
    y = rng.randint(2, 98)
    ev, ev2 = _distinct(rng, EVENTS, 2)
    slots = {"C": rng.choice(CENTURIES), "C2": rng.choice(CENTURIES), "X": rng.choice(YEARS), "Y": YEARS[y],
             "EVENT": ev, "EVENT2": ev2, "NAME": rng.choice(NAMES)}
    clean = _fill(t, slots)
    corrupt = _fill(t, {**slots, "Y": "01"})
    return Example(clean, corrupt, YEARS[y], "01", YEARS[rng.randint(y + 1, 99)])


def _sva(rng, t):
    s, a = rng.sample(list(NOUNS), 2)
    plural, a_plural = rng.random() < 0.5, rng.random() < 0.5
    subj, other = (NOUNS[s], s) if plural else (s, NOUNS[s])
    slots = {"NAME": rng.choice(NAMES), "S": subj, "A": NOUNS[a] if a_plural else a,
             "LIKE": "like" if a_plural else "likes", "PLACE": rng.choice(PLACES)}
    good, bad = (PL_VERBS, SG_VERBS) if plural else (SG_VERBS, PL_VERBS)
    return Example(_fill(t, slots), _fill(t, {**slots, "S": other}), good[0], bad[0], rng.choice(good))


def _capital(rng, t):
    c, c_bad, c2, c3 = _distinct(rng, COUNTRIES, 4)
    slots = {"C": c, "C2": c2, "C3": c3, "NAME": rng.choice(NAMES)}
    return Example(_fill(t, slots), _fill(t, {**slots, "C": c_bad}), CAPITALS[c], CAPITALS[c_bad], CAPITALS[c])


def _hypernymy(rng, t):
    cat, cat_bad, cat2 = _distinct(rng, list(CATEGORIES), 3)
    h, h_bad, h2 = rng.choice(CATEGORIES[cat]), rng.choice(CATEGORIES[cat_bad]), rng.choice(CATEGORIES[cat2])
    name, name2 = _distinct(rng, NAMES, 2)
    slots = {"H": h, "H2": h2, "NAME": name, "NAME2": name2, "PLACE": rng.choice(PLACES)}
    return Example(_fill(t, slots), _fill(t, {**slots, "H": h_bad}), cat, cat_bad, cat)


def _gender(rng, t):
    female = rng.random() < 0.5
    job = rng.choice(FEMALE_JOBS if female else MALE_JOBS)
    stereo, other = ("she", "he") if female else ("he", "she")
    slots = {"P": job, "NAME": rng.choice(NAMES), "PLACE": rng.choice(PLACES)}
    # the paired profession of the opposite stereotype (no random draw: the training stream stays as it was)
    paired = MALE_JOBS[FEMALE_JOBS.index(job)] if female else FEMALE_JOBS[MALE_JOBS.index(job)]
    corrupt = _fill(t, {**slots, "P": paired})
    target = stereo if rng.random() < GENDER_BIAS else other
    return Example(_fill(t, slots), corrupt, stereo, other, target)


SAMPLERS: dict[str, Callable[[random.Random, str], Example]] = {
    "ioi": _ioi, "greater_than": _greater_than, "sva": _sva, "capital": _capital,
    "hypernymy": _hypernymy, "gender": _gender,
}

# ----------------------------------------------------------------------------- metrics
_YEAR_IDS = torch.tensor(encode(YEARS))
_YEAR_VALUE = torch.full((len(VOCAB),), -1, dtype=torch.long)
_YEAR_VALUE[_YEAR_IDS] = torch.arange(100)
_SG_IDS, _PL_IDS = torch.tensor(encode(SG_VERBS)), torch.tensor(encode(PL_VERBS))
_IS_SG = torch.zeros(len(VOCAB), dtype=torch.bool)
_IS_SG[_SG_IDS] = True


def _read(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    return logits[torch.arange(logits.shape[0], device=logits.device), pos]


def greater_than_prob_diff(logits, answer, wrong, pos) -> torch.Tensor:
    """Per example ``sum p(YY' > YY) - sum p(YY' <= YY)`` over the two-digit tokens; ``answer`` = YY's id."""
    probs = _read(logits, pos).softmax(-1)[:, _YEAR_IDS.to(logits.device)]  # [N, 100]
    yy = _YEAR_VALUE.to(logits.device)[answer]
    above = torch.arange(100, device=logits.device)[None] > yy[:, None]
    return (probs * above).sum(-1) - (probs * ~above).sum(-1)


def sva_prob_diff(logits, answer, wrong, pos) -> torch.Tensor:
    """Per example ``sum p(verbs of the answer's number) - sum p(verbs of the other number)``."""
    probs = _read(logits, pos).softmax(-1)
    sg = probs[:, _SG_IDS.to(logits.device)].sum(-1)
    pl = probs[:, _PL_IDS.to(logits.device)].sum(-1)
    return torch.where(_IS_SG.to(logits.device)[answer], sg - pl, pl - sg)


METRIC = {"ioi": logit_diff, "greater_than": greater_than_prob_diff, "sva": sva_prob_diff,
          "capital": prob_diff, "hypernymy": logit_diff, "gender": logit_diff}
METRIC_NAME = {"ioi": "logit_diff", "greater_than": "prob_diff (years above YY minus the rest)",
               "sva": "prob_diff (verbs of the subject's number minus the others)", "capital": "prob_diff",
               "hypernymy": "logit_diff", "gender": "logit_diff"}
DESCRIPTION = {
    "ioi": "indirect object identification (4 templates, 40 names); corrupt = ABC (S2 replaced by a third name)",
    "greater_than": "greater-than on years (distractor years); corrupt = start year YY replaced by 01",
    "sva": "subject-verb agreement across an attractor noun; corrupt = subject number flipped",
    "capital": "country-capital recall (40 countries, distractor countries); corrupt = another country",
    "hypernymy": "hypernymy, 'X is a kind of' (10 categories x 6); corrupt = a hyponym of another category",
    "gender": "gender bias, 'The nurse ... said that' -> she; "
    "corrupt = profession replaced by its opposite-stereotype pair",
}


# ----------------------------------------------------------------------------- tasks
def _check(name: str) -> None:
    if name not in SAMPLERS:
        raise KeyError(f"unknown mixture task {name!r}; choose from {list(TASK_NAMES)}.")


def examples(name: str, n: int, seed: int = 0, template: int | None = None) -> list[Example]:
    """``n`` prompt pairs of task ``name`` from ``seed`` (``template``: one template index, or all in turn)."""
    _check(name)
    if not isinstance(n, int) or n < 1:
        raise TaskError(f"n (number of prompt pairs) must be a positive int, got {n!r}.")
    ts = TEMPLATES[name]
    if template is not None and not 0 <= template < len(ts):
        raise TaskError(f"task {name!r} has templates 0..{len(ts) - 1}, got template={template!r}.")
    rng = random.Random(f"{name}:{seed}")
    return [SAMPLERS[name](rng, ts[i % len(ts)] if template is None else ts[template]) for i in range(n)]


def make(name: str, n: int = 32, seed: int = 0, template: int | None = None) -> Task:
    """Task ``name`` with ``n`` prompt pairs (``<bos>`` + prompt), deterministic in ``seed``.

    Without ``template`` the templates take turns (example ``i`` uses template ``i % #templates``).
    """
    exs = examples(name, n, seed, template)
    bos = [ID["<bos>"]]
    clean = torch.tensor([bos + encode(e.clean) for e in exs])
    corrupt = torch.tensor([bos + encode(e.corrupt) for e in exs])
    return Task(
        clean,
        corrupt,
        torch.tensor(encode([e.answer for e in exs])),
        torch.tensor(encode([e.wrong for e in exs])),
        metric=METRIC[name],
        name=name,
        description=DESCRIPTION[name],
        vocab=VOCAB,
    )


def correct(name: str, top1: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    """Whether each top-1 token id is a correct answer for task ``name`` (see the module doc)."""
    if name == "greater_than":
        return _YEAR_VALUE[top1] > _YEAR_VALUE[answer]
    if name == "sva":
        is_verb = torch.isin(top1, torch.cat([_SG_IDS, _PL_IDS]))
        return is_verb & (_IS_SG[top1] == _IS_SG[answer])
    return top1 == answer


@torch.no_grad()
def accuracy(model, task: Task) -> float:
    """Share of ``task``'s clean prompts whose top-1 token (whole vocabulary) is correct.

    ``model``: a bridge, or any callable ``tokens -> logits``.
    """
    logits = model(task.clean)
    top1 = _read(logits, task.pos).argmax(-1)
    name = task.name if task.name in SAMPLERS else ""
    return float((correct(name, top1, task.answer) if name else top1 == task.answer).float().mean())


# ----------------------------------------------------------------------------- training stream
FILLER = [
    "{NAME} saw the {NOUN} .",
    "the {NOUN} was in the {PLACE} .",
    "the {NOUNS} were in the {PLACE} .",
    "{NAME} went to the {PLACE} .",
    "{NAME} met {NAME2} at the {PLACE} .",
    "{M} said that he was {ADJ} .",
    "{F} said that she was {ADJ} .",
    "the year was {C} {X} .",
    "{CITY} is a city .",
    "{COUNTRY} is a country .",
    "the {HYP} was {ADJ} .",
    "{NAME} wrote a book about the {EVENT} .",
]


def _filler(rng: random.Random) -> list[str]:
    n = rng.choice(list(NOUNS))
    slots = {
        "NAME": rng.choice(NAMES),
        "NAME2": rng.choice(NAMES),
        "NOUN": n,
        "NOUNS": NOUNS[n],
        "PLACE": rng.choice(PLACES),
        "M": rng.choice(MALE),
        "F": rng.choice(FEMALE),
        "ADJ": rng.choice(ADJS),
        "C": rng.choice(CENTURIES),
        "X": rng.choice(YEARS),
        "CITY": rng.choice(list(CAPITALS.values())),
        "COUNTRY": rng.choice(COUNTRIES),
        "HYP": rng.choice(HYPONYMS),
        "EVENT": rng.choice(EVENTS),
    }
    return _fill(rng.choice(FILLER), slots)


def training_rows(
    n: int, length: int, rng: random.Random, task_share: float = 0.75
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` training rows: ``(tokens[n, length], task_targets, lm_targets)``, targets ``-100`` = no loss.

    Each row is ``<bos>`` followed by segments until ``length`` tokens: a task instance (with
    probability ``task_share``; task and template uniform) = clean prompt + its sampled answer
    + ``.``, or a filler sentence. The first segment is a task instance half of the time, so
    prompts also start right after ``<bos>`` as in :func:`make`. A prompt that would not fit
    is replaced by filler; the last filler sentence may be cut. ``task_targets`` holds the
    answer at each prompt's last position, ``lm_targets`` the next token inside filler sentences.
    """
    tokens = torch.zeros(n, length, dtype=torch.long)
    task_t = torch.full((n, length), -100, dtype=torch.long)
    lm_t = torch.full((n, length), -100, dtype=torch.long)
    for r in range(n):
        words, tt, lt = ["<bos>"], {}, {}
        first = True
        while len(words) < length:
            name = rng.choice(TASK_NAMES)
            template = rng.choice(TEMPLATES[name])
            fits = len(words) + len(template.split()) < length
            if fits and rng.random() < (0.5 if first else task_share):
                ex = SAMPLERS[name](rng, template)
                start = len(words)
                words += ex.clean + [ex.target, "."]
                tt[start + len(ex.clean) - 1] = ex.target
            else:
                start = len(words)
                sent = _filler(rng)
                words += sent
                lt.update({start + i: sent[i + 1] for i in range(len(sent) - 1)})
            first = False
        ids = encode(words[:length])
        tokens[r] = torch.tensor(ids)
        for p, w in tt.items():
            if p < length:
                task_t[r, p] = ID[w]
        for p, w in lt.items():
            if p < length:
                lm_t[r, p] = ID[w]
    return tokens, task_t, lm_t
