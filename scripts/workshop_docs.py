#!/usr/bin/env python
"""Generate the workshop documents from the chapter sources and the learner checks.

    python scripts/workshop_docs.py                        # rewrite docs/exercises.md and the
                                                           # generated blocks of docs/instructor_guide.md
    python scripts/workshop_docs.py --check                # exit 1 if either differs from the sources
    python scripts/workshop_docs.py --timings out/site/timings.json
                                                           # record measured solution times first

What is generated, and from where:

* ``docs/exercises.md`` (the printable exercise list): every ``### Exercise — name`` header of
  ``chapters/NN_*.py`` with its ``> Difficulty: ... Importance: ... ~N min`` line and the learner
  check the exercise cell calls.
* In ``docs/instructor_guide.md``, the blocks between ``<!-- generated:NAME:start -->`` and
  ``<!-- generated:NAME:end -->``: learning goals (each chapter's "Learning objectives"), the
  timing plans (:data:`PLANS` below + the exercise minutes from the headers + each chapter's
  reading time, computed from its size by :func:`reading_minutes`), the skip list,
  common mistakes (the diagnoses each learner check can print, read from the check's source
  code by ``scripts/check_diagnoses.py``) and the measured times (``docs/measured_times.json``).

The rest of the guide is prose, edited by hand. ``tests/test_workshop_docs.py`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_diagnoses import diagnoses  # noqa: E402  (a sibling script)

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.py$")
EXERCISE_HEADER = re.compile(r"^# ###\s+Exercise(?:\s*\(([^)]*)\))?\s+—\s+(.+?)\s*$")
RATING = re.compile(r"^# >\s*Difficulty:\s*(\S+)\s+Importance:\s*(\S+)\s+~(\d+)\s*min")
CHECK_CALL = re.compile(r"\b(check_\w+)\b")
REAL_SECTION = re.compile(r"^# ## (\d+)\. Now on a real model")
LOAD_CALL = re.compile(r"load_or_skip\(([^)]*)\)")

# ------------------------------------------------------------------------------------ plans
# A plan is a list of blocks: (label, chapter "NN" or None, exercises done in the room,
# minutes of walkthrough/discussion, note). Exercise minutes come from the chapter headers;
# "all" = every exercise of the chapter. Walkthrough minutes ``None`` = the chapter's READING
# TIME, computed from its size (:func:`reading_minutes`: its prose at READING_WPM words a minute
# plus its measured execution, rounded up to 5 min), plus the plan's "discussion" minutes; a
# number is an estimate, and a chapter block's estimate may not be shorter than the reading time.
READING_WPM = 180
PLANS: dict[str, dict] = {
    "3-hour workshop": {
        "budget": 180,
        "blocks": [
            ("Welcome, `python -m workbook doctor` (or Colab)", None, [], 5, "installed beforehand"),
            ("Chapter 0", "00", "all", None, ""),
            ("Chapter 1", "01", ["QK fix for queries"], None, "keys: take-home"),
            ("Break", None, [], 10, ""),
            ("Chapter 2 (instructor demo)", "02", [], None, "run the solution, discuss the false negative"),
            ("Chapter 3", "03", "all", None, ""),
            ("Chapter 5", "05", "all", None, "chapter 4: take-home; its closing table is the wrap-up"),
        ],
    },
    "Full-day workshop": {
        "budget": 8 * 60,  # 9:00 to 17:00, lunch and breaks included
        "discussion": 10,  # minutes of discussion added to each computed chapter block's reading time
        "blocks": [
            ("Welcome, install check", None, [], 10, ""),
            ("Chapter 0", "00", "all", None, ""),
            ("Break", None, [], 15, ""),
            ("Chapter 1", "01", "all", None, ""),
            ("Chapter 2", "02", "all", None, "incl. the FN bound section"),
            ("Lunch", None, [], 60, ""),
            ("Chapter 3", "03", "all", None, ""),
            ("Chapter 4", "04", "all", None, ""),
            ("Break", None, [], 15, ""),
            ("Chapter 5", "05", "all", None, ""),
            ("Chapter 6", "06", "all", None, ""),
            ("Closing discussion", None, [], 10, ""),
        ],
    },
}


# ------------------------------------------------------------------------------------ chapters
@dataclass
class Exercise:
    chapter: str
    name: str
    qualifier: str
    difficulty: int
    importance: int
    minutes: int
    check: str | None


@dataclass
class Chapter:
    number: str
    slug: str
    title: str
    objectives: list[str] = field(default_factory=list)
    exercises: list[Exercise] = field(default_factory=list)
    real_section: str | None = None  # "7": the number of the "Now on a real model" section
    words: int = 0  # words of prose (markdown) before the real-model section and "Further reading"
    real_models: list[str] = field(default_factory=list)  # the hub models it loads


def _dots(rating: str) -> int:
    filled = sum(1 for ch in rating if ch in "🔴🔵")
    if filled + rating.count("⚪") != 5:
        raise ValueError(f"rating {rating!r} is not five circles")
    return filled


def parse_chapter(path: Path) -> Chapter:
    """Title, learning objectives and exercises (with the check each exercise cell calls)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = path.name[:2]
    title = next((ln[4:].strip() for ln in lines if ln.startswith("# # ")), path.stem)
    chapter = Chapter(number, path.stem, title)
    if "**Learning objectives**" in (ln[2:].strip() for ln in lines):
        start = [ln[2:].strip() for ln in lines].index("**Learning objectives**") + 1
        for ln in lines[start:]:
            text = ln[2:] if ln.startswith("# ") else ln.lstrip("#")
            if text.startswith("* "):
                chapter.objectives.append(text[2:].strip())
            elif text.startswith("  ") and chapter.objectives:
                chapter.objectives[-1] += " " + text.strip()
            elif chapter.objectives or text.strip():
                break
    real = [i for i, ln in enumerate(lines) if REAL_SECTION.match(ln)]
    chapter.words = _prose_words(lines)
    if real:
        chapter.real_section = REAL_SECTION.match(lines[real[0]]).group(1)
        load = next((LOAD_CALL.search(ln) for ln in lines[real[0]:] if LOAD_CALL.search(ln)), None)
        chapter.real_models = re.findall(r'"([^"]+)"', load.group(1)) if load else []
    headers = [i for i, ln in enumerate(lines) if EXERCISE_HEADER.match(ln)]
    for n, i in enumerate(headers):
        qualifier, name = EXERCISE_HEADER.match(lines[i]).groups()
        rating = next((RATING.match(ln) for ln in lines[i + 1:i + 4] if RATING.match(ln)), None)
        if rating is None:
            raise ValueError(f"{path.name}:{i + 1}: exercise {name!r} has no '> Difficulty: ... ~N min' line")
        end = headers[n + 1] if n + 1 < len(headers) else len(lines)
        code = [ln for ln in lines[i:end] if not ln.lstrip().startswith("#")]
        check = next((m.group(1) for ln in code for m in [CHECK_CALL.search(ln)] if m), None)
        chapter.exercises.append(Exercise(number, name, qualifier or "", _dots(rating.group(1)),
                                          _dots(rating.group(2)), int(rating.group(3)), check))
    return chapter


def _prose_words(lines: list[str]) -> int:
    """Words in the markdown cells (``# %% [markdown]``) up to the real-model section or "Further reading"."""
    words, markdown = 0, False
    for ln in lines:
        if ln.startswith("# %%"):
            markdown = ln.startswith("# %% [markdown]")
            continue
        if REAL_SECTION.match(ln) or ln.startswith("# ## Further reading"):
            break
        if markdown:
            words += len(ln.lstrip("#").split())
    return words


def reading_minutes(chapter: Chapter, root: Path = ROOT) -> int:
    """Minutes to go through a chapter's prose and run its cells: ``words / READING_WPM`` plus its
    measured execution (``docs/measured_times.json``), rounded up to a multiple of 5."""
    run = _execution_seconds(root).get(chapter.number, 0.0) / 60
    return 5 * math.ceil((chapter.words / READING_WPM + run) / 5)


def chapters(root: Path = ROOT) -> list[Chapter]:
    return [parse_chapter(p) for p in sorted((root / "chapters").glob("*.py")) if CHAPTER_NAME.match(p.name)]


# ------------------------------------------------------------------------------------ rendering
def _circles(n: int, on: str = "●") -> str:
    return on * n + "○" * (5 - n)


def _find(chs: list[Chapter], number: str) -> Chapter:
    for c in chs:
        if c.number == number:
            return c
    raise KeyError(f"plan names chapter {number}, which does not exist")


def plan_rows(name: str, chs: list[Chapter], root: Path = ROOT) -> list[dict]:
    """The blocks of plan ``name`` with exercise minutes from the headers and walkthrough minutes
    (``None``: the chapter's :func:`reading_minutes`); checks every name exists and that no
    chapter's walkthrough is shorter than its reading time."""
    rows, clock = [], 0
    for label, number, wanted, talk, note in PLANS[name]["blocks"]:
        done: list[Exercise] = []
        computed = False
        if number is not None:
            chapter = _find(chs, number)
            reading = reading_minutes(chapter, root)
            if talk is not None and talk < reading:
                raise ValueError(f"{name}: {label} gives {talk} min to walk through chapter {number}, "
                                 f"shorter than its reading time of {reading} min")
            computed, talk = talk is None, reading + PLANS[name].get("discussion", 0) if talk is None else talk
            names = [e.name for e in chapter.exercises]
            if wanted != "all":
                missing = [w for w in wanted if w not in names]
                if missing:
                    raise KeyError(f"plan {name!r} names exercises {missing} absent from chapter {number}: {names}")
            done = [e for e in chapter.exercises if wanted == "all" or e.name in wanted]
        elif talk is None:
            raise ValueError(f"{name}: {label} has no chapter, so its minutes cannot come from a reading time")
        minutes = sum(e.minutes for e in done)
        rows.append({"start": clock, "label": label, "chapter": number, "exercises": done,
                     "exercise_min": minutes, "talk_min": talk, "total": minutes + talk, "note": note,
                     "reading": computed})
        clock += minutes + talk
    return rows


def in_plan(name: str, chs: list[Chapter], root: Path = ROOT) -> set[tuple[str, str]]:
    return {(e.chapter, e.name) for r in plan_rows(name, chs, root) for e in r["exercises"]}


def render_exercises(chs: list[Chapter]) -> str:
    short = in_plan("3-hour workshop", chs)
    out = ["# Exercise list", "",
           "<!-- Generated by `python scripts/workshop_docs.py` from the exercise headers in chapters/; do not edit. -->",
           "",
           "Every exercise of the course, in order. Difficulty and importance are out of five; the time is "
           "the chapter's estimate of learner time (not measured). **3h** marks the exercises done in the room "
           "in the 3-hour plan of the [instructor guide](instructor_guide.md). Each exercise cell ends with "
           "a learner check that prints `[passed]`, `[check failed] <likely mistake>` or `[not done yet]`.", ""]
    total = 0
    for c in chs:
        out += [f"## {c.title}", "", f"Notebook: `notebooks/{c.slug}.ipynb` (solved: `solutions/{c.slug}.ipynb`)", ""]
        if not c.exercises:
            out += ["No exercises (reading and running only).", ""]
            continue
        out += ["| done | exercise | difficulty | importance | time | 3h | check |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for e in c.exercises:
            name = e.name + (f" ({e.qualifier})" if e.qualifier else "")
            mark = "✓" if (e.chapter, e.name) in short else ""
            out.append(f"| ☐ | {name} | {_circles(e.difficulty)} {e.difficulty}/5 | {_circles(e.importance)} "
                       f"{e.importance}/5 | ~{e.minutes} min | {mark} | `{e.check or '-'}` |")
        minutes = sum(e.minutes for e in c.exercises)
        total += minutes
        out += ["", f"{len(c.exercises)} exercise(s), ~{minutes} min.", ""]
    n = sum(len(c.exercises) for c in chs)
    out += [f"**All chapters: {n} exercises, ~{total} min of exercise time** (reading, running and discussion "
            "come on top; see the timing plans in the instructor guide).", ""]
    return "\n".join(out)


def render_goals(chs: list[Chapter]) -> str:
    out = []
    for c in chs:
        minutes = sum(e.minutes for e in c.exercises)
        out += [f"**{c.title}** — {len(c.exercises)} exercise(s), ~{minutes} min of exercises", ""]
        out += [f"* {o}" for o in c.objectives] or ["* (no learning objectives listed in the chapter)"]
        out.append("")
    return "\n".join(out)


def _execution_seconds(root: Path) -> dict[str, float]:
    path = root / "docs" / "measured_times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    return {r["notebook"][:2]: r["seconds"] for r in data.get("solutions", {}).get("notebooks", [])}


def _real_seconds(root: Path) -> dict[str, float]:
    path = root / "docs" / "measured_times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    return {r["chapter"]: r["seconds"] for r in data.get("real_models", {}).get("sections", [])}


def real_run_time(seconds: float | None) -> str:
    """The one wording of a real-model section's run time (README, guide table and plan notes):
    the seconds recorded by ``scripts/real_model_sections.py --real --record``."""
    return "not measured yet" if seconds is None else f"{seconds:.0f} s on a CPU, one thread"


def _real_note(chapter: Chapter, root: Path) -> str:
    run = real_run_time(_real_seconds(root).get(chapter.number))
    return f"§ {chapter.real_section} on SmolLM2-135M: {run} (offline after one download from PyPI)"


def render_plans(chs: list[Chapter], root: Path = ROOT) -> str:
    out = []
    executed = _execution_seconds(root)
    for name, plan in PLANS.items():
        rows = plan_rows(name, chs, root)
        total = sum(r["total"] for r in rows)
        if total > plan["budget"]:
            raise ValueError(f"{name}: the blocks add up to {total} min, over the {plan['budget']} min budget")
        for r in rows:
            if r["chapter"] and r["total"] * 60 < executed.get(r["chapter"], 0):
                raise ValueError(f"{name}: {r['label']} is shorter than the measured execution of chapter {r['chapter']}")
        out += [f"### {name} ({total} of {plan['budget']} min)", "",
                "| start | block | exercises in the room | exercises (headers) | walkthrough, discussion, breaks | total | note |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            names = ", ".join(e.name for e in r["exercises"]) or "—"
            ex = f"{r['exercise_min']} min" if r["exercises"] else ""
            note = r["note"]
            chapter = _find(chs, r["chapter"]) if r["chapter"] else None
            if chapter is not None and chapter.real_section:
                note = "; ".join(x for x in (note, _real_note(chapter, root)) if x)
            extra = plan.get("discussion", 0)
            reading = f" (reading time + {extra} min discussion)" if extra else " (reading time)"
            kind = (reading if r["reading"] else " (estimate)") if r["chapter"] else ""
            talk = f"{r['talk_min']} min{kind}"
            out.append(f"| {r['start'] // 60}:{r['start'] % 60:02d} | {r['label']} | {names} | {ex} | {talk} "
                       f"| {r['total']} min | {note} |")
        ex_total = sum(r["exercise_min"] for r in rows)
        out += [f"| | **total** | | {ex_total} min | {total - ex_total} min | **{total} min** | |", ""]
        computed = [b for b in plan["blocks"] if b[1] is not None and b[3] is None]
        if computed:
            sizes = _sizes(chs, root, [b[1] for b in computed])
            extra = f", plus {plan['discussion']} min of discussion" if plan.get("discussion") else ""
            out += [f"Walkthrough minutes of {', '.join(b[0] for b in computed)}: the chapter's reading time, "
                    f"computed from its size ({sizes}){extra}.", ""]
    return "\n".join(out)


def _sizes(chs: list[Chapter], root: Path, numbers: list[str]) -> str:
    runs = _execution_seconds(root)
    parts = [f"chapter {c.number}: {c.words} words, {runs.get(c.number, 0):.0f} s to run -> "
             f"{reading_minutes(c, root)} min" for c in chs if c.number in numbers]
    return f"prose at {READING_WPM} words/min + measured execution, rounded up to 5 min; " + "; ".join(parts)


def render_skips(chs: list[Chapter], root: Path = ROOT) -> str:
    short = in_plan("3-hour workshop", chs, root)
    every = [e for c in chs for e in c.exercises]
    order = sorted(every, key=lambda e: (e.importance, -e.difficulty, -e.minutes))
    out = ["Skip in this order (least important first, then the hardest; ties: the longest). The 3-hour "
           "plan already drops the ones marked *skipped in 3h*.", "",
           "| skip | exercise | chapter | importance | difficulty | saves | 3-hour plan |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, e in enumerate(order, 1):
        status = "in the room" if (e.chapter, e.name) in short else "*skipped in 3h*"
        out.append(f"| {i} | {e.name} | {e.chapter} | {e.importance}/5 | {e.difficulty}/5 | ~{e.minutes} min | {status} |")
    out.append("")
    return "\n".join(out)


def render_real_models(chs: list[Chapter], root: Path = ROOT) -> str:
    """The optional real-model sections: where, which models, measured CPU run time."""
    path = root / "docs" / "measured_times.json"
    data = json.loads(path.read_text()).get("real_models") if path.exists() else None
    secs = _real_seconds(root)
    out = ["| chapter | section | models | run time (measured) |", "| --- | --- | --- | --- |"]
    for c in chs:
        if c.real_section:
            t = real_run_time(secs.get(c.number))
            out.append(f"| {c.title} | § {c.real_section} | {', '.join(f'`{m}`' for m in c.real_models) or '—'} | {t} |")
    if data:
        m = data["machine"]
        load = m.get("load_average_at_start")
        out += ["", f"Measured on {m['date']}: {data['how']}; {m['cpus']} CPU cores, "
                    f"{m['platform']}, python {m['python']}" + (f"; load average {load} from other work, so upper bounds"
                                                                  if load else "") + ". Loading (and, the first time, "
                    "downloading) the model comes on top. These seconds, in `docs/measured_times.json`, are the only "
                    "record of the sections' run times: the plans' notes above print the same numbers."]
    else:
        out += ["", "Not measured yet: `python scripts/real_model_sections.py --real --record`."]
    return "\n".join(out) + "\n"


def render_mistakes(chs: list[Chapter], root: Path = ROOT) -> str:
    out = []
    for c in chs:
        for e in c.exercises:
            if e.check is None:
                raise ValueError(f"chapter {c.number}, exercise {e.name!r}: no check_... call after the header")
            found = diagnoses(e.check, root)
            if not found:
                raise ValueError(f"{e.check}: no diagnosis messages found in its source")
            out += [f"**{c.number} · {e.name}** (`{e.check}`)", ""] + [f"* {m}" for m in found] + [""]
    return "\n".join(out)


def render_measured(root: Path = ROOT) -> str:
    path = root / "docs" / "measured_times.json"
    if not path.exists():
        return "Not measured yet: run `bash scripts/dev.sh solutions`, then `python scripts/workshop_docs.py --timings out/site/timings.json`.\n"
    data = json.loads(path.read_text())
    sol = data["solutions"]
    m = sol["machine"]
    load = m.get("load_average_at_start")
    threads = f"OMP_NUM_THREADS={m['omp_num_threads']}" if m.get("omp_num_threads") else "torch's default threads"
    shared = f"; load average {load} from other work when it started, so these are upper bounds" if load else ""
    out = [f"Solution notebooks executed by `bash scripts/dev.sh solutions` on {m['date']} ({m['cpus']} CPU cores, "
           f"{m['platform']}, python {m['python']}; {threads}{shared}):", "",
           "| notebook | execution (s) | slowest cell (s) |", "| --- | --- | --- |"]
    for r in sol["notebooks"]:
        slow = "—" if r.get("slowest_cell_s") is None else f"{r['slowest_cell_s']:.1f}"
        out.append(f"| {r['notebook']} | {r['seconds']:.1f} | {slow} |")
    out += [f"| **all** | **{sum(r['seconds'] for r in sol['notebooks']):.0f}** | |", ""]
    for key, what in (("install", "Install"), ("doctor", "`python -m workbook doctor`"),
                      ("colab_cell", "Colab install cell, Colab-like environment")):
        if key in data:
            d = data[key]
            out.append(f"* {what}: **{d['summary']}** — {d['how']} ({d['date']}).")
    out.append("")
    return "\n".join(out)


BLOCKS = {  # name -> render(chapters, root)
    "goals": lambda chs, root: render_goals(chs),
    "plans": render_plans,
    "skips": render_skips,
    "mistakes": render_mistakes,
    "measured": lambda chs, root: render_measured(root),
    "realmodels": render_real_models,
}


def fill_guide(text: str, chs: list[Chapter], root: Path = ROOT) -> str:
    """Replace every ``<!-- generated:NAME:start -->...<!-- generated:NAME:end -->`` block."""
    for name, render in BLOCKS.items():
        start, end = f"<!-- generated:{name}:start -->", f"<!-- generated:{name}:end -->"
        if text.count(start) != 1 or text.count(end) != 1:
            raise ValueError(f"instructor guide: expected one {start} ... {end} block")
        body = render(chs, root)
        head, rest = text.split(start)
        text = head + start + "\n" + body.rstrip("\n") + "\n" + end + rest.split(end, 1)[1]
    return text


def record_timings(timings: Path, root: Path = ROOT) -> None:
    path = root / "docs" / "measured_times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    site = json.loads(timings.read_text())
    data["solutions"] = {"machine": site["machine"],
                         "notebooks": [{k: r[k] for k in ("notebook", "seconds", "slowest_cell_s")} for r in site["notebooks"]]}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed docs; exit 1 on drift")
    parser.add_argument("--timings", type=Path, help="record this timings.json (from scripts/solutions_site.py) first")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root
    if args.timings:
        record_timings(args.timings, root)
    chs = chapters(root)
    guide = root / "docs" / "instructor_guide.md"
    wanted = {root / "docs" / "exercises.md": render_exercises(chs),
              guide: fill_guide(guide.read_text(encoding="utf-8"), chs, root)}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"[out of sync] {p.relative_to(root)}: run python scripts/workshop_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"[written] {p.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
