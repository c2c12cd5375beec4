"""Effect cancellation: large direct effects that a downstream MLP (partly) undoes.

Two layer-0 heads, each with a direct path to the logits and an opposing indirect path
through a neuron of ``MLP1``. Attribution patching (AtP) adds the direct effect to a
*linearised* indirect effect; when the two nearly cancel, a small relative error in the
indirect part decides the total.

``L0H0`` — a sign flip on a small total (the course's first cancellation example):

* direct effect about +5, true indirect effect about -4.8, true total about +0.2;
* the neuron it drives (neuron 0 of ``MLP1``) moves from pre-activation 2 to 5, where GELU
  is slightly concave, so the gradient at 2 over-predicts the change a little: AtP's
  linearised indirect effect is about -5.1 and its total about -0.1, the wrong sign.

``L0H1`` — a genuine false negative (a large total that AtP calls zero):

* direct effect about +4.5;
* the neuron it drives (neuron 1 of ``MLP1``) sits at pre-activation 1 on the clean run,
  where GELU's slope is steep (about 1.08); the patch pushes it down to -2.5, into GELU's flat
  negative tail (slope about -0.04). The neuron *saturates*: it falls by about 0.86, not by
  the 3.8 its clean-point slope promises. So the true indirect effect is about -1.0 while its
  linearisation is about -4.55 (-4.5 after LayerNorm);
* true total about +3.4 (the largest head effect by activation patching; only ``MLP1``,
  which holds both neurons, moves the metric more), AtP about -0.04: the linearisation
  over-cancels the direct path, and AtP ranks the head below the distractor and ``L0H0``
  (third of four): a false negative of a screen that verifies AtP's top 1 or top 2.

GradDrop's pass that drops layer 1's writes keeps only each head's direct path, so it scores
``L0H0`` about 5 and ``L0H1`` about 4.5: both rank on top (``L0H1`` second), so a budget of two
verified heads finds ``L0H1``.

``L1H0`` is an honest distractor: it also reads the corrupted token but writes only to the
logits, with a direct effect of about -1 that AtP estimates well.

Construction (hand-set GPT-2 weights, 2 layers x 2 heads, d_model 20, no random weights):

* Zero-mean unit token directions plus a large position-independent "anchor" direction keep
  every LayerNorm's scale almost constant, so writes to the residual stream act linearly.
* The three heads attend uniformly (zero query/key weights). Their values read the last
  token: ``a`` on the clean prompt gives nothing, ``b`` on the corrupt prompt one unit.
  ``L0H0`` writes along a direction ``s``, ``L0H1`` along ``s2``, ``L1H0`` along a "base"
  direction; patching a head's output (noising) adds one unit of its direction at the last
  position.
* The unembedding reads ``s`` and ``s2`` for logit(ANS) - logit(WRONG) (the direct paths);
  ``MLP1`` neuron 0 reads ``s`` and writes ``-s``, neuron 1 reads ``-s2`` and writes ``+s2``
  (the indirect paths).

Direct and indirect effects are measured by edge patching
(:func:`workbook.patching.nodes.patch_edges`): ``L0H0->logits`` / ``L0H1->logits`` are the direct
paths, ``L0H0->MLP1`` / ``L0H1->MLP1`` the paths through the MLP.
"""

from __future__ import annotations

import torch
from torch.nn.functional import gelu
from transformers import GPT2LMHeadModel

from workbook.core.task import Task
from workbook.models.loading import bridge_from_hf, gpt2_config

__all__ = [
    "build",
    "CONSTRUCTION",
    "VOCAB",
    "COMPONENT",
    "SEED_COMPONENT",
    "DOWNSTREAM",
    "DIRECT_EDGE",
    "INDIRECT_EDGE",
    "FN_COMPONENT",
    "FN_DIRECT_EDGE",
    "FN_INDIRECT_EDGE",
    "DISTRACTOR",
]

CONSTRUCTION = """\
Cancellation specimen: a hand-set GPT-2 with 2 layers of 2 heads (no random weights).

Task: two prompt pairs of three tokens; the corrupt prompt changes the last token from `a` to
`b`. Metric: logit(ANS) - logit(WRONG) at the last position.

How the weights work:
* Every head attends uniformly (its query and key weights are zero) and its value reads the
  last token: `a` (clean) gives nothing, `b` (corrupt) one unit. Patching a head's output
  (noising) therefore adds one unit of the direction the head writes, at the last position.
* L0H0 writes a direction s, L0H1 a direction s2. The unembedding reads both: each of these
  heads has a DIRECT path that raises the metric.
* MLP1 has one neuron for each: neuron 0 reads s and writes -s, neuron 1 reads -s2 and writes
  +s2. So each head also has an INDIRECT path, through its GELU neuron, that lowers the metric.
  The two neurons sit at different points of GELU on the clean run and the patch moves them by
  different amounts.
* L1H0 reads the same token and writes only to the logits: a direct path and nothing else.
* A large constant direction in the residual stream keeps every LayerNorm's scale almost
  fixed, so writes add up linearly everywhere except inside the two GELU neurons.
"""

VOCAB = ["BOS", "a", "b", "c", "d", "ANS", "WRONG"]
SEED_COMPONENT = COMPONENT = "L0H0"  # the small-total sign flip
DIRECT_EDGE = "L0H0->logits"
INDIRECT_EDGE = "L0H0->MLP1"
FN_COMPONENT = "L0H1"  # the false negative
FN_DIRECT_EDGE = "L0H1->logits"
FN_INDIRECT_EDGE = "L0H1->MLP1"
DISTRACTOR = "L1H0"
DOWNSTREAM = "MLP1"
D_MODEL, N_HEADS, D_MLP = 20, 2, 20
D_HEAD = D_MODEL // N_HEADS
BASE_READOUT = 30.0  # logit(ANS) offset per unit of the constant 'base' direction


def basis(d_model: int) -> torch.Tensor:
    """``[d_model/2, d_model]`` orthonormal zero-mean directions ``f_i = (e_2i - e_2i+1)/sqrt2``."""
    f = torch.zeros(d_model // 2, d_model)
    for i in range(d_model // 2):
        f[i, 2 * i], f[i, 2 * i + 1] = 2**-0.5, -(2**-0.5)
    return f


def _gelu(x: float) -> float:
    return float(gelu(torch.tensor(x, dtype=torch.float64)))


def _gelu_slope(x: float) -> float:
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    gelu(t).backward()
    return float(t.grad)


def _hf(
    direct: float,
    indirect: float,
    pre_clean: float,
    pre_shift: float,
    fn_direct: float,
    fn_linearised: float,
    fn_pre_clean: float,
    fn_pre_shift: float,
    noise: float,
) -> GPT2LMHeadModel:
    cfg = gpt2_config(
        n_layers=2,
        d_model=D_MODEL,
        n_heads=N_HEADS,
        d_vocab=len(VOCAB),
        n_ctx=8,
        d_mlp=D_MLP,
        tie_embeddings=False,
        activation_function="gelu",
    )
    hf = GPT2LMHeadModel(cfg)
    f = basis(D_MODEL)
    anchor_dir, sig, base_dir, sig2 = f[0], f[6], f[7], f[8]
    tok = {t: i for i, t in enumerate(VOCAB)}
    anchor, seq = 20.0, 3
    ln_gain = D_MODEL**0.5 / anchor  # LayerNorm scale with the anchor dominating the norm
    # seed neuron: pre = pre_clean + pre_shift * x_s; the patch adds x_s = 1; set by its TRUE change
    true_change = _gelu(pre_clean + pre_shift) - _gelu(pre_clean)
    readout = direct / (2 * ln_gain)  # logit diff per unit of s in the residual stream
    w_out = -indirect / (2 * ln_gain * readout * true_change)
    # false-negative neuron: set by its LINEARISED change (slope at the clean point x shift)
    fn_readout = fn_direct / (2 * ln_gain)
    fn_w_out = fn_linearised / (_gelu_slope(fn_pre_clean) * fn_pre_shift)  # metric change per unit of neuron 1
    b_dir = f[1 + tok["b"]] / ln_gain  # value weights: 1 on b, 0 on a
    with torch.no_grad():
        for p in hf.parameters():
            p.zero_()
        for mod in [hf.transformer.ln_f] + [b.ln_1 for b in hf.transformer.h] + [b.ln_2 for b in hf.transformer.h]:
            mod.weight.fill_(1.0)
        for t, i in tok.items():
            hf.transformer.wte.weight[i] = f[1 + i] if 1 + i < 6 else 0.0
        hf.transformer.wpe.weight[:] = anchor * anchor_dir + base_dir
        attn0 = hf.transformer.h[0].attn
        v0 = 2 * D_MODEL  # first value column; head h uses v0 + h * D_HEAD
        # L0H0 (seed): uniform attention over `seq` positions -> +1 s
        attn0.c_attn.weight[:, v0] = b_dir
        attn0.c_proj.weight[0] = seq * sig
        # L0H1 (false negative): +1 s2
        attn0.c_attn.weight[:, v0 + D_HEAD] = b_dir
        attn0.c_proj.weight[D_HEAD] = seq * sig2
        # L1H0: an honest distractor with a direct effect only (-1 on the metric)
        attn1 = hf.transformer.h[1].attn
        attn1.c_attn.weight[:, v0] = b_dir
        attn1.c_proj.weight[0] = -seq * base_dir / (BASE_READOUT * ln_gain)
        mlp1 = hf.transformer.h[1].mlp
        mlp1.c_fc.weight[:, 0] = pre_shift * sig / ln_gain
        mlp1.c_fc.bias[0] = pre_clean
        mlp1.c_proj.weight[0] = -w_out * sig
        mlp1.c_fc.weight[:, 1] = fn_pre_shift * sig2 / ln_gain
        mlp1.c_fc.bias[1] = fn_pre_clean
        mlp1.c_proj.weight[1] = fn_w_out * sig2 / (2 * ln_gain * fn_readout)
        hf.lm_head.weight[tok["ANS"]] = readout * sig + fn_readout * sig2 + BASE_READOUT * base_dir
        hf.lm_head.weight[tok["WRONG"]] = -readout * sig - fn_readout * sig2
        gen = torch.Generator().manual_seed(0)  # optional small fixed background (noise=0 by default)
        for name, p in hf.named_parameters():
            if p.ndim == 2 and "wpe" not in name:
                p.add_(noise * torch.randn(p.shape, generator=gen))
    return hf


def build(
    direct: float = 5.0,
    indirect: float = -4.8,
    pre_clean: float = 2.0,
    pre_shift: float = 3.0,
    fn_direct: float = 4.5,
    fn_linearised: float = -4.55,
    fn_pre_clean: float = 1.0,
    fn_pre_shift: float = -3.5,
    noise: float = 0.0,
):
    """``(model, task)`` with designed direct and indirect effects of ``L0H0`` and ``L0H1``.

    ``L0H0``: ``direct`` and TRUE ``indirect`` effect; ``pre_clean``/``pre_shift`` are its
    neuron's clean pre-activation and how far the patch moves it (GELU's curvature over that
    interval sets how wrong the linearisation is).

    ``L0H1`` (false negative): ``fn_direct`` and the LINEARISED indirect effect
    ``fn_linearised`` (so AtP ~ ``fn_direct + fn_linearised``); its neuron starts at
    ``fn_pre_clean`` and moves by ``fn_pre_shift`` into GELU's flat tail, which sets the true
    indirect effect.

    Task: logit(ANS) - logit(WRONG) at the last position, 2 pairs of 3 tokens; the corrupt
    prompt swaps the last token ``a`` -> ``b``.
    """
    model = bridge_from_hf(
        _hf(direct, indirect, pre_clean, pre_shift, fn_direct, fn_linearised, fn_pre_clean, fn_pre_shift, noise)
    )
    t = {s: i for i, s in enumerate(VOCAB)}
    clean = torch.tensor([[t["BOS"], t["c"], t["a"]], [t["BOS"], t["d"], t["a"]]])
    corrupt = clean.clone()
    corrupt[:, -1] = t["b"]
    B = clean.shape[0]
    task = Task(
        clean,
        corrupt,
        torch.full((B,), t["ANS"]),
        torch.full((B,), t["WRONG"]),
        metric="logit_diff",
        name="cancellation",
        vocab=VOCAB,
        description="L0H0's and L0H1's direct effects are cancelled by MLP1 downstream: "
        "almost exactly (L0H0), or only in AtP's linearisation (L0H1).",
    )
    return model, task
