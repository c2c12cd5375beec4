"""GPT-NeoX / Pythia (HF ``GPTNeoXForCausalLM``): LayerNorm; rotary positions on the first
``rotary_pct`` of each head's dimensions (rotate-half convention); fused ``query_key_value``
with a per-head interleaved layout (the bridge splits it into q/k/v ``nn.Linear``); parallel
attention + MLP (``use_parallel_residual=True``, Pythia's default) or sequential blocks.

In a parallel block both the attention and the MLP read ``resid_pre``: the heads of layer l
do **not** feed MLP l, so the graph has no ``L{l}H{h}->MLP{l}`` edge. The bridge does not fire
``hook_rot_q``/``hook_rot_k`` for this family; the QK fix rotates ``hook_q``/``hook_k`` itself
with the layer's ``hook_cos``/``hook_sin`` and checks the result against ``hook_attn_scores``.
"""

from __future__ import annotations

import math

from workbook.arch.base import Adapter


class NeoXAdapter(Adapter):
    family = "gpt-neox"
    architectures = ("GPTNeoXForCausalLM",)
    norm = "layernorm"
    rotary = "cos_sin"

    def attn_divisor(self, layer: int) -> float:
        return math.sqrt(self.d_head)  # the bridge scales by head_dim ** -0.5
