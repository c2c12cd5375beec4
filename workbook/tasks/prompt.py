"""Standard circuit tasks as plain prompts for a pretrained model: IOI, greater-than, SVA, capital, hypernymy.

Each builder ``build(model=None, n=8, seed=0, *, prepend_bos=None, tokenizer=None)`` writes
prompt strings, keeps the first ``n`` pairs the tokenizer can use, and returns a padded
:class:`~workbook.core.task.Task` (:func:`workbook.task_from_strings`) on the model's device. A
pair is kept when its clean and corrupt prompts have the same number of tokens and its answers
are single tokens after the prompt; the others are dropped (a name that GPT-2 writes as one
token may be two in another tokenizer). ``task.info`` says how many pairs were generated, tried
and kept, why the others were dropped (``{"reason": count}`` and the first error message per
reason), and whether a BOS leads the prompts; a builder that keeps nothing raises a
:class:`~workbook.core.errors.TaskError` with the reasons. ``prepend_bos=None`` is what the model
expects (``cfg.default_prepend_bos``; with ``tokenizer=`` and no model, the tokenizer decides);
True/False force it: it matters (SmolLM2's IOI logit difference is 4.4 without, 3.7 with).

==================  ===========================================================  ===================
task                clean -> answer / corrupt                                    metric (per pair)
==================  ===========================================================  ===================
``ioi_task``        "When Mary and John went to the store, John gave a drink     logit(IO) - logit(S)
                    to" -> " Mary" (IO) vs " John" (S); corrupt: the repeated
                    subject is a third name (ABC), so no name is the IO
``greater_than``    "The war lasted from the year 1732 to the year 17" -> a      years: p(YY' > YY) -
                    year after 32; corrupt: "... from the year 1701 ..."         p(YY' <= YY), "00".."99";
                                                                                 digits: p(d' > 3) - p(d' < 3)
``sva_task``        "The author near the station" -> " is"; corrupt: "The        p(singular verbs) -
                    authors near the station" (the number of the subject flips)  p(plural verbs), sign
                                                                                 by the clean subject
``capital_task``    "The capital of France is" -> " Paris"; corrupt: another     p(Paris) - p(Tokyo)
                    country ("... of Japan is"), wrong = its capital
``hypernymy_task``  "A robin is a kind of" -> " bird"; corrupt: a hyponym of     logit(bird) -
                    another category ("A trout ..."), wrong = that category      logit(fish)
==================  ===========================================================  ===================

Greater-than comes in two variants, picked from the tokenizer (:func:`greater_than_variant`,
named in ``task.info["variant"]`` and the description): ``"years"`` for tokenizers that write
"1732" as " 17" + "32" (GPT-2; :class:`~workbook.tasks.metrics.YearMetric`, Hanna et al.'s
prob diff over the two-digit year tokens) and ``"digits"`` for those that write every number
digit by digit (SmolLM2, Llama 2): the next token is then the end year's tens digit, and
:class:`~workbook.tasks.metrics.DigitMetric` scores p(tens digit > d) - p(tens digit < d), ``d``
the start year's tens digit (2..7, so there is room on both sides); the equal digit is
ambiguous and left out. That is our adaptation of Hanna et al.'s prob diff, not their metric.

IOI follows Wang et al. (arXiv 2211.00593; name orders ABBA and BABA, ABC corruption; sentences
from :func:`workbook.tasks.ioi.ioi_sentences`); the other tasks follow Hanna et al.'s task set
(arXiv 2403.17806; greater-than from Hanna, Liu, Variengien, arXiv 2305.00586), with metrics as
:mod:`workbook.tasks.mixture` reads their ``metrics.py`` (prob diff for greater-than, SVA and
capital, logit diff for hypernymy). The sentences are generated here, not copied from their
data. Sign convention as everywhere: noising, ``effect = M(clean with c := corrupt) - M(clean)``.
:func:`workbook.tasks.summary.task_summary` says whether a model can do a task.

Measured on SmolLM2-135M-Instruct (Q4_1 GGUF dequantised), n=16, seeds 0 and 1 together (kept
of tried; the other columns are the mean of the two seeds; top-1 over the whole vocabulary)::

    task          BOS  kept/tried  >0    clean   corrupt  top-1
    ioi           no   32/32       0.94  4.396   0.057    0.94
    ioi           yes  32/32       0.94  3.745   0.057    0.81
    greater-than  no   32/32       1.00  0.537   -0.785   0.28   (digits)
    greater-than  yes  32/32       1.00  0.600   -0.705   0.34
    sva           no   32/32       1.00  0.112   -0.137   0.19
    sva           yes  32/32       1.00  0.060   -0.072   0.00
    capital       no   32/35       1.00  0.384   -0.322   0.81   (3 capitals not one token)
    capital       yes  32/35       1.00  0.374   -0.314   0.91
    hypernymy     no   32/33       1.00  7.926   -7.567   0.69   (1 pair of unequal lengths)
    hypernymy     yes  32/33       1.00  7.257   -6.065   0.66

SmolLM2 does all five (the verdict of ``task_summary``); its BOS is ``<|im_start|>``.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Sequence

import torch

from workbook.core.errors import TaskError
from workbook.core.task import Task
from workbook.tasks.ioi import NAMES, OBJECTS, PLACES, ioi_sentences
from workbook.tasks.metrics import PLURAL_VERBS, SINGULAR_VERBS, DigitMetric, NumberMetric, YearMetric
from workbook.tasks.strings import task_from_strings

__all__ = ["ioi_task", "greater_than_task", "sva_task", "capital_task", "hypernymy_task", "TASKS", "corpus",
           "YearMetric", "DigitMetric", "NumberMetric", "greater_than_variant", "NAMES",
           "DROP_REASONS"]

EVENTS = ("war", "deal", "trip", "study", "project", "campaign", "trial", "program", "contract", "plan", "siege",
          "journey", "reign", "strike", "voyage", "treaty")
SVA_NOUNS = (("author", "authors"), ("pilot", "pilots"), ("doctor", "doctors"), ("teacher", "teachers"),
             ("farmer", "farmers"), ("student", "students"), ("manager", "managers"), ("writer", "writers"),
             ("dog", "dogs"), ("key", "keys"), ("officer", "officers"), ("driver", "drivers"))
SVA_CONTEXTS = ("near the {P}", "behind the {P}", "at the {P}", "in the {P}")
CAPITALS = (("France", "Paris"), ("Japan", "Tokyo"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Russia", "Moscow"), ("China", "Beijing"), ("Egypt", "Cairo"), ("England", "London"),
            ("Greece", "Athens"), ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Ireland", "Dublin"),
            ("Austria", "Vienna"), ("Poland", "Warsaw"), ("Sweden", "Stockholm"), ("Norway", "Oslo"),
            ("Portugal", "Lisbon"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Cuba", "Havana"),
            ("Thailand", "Bangkok"), ("Turkey", "Ankara"), ("Hungary", "Budapest"), ("Finland", "Helsinki"),
            ("Denmark", "Copenhagen"), ("Belgium", "Brussels"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
            ("Chile", "Santiago"), ("Philippines", "Manila"), ("Korea", "Seoul"), ("Syria", "Damascus"),
            ("Scotland", "Edinburgh"), ("Switzerland", "Bern"), ("Netherlands", "Amsterdam"), ("Jamaica", "Kingston"))
CAPITAL_TEMPLATES = ("The capital of {C} is", "The capital city of {C} is")
HYPONYMS = {"bird": ("robin", "sparrow", "eagle", "crow", "owl", "parrot", "pigeon", "hawk"),
            "fish": ("trout", "salmon", "tuna", "cod", "carp", "shark", "herring"),
            "tree": ("oak", "pine", "maple", "birch", "willow", "elm", "cedar"),
            "flower": ("rose", "tulip", "daisy", "lily", "orchid", "violet"),
            "fruit": ("apple", "banana", "mango", "pear", "peach", "cherry", "plum"),
            "vegetable": ("carrot", "potato", "onion", "cabbage", "lettuce", "spinach"),
            "insect": ("ant", "bee", "beetle", "wasp", "moth", "butterfly"),
            "tool": ("hammer", "wrench", "saw", "drill", "chisel"),
            "instrument": ("piano", "violin", "guitar", "flute", "drum", "trumpet"),
            "vehicle": ("car", "truck", "bus", "tractor", "van", "taxi")}
HYPERNYMY_TEMPLATES = ("{A} {H} is a kind of", "{A} {H} is a type of")


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def _pick(seq: Sequence, g: torch.Generator):
    return seq[int(torch.randint(len(seq), (1,), generator=g))]


def _tokenizer(model, tokenizer, builder: str):
    tok = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tok is None:
        raise TaskError(f"{builder} needs a tokenizer: load the model with workbook.load_pretrained, or pass "
                        "tokenizer=AutoTokenizer.from_pretrained(folder) (model may then be None).")
    return tok


def _d_vocab(model, tok) -> int:
    cfg = getattr(model, "cfg", None)
    return int(cfg.d_vocab) if cfg is not None else len(tok)


#: ``(text in task_from_strings' error, the reason task.info["dropped"] counts it under)``
DROP_REASONS = (("different token lengths", "clean and corrupt prompts tokenize to different lengths"),
                ("tokens after its prompt", "an answer is not a single token after its prompt"),
                ("merges with the end", "an answer merges with the prompt's last token"),
                ("outside the model's vocabulary", "a token id outside the model's vocabulary"),
                ("more than the model's context", "the prompt is longer than the model's context"))


def _reason(err: TaskError) -> str:
    return next((why for key, why in DROP_REASONS if key in str(err)), str(err).split(":")[0])


def _keep(rows: Sequence[tuple[str, str, str, str]], n: int, metric, name: str, description: str, *, model=None,
          tokenizer=None, prepend_bos: bool | None = None, info: dict | None = None) -> Task:
    """The first ``n`` rows the tokenizer accepts, as one padded task on the model's device (CPU without one).

    ``task.info``: ``generated`` (rows written), ``examined`` (rows tried before ``n`` were kept),
    ``kept``, ``dropped`` (``{reason: count}``), ``dropped_example`` (``{reason: the first error
    message}``), ``prepend_bos`` (whether a BOS leads every prompt) and whatever ``info`` adds.
    """
    kw = dict(metric=metric, prepend_bos=prepend_bos, tokenizer=tokenizer)
    kept, dropped, example, examined = [], Counter(), {}, 0
    for row in rows:
        examined += 1
        try:
            task_from_strings(model, *([x] for x in row), **kw)
        except TaskError as err:
            why = _reason(err)
            dropped[why] += 1
            example.setdefault(why, str(err))
            continue
        kept.append(row)
        if len(kept) == n:
            break
    if not kept:
        why = "; ".join(f"{k} ({v})" for k, v in dropped.items())
        raise TaskError(f"{name}: none of the {len(rows)} generated prompt pairs suits this tokenizer: {why}. "
                        f"First error: {next(iter(example.values()))}")
    clean, corrupt, answer, wrong = (list(x) for x in zip(*kept))
    task = task_from_strings(model, clean, corrupt, answer, wrong, name=name, description=description, **kw)
    if model is not None:
        device = next(model.parameters()).device
        if device.type != "cpu":
            task = task.to(device)
    n_real = int(task.attention_mask[0].sum()) if task.attention_mask is not None else task.seq_len
    n_text = len(task.vocab.tokenizer(clean[0], add_special_tokens=False)["input_ids"])
    task.info = {"generated": len(rows), "examined": examined, "kept": len(kept), "dropped": dict(dropped),
                 "dropped_example": example, "prepend_bos": n_real == n_text + 1, **(info or {})}
    return task


# ------------------------------------------------------------------------------------------ IOI
def ioi_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` IOI rows ``(clean, corrupt, answer, wrong)`` from :func:`workbook.tasks.ioi.ioi_sentences`
    (its default names, templates in turn, ABBA and BABA alternating, ABC corruption)."""
    return [tuple(r) for r in ioi_sentences(n, seed)]


def ioi_task(model=None, n: int = 8, seed: int = 0, *, prepend_bos: bool | None = None, tokenizer=None) -> Task:
    """Indirect-object identification (Wang et al.) with ABC corruption; metric logit(IO) - logit(S).

    ``prepend_bos``: ``None`` = what the model expects (:func:`workbook.task_from_strings`), or
    force True/False. ``tokenizer``: overrides ``model.tokenizer``; with it, ``model`` may be ``None``.
    """
    _tokenizer(model, tokenizer, "ioi_task")
    return _keep(ioi_strings(4 * n + 8, seed), n, "logit_diff", "IOI",
                 "indirect object identification; corrupt: the repeated subject replaced by a third name (ABC)",
                 model=model, tokenizer=tokenizer, prepend_bos=prepend_bos)


# ------------------------------------------------------------------------------------------ greater-than
def greater_than_variant(tokenizer) -> str:
    """``"years"`` when the tokenizer writes "1732" as a century and a two-digit token (GPT-2: " 17", "32"),
    ``"digits"`` when it writes it digit by digit (SmolLM2, Llama 2); else a TaskError saying how it writes it."""
    pieces = [tokenizer.decode([i]) for i in tokenizer(" the year 1732", add_special_tokens=False)["input_ids"]]
    if pieces[-1:] == ["32"] and pieces[-2].strip() == "17":
        return "years"
    if pieces[-4:] == ["1", "7", "3", "2"]:
        return "digits"
    raise TaskError(f"greater_than_task: this tokenizer writes ' the year 1732' as {pieces}: neither century + "
                    "two-digit year (GPT-2) nor digit by digit (SmolLM2), so no next token is the year's end.")


def greater_than_strings(n: int, seed: int = 0, variant: str = "years") -> list[tuple[str, str, str, str]]:
    """``n`` greater-than rows ``(clean, corrupt, answer, wrong)``.

    ``"years"``: start years YY run through 02..98 so every YY occurs (as Hanna et al. balance
    them); answer a later two-digit year, wrong = YY. ``"digits"``: YY runs through 20..79, so the
    tens digit ``d`` (2..7) leaves room on both sides; answer a tens digit above ``d``, wrong = ``d``.
    Corrupt: the start year is XX01.
    """
    if variant not in ("years", "digits"):
        raise TaskError(f"unknown greater-than variant {variant!r}; use 'years' or 'digits'.")
    g, rows = _rng(seed), []
    for i in range(n):
        yy = 2 + (i * 37) % 97 if variant == "years" else 20 + (i * 37) % 60
        xx, noun = int(torch.randint(11, 18, (1,), generator=g)), _pick(EVENTS, g)
        if variant == "years":
            later = min(99, yy + 1 + int(torch.randint(0, 99 - yy, (1,), generator=g))) if yy < 99 else 99
            answer, wrong = f"{later:02d}", f"{yy:02d}"
        else:
            answer, wrong = str(int(torch.randint(yy // 10 + 1, 10, (1,), generator=g))), str(yy // 10)
        clean = f"The {noun} lasted from the year {xx}{yy:02d} to the year {xx}"
        corrupt = f"The {noun} lasted from the year {xx}01 to the year {xx}"
        rows.append((clean, corrupt, answer, wrong))
    return rows


def greater_than_task(model=None, n: int = 8, seed: int = 0, *, prepend_bos: bool | None = None, tokenizer=None,
                      variant: str | None = None) -> Task:
    """Greater-than (Hanna et al.): after "... from the year 1732 to the year 17", years after 32.

    ``variant``: ``None`` picks it from the tokenizer (:func:`greater_than_variant`): ``"years"``
    reads the two-digit year token with :class:`YearMetric`, ``"digits"`` the tens digit with
    :class:`DigitMetric`; ``task.info["variant"]`` and the description say which. ``prepend_bos``,
    ``tokenizer``: as in :func:`ioi_task`.
    """
    tok = _tokenizer(model, tokenizer, "greater_than_task")
    variant = greater_than_variant(tok) if variant is None else variant
    if variant == "years":
        metric, what = YearMetric(tok, _d_vocab(model, tok)), "the two-digit year token (YearMetric)"
    elif variant == "digits":
        metric, what = DigitMetric(tok, _d_vocab(model, tok)), "the tens digit, digit by digit (DigitMetric)"
    else:
        raise TaskError(f"unknown greater-than variant {variant!r}; use 'years', 'digits' or None.")
    return _keep(greater_than_strings(4 * n + 8, seed, variant), n, metric, "greater-than",
                 f"greater-than, read at {what}; corrupt: the start year is XX01",
                 model=model, tokenizer=tokenizer, prepend_bos=prepend_bos, info={"variant": variant})


# ------------------------------------------------------------------------------------------ SVA
def sva_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` SVA rows; the clean subject is singular in even rows and plural in odd ones."""
    g, rows = _rng(seed), []
    for i in range(n):
        sing, plur = _pick(SVA_NOUNS, g)
        where = _pick(SVA_CONTEXTS, g).format(P=_pick(PLACES, g))
        s, p = f"The {sing} {where}", f"The {plur} {where}"
        rows.append((s, p, " is", " are") if i % 2 == 0 else (p, s, " are", " is"))
    return rows


def sva_task(model=None, n: int = 8, seed: int = 0, *, prepend_bos: bool | None = None, tokenizer=None) -> Task:
    """Subject-verb agreement (Hanna et al.'s SVA): "The author near the station" -> " is"."""
    tok = _tokenizer(model, tokenizer, "sva_task")
    metric = NumberMetric(tok, _d_vocab(model, tok))
    return _keep(sva_strings(4 * n + 8, seed), n, metric, "SVA", "subject-verb agreement; corrupt: the subject's "
                 "number flipped", model=model, tokenizer=tokenizer, prepend_bos=prepend_bos)


# ------------------------------------------------------------------------------------------ capital, hypernymy
def _two(pool: Sequence, g: torch.Generator) -> tuple:
    i, j = torch.randperm(len(pool), generator=g)[:2].tolist()
    return pool[i], pool[j]


def capital_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` country-capital rows: "The capital of France is" -> " Paris"; corrupt: another country, whose
    capital is ``wrong``. Templates in turn."""
    g, rows = _rng(seed), []
    for i in range(n):
        (c, cap), (c2, cap2) = _two(CAPITALS, g)
        t = CAPITAL_TEMPLATES[i % len(CAPITAL_TEMPLATES)]
        rows.append((t.format(C=c), t.format(C=c2), f" {cap}", f" {cap2}"))
    return rows


def capital_task(model=None, n: int = 8, seed: int = 0, *, prepend_bos: bool | None = None, tokenizer=None) -> Task:
    """Country-capital (Hanna et al.'s task set); metric p(capital) - p(the corrupt country's capital)."""
    _tokenizer(model, tokenizer, "capital_task")
    return _keep(capital_strings(4 * n + 8, seed), n, "prob_diff", "capital",
                 "country-capital; corrupt: another country (wrong: its capital)",
                 model=model, tokenizer=tokenizer, prepend_bos=prepend_bos)


def hypernymy_strings(n: int, seed: int = 0) -> list[tuple[str, str, str, str]]:
    """``n`` hypernymy rows: "A robin is a kind of" -> " bird"; corrupt: a hyponym of another category,
    which is ``wrong``. Templates in turn; "An" before a vowel."""
    g, rows, cats = _rng(seed), [], sorted(HYPONYMS)
    for i in range(n):
        cat, cat2 = _two(cats, g)
        h, h2 = _pick(HYPONYMS[cat], g), _pick(HYPONYMS[cat2], g)
        t = HYPERNYMY_TEMPLATES[i % len(HYPERNYMY_TEMPLATES)]
        fill = lambda w: t.format(A="An" if w[0] in "aeiou" else "A", H=w)  # noqa: E731
        rows.append((fill(h), fill(h2), f" {cat}", f" {cat2}"))
    return rows


def hypernymy_task(model=None, n: int = 8, seed: int = 0, *, prepend_bos: bool | None = None,
                   tokenizer=None) -> Task:
    """Hypernymy (Hanna et al.'s task set); metric logit(category) - logit(the corrupt hyponym's category)."""
    _tokenizer(model, tokenizer, "hypernymy_task")
    return _keep(hypernymy_strings(4 * n + 8, seed), n, "logit_diff", "hypernymy",
                 "hypernymy; corrupt: a hyponym of another category (wrong: that category)",
                 model=model, tokenizer=tokenizer, prepend_bos=prepend_bos)


TASKS: dict[str, Callable[..., Task]] = {"ioi": ioi_task, "greater-than": greater_than_task, "sva": sva_task,
                                         "capital": capital_task, "hypernymy": hypernymy_task}


def corpus() -> list[str]:
    """Every word and prompt of the IOI, greater-than and SVA tasks: tokenizer training text for offline
    test models.

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
