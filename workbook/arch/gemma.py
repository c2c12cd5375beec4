"""Gemma (HF ``GemmaForCausalLM``) and Gemma 2 (``Gemma2ForCausalLM``).

Gemma: RMSNorm that multiplies by ``1 + weight`` (and computes in float32), embeddings scaled
by ``sqrt(d_model)`` (inside ``hook_embed`` on the bridge, so the ``embed`` source is already the
residual-stream write), rotary positions, scores scaled by ``query_pre_attn_scalar ** -0.5``
(the module's ``scaling``), multi-/grouped-query attention, gated MLP.

Gemma 2 adds attention soft-capping ``c * tanh(s / c)`` (reproduced by the QK fix), sliding
windows (read from the model's mask) and *sandwich* norms: each attention and MLP output is
RMS-normalised again before it joins the residual stream. That second norm mixes the heads, so
a head's residual write is not additive and the per-head edge graph does not exist: edge methods
refuse Gemma 2 by name (:meth:`~workbook.arch.base.Adapter.inspect` detects ``ln1_post``); node
methods (AtP, QK fix, GradDrop, AtP*, patching, FN bound) are exact.
"""

from __future__ import annotations

from workbook.arch.llama import LlamaAdapter


class GemmaAdapter(LlamaAdapter):
    family = "gemma"
    architectures = ("GemmaForCausalLM",)
    norm_offset = 1.0


class Gemma2Adapter(GemmaAdapter):
    family = "gemma2"
    architectures = ("Gemma2ForCausalLM",)
