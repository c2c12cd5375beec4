"""Standard circuit tasks as plain prompts for a pretrained model: IOI, greater-than, SVA.

Each builder writes prompt strings, keeps the pairs the model's own tokenizer can use, and
returns a padded :class:`~workbook.core.task.Task` (:func:`workbook.task_from_strings`), on the
model's device. A pair is kept when its clean and corrupt prompts have the same number of
tokens and its answers are single tokens after the prompt; the others are dropped (a name
that GPT-2 writes as one token may be two in another tokenizer). ``task.info`` says how many
pairs were generated and kept.

==================  ===========================================================  ===================
task                clean -> answer / corrupt                                    metric (per pair)
==================  ===========================================================  ===================
``ioi_task``        "When Mary and John went to the store, John gave a drink     logit(IO) - logit(S)
                    to" -> " Mary" (IO) vs " John" (S); corrupt: the repeated
                    subject is a third name (ABC), so no name is the IO
``greater_than``    "The war lasted from the year 1732 to the year 17" -> a      p(YY' > YY) - p(YY' <= YY)
                    year after 32; corrupt: "... from the year 1701 ..."         summed over "00".."99"
``sva_task``        "The author near the station" -> " is"; corrupt: "The        p(singular verbs) -
                    authors near the station" (the number of the subject flips)  p(plural verbs), sign
                                                                                 by the clean subject
==================  ===========================================================  ===================

IOI follows Wang et al. (arXiv 2211.00593; name orders ABBA and BABA, ABC corruption); the
greater-than and subject-verb-agreement tasks and their probability-difference metrics follow
Hanna et al.'s task set (arXiv 2403.17806; greater-than from Hanna, Liu, Variengien, arXiv
2305.00586). The sentences are generated here, not copied from their data. Sign convention as
everywhere: noising, ``effect = M(clean with c := corrupt) - M(clean)``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from workbook.core.errors import TaskError
from workbook.core.task import Task
from workbook.tasks.strings import task_from_strings

__all__ = ["ioi_task", "greater_than_task", "sva_task", "TASKS", "corpus", "YearMetric", "NumberMetric"]

NAMES = ("Mary", "John", "Tom", "James", "Paul", "David", "Mark", "Kevin", "Sarah", "Laura", "Anna", "Michael",
         "Daniel", "Eric", "Ryan", "Jack", "Kate", "Lisa", "Rachel", "Emily", "Peter", "George", "Alice", "Steven")
PLACES = ("store", "park", "school", "office", "garden", "station", "restaurant", "hospital")
OBJECTS = ("drink", "book", "ring", "ball", "letter", "gift", "bone", "kiss")
IOI_TEMPLATES = (  # {A}: indirect object, {B}: subject, {S}: the repeated subject (B clean, a third name corrupt)
    "When {X} and {Y} went to the {P}, {S} gave a {O} to",
    "After {X} and {Y} went to the {P}, {S} gave a {O} to",
    "While {X} and {Y} were working at the {P}, {S} gave a {O} to",
    "Then, {X} and {Y} went to the {P}. {S} gave a {O} to",
    "When {X} and {Y} got a {O} at the {P}, {S} decided to give it to",
    "Friends {X} and {Y} found a {O} at the {P}. {S} gave it to",
)
EVENTS = ("war", "deal", "trip", "study", "project", "campaign", "trial", "program", "contract", "plan", "siege",
          "journey", "reign", "strike", "voyage", "treaty")
SVA_NOUNS = (("author", "authors"), ("pilot", "pilots"), ("doctor", "doctors"), ("teacher", "teachers"),
             ("farmer", "farmers"), ("student", "students"), ("manager", "managers"), ("writer", "writers"),
             ("dog", "dogs"), ("key", "keys"), ("officer", "officers"), ("driver", "drivers"))
SVA_CONTEXTS = ("near the {P}", "behind the {P}", "at the {P}", "in the {P}")
SINGULAR_VERBS = ("is", "was", "has")
PLURAL_VERBS = ("are", "were", "have")


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _pick(seq: Sequence, g: torch.Generator):
    return seq[int(torch.randint(len(seq), (1,), generator=g))]


def _single_id(tok, text: str) -> int | None:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else None


def _keep(model, rows: list[tuple[str, str, str, str]], n: int, metric, name: str, description: str) -> Task:
    """The first ``n`` rows the model's tokenizer accepts, as one padded task on the model's device."""
    kept = []
    for row in rows:
        try:
            task_from_strings(model, *([x] for x in row), metric=metric)
        except TaskError:
            continue
        kept.append(row)
        if len(kept) == n:
            break
    if not kept:
        raise TaskError(f"{name}: none of the {len(rows)} generated prompt pairs suits this tokenizer (multi-token "
                        f"names/answers or clean/corrupt pairs of different token lengths), e.g. {rows[0]}.")
    clean, corrupt, answer, wrong = (list(x) for x in zip(*kept))
    task = task_from_strings(model, clean, corrupt, answer, wrong, metric=metric, name=name, description=description)
    device = next(model.parameters()).device
    if device.type != "cpu":
        task = task.to(device)
    task.info = {"generated": len(rows), "kept": len(kept)}
    return task


# ------------------------------------------------------------------------------------------ IOI
def ioi_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` IOI rows ``(clean, corrupt, answer, wrong)``: templates in turn, ABBA and BABA alternating."""
    g, rows = _rng(seed), []
    for i in range(n):
        a, b, c = (NAMES[int(j)] for j in torch.randperm(len(NAMES), generator=g)[:3])
        x, y = (a, b) if (i // len(IOI_TEMPLATES)) % 2 == 0 else (b, a)
        t, p, o = IOI_TEMPLATES[i % len(IOI_TEMPLATES)], _pick(PLACES, g), _pick(OBJECTS, g)
        rows.append((t.format(X=x, Y=y, P=p, O=o, S=b), t.format(X=x, Y=y, P=p, O=o, S=c), f" {a}", f" {b}"))
    return rows


def ioi_task(model, n: int = 8, seed: int = 0) -> Task:
    """Indirect-object identification (Wang et al.) with ABC corruption; metric logit(IO) - logit(S)."""
    return _keep(model, ioi_strings(4 * n + 8, seed), n, "logit_diff", "IOI",
                 "indirect object identification; corrupt: the repeated subject replaced by a third name (ABC)")


# ------------------------------------------------------------------------------------------ greater-than
class YearMetric:
    """``p(year > YY) - p(year <= YY)`` over the two-digit tokens "00".."99" (Hanna et al.'s prob diff).

    ``YY`` of each example is read from its ``wrong`` token (the clean prompt's start year,
    e.g. "32"); ``answer`` is a year after it (for labels only). Years that are not a single
    token in this tokenizer are left out of both sums.
    """

    def __init__(self, tokenizer, d_vocab: int):
        found = [(y, _single_id(tokenizer, f"{y:02d}")) for y in range(100)]
        found = [(y, i) for y, i in found if i is not None and i < d_vocab]
        self.years = torch.tensor([y for y, _ in found])
        self.ids = torch.tensor([i for _, i in found])
        self.year_of = torch.full((d_vocab,), -1, dtype=torch.long)
        self.year_of[self.ids] = self.years

    def __call__(self, logits, answer, wrong, pos):
        dev = logits.device
        last = logits[torch.arange(logits.shape[0], device=dev), pos]
        probs = last.softmax(-1)[:, self.ids.to(dev)]
        later = self.years.to(dev)[None, :] > self.year_of.to(dev)[wrong][:, None]
        return (probs * later).sum(-1) - (probs * ~later).sum(-1)

    def __repr__(self) -> str:
        return "p(later year) - p(same or earlier year)"


def greater_than_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` greater-than rows; start years YY run through 02..98 so every YY occurs (as Hanna et al. balance them)."""
    g, rows = _rng(seed), []
    for i in range(n):
        yy, xx, noun = 2 + (i * 37) % 97, int(torch.randint(11, 18, (1,), generator=g)), _pick(EVENTS, g)
        later = min(99, yy + 1 + int(torch.randint(0, 99 - yy, (1,), generator=g))) if yy < 99 else 99
        clean = f"The {noun} lasted from the year {xx}{yy:02d} to the year {xx}"
        corrupt = f"The {noun} lasted from the year {xx}01 to the year {xx}"
        rows.append((clean, corrupt, f"{later:02d}", f"{yy:02d}"))
    return rows


def greater_than_task(model, n: int = 8, seed: int = 0) -> Task:
    """Greater-than (Hanna et al.): after "... from the year 1732 to the year 17", years after 32."""
    tok = model.tokenizer
    if tok is None:
        raise TaskError("greater_than_task needs the model's tokenizer (load it with workbook.load_pretrained).")
    metric = YearMetric(tok, int(model.cfg.d_vocab))
    return _keep(model, greater_than_strings(4 * n + 8, seed), n, metric, "greater-than",
                 "greater-than; corrupt: the start year is XX01, so every two-digit year is 'later'")


# ------------------------------------------------------------------------------------------ SVA
class NumberMetric:
    """``p(singular verbs) - p(plural verbs)`` at the read position, negated when the clean subject is plural.

    Verbs: " is"/" was"/" has" vs " are"/" were"/" have" (those that are single tokens). An
    example's number is read from its ``answer`` token (a singular verb or a plural one).
    """

    def __init__(self, tokenizer, d_vocab: int):
        def ids(words):
            got = [_single_id(tokenizer, " " + w) for w in words]
            return torch.tensor([i for i in got if i is not None and i < d_vocab], dtype=torch.long)

        self.singular, self.plural = ids(SINGULAR_VERBS), ids(PLURAL_VERBS)

    def __call__(self, logits, answer, wrong, pos):
        dev = logits.device
        probs = logits[torch.arange(logits.shape[0], device=dev), pos].softmax(-1)
        sing, plur = self.singular.to(dev), self.plural.to(dev)
        diff = probs[:, sing].sum(-1) - probs[:, plur].sum(-1)
        is_singular = (answer[:, None] == sing[None, :]).any(-1)
        return torch.where(is_singular, diff, -diff)

    def __repr__(self) -> str:
        return "p(verb agrees) - p(verb disagrees)"


def sva_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` SVA rows; the clean subject is singular in even rows and plural in odd ones."""
    g, rows = _rng(seed), []
    for i in range(n):
        sing, plur = _pick(SVA_NOUNS, g)
        where = _pick(SVA_CONTEXTS, g).format(P=_pick(PLACES, g))
        s, p = f"The {sing} {where}", f"The {plur} {where}"
        rows.append((s, p, " is", " are") if i % 2 == 0 else (p, s, " are", " is"))
    return rows


def sva_task(model, n: int = 8, seed: int = 0) -> Task:
    """Subject-verb agreement (Hanna et al.'s SVA): "The author near the station" -> " is"."""
    tok = model.tokenizer
    if tok is None:
        raise TaskError("sva_task needs the model's tokenizer (load it with workbook.load_pretrained).")
    metric = NumberMetric(tok, int(model.cfg.d_vocab))
    return _keep(model, sva_strings(4 * n + 8, seed), n, metric, "SVA",
                 "subject-verb agreement; corrupt: the subject's number flipped")


TASKS: dict[str, Callable[..., Task]] = {"ioi": ioi_task, "greater-than": greater_than_task, "sva": sva_task}


def corpus() -> list[str]:
    """Every word and prompt these tasks use: tokenizer training text for offline test models.

    (``workbook.models.local.save_tiny_model(folder, extra_text=corpus())`` gives a tokenizer
    in which the names, years and verbs are single tokens, as they are in GPT-2's.)
    """
    lines = [r[0] + r[2] for r in ioi_strings(48)] + [r[1] for r in ioi_strings(48)]
    # years as GPT-2 splits them (" 17" + "32"): a four-digit year never occurs as one word here
    lines += [f"The {e} lasted from the year {x} to the year {x}" for e in EVENTS for x in range(11, 18)]
    lines += [f"{y:02d}" for y in range(100)]
    lines += [r[0] + r[2] for r in sva_strings(48)] + [r[1] + r[3] for r in sva_strings(48)]
    lines += [" ".join(NAMES + PLACES + OBJECTS + EVENTS + SINGULAR_VERBS + PLURAL_VERBS)]
    lines += [" ".join(w for pair in SVA_NOUNS for w in pair)]
    return lines
