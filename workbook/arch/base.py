"""The adapter base class: everything a method may ask about a model's architecture.

Methods never reach into a block's modules themselves. They ask the model's :class:`Adapter`
(``workbook.arch.adapter_for(model)``) for

* the **edge graph** facts (``n_layers``, ``n_heads``, ``n_kv_heads``, ``parallel``; the
  :class:`~workbook.arch.graph.Graph` is built from them by ``Graph.from_model``): sources,
  destinations and which edges exist
  (a parallel attention+MLP block has no ``L{l}H{h}->MLP{l}`` edge; grouped-query attention
  has one k/v destination per k/v head, named ``L{l}KV{g}.k``);
* **node hooks and counts** (:meth:`node_hook`, :meth:`heads_of`, :meth:`node_label`);
* **weights** as ``y = x @ W + b`` (:meth:`projection`; HF ``Conv1D`` and ``nn.Linear`` alike,
  ``b`` may be ``None``) and the **pre-attention norm** (:meth:`apply_norm`,
  :meth:`norm_input_grad`: LayerNorm, RMSNorm, Gemma's ``(1 + w)`` RMSNorm);
* **attention scores as the model computes them** for the QK fix (:meth:`qk_hook_names`,
  :meth:`rotated_qk`, :meth:`attn_divisor`, :meth:`attn_softcap`): post-rotary q/k, the
  model's scale and soft-cap; the mask is read from the model's own ``hook_attn_scores``;
* **refusals** (:meth:`require`): a capability the family cannot support exactly raises
  :class:`~workbook.core.errors.UnsupportedArchitectureError` naming the feature.

A family adapter (one file per family in this package) sets a few class attributes and
overrides what differs. :meth:`inspect` checks, when the adapter is built, that the modules
are the ones the formulas assume; anything else becomes a named refusal, never a silent number.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from workbook.arch.norms import layernorm_input_grad, rmsnorm_input_grad
from workbook.core.errors import UnsupportedArchitectureError

__all__ = ["Adapter", "CAPABILITIES", "NODE_HOOKS", "rotate_half"]

#: What a refusal can name: ``edges`` (the per-head edge graph: EAP, EAP-IG, EAP-GP, edge
#: patching, circuits) and ``qk_fix`` (exact re-softmax of the attention pattern).
CAPABILITIES = {
    "edges": "edge methods (EAP, EAP-IG, EAP-GP, edge patching, circuits and faithfulness)",
    "qk_fix": "the AtP* QK fix (atp_qk_fix, atp_star, graddrop(qk_fix=True))",
}

#: Node kind -> hook (``{l}`` = layer). Shapes: head/q ``[B, P, H, d_head]``, k/v
#: ``[B, P, n_kv_heads, d_head]``, pattern ``[B, H, Q, K]``, mlp ``[B, P, D]``, neuron ``[B, P, d_mlp]``.
NODE_HOOKS = {
    "head": "blocks.{l}.attn.hook_z",
    "q": "blocks.{l}.attn.hook_q",
    "k": "blocks.{l}.attn.hook_k",
    "v": "blocks.{l}.attn.hook_v",
    "pattern": "blocks.{l}.attn.hook_pattern",
    "mlp": "blocks.{l}.hook_mlp_out",
    "neuron": "blocks.{l}.mlp.hook_post",
}


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Adapter:
    """Architecture knowledge for one model (see the module docstring). Subclass per family."""

    #: short family name used in messages and the support table
    family: ClassVar[str] = "?"
    #: HF ``*ForCausalLM`` class names (``model.cfg.architecture``) this adapter serves
    architectures: ClassVar[tuple[str, ...]] = ()
    #: ``"layernorm"`` or ``"rmsnorm"`` (the pre-attention norm ``ln1``)
    norm: ClassVar[str] = "layernorm"
    #: RMSNorm applies ``weight + norm_offset`` (Gemma: 1)
    norm_offset: ClassVar[float] = 0.0
    #: positions: ``None`` (learned, added to the embedding), ``"hooked"`` (rotary; the bridge
    #: fires ``hook_rot_q``/``hook_rot_k`` after rotating) or ``"cos_sin"`` (rotary, rotate-half
    #: convention, possibly partial; rotated here from ``hook_q``/``hook_k`` and ``hook_cos``/``hook_sin``)
    rotary: ClassVar[str | None] = None
    #: dtype the bridge's attention softmax runs in (``None``: the model's; the rotary attention of
    #: Llama-style bridges softmaxes in float32 even in a float64 model)
    softmax_dtype: ClassVar[torch.dtype | None] = None

    def __init__(self, model):
        self.model = model
        cfg = model.cfg
        self.arch = str(getattr(cfg, "architecture", None) or type(self).__name__)
        self.n_layers = int(cfg.n_layers)
        self.n_heads = int(cfg.n_heads)
        self.d_head = int(cfg.d_head)
        self.d_model = int(cfg.d_model)
        self.n_kv_heads = int(getattr(cfg, "n_key_value_heads", None) or self.n_heads)
        self.parallel = bool(getattr(cfg, "parallel_attn_mlp", False))
        self.refusals: dict[str, str] = {}
        if self.n_heads % self.n_kv_heads:
            raise UnsupportedArchitectureError(
                f"{self.arch}: {self.n_heads} query heads do not split into groups of "
                f"{self.n_kv_heads} key/value heads."
            )
        self.inspect()

    # ------------------------------------------------------------------ capabilities
    def refuse(self, capability: str, reason: str) -> None:
        """Record that ``capability`` (a key of :data:`CAPABILITIES`) is unsupported, and why."""
        self.refusals.setdefault(capability, reason)

    def require(self, capability: str) -> None:
        """Raise :class:`UnsupportedArchitectureError` if ``capability`` was refused."""
        if capability in self.refusals:
            raise UnsupportedArchitectureError(
                f"{CAPABILITIES[capability]} cannot run on this {self.arch} model: {self.refusals[capability]}"
            )

    def supports(self, capability: str) -> bool:
        return capability not in self.refusals

    def inspect(self) -> None:
        """Check the modules the formulas assume; record a refusal for anything else."""
        for l in range(self.n_layers):
            block = self.model.blocks[l]
            post = [n for n in ("ln1_post", "ln2_post") if hasattr(block, n)]
            if post:
                self.refuse(
                    "edges",
                    (
                        "each attention/MLP output is normalised again before it joins the residual stream "
                        f"({' and '.join(post)}, e.g. Gemma 2's post-attention RMSNorm), so the residual write "
                        "of one head is not additive and the per-head edge graph does not exist"
                    ),
                )
            try:
                ln = self.norm_module(l)
            except AttributeError:
                self.refuse(
                    "edges", f"block {l} has no pre-attention norm ln1 the edge graph can differentiate through"
                )
                continue
            if self._norm_params(ln) is None:
                self.refuse(
                    "edges",
                    (
                        f"block {l}'s pre-attention norm is a {type(ln).__name__}, not the {self.norm} this "
                        f"{self.family} adapter differentiates exactly"
                    ),
                )
            for kind in "qkvo":
                mod = getattr(block.attn, kind, None)
                lin = getattr(mod, "_original_component", None)
                if not _is_projection(lin):
                    self.refuse("edges", f"block {l}'s {kind} projection is a {type(lin).__name__}, not a linear layer")

    # ------------------------------------------------------------------ nodes
    def node_hook(self, kind: str, layer: int) -> str:
        return NODE_HOOKS[kind].format(l=layer)

    def heads_of(self, kind: str) -> int:
        """How many heads a node kind has per layer (k/v: one per k/v head)."""
        return self.n_kv_heads if kind in ("k", "v") else self.n_heads

    def node_label(self, kind: str, layer: int, index: int) -> str:
        """``L{l}H{h}`` / ``L{l}H{h}.q`` ...; grouped k/v heads are ``L{l}KV{g}.k`` / ``.v``."""
        if kind in ("k", "v") and self.n_kv_heads != self.n_heads:
            return f"L{layer}KV{index}.{kind}"
        return f"L{layer}H{index}" + ("" if kind == "head" else f".{kind}")

    def kv_head(self, head: int) -> int:
        """The k/v head query head ``head`` reads (``h // group size``, as HF's ``repeat_kv``)."""
        return head // (self.n_heads // self.n_kv_heads)

    # ------------------------------------------------------------------ weights
    def projection(self, layer: int, kind: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(W [d_in, d_out], b or None)`` with ``kind(x) = x @ W + b``; kind in q/k/v/o.

        q: ``d_out = n_heads * d_head``; k/v: ``n_kv_heads * d_head``; o: ``d_in = n_heads * d_head``.
        """
        lin = getattr(self.model.blocks[layer].attn, kind)._original_component
        W = lin.weight.T if isinstance(lin, torch.nn.Linear) else lin.weight
        return W, getattr(lin, "bias", None)

    def norm_module(self, layer: int, which: str = "ln1") -> torch.nn.Module:
        return getattr(self.model.blocks[layer], which)._original_component

    def apply_norm(self, layer: int, x: torch.Tensor, which: str = "ln1") -> torch.Tensor:
        """The norm as the model runs it (its own module)."""
        return self.norm_module(layer, which)(x)

    def _norm_params(self, ln) -> tuple[torch.Tensor, float] | None:
        """``(effective weight, eps)`` if ``ln`` is the norm this adapter differentiates, else None."""
        if self.norm == "layernorm":
            if isinstance(ln, torch.nn.LayerNorm) and ln.weight is not None:
                return ln.weight, float(ln.eps)
            return None
        w = getattr(ln, "weight", None)
        eps = getattr(ln, "variance_epsilon", getattr(ln, "eps", None))
        if not isinstance(w, torch.Tensor) or eps is None or not type(ln).__name__.endswith("RMSNorm"):
            return None
        return (w + self.norm_offset if self.norm_offset else w), float(eps)

    def norm_terms(self, layer: int, which: str = "ln1") -> tuple[torch.Tensor, torch.Tensor | None, float]:
        """``(w, b, eps)`` with the norm written as ``y = xhat * w + b``: ``xhat = (x - mean) / sigma``
        (LayerNorm) or ``x / rms`` (RMSNorm, ``b`` is ``None``); ``w`` already includes Gemma's ``1 +``."""
        self.require("edges")
        ln = self.norm_module(layer, which)
        w, eps = self._norm_params(ln)
        b = getattr(ln, "bias", None) if self.norm == "layernorm" else None
        return w, b, eps

    def norm_at(self, path: str) -> tuple[torch.Tensor, float, bool]:
        """``(w, eps, centred)`` of the norm module at ``path`` (``"blocks.0.ln1"``, ``"ln_final"``):
        ``y = C x / s * w + b`` with ``s = sqrt(mean((C x)^2) + eps)``, ``C`` the centring (LayerNorm,
        ``centred``) or the identity (RMSNorm; ``w`` includes Gemma's ``1 +``). A norm of another type
        raises :class:`UnsupportedArchitectureError` naming it."""
        ln = self.model.get_submodule(path)._original_component
        params = self._norm_params(ln)
        if params is None:
            raise UnsupportedArchitectureError(
                f"{self.arch}: {path} is a {type(ln).__name__}, not the {self.norm} the {self.family} adapter knows."
            )
        return params[0], params[1], self.norm == "layernorm"

    def mlp_activation(self, layer: int) -> tuple[torch.nn.Module, bool]:
        """``(act, gated)``: the MLP's elementwise activation module and whether the MLP is gated
        (``act(gate(x)) * up(x)``: ``mlp.hook_pre`` holds ``gate(x)``, ``mlp.hook_pre_linear`` ``up(x)``)
        or plain (``act(in(x))``: ``mlp.hook_pre`` -> ``mlp.hook_post``). An activation outside
        GELU / GELU-tanh / SiLU / ReLU / identity raises :class:`UnsupportedArchitectureError` naming it."""
        hf = self.model.blocks[layer].mlp.original_component
        act = getattr(hf, "act_fn", None) or getattr(hf, "act", None)
        known = ("GELUActivation", "NewGELUActivation", "GELUTanh", "PytorchGELUTanh", "GELU", "FastGELUActivation",
                 "SiLUActivation", "SiLU", "ReLU", "LinearActivation")
        if act is None or type(act).__name__ not in known:
            raise UnsupportedArchitectureError(
                f"{self.arch}: block {layer}'s MLP activation is {type(act).__name__}, not one of {known}."
            )
        return act, f"blocks.{layer}.mlp.hook_pre_linear" in self.model.hook_dict

    def norm_input_grad(self, layer: int, x: torch.Tensor, g_out: torch.Tensor, out: torch.Tensor) -> None:
        """Write into ``out [H, B, P, D]`` the gradient at ``ln1``'s input ``x [B, P, D]`` for each
        head's gradient at its output ``g_out [H, B, P, D]`` (computed in ``out.dtype``)."""
        self.require("edges")
        w, eps = self._norm_params(self.norm_module(layer))
        dt = out.dtype
        fn = layernorm_input_grad if self.norm == "layernorm" else rmsnorm_input_grad
        fn(x.to(dt), w.to(dt), eps, g_out.to(dt), out)

    # ------------------------------------------------------------------ attention
    def _hf_attn(self, layer: int):
        return self.model.blocks[layer].attn.original_component

    def attn_divisor(self, layer: int) -> float:
        """What ``q . k`` is divided by before the softmax (default: the HF module's ``1/scaling``)."""
        scaling = getattr(self._hf_attn(layer), "scaling", None)
        return 1.0 / float(scaling) if scaling else math.sqrt(self.d_head)

    def attn_softcap(self, layer: int) -> float | None:
        """Soft-cap ``c`` of the attention scores (``c * tanh(s / c)``, Gemma 2), or ``None``."""
        cap = getattr(self._hf_attn(layer), "attn_logit_softcapping", None)
        return float(cap) if cap else None

    def qk_hook_names(self, layer: int) -> list[str]:
        """Hooks to cache so that :meth:`rotated_qk` can rebuild the q/k the scores use."""
        a = f"blocks.{layer}.attn."
        if self.rotary == "hooked":
            return [a + "hook_rot_q", a + "hook_rot_k"]
        if self.rotary == "cos_sin":
            return [a + "hook_q", a + "hook_k", a + "hook_cos", a + "hook_sin"]
        return [a + "hook_q", a + "hook_k"]

    def rotated_qk(self, cache: dict[str, torch.Tensor], layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(q [B, T, H, d], k [B, S, n_kv, d])`` in float64, after rotary embeddings if any."""
        a = f"blocks.{layer}.attn."
        if self.rotary == "hooked":
            return cache[a + "hook_rot_q"].double(), cache[a + "hook_rot_k"].double()
        q, k = cache[a + "hook_q"].double(), cache[a + "hook_k"].double()
        if self.rotary == "cos_sin":
            cos = cache[a + "hook_cos"].double()[:, :, None, :]  # [1 or B, T, 1, rot]
            sin = cache[a + "hook_sin"].double()[:, :, None, :]
            r = cos.shape[-1]
            q = torch.cat([q[..., :r] * cos + rotate_half(q[..., :r]) * sin, q[..., r:]], -1)
            k = torch.cat([k[..., :r] * cos + rotate_half(k[..., :r]) * sin, k[..., r:]], -1)
        return q, k

    def expand_kv(self, k: torch.Tensor) -> torch.Tensor:
        """``[B, S, n_kv, d] -> [B, S, H, d]``: each query head gets its group's k/v head."""
        rep = self.n_heads // self.n_kv_heads
        return k if rep == 1 else k.repeat_interleave(rep, dim=2)

    def describe(self) -> str:
        """One line: what this model is and what is refused."""
        bits = [self.family, f"{self.n_layers} layers", f"{self.n_heads} heads"]
        if self.n_kv_heads != self.n_heads:
            bits.append(f"{self.n_kv_heads} k/v heads")
        bits += [
            self.norm,
            "rotary" if self.rotary else "learned positions",
            "parallel" if self.parallel else "sequential",
        ]
        out = ", ".join(bits)
        if self.refusals:
            out += "; refuses " + ", ".join(f"{c} ({r})" for c, r in self.refusals.items())
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


def _is_projection(mod) -> bool:
    if isinstance(mod, torch.nn.Linear):
        return True
    return type(mod).__name__ == "Conv1D" and isinstance(getattr(mod, "weight", None), torch.Tensor)
