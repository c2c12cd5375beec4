"""Attention saturation: the query with the largest effect, ranked below smaller ones by AtP.

Mechanism (hand-set GPT-2 weights, 2 layers x 2 heads, d_model 24, plus a small fixed random
background so that the other nodes are not exactly zero):

* Every token embedding is a zero-mean unit direction ``f_i`` (so LayerNorm only rescales it),
  and every position carries the same large "anchor" direction, which keeps LayerNorm's scale
  almost constant: the residual stream behaves linearly for small writes.
* Every clean prompt is ``BOS`` followed by the four tokens ``X a b c`` in some order, then the
  query token ``Q+``; its corrupt twin ends in ``Q-`` instead. The metric is
  ``logit(ANS) - logit(WRONG)`` at the last position.
* Four heads are lookup heads. At the last position each one's query reads ``Q+`` and its key
  reads one target token (``L0H0``: ``X``, ``L0H1``: ``a``, ``L1H0``: ``b``, ``L1H1``: ``c``);
  its value reads the same token and writes onto the unembedding direction of ``ANS``. The
  corrupt token ``Q-`` gives every query (almost) zero, so every head spreads its attention
  uniformly over the prompt. Patching one head's query at the last position therefore
  removes part of that head's vote for ``ANS``.
* ``L0H0``'s score gap (``gap``, default 8) is large: on the clean prompt it puts almost all
  its attention on ``X``, a saturated softmax. The three other heads have a small score gap
  (``HELPER_GAP``, unsaturated softmaxes) and value gains (``VALUE_GAIN``) chosen so that each
  of their queries matters less than ``L0H0``'s, one of them (``L0H1``) more than half as much.

Why attribution patching fails here: AtP multiplies the query change by a gradient that
passes through the softmax Jacobian, whose entries are ``p(1 - p)`` on the diagonal and
vanish when ``p`` is near 1. So AtP's estimate for ``L0H0``'s query is a tiny fraction of its
true effect, smaller than its estimates for the three honest heads, which it gets about
right (their softmaxes are far from saturated): AtP ranks the most important query below
less important ones, and a screen that verifies only its top candidates never patches it.
The QK fix recomputes the softmax with the corrupt query and multiplies the exact pattern
change by ``dM/dA``; only the linear part after the softmax is approximated.
"""

from __future__ import annotations

import torch
from transformers import GPT2LMHeadModel

from workbook.core.task import Task
from workbook.models.loading import bridge_from_hf, gpt2_config

__all__ = ["build", "VOCAB", "HEAD", "QUERY_NODE", "HELPERS", "CONSTRUCTION"]

VOCAB = ["BOS", "X", "a", "b", "c", "Q+", "Q-", "ANS", "WRONG"]
HEAD = "L0H0"
QUERY_NODE = "L0H0.q@5"  # the saturated head's query at the last position
HELPERS = {"L0H1": "a", "L1H0": "b", "L1H1": "c"}  # the honest lookup heads and the token each reads
D_MODEL, N_HEADS, ANCHOR = 24, 2, 20.0  # ANCHOR: norm of the position-independent anchor direction
D_HEAD = D_MODEL // N_HEADS
GAP = 8.0  # L0H0's default clean score gap in favour of X
HELPER_GAP = 0.5  # the honest heads' score gap in favour of their target token
VALUE_GAIN = {"L0H0": 2.0, "L0H1": 12.0, "L1H0": 7.6, "L1H1": 4.8}  # residual write per unit of attention
READOUT = 10.0  # logit(ANS) - logit(WRONG) = 2 READOUT x (readout coordinate after the final LayerNorm)

CONSTRUCTION = f"""\
The saturation specimen: a hand-built 2-layer GPT-2 with 2 heads per layer.

Prompts: BOS, then the tokens X a b c in some order, then a query token. The clean prompt
ends in Q+, its corrupt twin in Q-. The metric is logit(ANS) - logit(WRONG) at the last
position; the batch holds four orderings of X a b c.

Weights (set by hand; a small fixed random background is added to them):
* Each token is a unit direction of the residual stream; every position also carries one
  large shared "anchor" direction, so LayerNorm rescales by almost the same factor everywhere.
* Each of the four heads is a lookup head. At the last position its query reads Q+ and its
  key reads one target token: L0H0 -> X, L0H1 -> a, L1H0 -> b, L1H1 -> c. Its value reads the
  same token and writes onto the direction that the unembedding turns into ANS - WRONG.
  Q- gives every query (almost) zero, so on the corrupt prompt each head spreads its attention
  evenly over the prompt.
* build(gap=...) sets L0H0's score gap: how much more its Q+ query prefers X than any other
  key (default {GAP:g}). The other three heads have a score gap of {HELPER_GAP:g}.
* How much each head writes per unit of attention on its target (its value weight):
  {", ".join(f"{h} {g:g}" for h, g in VALUE_GAIN.items())}.

Patching one query node (a head's query at one position) with its corrupt value changes
where that head looks, and so how much it votes for ANS.
"""



def basis(d_model: int) -> torch.Tensor:
    """``[d_model/2, d_model]`` orthonormal zero-mean directions ``f_i = (e_2i - e_2i+1)/sqrt2``."""
    f = torch.zeros(d_model // 2, d_model)
    for i in range(d_model // 2):
        f[i, 2 * i], f[i, 2 * i + 1] = 2 ** -0.5, -(2 ** -0.5)
    return f


def _hf(gap: float, value_gain: dict[str, float], helper_gap: float, readout: float, noise: float) -> GPT2LMHeadModel:
    cfg = gpt2_config(n_layers=2, d_model=D_MODEL, n_heads=N_HEADS, d_vocab=len(VOCAB), n_ctx=8,
                      d_mlp=4 * D_MODEL, tie_embeddings=False)
    hf = GPT2LMHeadModel(cfg)
    f = basis(D_MODEL)  # f[0]: anchor, f[1 + i]: token i, f[-1]: the ANS - WRONG readout direction
    tok = {t: i for i, t in enumerate(VOCAB)}
    ans_dir = f[-1]
    ln_gain = D_MODEL ** 0.5 / (ANCHOR ** 2 + 1) ** 0.5  # LayerNorm of (ANCHOR f0 + f_tok), per unit of f_tok
    scale = D_HEAD ** 0.5  # GPT-2 divides scores by sqrt(d_head)
    lookups = {"L0H0": ("X", gap), **{h: (t, helper_gap) for h, t in HELPERS.items()}}
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        for mod in [hf.transformer.ln_f] + [b.ln_1 for b in hf.transformer.h] + [b.ln_2 for b in hf.transformer.h]:
            mod.weight.fill_(1.0)
        for t, i in tok.items():
            hf.transformer.wte.weight[i] = f[1 + i]
        hf.transformer.wpe.weight[:] = ANCHOR * f[0]
        for head, (target, g) in lookups.items():
            layer, h = int(head[1]), int(head[3])
            W = hf.transformer.h[layer].attn.c_attn.weight  # [d_model, 3 d_model] = q | k | v
            col = h * D_HEAD  # this head's first head dimension: the only one it uses
            amp = (g * scale) ** 0.5 / ln_gain  # q . k / sqrt(d_head) = g for Q+ against the target
            W[:, col] = amp * f[1 + tok["Q+"]]  # query reads Q+
            W[:, D_MODEL + col] = amp * f[1 + tok[target]]  # key reads the target token
            W[:, 2 * D_MODEL + col] = f[1 + tok[target]] / ln_gain  # value = 1 on the target token
            hf.transformer.h[layer].attn.c_proj.weight[col] = value_gain[head] * ans_dir
        hf.lm_head.weight[tok["ANS"]] = readout * ans_dir
        hf.lm_head.weight[tok["WRONG"]] = -readout * ans_dir
        gen = torch.Generator().manual_seed(0)  # small fixed background so other nodes are not exactly 0
        for name, p in hf.named_parameters():
            if p.ndim == 2 and "wpe" not in name:
                p.add_(noise * torch.randn(p.shape, generator=gen))
    return hf


def build(gap: float = GAP, noise: float = 0.05):
    """``(model, task)``: ``gap`` is ``L0H0``'s clean score gap in favour of ``X`` (see CONSTRUCTION)."""
    model = bridge_from_hf(_hf(gap, VALUE_GAIN, HELPER_GAP, READOUT, noise))
    t = {s: i for i, s in enumerate(VOCAB)}
    orders = [["X", "a", "b", "c"], ["a", "X", "c", "b"], ["b", "c", "X", "a"], ["c", "b", "a", "X"]]
    clean = torch.tensor([[t["BOS"]] + [t[s] for s in o] + [t["Q+"]] for o in orders])
    corrupt = clean.clone()
    corrupt[:, -1] = t["Q-"]
    B = clean.shape[0]
    task = Task(clean, corrupt, torch.full((B,), t["ANS"]), torch.full((B,), t["WRONG"]), metric="logit_diff",
                name="saturation", vocab=VOCAB,
                description="Four lookup heads read Q+ (clean) or Q- (corrupt); L0H0's lookup of X is saturated.")
    return model, task
