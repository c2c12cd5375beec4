"""``python -m workbook doctor``: check a participant's install, one line per item.

Checks, in order: the Python and package versions against this package's own requirements
(its installed metadata, else ``pyproject.toml``); that every shipped model loads offline and
runs; that activation patching agrees with TransformerLens's own patching and AtP with the
eps -> 0 limit of patching on a tiny float64 model (so hooks and gradients work on this
install); that widgets, circuitsvis and a Jupyter kernel are available; and whether the
Hugging Face hub answers (a few seconds at most, informational only: the course runs offline).

Each line starts with ``[ ok ]``, ``[FAIL]`` (a real problem: the notebooks will not work),
``[warn]`` (works, with less: e.g. static figures instead of widgets) or ``[info]``. The exit
status is 1 when any line is ``[FAIL]``, else 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from workbook.models import zoo
from workbook.models.loading import probe_hub

DIST = "when-gradients-mislead"
OPTIONAL = {"circuitsvis": "attention patterns are drawn as static figures",
            "ipywidgets": "the sliders become printed tables"}
KEY_PACKAGES = ("torch", "transformer_lens", "transformers")


@dataclass
class Line:
    status: str  # "ok", "FAIL", "warn", "info"
    text: str

    def __str__(self) -> str:
        return f"[{self.status:^4}] {self.text}"


# ----------------------------------------------------------------------------- versions
def _installed_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def requirements() -> tuple[str | None, list[str]]:
    """``(requires_python, [requirement strings])`` of this package, without extras."""
    from importlib.metadata import PackageNotFoundError, metadata, requires

    try:
        reqs = [r for r in (requires(DIST) or []) if "extra ==" not in r]
        return metadata(DIST).get("Requires-Python"), reqs
    except PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        if sys.version_info < (3, 11) or not pyproject.exists():
            return None, []
        import tomllib

        project = tomllib.loads(pyproject.read_text())["project"]
        return project.get("requires-python"), list(project.get("dependencies", []))


def check_versions() -> list[Line]:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    requires_python, reqs = requirements()
    py = platform.python_version()
    out = []
    if requires_python and py not in SpecifierSet(requires_python):
        out.append(Line("FAIL", f"python {py} (this course needs {requires_python}): use a newer Python"))
    else:
        out.append(Line("ok", f"python {py}" + (f" (needs {requires_python})" if requires_python else "")))
    if not reqs:
        return out + [Line("warn", f"cannot read the requirements of {DIST} (not installed?): versions not checked")]
    parsed = sorted((Requirement(r) for r in reqs), key=lambda r: (r.name not in KEY_PACKAGES, r.name))
    for req in parsed:
        have = _installed_version(req.name)
        need = str(req.specifier) or "any version"
        fix = f'pip install "{req.name}{req.specifier}"'
        if have is None:
            status = "warn" if req.name in OPTIONAL else "FAIL"
            why = f": {OPTIONAL[req.name]}" if req.name in OPTIONAL else ""
            out.append(Line(status, f"{req.name} not installed (needs {need}){why}; {fix}"))
        elif req.specifier and not req.specifier.contains(have, prereleases=True):
            status = "warn" if req.name in OPTIONAL else "FAIL"
            out.append(Line(status, f"{req.name} {have} (needs {need}); {fix}"))
        else:
            out.append(Line("ok", f"{req.name} {have} (needs {need})"))
    return out


def check_device() -> list[Line]:
    import torch

    cuda = torch.cuda.is_available()
    return [Line("info", f"torch sees {'CUDA: ' + torch.cuda.get_device_name(0) if cuda else 'no GPU'}; "
                         f"the course models are tiny and run on the CPU ({os.cpu_count()} cores)")]


# ----------------------------------------------------------------------------- models and methods
def check_models() -> list[Line]:
    import torch


    t0 = time.perf_counter()
    names, bad = zoo.list_models(), []
    for name in names:
        model, task = zoo.load(name)
        with torch.no_grad():
            logits = model(task.clean[:2])
        if logits.shape[-1] != model.cfg.d_vocab or not torch.isfinite(logits).all():
            bad.append(name)
    if bad:
        return [Line("FAIL", f"shipped models give wrong logits: {', '.join(bad)}; reinstall the package")]
    return [Line("ok", f"{len(names)} shipped models load offline and run ({', '.join(names)}) "
                       f"in {time.perf_counter() - t0:.1f} s")]


def _tiny():
    import torch

    import workbook as wb

    model = wb.build_gpt2(seed=1, n_layers=2, d_model=16, n_heads=2, d_vocab=20, d_mlp=32)
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(1, 20, (3, 6), generator=g)
    corrupt = clean.clone()
    corrupt[:, :3] = torch.randint(1, 20, (3, 3), generator=g)
    return model, wb.Task(clean, corrupt, clean[:, 2], corrupt[:, 2], name="doctor")


def check_methods() -> list[Line]:
    """Patching vs TransformerLens's patching; AtP vs the central difference of eps-scaled patching.

    The reference for AtP patches ``z_clean + s * eps * (z_corrupt - z_clean)`` (s = +-1) into one
    head and takes ``(M(+eps) - M(-eps)) / (2 eps)``: the derivative AtP claims to compute. In
    float32, eps = 0.1 keeps both the truncation and the rounding error far below the tolerance.
    """
    import contextlib
    import io

    import torch
    import transformer_lens.patching as tlp

    import workbook as wb

    model, task = _tiny()
    L, H = model.cfg.n_layers, model.cfg.n_heads
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(task.clean)
        _, corrupt_cache = model.run_with_cache(task.corrupt)
        corrupt_value = float(task.metric_value(model(task.corrupt)))
        with contextlib.redirect_stderr(io.StringIO()):  # TL's progress bar
            theirs = tlp.get_act_patch_attn_head_out_all_pos(model, task.corrupt, clean_cache, task.metric_value)
    ours = wb.patch_nodes(model, task, "head", direction="denoising").values.reshape(L, H).double() + corrupt_value
    patch_err = (ours - theirs.double()).abs().max().item()

    eps, limit = 0.1, torch.zeros(L, H, dtype=torch.float64)
    for layer in range(L):
        name = f"blocks.{layer}.attn.hook_z"
        delta = corrupt_cache[name] - clean_cache[name]
        for head in range(H):
            values = []
            for sign in (1.0, -1.0):
                def nudge(z, hook, s=sign, h=head):
                    z = z.clone()
                    z[:, :, h] = z[:, :, h] + s * eps * delta[:, :, h]
                    return z

                with torch.no_grad():
                    values.append(float(task.metric_value(model.run_with_hooks(task.clean, fwd_hooks=[(name, nudge)]))))
            limit[layer, head] = (values[0] - values[1]) / (2 * eps)
    est = wb.atp(model, task, "head").values.reshape(L, H).double()
    atp_err = ((est - limit).abs().max() / limit.abs().max().clamp_min(1e-12)).item()
    out = []
    if patch_err <= 1e-5:
        out.append(Line("ok", f"activation patching matches TransformerLens's own (max difference {patch_err:.1e})"))
    else:
        out.append(Line("FAIL", f"activation patching differs from TransformerLens's by {patch_err:.2g}: "
                                "an incompatible transformer_lens? (needs the version pinned in pyproject)"))
    if atp_err <= 1e-3:
        msg = f"AtP runs and equals the eps -> 0 limit of patching (relative difference {atp_err:.1e})"
        out.append(Line("ok", msg))
    else:
        out.append(
            Line(
                "FAIL",
                f"AtP differs from the eps -> 0 limit of patching by {atp_err:.2g} (relative): "
                "gradients or hooks are broken on this install",
            )
        )
    return out


# ----------------------------------------------------------------------------- front ends and hub
def check_frontend() -> list[Line]:
    import importlib.util

    out, present = [], []
    for name, why in OPTIONAL.items():
        if importlib.util.find_spec(name) is None:
            out.append(Line("warn", f"{name} missing: {why} (pip install {name})"))
        else:
            present.append(f"{name} {_installed_version(name) or ''}".strip())
    if present:
        out.insert(
            0, Line("ok", f"{' and '.join(present)} importable: interactive figures in Jupyter, VS Code and Colab")
        )
    if importlib.util.find_spec("ipykernel") is None:
        out.append(
            Line("warn", "ipykernel missing: no Jupyter kernel for this Python (pip install ipykernel jupyterlab)")
        )
    else:
        out.append(Line("ok", "ipykernel installed (a Jupyter / VS Code kernel for this Python)"))
    return out


def check_hub(timeout: float = 3.0, probe: Callable[..., str | None] = probe_hub) -> list[Line]:
    offline = [v for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(v, "0") not in ("", "0")]
    note = "fine: every chapter runs offline; only the optional real-model sections need the hub"
    if offline:
        return [Line("info", f"hub not tried ({' and '.join(offline)} set): {note}")]
    error = probe(timeout=timeout)
    if error is None:
        return [Line("ok", "huggingface.co reachable: the optional real-model sections can download models")]
    return [Line("info", f"huggingface.co not reachable ({error}): {note}")]


# ----------------------------------------------------------------------------- driver
CHECKS: list[tuple[str, Callable[[], list[Line]]]] = [
    ("versions", check_versions),
    ("device", check_device),
    ("models", check_models),
    ("methods", check_methods),
    ("frontend", check_frontend),
]


def run(checks: Sequence[tuple[str, Callable[[], list[Line]]]], write=print) -> list[Line]:
    """Run ``checks`` in order, printing each line as it comes; a check that raises is a FAIL."""
    lines = []
    for name, fn in checks:
        try:
            got = fn()
        except Exception as err:
            got = [Line("FAIL", f"{name}: {type(err).__name__}: {err}")]
        for line in got:
            write(str(line))
        lines.extend(got)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbook doctor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-hub", action="store_true", help="do not try to reach huggingface.co")
    parser.add_argument("--hub-timeout", type=float, default=3.0, help="seconds to wait for the hub")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    print("When Gradients Mislead: install check")
    checks = list(CHECKS)
    if not args.no_hub:
        checks.append(("hub", lambda: check_hub(args.hub_timeout)))
    lines = run(checks)
    fails = sum(line.status == "FAIL" for line in lines)
    warns = sum(line.status == "warn" for line in lines)
    took = f"checks took {time.perf_counter() - t0:.1f} s"
    if fails:
        print(f"{fails} problem(s), {warns} warning(s) ({took}): fix the [FAIL] lines, then run this again.")
        return 1
    print(f"ready: no problems, {warns} warning(s) ({took}).")
    return 0
