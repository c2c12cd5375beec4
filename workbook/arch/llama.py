"""Llama (HF ``LlamaForCausalLM``): RMSNorm (``variance_epsilon``, no bias), rotary positions
(the bridge fires ``hook_rot_q``/``hook_rot_k`` after rotating), sequential blocks, separate
bias-free ``nn.Linear`` q/k/v/o, grouped-query attention when ``num_key_value_heads <
num_attention_heads`` (k/v nodes and destinations per k/v head: ``L{l}KV{g}.k``), gated MLP.
Scores use the attention module's own ``scaling``.
"""

from __future__ import annotations

import torch

from workbook.arch.base import Adapter


class LlamaAdapter(Adapter):
    family = "llama"
    architectures = ("LlamaForCausalLM",)
    norm = "rmsnorm"
    rotary = "hooked"
    softmax_dtype = torch.float32
