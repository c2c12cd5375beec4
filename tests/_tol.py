"""Scaled tolerances (tests/README.md, "Tolerance policy").

``assert_close(got, want, rel)`` checks ``max |got - want| <= rel * scale`` with ``scale`` the
largest ``|want|`` unless given (the logits' size, ``max(|M(clean)|, |M(corrupt)|)``, ...), and
names the difference and the scale when it fails.
"""

from __future__ import annotations

import torch

#: float64 exactness claims: 1e-9 of the scale (float64 rounding is ~1e-16 of it)
F64 = 1e-9
#: float32 results of short sums: ~100 float32 ulps (2^-23 = 1.2e-7) of the scale
F32 = 1e-5


def _t(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().double()
    if isinstance(getattr(x, "values", None), torch.Tensor):  # Scores
        return x.values.detach().double()
    return torch.as_tensor(x, dtype=torch.float64)


def scale_of(*xs) -> float:
    """The largest ``|x|`` over everything given (tensors, Scores, numbers, lists of numbers)."""
    return max((float(_t(x).abs().max()) for x in xs if _t(x).numel()), default=0.0)


def assert_close(got, want, rel: float, scale: float | None = None, what: str = "") -> None:
    """``max |got - want| <= rel * scale``; ``scale`` defaults to ``max |want|``."""
    g, w = _t(got), _t(want)
    assert g.shape == w.shape, f"{what}: shapes {tuple(g.shape)} vs {tuple(w.shape)}"
    s = scale_of(w) if scale is None else float(scale)
    err = float((g - w).abs().max()) if g.numel() else 0.0
    assert err <= rel * s, f"{what}: max |got - want| = {err:.3g} > {rel:g} x scale {s:.3g}"

