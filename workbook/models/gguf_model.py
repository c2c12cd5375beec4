"""GGUF files (llama.cpp's format) as ordinary float32 HF models: the code behind ``load_pretrained("x.gguf")``.

A GGUF file holds quantised weights (e.g. Q4_1: 4-bit blocks with a float scale and offset),
the config as metadata and the tokenizer. ``transformers`` (with the pure-Python ``gguf``
package) dequantises every tensor to float32 on load. What is approximated: the result is the
dequantised file, i.e. close to, not equal to, the checkpoint the file was quantised from;
every method in this package is exact *for the dequantised model*.

* :func:`find_gguf` - a ``.gguf`` file, or the single ``.gguf`` in a folder;
* :func:`gguf_architecture` - the HF class a GGUF file becomes, read from its metadata (no weights);
* :func:`load_gguf_as_hf` - ``(hf_model, tokenizer)``, float32, eval mode, no quantisation left;
* :func:`plain_copy` - the same weights in a fresh model of the same class (what ``save_pretrained``
  accepts: transformers refuses to save a model it loaded from GGUF).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from workbook.core.errors import ModelError

__all__ = ["GGUF_ARCHITECTURES", "find_gguf", "gguf_architecture", "load_gguf_as_hf", "plain_copy", "say"]

#: GGUF ``general.architecture`` -> the HF class transformers builds from it (families workbook supports)
GGUF_ARCHITECTURES = {
    "gpt2": "GPT2LMHeadModel",
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "gemma": "GemmaForCausalLM",
    "gemma2": "Gemma2ForCausalLM",
}


def say(msg: str, tag: str = "gguf") -> None:
    """One progress line ``[tag] msg`` on stderr (kept off stdout); silent when ``WORKBOOK_PROGRESS=0``."""
    if os.environ.get("WORKBOOK_PROGRESS", "1") != "0":
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)


def find_gguf(path: str | Path) -> Path:
    """``path`` if it is a ``.gguf`` file, else the one ``.gguf`` in folder ``path``.

    Raises :class:`~workbook.core.errors.ModelError` when ``path`` is neither, or when the folder
    holds several ``.gguf`` files (naming them: pass the one you mean).
    """
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir():
        found = sorted(path.glob("*.gguf"))
        if len(found) == 1:
            return found[0]
        raise ModelError(
            f"{str(path)!r} holds {len(found)} .gguf files {[f.name for f in found]}; expected exactly one. "
            "Pass the path of the .gguf file you mean."
        )
    raise ModelError(f"{str(path)!r} is neither a .gguf file nor a folder holding one.")


def _require_gguf_package() -> None:
    try:
        import gguf  # noqa: F401  (transformers reads GGUF files through it)
    except ImportError as err:
        raise ModelError(
            "loading a .gguf file needs the 'gguf' package (pure Python): pip install 'gguf>=0.13'."
        ) from err


def gguf_architecture(path: str | Path) -> str:
    """The HF class name the GGUF file at ``path`` loads as (``"gguf:<arch>"`` for a family not listed).

    Reads the file's ``general.architecture`` metadata only (memory-mapped; no weight is
    dequantised), so an unsupported family is refused before the slow part.
    """
    _require_gguf_package()
    from gguf import GGUFReader

    try:
        field = GGUFReader(str(find_gguf(path))).fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode("utf-8")  # a string field (as transformers reads it)
    except (KeyError, ValueError, OSError, IndexError) as err:
        raise ModelError(f"{str(path)!r} is not a readable GGUF file: {type(err).__name__}: {err}") from err
    return GGUF_ARCHITECTURES.get(arch, f"gguf:{arch}")


def load_gguf_as_hf(path: str | Path) -> tuple[Any, Any]:
    """Load a ``.gguf`` file (or a folder holding exactly one) as ``(hf_model, tokenizer)``.

    The weights are dequantised to float32 by ``transformers`` (~20-40 s for 135M parameters
    on one CPU core) and copied into a plain model of the same class (:func:`plain_copy`), so
    the result carries no ``quantization_config`` and can be ``save_pretrained``.
    ``config.architectures``, which GGUF loading leaves unset, is filled in from the model class.
    The tokenizer is the one stored in the file; a GGUF tokenizer built this way adds no BOS
    itself (``workbook.task_from_strings`` adds one where the model expects it).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf(path)
    _require_gguf_package()
    say(f"dequantising {gguf.name} ({gguf.stat().st_size / 1e6:.0f} MB) to float32 ...")
    try:
        hf = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise ModelError(f"could not load the GGUF file {str(gguf)!r}: {type(err).__name__}: {err}") from err
    return plain_copy(hf), tok


def plain_copy(hf: Any) -> Any:
    """A fresh model of ``hf``'s class without ``quantization_config``, holding ``hf``'s weights (eval mode).

    ``config.architectures`` is set to the class name. The copy is built without random
    initialisation and filled with ``load_state_dict(strict=True)``, so every weight is ``hf``'s.
    """
    try:
        from transformers.initialization import no_init_weights  # transformers 5: skip the random init
    except ImportError:
        no_init_weights = contextlib.nullcontext

    config = type(hf.config).from_dict({k: v for k, v in hf.config.to_dict().items() if k != "quantization_config"})
    config.architectures = [type(hf).__name__]
    with no_init_weights():
        plain = type(hf)(config)
    plain.load_state_dict(hf.state_dict(), strict=True)
    plain.tie_weights()
    return plain.eval()
