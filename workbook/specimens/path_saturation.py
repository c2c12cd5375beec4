"""Path saturation: a gate that the straight corrupt->clean path keeps shut until the very end.

Mechanism (1 layer, 1 head, MLP zeroed, no positional embeddings, hand-set weights):

* Prompt ``[signal, filler, gate]``; the metric ``logit(yes) - logit(no)`` is read at the gate
  position. Clean ``[A, F, G_on]``, corrupt ``[A', F, G_off]``.
* Signal tokens ``A = s + a`` and ``A' = s - a`` share a *key* component ``s`` and differ only
  in a *value* component ``+-a``. The head's value reads ``a`` and writes a readout direction
  ``r`` (orthogonal to every token embedding) that the unembedding turns into ``yes - no``.
  The value side is linear: the head output is ``(attention on the signal) x (a-coordinate)``.
* The gate token sets the query. Its embedding is ``c + t g`` with ``t = +1`` for ``G_on``
  and ``t = -9`` for ``G_off``; the query reads ``g``, the key reads ``s``. On the clean
  prompt the attention score on the signal is about ``+10``: the head attends to it with
  probability ~1 and the softmax is saturated (flat). With ``G_off`` the score is about ``-90``.
* On the straight path ``e(alpha) = e_corrupt + alpha (e_clean - e_corrupt)`` the gate
  coordinate is ``t = -9 + 10 alpha``: the gate opens only after ``alpha ~ 0.9``. EAP-IG's
  m = 5 points ``alpha = 0.2, ..., 1`` see a shut gate (zero gradient at the value input) at
  every point but the clean end, so its score for ``embed -> L0H0.v`` is ~1/5 of the truth.
  More steps do not help: the straight-path *integral* itself weighs the value edge by the
  fraction of the path where the gate is open (~0.1); EAP-IG moves the credit to the query.
* Exact edge patching of ``embed -> L0H0.v`` feeds the corrupt embedding to the value input
  only: queries and keys stay clean, the gate stays open, and the head reads ``-a`` instead of
  ``+a``: the effect is about ``-2 x`` the clean logit difference, the largest edge.
* EAP-GP's path (the GradPath reading in :mod:`workbook.eap_gp`) starts at the clean
  embedding and follows the steepest descent of ``||G(gamma) - G(e_corrupt)||^2``. At the
  clean point the gate direction is flat (saturated softmax) and the value direction is steep,
  so its unit steps walk ``a`` down toward ``-a`` and leave the gate open: its points see the
  same gradient as the clean point, and EAP-GP scores the edge close to the truth. The value
  gain is large so that writing ``r`` straight into the embedding (the direct
  ``embed -> logits`` route that spoiled an earlier version of this specimen) is a much
  shallower direction than moving ``a``.

:func:`attention_on_signal` reads the attention probability on the signal at any set of
embedding points, e.g. EAP-IG's and GradPath's, which is what chapter 04 plots.
"""

from __future__ import annotations

import torch
from transformers import GPT2LMHeadModel

from workbook.models import bridge_from_hf, gpt2_config
from workbook.tasks import Task

D_MODEL, D_VOCAB, N_CTX = 16, 8, 4
A, A_CORR, FILLER, GATE_ON, GATE_OFF, ANSWER, WRONG = range(7)
VOCAB = ["A", "A'", "F", "G_on", "G_off", "yes", "no", "<unused>"]
EDGE = "embed->L0H0.v"  # the edge this specimen is about

S_NORM, A_NORM = 25.0, 2.5  # key part (large: LN_1 ~linear along a); value part (5 unit GradPath steps span 2 A_NORM)
C_NORM, GATE_ON_T, GATE_OFF_T = 60.0, 1.0, -9.0  # gate token C_NORM c + t g; large C_NORM: LN_f ~linear at the gate
SCORE_ON = 10.0  # attention score on the signal for the clean gate (after the 1/sqrt(d_head) scale)
VALUE_GAIN = 5.0  # head output r-coordinate per unit of the raw a-coordinate of the signal embedding
READOUT = 1.0  # yes - no = 2 * READOUT * <r, LN_f(x)>
FILLER_NORM = 100.0  # large: the filler position's own logits and query barely move (LN_1 and LN_f divide by it)


def _unit(i: int) -> torch.Tensor:
    """A mean-zero unit direction on coordinates ``2i, 2i+1`` (LayerNorm's centring leaves it alone)."""
    v = torch.zeros(D_MODEL)
    v[2 * i], v[2 * i + 1] = 1.0, -1.0
    return v / v.norm()


S_DIR, A_DIR, F_DIR, C_DIR, G_DIR, R_DIR = (_unit(i) for i in range(6))


def _ln_coord(norm_sq: float) -> float:
    """LayerNorm's factor ``sqrt(d_model) / ||x||`` for a mean-zero ``x`` with ``||x||^2 = norm_sq``."""
    return (D_MODEL / norm_sq) ** 0.5


def token_embeddings() -> dict[int, torch.Tensor]:
    """Token id -> embedding ``[d_model]`` (all mean-zero, built from orthogonal directions)."""
    return {
        A: S_NORM * S_DIR + A_NORM * A_DIR,
        A_CORR: S_NORM * S_DIR - A_NORM * A_DIR,
        FILLER: FILLER_NORM * F_DIR,
        GATE_ON: C_NORM * C_DIR + GATE_ON_T * G_DIR,
        GATE_OFF: C_NORM * C_DIR + GATE_OFF_T * G_DIR,
    }


def build_model():
    """The hand-set 1-layer GPT-2 bridge described in the module docstring."""
    cfg = gpt2_config(n_layers=1, d_model=D_MODEL, n_heads=1, d_vocab=D_VOCAB, n_ctx=N_CTX,
                      d_mlp=4, tie_embeddings=False)
    hf = GPT2LMHeadModel(cfg)
    d_head = D_MODEL  # one head
    k_sig = S_NORM * _ln_coord(S_NORM**2 + A_NORM**2)  # s-coordinate of LN_1(A)
    q_on = GATE_ON_T * _ln_coord(C_NORM**2 + GATE_ON_T**2)  # g-coordinate of LN_1(G_on)
    a_ln = _ln_coord(S_NORM**2 + A_NORM**2)  # LN_1 factor at the signal position
    qk_gain = SCORE_ON * d_head**0.5 / (k_sig * q_on)
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        block = hf.transformer.h[0]
        block.ln_1.weight.fill_(1.0)
        block.ln_2.weight.fill_(1.0)
        hf.transformer.ln_f.weight.fill_(1.0)
        for tok, e in token_embeddings().items():
            hf.transformer.wte.weight[tok] = e
        w = block.attn.c_attn.weight  # [d_model, 3 d_model] = q | k | v (x @ W)
        head_dir = torch.zeros(d_head)
        head_dir[0] = 1.0
        w[:, :D_MODEL] = qk_gain * torch.outer(G_DIR, head_dir)  # query reads g
        w[:, D_MODEL:2 * D_MODEL] = torch.outer(S_DIR, head_dir)  # key reads s
        w[:, 2 * D_MODEL:] = (VALUE_GAIN / a_ln) * torch.outer(A_DIR, head_dir)  # value reads a
        block.attn.c_proj.weight[:] = torch.outer(head_dir, R_DIR)  # head writes r
        hf.lm_head.weight[ANSWER] = READOUT * R_DIR
        hf.lm_head.weight[WRONG] = -READOUT * R_DIR
    return bridge_from_hf(hf)


def build():
    """``(model, task)``: one example, clean ``[A, F, G_on]`` vs corrupt ``[A', F, G_off]``."""
    model = build_model()
    task = Task(torch.tensor([[A, FILLER, GATE_ON]]), torch.tensor([[A_CORR, FILLER, GATE_OFF]]),
                torch.tensor([ANSWER]), torch.tensor([WRONG]), name="path_saturation", vocab=VOCAB,
                description="a saturated gate the straight path keeps shut until alpha ~ 0.9")
    return model, task


def attention_on_signal(model, task: Task, points: torch.Tensor) -> torch.Tensor:
    """Attention probability of the last position on the signal (position 0), ``[k, B]``.

    ``points``: embeddings ``[k, B, P, d_model]`` put in place of ``hook_embed`` (clean tokens run).
    """
    out = []
    for p in points:
        store = {}
        hooks = [("hook_embed", lambda t, hook, p=p: p.to(t.dtype)),
                 ("blocks.0.attn.hook_pattern", lambda t, hook: store.__setitem__("pat", t.detach()))]
        with torch.no_grad(), model.hooks(fwd_hooks=hooks):
            model(task.clean)
        out.append(store["pat"][:, 0, -1, 0])
    return torch.stack(out)
