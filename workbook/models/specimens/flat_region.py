"""Flat region: the clean prompt sits in a GELU tail, so EAP's gradient is ~0 on a big edge.

Mechanism (1 layer, hand-set weights, GPT-2 architecture):

* The residual stream at the answer position is ``p + t * a * u``: ``p`` is a large positional
  vector (so the LayerNorms act almost linearly along ``u``), ``u`` a unit "token" direction;
  the clean token has ``t = -1``, the corrupt token ``t = +1``.
* The attention heads write nothing (``W_O = 0``). MLP 0 has one neuron reading ``u`` with
  pre-activation ``h(t) = 6 t``: on the clean prompt ``h = -6``, deep in GELU's left tail
  where ``GELU'(-6) ~ 1e-8``; on the corrupt prompt ``h = +6`` and the neuron fires.
* The neuron writes along a readout direction ``r`` that lowers ``logit(answer) - logit(wrong)``.

So the edge ``embed -> MLP0`` carries the whole clean/corrupt difference (exact edge patching:
a large negative effect), but EAP multiplies that difference by the gradient *at the clean
point*, which is ~0: EAP scores it ~0. EAP-IG averages the gradient at ``h = 3.6, 1.2, -1.2,
-3.6, -6`` (m = 5, the points ``e_corrupt + k/5 (e_clean - e_corrupt)``), where GELU is
not flat, and recovers most of the effect. The direct ``embed -> logits`` edge is linear and
both methods get it right.
"""

from __future__ import annotations

import torch
from transformers import GPT2LMHeadModel

from workbook.core.task import Task
from workbook.models.loading import bridge_from_hf, gpt2_config

__all__ = ["build", "build_mlp_specimen", "CONSTRUCTION"]

CONSTRUCTION = """\
Flat-region specimen: a hand-set 1-layer GPT-2 (no random weights).

Task: two prompt pairs of two tokens, `<bos> X`; the corrupt prompts end in `B`, the clean ones
in `A` or `A'`. Metric: logit(yes) - logit(no) at the last position.

How the weights work:
* The residual stream at the last position is p + t u: p is a large positional vector (it
  keeps LayerNorm almost linear along u) and u a unit "token" direction. The token sets t:
  negative for `A` and `A'`, positive for `B`.
* The attention heads write nothing (their output weights are zero).
* MLP0 has one GELU neuron that reads u with a large gain (its pre-activation is proportional
  to t) and writes along a readout direction r.
* The unembedding reads only r, and more r means a LOWER metric.
"""

D_MODEL, D_MLP, D_VOCAB, N_CTX = 8, 4, 6, 4
POS_SCALE = 20.0  # |p|: makes LayerNorm nearly linear along the token direction
BOS, CLEAN_TOK, CORRUPT_TOK, ANSWER, WRONG = 0, 1, 2, 3, 4


def _unit(*pairs: tuple[int, float]) -> torch.Tensor:
    v = torch.zeros(D_MODEL)
    for i, x in pairs:
        v[i] = x
    return v / v.norm()


# mean-zero directions, so LayerNorm's centring leaves them alone
P_DIR = _unit((0, 1.0), (1, -1.0))
U_DIR = _unit((2, 1.0), (3, -1.0))
R_DIR = _unit((4, 1.0), (5, -1.0))
W_DIR = _unit((6, 1.0), (7, -1.0))


def ln_scale() -> float:
    """LayerNorm's divisor for the residual ``p`` alone (std over d_model); ``t u`` barely changes it."""
    return float((POS_SCALE**2 / D_MODEL) ** 0.5)


def build_mlp_specimen(
    neurons: list[tuple],
    token_offsets: dict[int, torch.Tensor],
    readout: float = 1.0,
):
    """A 1-layer GPT-2 whose heads write nothing and whose MLP neurons are given explicitly.

    ``neurons``: ``(read_direction [D], gain, bias[, out])`` with
    ``h = gain * <read_direction, LN(x)> * ln_scale() + bias`` (so ``gain`` is in units of the
    raw residual coordinate); the neuron writes ``out * GELU(h) * r`` (``out`` defaults to 1).
    ``token_offsets``: token id -> residual offset added to ``p``.
    ``logit(ANSWER) - logit(WRONG)`` reads ``-2 * readout * <r, LN_f(x)>``.
    """
    cfg = gpt2_config(
        n_layers=1,
        d_model=D_MODEL,
        n_heads=1,
        d_vocab=D_VOCAB,
        n_ctx=N_CTX,
        d_mlp=max(1, len(neurons)),
        tie_embeddings=False,
    )
    hf = GPT2LMHeadModel(cfg)
    s = ln_scale()
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        for block in hf.transformer.h:
            block.ln_1.weight.fill_(1.0)
            block.ln_2.weight.fill_(1.0)
        hf.transformer.ln_f.weight.fill_(1.0)
        hf.transformer.wpe.weight[:] = POS_SCALE * P_DIR
        for tok, off in token_offsets.items():
            hf.transformer.wte.weight[tok] = off
        mlp = hf.transformer.h[0].mlp
        for n, spec in enumerate(neurons):
            direction, gain, bias = spec[:3]
            out = spec[3] if len(spec) > 3 else 1.0
            mlp.c_fc.weight[:, n] = gain * s * direction
            mlp.c_fc.bias[n] = bias
            mlp.c_proj.weight[n] = out * R_DIR
        hf.lm_head.weight[ANSWER] = -readout * s * R_DIR
        hf.lm_head.weight[WRONG] = readout * s * R_DIR
    return bridge_from_hf(hf)


def build():
    """``(model, task)``: two examples, clean token at ``t = -1`` and ``t = -1.2`` (both in the tail)."""
    model = build_mlp_specimen([(U_DIR, 6.0, 0.0)], {1: -1.0 * U_DIR, 2: 1.0 * U_DIR, 5: -1.2 * U_DIR})
    clean = torch.tensor([[BOS, CLEAN_TOK], [BOS, 5]])
    corrupt = torch.tensor([[BOS, CORRUPT_TOK], [BOS, CORRUPT_TOK]])
    task = Task(
        clean,
        corrupt,
        torch.tensor([ANSWER, ANSWER]),
        torch.tensor([WRONG, WRONG]),
        name="flat_region",
        vocab=["<bos>", "A", "B", "yes", "no", "A'"],
        description="clean token parks a GELU neuron in its flat left tail",
    )
    return model, task
