"""Path saturation: a gate whose opening the straight path jumps over and GradPath walks into.

Mechanism (1 layer, 1 head, MLP zeroed, no positional embeddings, hand-set weights):

* Prompt ``[signal, filler, gate]``; the metric ``logit(yes) - logit(no)`` is read at the gate
  position. Clean ``[A, F, G_on]``, corrupt ``[A, F, G_off]``: only the gate token changes.
* The head's key and value read the signal token's direction ``s``, the only direction of
  ``A``; LayerNorm removes its length, so both are constants. When the head attends to the
  signal it writes ``VALUE_GAIN`` units of a readout direction ``r`` that the unembedding turns
  into ``yes - no``. Filler and gate have no ``s``: their keys are 0. The value also reads the
  gate coordinate ``t`` weakly (``GATE_VALUE``), so a head that attends to the gate token
  writes a little of ``t`` (the filler's value is 0).
* A gate token is ``C c + t g + rho r``: a large constant part ``c`` (LayerNorm ~linear at the
  gate), a gate coordinate ``t`` (``+1`` for ``G_on``, ``-15`` for ``G_off``) and a direct
  vote ``rho`` along ``r`` (``0`` for ``G_on``, ``-3`` for ``G_off``). The query reads ``t``
  steeply (``GATE_SLOPE`` per unit) and ``rho`` weakly (``VOTE_SLOPE``); the attention score on
  the signal is ``SCORE_ON`` for ``G_on`` (the head attends to the signal with probability ~1:
  a saturated softmax) and far below zero for ``G_off``.
* Exact patching of ``embed -> L0H0.q`` feeds the corrupt gate to the query only: the gate
  shuts and the head stops writing ``r``. ``L0H0 -> logits`` sees almost the same change after
  the head, plus the shut head reading ``G_off``'s own value (``GATE_VALUE x t``), so the two
  true effects are close but not tied. ``embed -> logits`` carries ``G_off``'s direct vote: a
  smaller effect on a linear path. ``embed -> L0H0.v`` is ~0 (at the clean point the head
  barely attends to the gate), but the straight path, where the gate is shut, credits it a
  little.

Why each method does what it does on ``embed -> L0H0.q``:

* EAP evaluates the gradient at the clean point, where the softmax is saturated: ~0.
* EAP-IG's m = 5 points sit at ``alpha = 0.2, ..., 1`` of the straight corrupt->clean path. The
  score on that path is linear in ``alpha`` and crosses the gate's transition (where the
  softmax has a slope) in a short stretch just before ``alpha = 1``: the points see a shut
  gate or a saturated open gate, both flat. With enough points one lands in the stretch.
* EAP-GP's GradPath (the reading in :mod:`workbook.attribution.eap_gp`) starts at the clean embedding and
  takes unit steps down the gradient of ``||G(gamma) - G(e_corrupt)||^2``. At the clean point
  the only steep direction is the direct vote ``rho`` at the gate position (the signal's key
  and value do not move under LayerNorm, the gate coordinate is flat), so it walks ``rho``
  down; because the query reads ``rho``, each step lowers the score, and within a few steps
  its points sit in the gate's transition, where the query's gradient is large. Its score
  for the edge is ``Delta z x`` (mean gradient over its points): the size depends on how
  many points land in the transition, not on the integral over the path.

:func:`attention_on_signal` reads the attention probability on the signal at any set of
embedding points, e.g. EAP-IG's and GradPath's, which is what chapter 04 plots.
"""

from __future__ import annotations

import torch
from transformers import GPT2LMHeadModel

from workbook.core.task import Task
from workbook.models.loading import bridge_from_hf, gpt2_config

__all__ = ["build", "build_model", "attention_on_signal", "token_embeddings", "EDGE", "VOCAB", "CONSTRUCTION"]

D_MODEL, N_CTX = 16, 4
A, FILLER, GATE_ON, GATE_OFF, ANSWER, WRONG = range(6)
VOCAB = ["A", "F", "G_on", "G_off", "yes", "no"]
EDGE = "embed->L0H0.q"  # the edge this specimen is about

S_NORM = 25.0  # the signal token's length (LayerNorm removes it)
FILLER_NORM = 100.0  # large: the filler position's own logits barely move (LN_f divides by it)
C_NORM = 60.0  # the gate tokens' constant part; large: LayerNorm is ~linear at the gate
GATE_ON_T, GATE_OFF_T = 1.0, -15.0  # gate coordinate t of G_on / G_off
VOTE_ON, VOTE_OFF = 0.0, -3.0  # direct vote rho (along r) of G_on / G_off
SCORE_ON = 8.0  # attention score on the signal for G_on (after the 1/sqrt(d_head) scale)
GATE_SLOPE = 6.0  # score change per unit of t (gate-position embedding units)
VOTE_SLOPE = 0.3  # score change per unit of rho
VALUE_GAIN = 10.0  # units of r the head writes when it attends to the signal
GATE_VALUE = 0.1  # units of r per unit of t the head writes when it attends to the gate itself
READOUT = 1.0  # yes - no = 2 * READOUT * <r, LN_f(x)>

CONSTRUCTION = f"""\
The path-saturation specimen: a hand-built 1-layer GPT-2 with one attention head and the
MLP switched off (weights set by hand, nothing random).

Prompt: [signal, filler, gate]. Clean [A, F, G_on], corrupt [A, F, G_off]: only the gate
token differs. The metric is logit(yes) - logit(no) at the gate position.

Weights:
* The signal token A is a single direction s (length {S_NORM:g}; LayerNorm removes the length).
  The head's key and value read s: when the head attends to the signal, it writes {VALUE_GAIN:g}
  units of a readout direction r, which the unembedding turns into yes - no. Filler and gate
  tokens have no s. The value also reads the gate coordinate t (below): a head attending to
  the gate token writes {GATE_VALUE:g} x t units of r.
* A gate token is C c + t g + rho r: a large constant part (C = {C_NORM:g}, so LayerNorm
  rescales the gate position by an almost fixed factor), a gate coordinate t ({GATE_ON_T:+g} for
  G_on, {GATE_OFF_T:+g} for G_off) and a direct vote rho along r ({VOTE_ON:g} for G_on, {VOTE_OFF:g} for
  G_off), which the unembedding reads like the head's output.
* The head's query at the gate reads t and rho: its attention score on the signal is
  {SCORE_ON:g} for G_on, and changes by {GATE_SLOPE:g} per unit of t and {VOTE_SLOPE:g} per unit of rho.
  Filler and gate keys are 0, so their scores are 0.
"""


def _unit(i: int) -> torch.Tensor:
    """A mean-zero unit direction on coordinates ``2i, 2i+1`` (LayerNorm's centring leaves it alone)."""
    v = torch.zeros(D_MODEL)
    v[2 * i], v[2 * i + 1] = 1.0, -1.0
    return v / v.norm()


S_DIR, F_DIR, C_DIR, G_DIR, R_DIR = (_unit(i) for i in range(5))


def token_embeddings() -> dict[int, torch.Tensor]:
    """Token id -> embedding ``[d_model]`` (all mean-zero, built from orthogonal directions)."""
    return {
        A: S_NORM * S_DIR,
        FILLER: FILLER_NORM * F_DIR,
        GATE_ON: C_NORM * C_DIR + GATE_ON_T * G_DIR + VOTE_ON * R_DIR,
        GATE_OFF: C_NORM * C_DIR + GATE_OFF_T * G_DIR + VOTE_OFF * R_DIR,
    }


def build_model(vote_slope: float = VOTE_SLOPE):
    """The hand-set 1-layer GPT-2 bridge described in the module docstring.

    ``vote_slope``: how much the query reads the direct vote ``rho`` (score per unit); 0 takes
    GradPath's route into the gate's transition away.
    """
    cfg = gpt2_config(n_layers=1, d_model=D_MODEL, n_heads=1, d_vocab=len(VOCAB), n_ctx=N_CTX,
                      d_mlp=4, tie_embeddings=False)
    hf = GPT2LMHeadModel(cfg)
    d = D_MODEL  # one head: d_head = d_model
    # key = <LN_1(A), s> = sqrt(d) exactly, so score = query * key / sqrt(d_head) = query
    ln_gate = (d / (C_NORM**2 + GATE_ON_T**2 + VOTE_ON**2)) ** 0.5  # LN_1 factor at G_on
    w_t, w_r = GATE_SLOPE / ln_gate, vote_slope / ln_gate
    w_c = (SCORE_ON - GATE_SLOPE * GATE_ON_T - vote_slope * VOTE_ON) / (ln_gate * C_NORM)
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        block = hf.transformer.h[0]
        block.ln_1.weight.fill_(1.0)
        block.ln_2.weight.fill_(1.0)
        hf.transformer.ln_f.weight.fill_(1.0)
        for tok, e in token_embeddings().items():
            hf.transformer.wte.weight[tok] = e
        w = block.attn.c_attn.weight  # [d_model, 3 d_model] = q | k | v (x @ W); head dim 0 only
        w[:, 0] = w_t * G_DIR + w_r * R_DIR + w_c * C_DIR  # query reads t, rho and the constant part
        w[:, d] = S_DIR  # key: sqrt(d) on the signal, 0 elsewhere
        w[:, 2 * d] = (VALUE_GAIN / d**0.5) * S_DIR + (GATE_VALUE / ln_gate) * G_DIR  # value: signal, gate's t
        block.attn.c_proj.weight[0] = R_DIR  # head dim 0 writes r
        hf.lm_head.weight[ANSWER] = READOUT * R_DIR
        hf.lm_head.weight[WRONG] = -READOUT * R_DIR
    return bridge_from_hf(hf)


def build(vote_slope: float = VOTE_SLOPE):
    """``(model, task)``: one example, clean ``[A, F, G_on]`` vs corrupt ``[A, F, G_off]``."""
    model = build_model(vote_slope)
    task = Task(torch.tensor([[A, FILLER, GATE_ON]]), torch.tensor([[A, FILLER, GATE_OFF]]),
                torch.tensor([ANSWER]), torch.tensor([WRONG]), name="path_saturation", vocab=VOCAB,
                description="a saturated gate that the straight corrupt->clean path opens in a short stretch")
    return model, task


def attention_on_signal(model, task: Task, points: torch.Tensor) -> torch.Tensor:
    """Attention probability of the last position on the signal (position 0), ``[k, B]``.

    ``points``: embeddings ``[k, B, P, d_model]`` put in place of ``hook_embed`` (clean tokens
    run); all ``k * B`` rows go through one batched forward.
    """
    k, B = points.shape[:2]
    flat = points.reshape(k * B, *points.shape[2:])
    store = {}
    hooks = [("hook_embed", lambda t, hook: flat.to(t.dtype)),
             ("blocks.0.attn.hook_pattern", lambda t, hook: store.__setitem__("pat", t.detach()))]
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        model(task.clean.repeat(k, 1))
    return store["pat"][:, 0, -1, 0].reshape(k, B)
