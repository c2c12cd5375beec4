"""The workshop documents follow their sources: docs/exercises.md and the generated blocks of
docs/instructor_guide.md are exactly what scripts/workshop_docs.py makes from chapters/ and the
learner checks; every exercise has a check whose diagnoses are listed; the plans fit."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
_spec = importlib.util.spec_from_file_location("workshop_docs", ROOT / "scripts" / "workshop_docs.py")
wd = importlib.util.module_from_spec(_spec)
sys.modules["workshop_docs"] = wd
_spec.loader.exec_module(wd)
import check_diagnoses as cd  # noqa: E402


def test_committed_docs_match_the_sources(capsys):
    assert wd.main(["--check"]) == 0, capsys.readouterr().err + "\nrun: python scripts/workshop_docs.py"


def test_every_exercise_has_a_rating_a_check_and_its_diagnoses():
    chapters = wd.chapters()
    exercises = [e for c in chapters for e in c.exercises]
    assert len(chapters) >= 6 and len(exercises) >= len(chapters)
    text = (ROOT / "docs" / "exercises.md").read_text()
    guide = (ROOT / "docs" / "instructor_guide.md").read_text()
    for e in exercises:
        assert 1 <= e.difficulty <= 5 and 1 <= e.importance <= 5 and e.minutes > 0
        assert e.check, f"{e.chapter} {e.name}: no learner check called after the exercise"
        assert e.name in text and f"`{e.check}`" in text
        found = cd.diagnoses(e.check)
        assert found, f"{e.check}: no diagnosis read from its source"
        for message in found:
            assert message in guide
    for c in chapters:
        assert c.objectives, f"chapter {c.number} lists no learning objectives"


def test_plans_fit_their_budgets_and_keep_the_most_important_exercises():
    chapters = wd.chapters()
    wd.render_plans(chapters)  # raises when a plan is over budget or names a missing exercise
    short = wd.in_plan("3-hour workshop", chapters)
    for e in (e for c in chapters for e in c.exercises if e.importance == 5):
        assert (e.chapter, e.name) in short, f"importance-5 exercise {e.name!r} is not in the 3-hour plan"
    assert wd.in_plan("Full-day workshop", chapters) == {(e.chapter, e.name) for c in chapters for e in c.exercises}


CHECKS = '''
from workbook.course.checks._runner import CheckFailed

HINTS = {"sign": "the sign is flipped: use corrupt minus clean."}


def _judge(results, hints):
    raise CheckFailed(f"{results}: values differ from the reference (max abs difference 1).")


def _shared(fn, kind):
    noun = "query" if kind == "q" else "key"
    _judge([], [("plain", f"softmax not recomputed for the {noun} at {fn}.")])


def check_thing(fn):
    out = fn()
    if not isinstance(out, int):
        raise CheckFailed(f"case {out}: return an int, got {type(out).__name__}.")
    if out == -1:
        raise CheckFailed(HINTS["sign"])
    _shared(fn, "q")
'''

CHAPTER = '''# %% [markdown]
# # Chapter 7 — Tiny
#
# **Learning objectives**
#
# * Learn one thing, over
#   two lines.
# * Learn another.

# %% [markdown]
# ### Exercise — do the thing
# > Difficulty: 🔴🔴⚪⚪⚪  Importance: 🔵🔵🔵🔵🔵  ~12 min

# %%
checks.check_thing(my_thing)
'''


@pytest.fixture()
def tiny_root(tmp_path: Path) -> Path:
    (tmp_path / "workbook" / "checks").mkdir(parents=True)
    (tmp_path / "workbook" / "checks" / "tiny.py").write_text(CHECKS)
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "07_tiny.py").write_text(CHAPTER)
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "instructor_guide.md", tmp_path / "docs" / "instructor_guide.md")
    return tmp_path


def test_diagnoses_are_read_from_the_check_source(tiny_root: Path):
    assert cd.diagnoses("check_thing", tiny_root) == [
        "return an int, got ….",  # the "case …:" label is dropped, run-time values print as …
        "the sign is flipped: use corrupt minus clean.",  # from the module constant the check names
        "softmax not recomputed for the query at ….",  # via _shared(fn, "q"): kind bound, noun evaluated
    ]  # and the catch-all "values differ from the reference" is left out


def test_parse_chapter(tiny_root: Path):
    (chapter,) = wd.chapters(tiny_root)
    assert chapter.title == "Chapter 7 — Tiny"
    assert chapter.objectives == ["Learn one thing, over two lines.", "Learn another."]
    (e,) = chapter.exercises
    assert (e.name, e.difficulty, e.importance, e.minutes, e.check) == ("do the thing", 2, 5, 12, "check_thing")


def test_check_mode_fails_when_a_chapter_or_a_check_changes(tiny_root: Path, monkeypatch):
    plan = {"budget": 60, "blocks": [("Chapter 7", "07", "all", 10, "")]}
    monkeypatch.setattr(wd, "PLANS", {"3-hour workshop": plan, "Full-day workshop": plan})
    assert wd.main(["--root", str(tiny_root)]) == 0
    assert wd.main(["--root", str(tiny_root), "--check"]) == 0
    assert "~12 min" in (tiny_root / "docs" / "exercises.md").read_text()
    assert "use corrupt minus clean." in (tiny_root / "docs" / "instructor_guide.md").read_text()

    check = tiny_root / "workbook" / "checks" / "tiny.py"
    check.write_text(check.read_text().replace("corrupt minus clean", "corrupt - clean"))
    assert wd.main(["--root", str(tiny_root), "--check"]) == 1, "a changed diagnosis must make the guide stale"
    assert wd.main(["--root", str(tiny_root)]) == 0

    chapter = tiny_root / "chapters" / "07_tiny.py"
    chapter.write_text(chapter.read_text().replace("~12 min", "~14 min"))
    assert wd.main(["--root", str(tiny_root), "--check"]) == 1, "a changed exercise header must make the list stale"


def test_a_plan_naming_a_missing_exercise_or_over_budget_fails(tiny_root: Path, monkeypatch):
    chapters = wd.chapters(tiny_root)
    monkeypatch.setattr(wd, "PLANS", {"p": {"budget": 60, "blocks": [("Ch 7", "07", ["renamed exercise"], 10, "")]}})
    with pytest.raises(KeyError, match="renamed exercise"):
        wd.render_plans(chapters, tiny_root)
    monkeypatch.setattr(wd, "PLANS", {"p": {"budget": 15, "blocks": [("Ch 7", "07", "all", 10, "")]}})
    with pytest.raises(ValueError, match="over the 15 min budget"):
        wd.render_plans(chapters, tiny_root)


def test_walkthrough_minutes_follow_the_chapters_sizes():
    """The 3-hour plan's chapter blocks get the chapter's reading time, so a longer read never gets less."""
    chapters = {c.number: c for c in wd.chapters()}
    runs = wd._execution_seconds(ROOT)
    rows = [r for r in wd.plan_rows("3-hour workshop", list(chapters.values())) if r["chapter"]]
    assert rows and all(r["reading"] for r in rows) and not wd.PLANS["3-hour workshop"].get("discussion")
    size = {r["chapter"]: chapters[r["chapter"]].words / wd.READING_WPM + runs.get(r["chapter"], 0) / 60 for r in rows}
    for a in rows:
        assert a["talk_min"] == wd.reading_minutes(chapters[a["chapter"]]) >= size[a["chapter"]]
        for b in rows:
            if size[a["chapter"]] > size[b["chapter"]]:
                assert a["talk_min"] >= b["talk_min"], (a["label"], b["label"])
    longest = max(chapters.values(), key=lambda c: c.words)
    assert longest.number in {"02", "05"} and wd.reading_minutes(longest) > wd.reading_minutes(chapters["00"])


def test_reading_time_counts_the_prose_before_the_real_model_section(tiny_root: Path, monkeypatch):
    chapter = tiny_root / "chapters" / "07_tiny.py"
    prose = "# %% [markdown]\n# " + " ".join(["word"] * 400) + "\n\n"
    real = "# %% [markdown]\n# ## 2. Now on a real model: SmolLM2-135M (offline)\n# " + " ".join(["x"] * 900) + "\n"
    chapter.write_text(chapter.read_text() + "\n" + prose + real)
    (c,) = wd.chapters(tiny_root)
    assert 400 < c.words < 500 and c.real_section == "2"  # the real-model section's 900 words do not count
    assert wd.reading_minutes(c, tiny_root) == 5  # ~2.3 min (no execution measured) rounded up to 5
    monkeypatch.setattr(wd, "PLANS", {"p": {"budget": 60, "blocks": [("Ch 7", "07", "all", None, "")]}})
    (row,) = wd.plan_rows("p", [c], tiny_root)
    assert row["talk_min"] == 5 and row["reading"] and row["total"] == 5 + 12
    monkeypatch.setattr(wd, "PLANS", {"p": {"budget": 60, "blocks": [("Ch 7", "07", "all", 2, "")]}})
    with pytest.raises(ValueError, match="shorter than its reading time of 5 min"):
        wd.plan_rows("p", [c], tiny_root)


def test_real_model_run_times_have_one_source_and_one_wording():
    chapters = wd.chapters()
    secs = wd._real_seconds(ROOT)
    guide = (ROOT / "docs" / "instructor_guide.md").read_text()
    for c in chapters:
        if c.real_section and c.number in secs:
            phrase = wd.real_run_time(secs[c.number])
            assert phrase == f"{secs[c.number]:.0f} s on a CPU, one thread"
            rows = [line for line in guide.splitlines() if line.startswith(f"| Chapter {int(c.number)} ")]
            assert len(rows) == 1 and rows[0].endswith(f"| {phrase} |"), "the table row"
            assert guide.count(f"§ {c.real_section} on SmolLM2-135M: {phrase}") >= 1, "the plans' notes"
    assert "under 1 min to run" not in guide and "Random weights" not in guide.split("generated:realmodels:start")[1]
