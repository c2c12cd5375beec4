"""The architecture layer: one small adapter per model family, asked by every method.

>>> from workbook.arch import adapter_for
>>> adapter_for(model)            # GPT2Adapter(gpt2, 2 layers, 4 heads, layernorm, ...)

======================  ===========================================================
``workbook.arch.base``  :class:`Adapter`: graph, hooks, weights, norm backward, attention scores, refusals
``workbook.arch.norms`` exact LayerNorm / RMSNorm input gradients, batched over heads
``gpt2``, ``neox``,     one file per family: the few facts that differ
``llama``, ``qwen2``,
``gemma``
======================  ===========================================================

Supported HF architectures (``model.cfg.architecture``): see :data:`ADAPTERS`. Adding a family
= one adapter file (subclass :class:`Adapter`, set ``architectures``, override what differs),
one line in ``_FAMILIES`` below and a row in ``tests/test_families.py``.
"""

from __future__ import annotations

from workbook.arch.base import CAPABILITIES, NODE_HOOKS, Adapter, compute_dtype, model_dtype
from workbook.arch.gemma import Gemma2Adapter, GemmaAdapter
from workbook.arch.gpt2 import GPT2Adapter
from workbook.arch.llama import LlamaAdapter
from workbook.arch.neox import NeoXAdapter
from workbook.arch.qwen2 import Qwen2Adapter
from workbook.validate import UnsupportedArchitectureError

__all__ = [
    "Adapter", "ADAPTERS", "CAPABILITIES", "NODE_HOOKS", "adapter_for", "compute_dtype", "model_dtype",
    "supported_architectures", "check_architecture",
]

_FAMILIES: tuple[type[Adapter], ...] = (GPT2Adapter, NeoXAdapter, LlamaAdapter, Qwen2Adapter, GemmaAdapter, Gemma2Adapter)

#: HF architecture name -> adapter class
ADAPTERS: dict[str, type[Adapter]] = {arch: cls for cls in _FAMILIES for arch in cls.architectures}


def supported_architectures() -> list[str]:
    return sorted(ADAPTERS)


def check_architecture(name: str | None) -> type[Adapter]:
    """The adapter class for HF architecture ``name``, or :class:`UnsupportedArchitectureError`."""
    cls = ADAPTERS.get(name or "")
    if cls is None:
        raise UnsupportedArchitectureError(
            f"architecture {name!r} is not supported by workbook; supported: {', '.join(supported_architectures())}. "
            "Adding one takes an adapter in workbook/arch/ (see workbook.arch.base.Adapter)."
        )
    return cls


def adapter_for(model) -> Adapter:
    """The model's adapter (built once per model and cached on it)."""
    cached = model.__dict__.get("_workbook_adapter")
    if cached is not None and cached.model is model:
        return cached
    cls = check_architecture(getattr(getattr(model, "cfg", None), "architecture", None))
    adapter = cls(model)
    object.__setattr__(model, "_workbook_adapter", adapter)
    return adapter
