"""Attention saturation: a head whose query matters a lot, while AtP on that query sees almost nothing.

Mechanism (hand-set GPT-2 weights, 2 layers, d_model 20, 2 heads, plus a small fixed random
background so that other nodes are not exactly zero):

* Every token embedding is a zero-mean unit direction ``f_i`` (so LayerNorm only rescales it),
  and every position carries the same large "anchor" direction, which keeps LayerNorm's scale
  almost constant: the residual stream behaves linearly for small writes.
* Head ``L0H0`` is a lookup head. At the last position the clean prompt ends in the token
  ``Q+``, whose query matches the key of the token ``X`` with a score gap of ``gap`` (default
  6), so the head puts probability above 0.99 on ``X`` (saturated). The corrupt prompt ends in
  ``Q-``, whose query is (almost) zero: the head attends roughly uniformly over the prompt.
* ``X``'s value is written onto the unembedding direction of the answer token, so clean
  attention to ``X`` raises logit(answer) - logit(wrong).
* ``L0H1`` is an honest, unsaturated helper (score gap 1 towards token ``a``, whose value also
  votes for the answer). Its query effect is smaller, and AtP estimates it well, so plain AtP
  ranks it above the saturated query.

Patching the query ``L0H0.q`` at the last position with its corrupt value spreads the
attention out and removes most of ``X``'s contribution: a large true effect. AtP multiplies
the query change by a gradient that passes through the softmax Jacobian ``p(1-p)``, below
0.01 here, so its estimate is a few percent of the truth. The QK fix recomputes the softmax
with the corrupt query and multiplies the exact pattern change by ``dM/dA``, which is large
(``X``'s value matters): it recovers most of the effect.
"""

from __future__ import annotations

import torch
from transformers import GPT2LMHeadModel

from workbook.models import bridge_from_hf, gpt2_config
from workbook.tasks import Task

__all__ = ["build", "VOCAB", "HEAD", "QUERY_NODE"]

VOCAB = ["BOS", "X", "a", "b", "c", "Q+", "Q-", "ANS", "WRONG", "pad"]
HEAD = "L0H0"
QUERY_NODE = "L0H0.q@4"
D_MODEL, N_HEADS, ANCHOR = 20, 2, 0  # ANCHOR: index of the anchor direction


def basis(d_model: int) -> torch.Tensor:
    """``[d_model/2, d_model]`` orthonormal zero-mean directions ``f_i = (e_2i - e_2i+1)/sqrt2``."""
    f = torch.zeros(d_model // 2, d_model)
    for i in range(d_model // 2):
        f[i, 2 * i], f[i, 2 * i + 1] = 2 ** -0.5, -(2 ** -0.5)
    return f


def _hf(gap: float, value_gain: float, readout: float, noise: float) -> GPT2LMHeadModel:
    cfg = gpt2_config(n_layers=2, d_model=D_MODEL, n_heads=N_HEADS, d_vocab=len(VOCAB), n_ctx=8,
                      d_mlp=4 * D_MODEL, tie_embeddings=False)
    hf = GPT2LMHeadModel(cfg)
    f = basis(D_MODEL)  # f[0] anchor, f[1..9] tokens
    tok = {t: i for i, t in enumerate(VOCAB)}
    d_head = D_MODEL // N_HEADS
    anchor = 20.0
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        for mod in [hf.transformer.ln_f] + [b.ln_1 for b in hf.transformer.h] + [b.ln_2 for b in hf.transformer.h]:
            mod.weight.fill_(1.0)
        for t, i in tok.items():
            hf.transformer.wte.weight[i] = f[1 + i] if 1 + i < D_MODEL // 2 else 0.0
        hf.transformer.wte.weight[tok["pad"]] = 0.0
        hf.transformer.wpe.weight[:] = anchor * f[ANCHOR]
        # LayerNorm of (anchor * f0 + f_tok) is ~ sqrt(d) / sqrt(anchor^2 + 1) * (anchor f0 + f_tok)
        ln_gain = D_MODEL ** 0.5 / (anchor ** 2 + 1) ** 0.5
        W = hf.transformer.h[0].attn.c_attn.weight  # [d_model, 3 d_model] = q | k | v
        # head 0, head dims 0: query of Q+ and key of X point along head dim 0
        scale = d_head ** 0.5
        amp = (gap * scale) ** 0.5 / ln_gain
        W[:, 0] = amp * f[1 + tok["Q+"]]                 # q (head 0, dim 0)
        W[:, D_MODEL + 0] = amp * f[1 + tok["X"]]        # k (head 0, dim 0)
        W[:, 2 * D_MODEL + 0] = f[1 + tok["X"]] / ln_gain  # v (head 0, dim 0) = 1 on X
        ans_dir = f[1 + tok["ANS"]]
        hf.transformer.h[0].attn.c_proj.weight[0] = value_gain * ans_dir  # head dim 0 -> residual
        # head 1: an unsaturated helper (score gap 1 towards 'a', value of 'a' also votes for ANS)
        amp1 = (1.0 * scale) ** 0.5 / ln_gain
        W[:, d_head] = amp1 * f[1 + tok["Q+"]]
        W[:, D_MODEL + d_head] = amp1 * f[1 + tok["a"]]
        W[:, 2 * D_MODEL + d_head] = f[1 + tok["a"]] / ln_gain
        hf.transformer.h[0].attn.c_proj.weight[d_head] = value_gain * ans_dir
        hf.lm_head.weight[tok["ANS"]] = readout * ans_dir
        hf.lm_head.weight[tok["WRONG"]] = -readout * ans_dir
        gen = torch.Generator().manual_seed(0)  # small fixed background so other nodes are not exactly 0
        for name, p in hf.named_parameters():
            if p.ndim == 2 and "wpe" not in name:
                p.add_(noise * torch.randn(p.shape, generator=gen))
    return hf


def build(gap: float = 6.0, value_gain: float = 2.0, readout: float = 10.0, noise: float = 0.1):
    """``(model, task)``: the saturated lookup head; ``gap`` is the clean score gap in favour of ``X``."""
    hf = _hf(gap, value_gain, readout, noise)
    model = bridge_from_hf(hf)
    t = {s: i for i, s in enumerate(VOCAB)}
    prompts = [["BOS", "X", "a", "b"], ["BOS", "a", "X", "c"], ["BOS", "b", "c", "X"], ["BOS", "X", "c", "a"]]
    clean = torch.tensor([[t[s] for s in p] + [t["Q+"]] for p in prompts])
    corrupt = clean.clone()
    corrupt[:, -1] = t["Q-"]
    B = clean.shape[0]
    task = Task(clean, corrupt, torch.full((B,), t["ANS"]), torch.full((B,), t["WRONG"]), metric="logit_diff",
                name="saturation", vocab=VOCAB,
                description="Lookup head saturated on X for the query Q+, uniform for Q-.")
    return model, task
