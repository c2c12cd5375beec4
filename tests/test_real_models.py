"""The chapters' optional real-model sections (workbook.course.sections, workbook.tasks.prompt), offline.

The section code is read from chapters/NN_*.py and executed exactly as the notebook runs it,
with WORKBOOK_MODEL_DIR pointing the hub names "gpt2" and "EleutherAI/pythia-160m" at tiny
random GPT-2 and GPT-NeoX folders whose tokenizers were trained on the tasks' words.
"""

import sys
import time
from pathlib import Path

import pytest
import torch

import workbook as wb
from tests._tol import F32, assert_close
from workbook.course import sections as rm
from workbook.models.local import save_tiny_model
from workbook.tasks import prompt as pt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import real_model_sections as sections  # noqa: E402  (a script, shared with the timing run)

CHAPTERS = sections.chapter_paths()
METHODS = {  # what each chapter's section must have run and reported, by name
    "00": ["AtP", "activation patching", "recall@10", "live check:", "[holds]"],
    "01": ["AtP* QK fix", "verdict:", "largest attention probability", "live check:", "] the QK fix ranks"],
    "02": ["AtP* GradDrop", "direct and indirect parts", "] GradDrop has no fewer false negatives"],
    "03": ["EAP-IG (m=5)", "verdict:", "faithfulness", "] EAP-IG ranks"],
    "04": ["EAP-GP", "EAP-IG (m=5)", "EAP-GP recovers what EAP-IG misses"],
    "05": ["AtP* QK fix", "EAP-IG (m=5)", "faithfulness", "--- edges", "verified"],
    "06": ["AtP", "RelP", "Pearson with patching", "live check:", "] RelP has no more false negatives"],
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return sections.write_folders(tmp_path_factory.mktemp("hub"), shaped=False)


@pytest.fixture(scope="module")
def gpt2(model_dir):
    return wb.load_pretrained(model_dir / "gpt2")


# ------------------------------------------------------------------------------------ the sections
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_section_runs_on_local_folders(path, model_dir):
    text, _ = sections.run_section(path, model_dir)
    assert "[skipped]" not in text, text
    assert "[loaded] " in text and "(LlamaForCausalLM)" in text  # the tiny stand-in named smollm2
    for needle in METHODS[path.name[:2]]:
        assert needle in text, f"{path.name}: {needle!r} missing from the section's output:\n{text}"
    assert " s on cpu, 1 CPU thread(s)" in text  # the cell prints its time and device
    if "pythia" in text:
        assert "[loaded] EleutherAI/pythia-160m (GPTNeoXForCausalLM)" in text


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_section_switched_off_prints_one_line(path):
    text, seconds = sections.run_section(path, None, off=True)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("[skipped]") and "WORKBOOK_REAL_MODELS=0" in lines[0], text
    assert seconds < 5


def test_every_chapter_has_one_section_before_further_reading():
    assert len(CHAPTERS) == 7
    for path in CHAPTERS:
        head, body = sections.section_cells(path)
        assert body and 'rm.load_or_skip("smollm2")' in body[0]
        assert all("NBVAL" not in src for src in body)
        text = path.read_text()
        assert text.index("Now on a real model") < text.index("## Further reading")
        section = text[text.index("Now on a real model"):text.index("## Further reading")]
        # the work is ignored by nbval (timings, float detail); the last cell's claims are compared
        assert section.count("# NBVAL_IGNORE_OUTPUT") == len(body) - 1
        assert section.count("# NBVAL_CHECK_OUTPUT") == 1 and ("rm.claim(" in body[-1] or "print(" in body[-1])


# ------------------------------------------------------------------------------------ loading
def test_switched_off(monkeypatch, capsys):
    monkeypatch.setenv(rm.OFF_ENV, "0")
    assert rm.load_or_skip("gpt2", "EleutherAI/pythia-160m") == {}
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("[skipped] gpt2 and EleutherAI/pythia-160m: switched off")


def test_offline_skips_fast_without_probing(monkeypatch, capsys):
    for var in (rm.OFF_ENV, rm.DIR_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(rm, "_cached", lambda name: None)
    calls = []
    source, why = rm.locate("gpt2", probe=lambda *a, **k: calls.append(a))
    assert source is None and "HF_HUB_OFFLINE" in why and not calls


def test_unreachable_hub_is_one_line(monkeypatch, capsys):
    for var in (rm.OFF_ENV, rm.DIR_ENV, "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(rm, "_cached", lambda name: None)
    seen = []

    def probe(url, timeout):
        seen.append((url, timeout))
        return "URLError: no network"

    source, why = rm.locate("EleutherAI/pythia-160m", timeout=1.5, probe=probe)
    assert source is None and why == "huggingface.co not reachable (URLError: no network)"
    assert seen == [("https://huggingface.co/api/models/EleutherAI/pythia-160m", 1.5)]


def test_the_doctor_probe_never_hangs():
    t0 = time.perf_counter()
    error = __import__("workbook.cli.doctor", fromlist=["probe_hub"]).probe_hub("http://10.255.255.1/", timeout=0.5)
    assert error is not None and time.perf_counter() - t0 < 2.0


def test_model_dir_redirects_and_names_a_missing_folder(monkeypatch, model_dir, tmp_path, capsys):
    monkeypatch.delenv(rm.OFF_ENV, raising=False)
    monkeypatch.setenv(rm.DIR_ENV, str(model_dir))
    models = rm.load_or_skip("gpt2", "EleutherAI/pythia-160m")
    assert list(models) == ["gpt2", "EleutherAI/pythia-160m"]
    assert models["gpt2"].tokenizer is not None and models["gpt2"].cfg.n_layers == 2
    monkeypatch.setenv(rm.DIR_ENV, str(tmp_path))
    assert rm.load_or_skip("gpt2") == {}
    assert "has no folder gpt2" in capsys.readouterr().out


def test_timed_reports_a_named_refusal_and_goes_on(gpt2, capsys):
    from workbook.core.errors import TaskError

    with rm.timed(gpt2, "demo"):
        raise TaskError("no pair suits this tokenizer")
    assert capsys.readouterr().out.startswith("[demo: stopped after 0 s: TaskError: no pair suits this tokenizer]")
    with pytest.raises(ZeroDivisionError):
        with rm.timed(gpt2, "demo"):
            1 / 0
    with rm.timed(gpt2, "demo"):
        pass
    assert "s on cpu, 1 CPU thread(s)" in capsys.readouterr().out


def test_cache_needs_weights_and_tokenizer(tmp_path, model_dir):
    assert rm._folder_ok(model_dir / "gpt2")
    (tmp_path / "config.json").write_text("{}")
    assert not rm._folder_ok(tmp_path)


# ------------------------------------------------------------------------------------ tasks
@pytest.mark.parametrize("build", [pt.ioi_task, pt.greater_than_task, pt.sva_task], ids=lambda f: f.__name__)
def test_tasks_from_strings(gpt2, build):
    task = build(gpt2, n=6)
    assert task.batch_size == 6 and task.info["kept"] == 6
    assert task.attention_mask is None or task.attention_mask.shape == task.clean.shape
    assert (task.clean != task.corrupt).any(1).all(), "every corrupt prompt differs from its clean twin"
    assert torch.isfinite(task.per_example(gpt2(task.clean, attention_mask=task.attention_mask))).all()
    assert build(gpt2, n=6).clean.equal(task.clean), "deterministic"


def test_ioi_rows_are_abc_corrupted():
    for clean, corrupt, answer, wrong in pt.ioi_strings(12):
        io, s = answer.strip(), wrong.strip()
        assert clean.count(s) == 2 and clean.count(io) == 1 and corrupt.count(s) == 1 and corrupt.count(io) == 1


def test_year_metric_is_hanna_prob_diff(gpt2):
    metric = pt.YearMetric(gpt2.tokenizer, gpt2.cfg.d_vocab)
    assert len(metric.ids) == 100  # the tiny tokenizer has every two-digit year as one token
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, gpt2.cfg.d_vocab, generator=g)
    wrong = metric.ids[torch.tensor([5, 50, 97])]
    got = metric(logits, wrong, wrong, torch.tensor([3, 3, 2]))
    for i, (yy, pos) in enumerate(((5, 3), (50, 3), (97, 2))):
        p = logits[i, pos].softmax(-1)[metric.ids]
        # probabilities: the scale is 1 (a value near 0 must not get a relative tolerance)
        assert got[i].item() == pytest.approx((p[yy + 1:].sum() - p[:yy + 1].sum()).item(), abs=F32)


def test_number_metric_sign(gpt2):
    metric = pt.NumberMetric(gpt2.tokenizer, gpt2.cfg.d_vocab)
    logits = torch.zeros(2, 1, gpt2.cfg.d_vocab)
    logits[:, 0, metric.singular] = 10.0
    answer = torch.stack([metric.singular[0], metric.plural[0]])
    got = metric(logits, answer, answer.flip(0), torch.zeros(2, dtype=torch.long))
    assert got[0] > 0.5 and got[1] == pytest.approx(-got[0].item())


# ------------------------------------------------------------------------------------ screen, then verify
def test_verify_pool_is_patching_on_the_pool_and_zero_elsewhere(gpt2):
    task = pt.ioi_task(gpt2, n=4)
    est = wb.atp(gpt2, task, "head")
    truth = wb.patch_nodes(gpt2, task, "head")
    pool = rm.verify_pool(gpt2, task, [est], top=3)
    assert pool.info["verified"] == est.order()[:3]
    want = [truth[n] if n in pool.info["verified"] else 0.0 for n in truth.names]
    assert_close(pool.select(truth.names), want, F32, truth.values.abs().max())  # float32: scale max|effect|
    full = rm.verify_pool(gpt2, task, [est], top=len(truth))
    assert wb.false_negatives(est, full) == wb.false_negatives(est, truth)
    assert wb.verification_cost(est, full) == wb.verification_cost(est, truth)


def test_reports_use_ranks_among_all_components():
    names = [f"L0H{i}" for i in range(6)]
    truth = wb.Scores(names, torch.tensor([4.0, 3.0, 0.0, 0.0, 0.0, 0.0]), "patching",
                      info={"verified": ["L0H0", "L0H1", "L0H2"], "top": 2})
    before = wb.Scores(names, torch.tensor([0.1, 3.0, 2.0, 1.0, 0.5, 0.0]), "AtP")
    after = wb.Scores(names, torch.tensor([4.0, 2.0, 3.0, 1.0, 0.5, 0.0]), "fixed")
    report = rm.screen_report(truth, [before, after])
    assert "K = 2: L0H0, L0H1" in report
    assert "AtP                            1       5" in report and "L0H0 (5)" in report
    assert "fixed                          1       3" in report and "L0H1 (3)" in report
    moves = rm.rank_moves(truth, before, after)
    assert "ranks 1 of the 2 truly important higher than AtP, 1 lower" in moves
    assert "1 (AtP) -> 1 (fixed); recovered: L0H0; newly missed: L0H1" in moves
    assert moves.splitlines()[1].split() == ["L0H0", "4", "0.025", "5", "->", "1"]


def test_verify_pool_refuses_different_components(gpt2):
    task = pt.ioi_task(gpt2, n=2)
    with pytest.raises(ValueError, match="compare like with like"):
        rm.verify_pool(gpt2, task, [wb.atp(gpt2, task, "head"), wb.atp(gpt2, task, "mlp")], top=2)


def test_corpus_makes_the_words_single_tokens(gpt2):
    tok = gpt2.tokenizer
    for word in pt.NAMES + pt.SINGULAR_VERBS + pt.PLURAL_VERBS:
        assert len(tok(" " + word, add_special_tokens=False)["input_ids"]) == 1, word


def test_save_tiny_model_real_sized_vocabulary(tmp_path):
    folder = save_tiny_model(tmp_path / "m", "gpt2", d_vocab=1000, extra_text=["Mary went home"])
    model = wb.load_pretrained(folder)
    assert model.cfg.d_vocab == 1000 and len(model.tokenizer) < 1000
    with pytest.raises(ValueError, match="smaller than the tokenizer"):
        save_tiny_model(tmp_path / "n", "gpt2", d_vocab=10)


def test_instructor_guide_lists_every_section_with_its_time():
    import importlib

    wd = importlib.import_module("workshop_docs")  # scripts/ is on sys.path (above)
    chapters = wd.chapters()
    guide = (ROOT / "docs" / "instructor_guide.md").read_text()
    for c in chapters:
        assert c.real_section and c.real_models[0] == "smollm2", c.number
        assert f"| {c.title} | § {c.real_section} |" in guide
        assert f"§ {c.real_section} on SmolLM2-135M" in guide
    measured = wd._real_seconds(ROOT)
    assert sorted(measured) == [c.number for c in chapters]
    assert all(s <= 90 for s in measured.values()), f"a section over 90 s on SmolLM2: {measured}"
