"""Exact backward passes of the pre-attention norms, batched over heads.

EAP-style methods need ``dM/d x`` at each head's q/k/v *input* ``x`` (the residual stream before
the norm). A fused forward only gives ``dM/dq_h``; projecting it back through ``W_Q[h]`` gives the
gradient at the norm's output, ``g_out [H, B, P, D]``. These functions finish the chain rule
through the norm, evaluated at the shared input ``x [B, P, D]``, for every head at once.
They are what autograd computes (checked in ``tests/test_arch.py`` against autograd on each
family's own norm module).

Formulas (``w`` = the norm's weight as the model applies it, ``g = w * g_out``):

* LayerNorm ``y = (x - mean x) / sigma * w + b``, ``sigma = sqrt(var x + eps)``:
  ``dx = (g - mean(g) - xhat * mean(g * xhat)) / sigma`` with ``xhat = (x - mean x) / sigma``.
* RMSNorm ``y = x / rms * w``, ``rms = sqrt(mean(x^2) + eps)`` (Llama, Qwen2, Gemma with
  ``w = 1 + weight``): ``dx = (g - xhat * mean(g * xhat)) / rms`` with ``xhat = x / rms``.
"""

from __future__ import annotations

import torch

__all__ = ["layernorm_input_grad", "rmsnorm_input_grad"]


def layernorm_input_grad(
    x: torch.Tensor, weight: torch.Tensor, eps: float, g_out: torch.Tensor, out: torch.Tensor
) -> None:
    """Write into ``out [H, B, P, D]`` the LayerNorm input gradient for each ``g_out[h]``."""
    inv_sigma = (x.var(-1, unbiased=False, keepdim=True) + eps).rsqrt()  # [B,P,1]
    xhat = (x - x.mean(-1, keepdim=True)) * inv_sigma  # [B,P,D]
    g = g_out * weight
    m1 = g.mean(-1, keepdim=True)
    m2 = torch.matmul(g[..., None, :], xhat[..., None])[..., 0] / x.shape[-1]  # [H,B,P,1]
    torch.mul(torch.addcmul(g - m1, xhat, m2, value=-1), inv_sigma, out=out)


def rmsnorm_input_grad(
    x: torch.Tensor, weight: torch.Tensor, eps: float, g_out: torch.Tensor, out: torch.Tensor
) -> None:
    """Write into ``out [H, B, P, D]`` the RMSNorm input gradient for each ``g_out[h]``."""
    inv_rms = (x.pow(2).mean(-1, keepdim=True) + eps).rsqrt()  # [B,P,1]
    xhat = x * inv_rms
    g = g_out * weight
    m2 = torch.matmul(g[..., None, :], xhat[..., None])[..., 0] / x.shape[-1]  # [H,B,P,1]
    torch.mul(torch.addcmul(g, xhat, m2, value=-1), inv_rms, out=out)
