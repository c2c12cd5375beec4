"""Tiny random models of every supported family, built offline, with norms perturbed so they matter.

One row per family (2 layers, d_model 16, 4 query heads of d_head 4, short sequences):

======== ===================== =============================================================
row      HF class              what it exercises
======== ===================== =============================================================
gpt2     GPT2LMHeadModel       LayerNorm, learned positions, Conv1D, biases
neox     GPTNeoXForCausalLM    parallel attention + MLP, partial rotary (rotate-half), fused qkv
neox_seq GPTNeoXForCausalLM    the same, sequential residual
llama    LlamaForCausalLM      RMSNorm, rotary, grouped-query attention (2 k/v heads), no biases
qwen2    Qwen2ForCausalLM      RMSNorm, rotary, GQA, q/k/v biases
gemma    GemmaForCausalLM      (1 + w) RMSNorm, scaled embedding, multi-query attention (1 k/v head)
gemma2   Gemma2ForCausalLM     soft-capped scores, sliding window, sandwich norms (edge methods refused)
======== ===================== =============================================================
"""

from __future__ import annotations

import warnings

import torch

import workbook as wb

V, S, B = 24, 5, 2
FAMILIES = ("gpt2", "neox", "neox_seq", "llama", "qwen2", "gemma", "gemma2")
EDGE_FAMILIES = tuple(f for f in FAMILIES if f != "gemma2")
#: families whose HF modules compute in float32 even in a float64 model (RMSNorm upcasts then casts
#: back; the bridge's rotary-attention softmax runs in float32): float64 results agree to ~1e-7 only
FLOAT32_INSIDE = ("llama", "qwen2", "gemma", "gemma2")


def hf_model(family: str, seed: int = 0):
    """The (unwrapped) HF model of ``family``, float32, eval mode, norms perturbed."""
    import transformers as T

    common = dict(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=32, max_position_embeddings=16, initializer_range=0.4)
    if family == "gpt2":
        cfg = T.GPT2Config(vocab_size=V, n_embd=16, n_layer=2, n_head=4, n_positions=16, resid_pdrop=0.0,
                           embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.4, activation_function="gelu_new",
                           bos_token_id=0, eos_token_id=0)
        cls = T.GPT2LMHeadModel
    elif family in ("neox", "neox_seq"):
        cfg = T.GPTNeoXConfig(**common, rotary_pct=0.5, use_parallel_residual=family == "neox",
                              hidden_dropout=0.0, attention_dropout=0.0)
        cls = T.GPTNeoXForCausalLM
    elif family == "llama":
        cfg = T.LlamaConfig(**common, num_key_value_heads=2)
        cls = T.LlamaForCausalLM
    elif family == "qwen2":
        cfg = T.Qwen2Config(**common, num_key_value_heads=2)
        cls = T.Qwen2ForCausalLM
    elif family == "gemma":
        cfg = T.GemmaConfig(**common, num_key_value_heads=1, head_dim=4)
        cls = T.GemmaForCausalLM
    elif family == "gemma2":
        cfg = T.Gemma2Config(**common, num_key_value_heads=2, head_dim=4, query_pre_attn_scalar=4,
                             attn_logit_softcapping=3.0, final_logit_softcapping=8.0, sliding_window=3)
        cls = T.Gemma2ForCausalLM
    else:
        raise ValueError(family)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        hf = cls(cfg)
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, p in hf.named_parameters():
                low = name.lower()
                if "norm" in low or ".ln_" in low or "layernorm" in low:
                    noise = torch.randn(p.shape, generator=g)
                    if name.endswith("bias"):
                        p.copy_(0.2 * noise)
                    elif family.startswith("gemma"):
                        p.copy_(0.4 * noise)  # applied as 1 + w
                    else:
                        p.copy_(1.0 + 0.4 * noise)
                elif name.endswith("bias"):
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return hf.eval()


def build(family: str, dtype: torch.dtype = torch.float64, seed: int = 0):
    """A prepared bridge of ``family`` in ``dtype``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wb.bridge_from_hf(hf_model(family, seed), dtype=dtype)


def task(seed: int = 0, batch: int = B, seq: int = S) -> wb.Task:
    """Clean/corrupt pairs differing in their first two tokens; logit-difference metric.

    Token 0 is avoided: it is the padding id of some configs (Gemma), whose embedding is zero,
    and an all-zero residual sits on the kink of RMSNorm."""
    g = torch.Generator().manual_seed(100 + seed)
    clean = torch.randint(1, V, (batch, seq), generator=g)
    corrupt = clean.clone()
    corrupt[:, :2] = torch.randint(1, V, (batch, 2), generator=g)
    answer = torch.randint(1, V // 2, (batch,), generator=g)
    return wb.Task(clean, corrupt, answer, answer + V // 2)
