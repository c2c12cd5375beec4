"""The computational graph that edge methods score, as an explicit object with readable names.

Sources (they *write* into the residual stream; the edge's "delta" is read here):

* ``embed``      — the token embedding, ``hook_embed`` (positional embeddings are the same on
  clean and corrupt prompts of equal length, so they carry no difference);
* ``L{l}H{h}``   — head h of layer l, ``blocks.{l}.attn.hook_result[:, :, h]`` (after W_O, without b_O);
* ``MLP{l}``     — ``blocks.{l}.hook_mlp_out``.

Destinations (they *read* the residual stream; the edge's gradient is taken at their input,
before the LayerNorm):

* ``L{l}H{h}.q`` / ``.k`` / ``.v`` — ``blocks.{l}.hook_{q,k,v}_input[:, :, h]``;
* ``MLP{l}``     — ``blocks.{l}.hook_mlp_in``;
* ``logits``     — ``blocks.{L-1}.hook_resid_post`` (before ``ln_final``).

An edge ``u->v`` exists when ``u`` is computed before ``v`` reads: heads of layer l feed MLP l
(sequential GPT-2 blocks) but not the heads of layer l. Edges are position-agnostic: an edge's
score sums over batch and positions, as in Hanna et al.'s EAP-IG code.
Edge count: ``sum_l [3H(1 + l(H+1)) + (1 + l(H+1) + H)] + 1 + L(H+1)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch

__all__ = ["Graph", "head_name", "parse_node"]


def head_name(layer: int, head: int) -> str:
    return f"L{layer}H{head}"


def parse_node(name: str) -> dict:
    """Split a node name such as ``L1H2.q@3`` into ``{"layer": 1, "head": 2, "kind": "q", "pos": 3}``."""
    out: dict = {"name": name, "pos": None, "layer": None, "head": None, "neuron": None}
    base = name
    if "@" in base:
        base, p = base.split("@")
        out["pos"] = int(p)
    if base in ("embed", "logits"):
        out["kind"] = base
        return out
    if base.startswith("MLP"):
        out.update(kind="mlp", layer=int(base[3:]))
        return out
    part, _, sub = base.partition(".")
    if "N" in part:
        lay, neu = part[1:].split("N")
        out.update(kind="neuron", layer=int(lay), neuron=int(neu))
        return out
    lay, hd = part[1:].split("H")
    out.update(layer=int(lay), head=int(hd), kind=sub or "head")
    return out


@dataclass(frozen=True)
class Graph:
    """Sources, destinations and edges of a GPT-2-style model with ``n_layers`` x ``n_heads``.

    ``edge_mask[i, j]`` is True when source ``sources[i]`` feeds destination ``destinations[j]``;
    edge scores are stored as ``[n_sources, n_destinations]`` matrices with this mask.
    """

    n_layers: int
    n_heads: int
    sources: tuple[str, ...] = field(init=False)
    destinations: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        L, H = self.n_layers, self.n_heads
        src = ["embed"]
        dst = []
        for l in range(L):
            src += [head_name(l, h) for h in range(H)] + [f"MLP{l}"]
            dst += [f"{head_name(l, h)}.{x}" for x in "qkv" for h in range(H)] + [f"MLP{l}"]
        dst.append("logits")
        object.__setattr__(self, "sources", tuple(src))
        object.__setattr__(self, "destinations", tuple(dst))

    @classmethod
    def from_model(cls, model) -> "Graph":
        return cls(int(model.cfg.n_layers), int(model.cfg.n_heads))

    # ---------------------------------------------------------------- ordering
    def source_layer(self, name: str) -> float:
        """Layer a source writes in; ``embed`` is -1, heads of layer l are l, MLP l is l + 0.5."""
        if name == "embed":
            return -1
        p = parse_node(name)
        return p["layer"] + (0.5 if p["kind"] == "mlp" else 0.0)

    def dest_layer(self, name: str) -> float:
        """Layer a destination reads in; heads of l read at l, MLP l at l + 0.5, logits at L."""
        if name == "logits":
            return self.n_layers
        p = parse_node(name)
        return p["layer"] + (0.5 if p["kind"] == "mlp" else 0.0)

    @cached_property
    def edge_mask(self) -> torch.Tensor:
        s = torch.tensor([self.source_layer(n) for n in self.sources])
        d = torch.tensor([self.dest_layer(n) for n in self.destinations])
        # a head (integer layer l) feeds MLP l (l + 0.5) but not heads of layer l
        return s[:, None] < d[None, :]

    @cached_property
    def edges(self) -> tuple[str, ...]:
        """Edge names ``"src->dst"`` in row-major order of :attr:`edge_mask`."""
        idx = self.edge_mask.nonzero().tolist()
        return tuple(f"{self.sources[i]}->{self.destinations[j]}" for i, j in idx)

    @property
    def n_edges(self) -> int:
        return int(self.edge_mask.sum())

    def edge_index(self, edge: str) -> tuple[int, int]:
        """``(source row, destination column)`` of ``"src->dst"``; a clear error if it is no edge."""
        from workbook.validate import WorkbookError

        try:
            src, dst = edge.split("->")
            i, j = self.sources.index(src), self.destinations.index(dst)
        except ValueError:
            raise WorkbookError(f"{edge!r} is not an edge name of the form 'src->dst' in {self}.") from None
        if not self.edge_mask[i, j]:
            raise WorkbookError(f"{edge!r} is not an edge of {self} (the source is not upstream of the destination).")
        return i, j

    # ---------------------------------------------------------------- hooks
    def source_hook(self, name: str) -> tuple[str, int | None]:
        """``(hook name, head index or None)`` holding a source's residual write."""
        if name == "embed":
            return "hook_embed", None
        p = parse_node(name)
        if p["kind"] == "mlp":
            return f"blocks.{p['layer']}.hook_mlp_out", None
        return f"blocks.{p['layer']}.attn.hook_result", p["head"]

    def dest_hook(self, name: str) -> tuple[str, int | None]:
        """``(hook name, head index or None)`` holding a destination's input."""
        if name == "logits":
            return f"blocks.{self.n_layers - 1}.hook_resid_post", None
        p = parse_node(name)
        if p["kind"] == "mlp":
            return f"blocks.{p['layer']}.hook_mlp_in", None
        return f"blocks.{p['layer']}.hook_{p['kind']}_input", p["head"]

    @cached_property
    def source_hooks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.source_hook(s)[0] for s in self.sources))

    @cached_property
    def dest_hooks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.dest_hook(d)[0] for d in self.destinations))

    def stack_sources(self, cache: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack every source's write from ``cache`` into ``[n_sources, batch, pos, d_model]``."""
        parts = [cache["hook_embed"][None]]
        for l in range(self.n_layers):
            parts.append(cache[f"blocks.{l}.attn.hook_result"].permute(2, 0, 1, 3))
            parts.append(cache[f"blocks.{l}.hook_mlp_out"][None])
        return torch.cat(parts, 0)

    def stack_dest_grads(self, grads: dict[str, torch.Tensor]) -> torch.Tensor:
        """Stack every destination's input gradient into ``[n_destinations, batch, pos, d_model]``."""
        parts = []
        for l in range(self.n_layers):
            for x in "qkv":
                parts.append(grads[f"blocks.{l}.hook_{x}_input"].permute(2, 0, 1, 3))
            parts.append(grads[f"blocks.{l}.hook_mlp_in"][None])
        parts.append(grads[f"blocks.{self.n_layers - 1}.hook_resid_post"][None])
        return torch.cat(parts, 0)

    def __repr__(self) -> str:
        return (
            f"Graph({self.n_layers} layers x {self.n_heads} heads: {len(self.sources)} sources, "
            f"{len(self.destinations)} destinations, {self.n_edges} edges)"
        )
