"""``python -m workbook doctor``: one line per item, exit 1 exactly when a [FAIL] line is printed."""

import time

import pytest

from workbook.__main__ import main as workbook_main
from workbook.cli import doctor


def test_doctor_passes_on_this_install(capsys):
    assert workbook_main(["doctor", "--no-hub"]) == 0, capsys.readouterr().out
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("ready: no problems")
    body = lines[1:-1]
    assert body and all(line[:7] in ("[ ok ] ", "[warn] ", "[info] ") for line in body), body
    text = "\n".join(body)
    for needle in ("python ", "torch ", "transformer_lens ", "transformers ", "shipped models load offline",
                   "matches TransformerLens", "eps -> 0 limit of patching", "ipywidgets"):
        assert needle in text, needle


def _ok():
    return [doctor.Line("ok", "fine")]


def test_a_fail_line_gives_exit_1(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", [("a", _ok), ("b", lambda: [doctor.Line("FAIL", "broken thing")])])
    assert workbook_main(["doctor", "--no-hub"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] broken thing" in out and "1 problem(s)" in out


def test_a_check_that_crashes_is_a_failure_not_a_crash(monkeypatch, capsys):
    def boom():
        raise ImportError("no module named transformer_lens")

    monkeypatch.setattr(doctor, "CHECKS", [("methods", boom), ("a", _ok)])
    assert doctor.main(["--no-hub"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] methods: ImportError: no module named transformer_lens" in out
    assert "[ ok ] fine" in out, "the checks after a crashing one still run"


def test_warnings_alone_exit_0(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "CHECKS", [("a", lambda: [doctor.Line("warn", "no widgets")])])
    assert doctor.main(["--no-hub"]) == 0
    assert "1 warning(s)" in capsys.readouterr().out


@pytest.mark.parametrize("installed, status", [("3.0.0", "FAIL"), (None, "FAIL"), ("4.3.0", "ok")])
def test_version_check_names_the_fix(monkeypatch, installed, status):
    monkeypatch.setattr(doctor, "requirements", lambda: (">=3.10", ["transformer_lens<5,>=4.3", "ipywidgets>=7.6"]))
    real = doctor._installed_version
    monkeypatch.setattr(doctor, "_installed_version",
                        lambda name: installed if name == "transformer_lens" else ("1.0" if name == "ipywidgets" else real(name)))
    lines = {line.text.split()[0]: line for line in doctor.check_versions()}
    assert lines["transformer_lens"].status == status
    if status == "FAIL":
        assert 'pip install "transformer_lens<5,>=4.3"' in lines["transformer_lens"].text
    assert lines["ipywidgets"].status == "warn", "an optional package too old is a warning, not a failure"


def test_hub_check_never_hangs_and_is_never_a_failure(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    t0 = time.perf_counter()
    (line,) = doctor.check_hub(timeout=0.2, probe=lambda timeout: doctor.probe_hub("http://10.255.255.1:81/", timeout))
    assert time.perf_counter() - t0 < 5
    assert line.status == "info" and "not reachable" in line.text
    (line,) = doctor.check_hub(probe=lambda timeout: None)
    assert line.status == "ok"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (line,) = doctor.check_hub(probe=lambda timeout: pytest.fail("must not probe when offline is set"))
    assert line.status == "info" and "HF_HUB_OFFLINE" in line.text


def test_probe_hub_returns_after_its_timeout_even_if_the_request_blocks(monkeypatch):
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: time.sleep(30))
    t0 = time.perf_counter()
    assert doctor.probe_hub(timeout=0.2) == "no answer in time"
    assert time.perf_counter() - t0 < 2
