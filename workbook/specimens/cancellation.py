"""Effect cancellation: a head with a large direct effect that a downstream MLP almost undoes.

The seed's worked example made real: direct effect about +5, indirect effect about -4.8, true
total about +0.2, and attribution patching, which linearises the indirect part, gets about
-5.1 for it, so its total has the wrong sign.

Mechanism (hand-set GPT-2 weights, 2 layers, d_model 16, no random weights):

* Zero-mean unit token directions plus a large position-independent "anchor" direction keep
  every LayerNorm's scale almost constant, so writes to the residual stream act linearly.
* ``L0H0`` attends uniformly (zero query/key weights). Its value reads the last token: ``a`` on
  the clean prompt gives nothing, ``b`` on the corrupt prompt gives one unit, written along a
  "signal" direction ``s``. Patching the head's output (noising) adds ``+1 s`` to the last
  position.
* Direct path: the unembedding reads ``s`` for logit(ANS) - logit(WRONG): ``+5``.
* Indirect path: neuron 0 of ``MLP1`` reads ``s`` (pre-activation 2 on the clean run, 5 after
  the patch) and writes ``-s``. GELU is slightly concave between 2 and 5, so the real change of
  the neuron is smaller than its slope at 2 predicts: the true indirect effect is about -4.8,
  the gradient's linear prediction about -5.1.
* ``L0H1`` is an honest distractor: it also reads ``b`` but writes only to the logits, with a
  direct effect of about -1 that AtP estimates well. Plain AtP ranks it above ``L0H0``.

Direct and indirect effects are measured by edge patching
(:func:`workbook.patching.patch_edges`): ``L0H0->logits`` is the direct path and
``L0H0->MLP1`` the path through the MLP. AtP sums direct (+5) and linearised indirect (-5.1)
and lands near -0.1. GradDrop's pass that drops layer 1's writes keeps only the direct path
and scores the head around 5.
"""

from __future__ import annotations

import torch
from torch.nn.functional import gelu
from transformers import GPT2LMHeadModel

from workbook.models import bridge_from_hf, gpt2_config
from workbook.tasks import Task

__all__ = ["build", "VOCAB", "COMPONENT", "DOWNSTREAM", "DIRECT_EDGE", "INDIRECT_EDGE"]

VOCAB = ["BOS", "a", "b", "c", "d", "ANS", "WRONG"]
COMPONENT = "L0H0"
DOWNSTREAM = "MLP1"
DIRECT_EDGE = "L0H0->logits"
INDIRECT_EDGE = "L0H0->MLP1"
D_MODEL, N_HEADS, D_MLP = 16, 2, 16
BASE_READOUT = 30.0  # logit(ANS) offset per unit of the constant 'base' direction


def basis(d_model: int) -> torch.Tensor:
    """``[d_model/2, d_model]`` orthonormal zero-mean directions ``f_i = (e_2i - e_2i+1)/sqrt2``."""
    f = torch.zeros(d_model // 2, d_model)
    for i in range(d_model // 2):
        f[i, 2 * i], f[i, 2 * i + 1] = 2 ** -0.5, -(2 ** -0.5)
    return f


def _hf(direct: float, indirect: float, pre_clean: float, pre_shift: float, noise: float) -> GPT2LMHeadModel:
    cfg = gpt2_config(n_layers=2, d_model=D_MODEL, n_heads=N_HEADS, d_vocab=len(VOCAB), n_ctx=8,
                      d_mlp=D_MLP, tie_embeddings=False, activation_function="gelu")
    hf = GPT2LMHeadModel(cfg)
    f = basis(D_MODEL)
    anchor_dir, sig, base_dir = f[0], f[6], f[7]
    tok = {t: i for i, t in enumerate(VOCAB)}
    anchor, seq = 20.0, 3
    ln_gain = D_MODEL ** 0.5 / anchor  # LayerNorm scale with the anchor dominating the norm
    # neuron: pre = pre_clean + w_in * x_s ; the patch adds x_s = 1
    w_in = pre_shift
    true_change = float(gelu(torch.tensor(pre_clean + pre_shift)) - gelu(torch.tensor(pre_clean)))
    readout = direct / (2 * ln_gain)  # logit diff per unit of s in the residual stream
    w_out = -indirect / (2 * ln_gain * readout * true_change)
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        for mod in [hf.transformer.ln_f] + [b.ln_1 for b in hf.transformer.h] + [b.ln_2 for b in hf.transformer.h]:
            mod.weight.fill_(1.0)
        for t, i in tok.items():
            hf.transformer.wte.weight[i] = f[1 + i] if 1 + i < 6 else 0.0
        hf.transformer.wpe.weight[:] = anchor * anchor_dir + base_dir
        attn0 = hf.transformer.h[0].attn
        attn0.c_attn.weight[:, 2 * D_MODEL + 0] = f[1 + tok["b"]] / ln_gain  # v: 1 on b, 0 on a
        attn0.c_proj.weight[0] = seq * sig  # uniform attention over `seq` positions -> +1 s
        # L0H1: an honest distractor, also reading b, with a direct effect only (-1 on the metric)
        attn0.c_attn.weight[:, 2 * D_MODEL + D_MODEL // N_HEADS] = f[1 + tok["b"]] / ln_gain
        attn0.c_proj.weight[D_MODEL // N_HEADS] = -seq * base_dir / (BASE_READOUT * ln_gain)
        mlp1 = hf.transformer.h[1].mlp
        mlp1.c_fc.weight[:, 0] = w_in * sig / ln_gain
        mlp1.c_fc.bias[0] = pre_clean
        mlp1.c_proj.weight[0] = -w_out * sig
        hf.lm_head.weight[tok["ANS"]] = readout * sig + BASE_READOUT * base_dir
        hf.lm_head.weight[tok["WRONG"]] = -readout * sig
        gen = torch.Generator().manual_seed(0)  # small fixed background so other nodes are not exactly 0
        for name, p in hf.named_parameters():
            if p.ndim == 2 and "wpe" not in name:
                p.add_(noise * torch.randn(p.shape, generator=gen))
    return hf


def build(direct: float = 5.0, indirect: float = -4.8, pre_clean: float = 2.0, pre_shift: float = 3.0,
          noise: float = 0.0):
    """``(model, task)`` with designed direct and (true) indirect effects of ``L0H0``.

    ``pre_clean``/``pre_shift``: the downstream neuron's clean pre-activation and how far the
    patch moves it; the curvature of GELU over that interval sets how wrong the linearised
    indirect effect is.
    """
    model = bridge_from_hf(_hf(direct, indirect, pre_clean, pre_shift, noise))
    t = {s: i for i, s in enumerate(VOCAB)}
    clean = torch.tensor([[t["BOS"], t["c"], t["a"]], [t["BOS"], t["d"], t["a"]]])
    corrupt = clean.clone()
    corrupt[:, -1] = t["b"]
    B = clean.shape[0]
    task = Task(clean, corrupt, torch.full((B,), t["ANS"]), torch.full((B,), t["WRONG"]), metric="logit_diff",
                name="cancellation", vocab=VOCAB,
                description="L0H0's direct effect is almost cancelled by MLP1 downstream.")
    return model, task
