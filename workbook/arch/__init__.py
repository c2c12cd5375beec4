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

import weakref
from typing import Iterable

import torch

from workbook.arch.base import CAPABILITIES, NODE_HOOKS, Adapter
from workbook.arch.gemma import Gemma2Adapter, GemmaAdapter
from workbook.arch.gpt2 import GPT2Adapter
from workbook.arch.llama import LlamaAdapter
from workbook.arch.neox import NeoXAdapter
from workbook.arch.qwen2 import Qwen2Adapter
from workbook.core.errors import ModelError, ModelNotPreparedError, UnsupportedArchitectureError
from workbook.core.runs import compute_dtype, model_dtype

__all__ = [
    "Adapter", "ADAPTERS", "CAPABILITIES", "NODE_HOOKS", "adapter_for", "compute_dtype", "model_dtype",
    "supported_architectures", "check_architecture", "check_model", "REQUIRED_FLAGS",
]

_FAMILIES: tuple[type[Adapter], ...] = (
    GPT2Adapter,
    NeoXAdapter,
    LlamaAdapter,
    Qwen2Adapter,
    GemmaAdapter,
    Gemma2Adapter,
)

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


REQUIRED_FLAGS = {
    "use_attn_result": "per-head outputs (blocks.L.attn.hook_result): call workbook.prepare(model)",
    "use_split_qkv_input": "split q/k/v inputs (blocks.L.hook_q_input ...): call workbook.prepare(model)",
    "use_hook_mlp_in": "blocks.L.hook_mlp_in: call workbook.prepare(model)",
}


_MODULES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _modules_of(model) -> list[torch.nn.Module]:
    """Every submodule of ``model`` as a list, built once per model (its structure does not change)."""
    mods = _MODULES.get(model)
    if mods is None:
        mods = _MODULES[model] = list(model.modules())
    return mods


def check_model(model, hooks: Iterable[str] = (), flags: Iterable[str] = tuple(REQUIRED_FLAGS)) -> None:
    """Raise :class:`ModelError` unless ``model`` is an eval-mode bridge with the needed hooks.

    Checks, in order: it is a ``TransformerBridge``; its architecture has an adapter in
    :mod:`workbook.arch` (else :class:`UnsupportedArchitectureError`); no submodule is in train
    mode (dropout would make the clean and corrupt runs use different masks); the hook flags in
    ``flags`` are on (else :class:`ModelNotPreparedError`); every name in ``hooks`` exists in
    ``model.hook_dict``.
    """
    from transformer_lens import TransformerBridge

    if not isinstance(model, TransformerBridge):
        raise ModelError(
            f"expected a transformer_lens TransformerBridge, got {type(model).__name__}; "
            "see workbook.models.loading (build_gpt2, bridge_from_hf, load_pretrained)."
        )
    adapter_for(model)  # UnsupportedArchitectureError for a family workbook does not know
    if any(mod.training for mod in _modules_of(model)):  # a flat list: walking the tree costs ms per call
        training = [name or "<root>" for name, mod in model.named_modules() if mod.training]
        drop = [
            name or "<root>"
            for name, mod in model.named_modules()
            if isinstance(mod, torch.nn.Dropout) and mod.training and mod.p > 0
        ]
        extra = f" Dropout is active in {drop[:3]}." if drop else ""
        raise ModelError(
            f"the model is in train mode ({len(training)} modules, e.g. {training[0]!r}).{extra} "
            "Clean and corrupt runs would not be comparable. Call model.eval() first."
        )
    for flag in flags:
        if not getattr(model.cfg, flag, False):
            raise ModelNotPreparedError(
                f"the model is not prepared for attribution: model.cfg.{flag} is off, so it lacks "
                f"{REQUIRED_FLAGS[flag]}."
            )
    missing = [h for h in hooks if h not in model.hook_dict]
    if missing:
        raise ModelError(
            f"the model has no hook point {missing[0]!r} ({len(missing)} missing). "
            "Build or wrap the model with workbook.models.loading (build_gpt2, bridge_from_hf, load_pretrained)."
        )
