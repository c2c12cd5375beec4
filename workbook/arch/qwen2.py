"""Qwen2 (HF ``Qwen2ForCausalLM``): the Llama layout (RMSNorm, rotary, grouped-query attention,
gated MLP) with biases on q/k/v (none on o). Sliding-window layers, when configured, are read
from the model's own attention mask, like every mask.
"""

from __future__ import annotations

from workbook.arch.llama import LlamaAdapter


class Qwen2Adapter(LlamaAdapter):
    family = "qwen2"
    architectures = ("Qwen2ForCausalLM",)
