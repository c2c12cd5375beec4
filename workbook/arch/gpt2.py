"""GPT-2 (HF ``GPT2LMHeadModel``): LayerNorm, learned positions, sequential blocks, multi-head
attention with biases, ``Conv1D`` weights (fused ``c_attn``, split into q/k/v by the bridge).

Scores are ``q . k / sqrt(d_head)``, further divided by ``layer + 1`` when the config sets
``scale_attn_by_inverse_layer_idx`` (as the bridge computes them).
"""

from __future__ import annotations

import math

from workbook.arch.base import Adapter


class GPT2Adapter(Adapter):
    family = "gpt2"
    architectures = ("GPT2LMHeadModel",)
    norm = "layernorm"
    rotary = None

    def attn_divisor(self, layer: int) -> float:
        cfg = self.model.cfg
        scale = math.sqrt(self.d_head) if getattr(cfg, "use_attn_scale", True) else 1.0
        if getattr(cfg, "scale_attn_by_inverse_layer_idx", False):
            scale *= layer + 1
        return scale
