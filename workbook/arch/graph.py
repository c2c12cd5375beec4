"""The computational graph that edge methods score, as an explicit object with readable names.

Sources (they *write* into the residual stream; the edge's "delta" is read here):

* ``embed``      — the token embedding, ``hook_embed`` (positional embeddings are the same on
  clean and corrupt prompts of equal length, so they carry no difference; rotary models have none);
* ``L{l}H{h}``   — head h of layer l, ``blocks.{l}.attn.hook_result[:, :, h]`` (after W_O, without b_O);
* ``MLP{l}``     — ``blocks.{l}.hook_mlp_out``.

Destinations (they *read* the residual stream; the edge's gradient is taken at their input,
before the norm):

* ``L{l}H{h}.q`` / ``.k`` / ``.v`` — ``blocks.{l}.hook_{q,k,v}_input[:, :, h]``; with grouped-query
  attention (fewer k/v heads) the k/v destinations are one per k/v head, ``L{l}KV{g}.k`` /
  ``L{l}KV{g}.v``, read by the query heads of group g;
* ``MLP{l}``     — ``blocks.{l}.hook_mlp_in``;
* ``logits``     — ``blocks.{L-1}.hook_resid_post`` (before the final norm).

An edge ``u->v`` exists when ``u`` is computed before ``v`` reads: in a sequential block the heads
of layer l feed MLP l; in a *parallel* block (GPT-NeoX/Pythia) MLP l reads ``resid_pre`` like the
heads, so they do not. Heads never feed the heads of their own layer. Edges are
position-agnostic: an edge's score sums over batch and positions, as in Hanna et al.'s EAP-IG code.
Build the graph of a model with :meth:`Graph.from_model` (it asks the model's adapter,
:mod:`workbook.arch`). Edge count (sequential, H query and G k/v heads):
``sum_l [(H + 2G)(1 + l(H+1)) + (1 + l(H+1) + H)] + 1 + L(H+1)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch

from workbook.arch import adapter_for
from workbook.core.errors import WorkbookError

__all__ = ["Graph", "head_name", "parse_node"]


def head_name(layer: int, head: int) -> str:
    return f"L{layer}H{head}"


def kv_name(layer: int, group: int) -> str:
    return f"L{layer}KV{group}"


def parse_node(name: str) -> dict:
    """Split a node name such as ``L1H2.q@3`` into ``{"layer": 1, "head": 2, "kind": "q", "pos": 3}``.

    For a grouped k/v name (``L1KV0.k``) ``head`` is the k/v head index (the index into that
    hook's head dimension) and ``kv`` is True.
    """
    out: dict = {"name": name, "pos": None, "layer": None, "head": None, "neuron": None, "kv": False}
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
    if "KV" in part:
        lay, grp = part[1:].split("KV")
        out.update(layer=int(lay), head=int(grp), kind=sub or "head", kv=True)
        return out
    if "N" in part:
        lay, neu = part[1:].split("N")
        out.update(kind="neuron", layer=int(lay), neuron=int(neu))
        return out
    lay, hd = part[1:].split("H")
    out.update(layer=int(lay), head=int(hd), kind=sub or "head")
    return out


@dataclass(frozen=True)
class Graph:
    """Sources, destinations and edges of a model with ``n_layers`` x ``n_heads``.

    ``n_kv_heads`` (default ``n_heads``): k/v heads of grouped-query attention; ``parallel``:
    attention and MLP of a block both read ``resid_pre``. ``edge_mask[i, j]`` is True when
    source ``sources[i]`` feeds destination ``destinations[j]``; edge scores are stored as
    ``[n_sources, n_destinations]`` matrices with this mask.
    """

    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None
    parallel: bool = False
    sources: tuple[str, ...] = field(init=False)
    destinations: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        L, H = self.n_layers, self.n_heads
        G = self.n_kv_heads or H
        if H % G:
            raise ValueError(f"{H} heads do not split into {G} k/v groups.")
        object.__setattr__(self, "n_kv_heads", G)
        kv = head_name if G == H else kv_name
        src = ["embed"]
        dst = []
        for l in range(L):
            src += [head_name(l, h) for h in range(H)] + [f"MLP{l}"]
            dst += [f"{head_name(l, h)}.q" for h in range(H)]
            dst += [f"{kv(l, g)}.{x}" for x in "kv" for g in range(G)] + [f"MLP{l}"]
        dst.append("logits")
        object.__setattr__(self, "sources", tuple(src))
        object.__setattr__(self, "destinations", tuple(dst))

    @classmethod
    def from_model(cls, model) -> "Graph":
        """The model's graph, from its architecture adapter.

        Raises :class:`~workbook.core.errors.UnsupportedArchitectureError` for a family without an
        adapter, or one whose adapter refuses the ``edges`` capability (the refusal names why).
        """
        adapter = adapter_for(model)
        adapter.require("edges")
        return cls(adapter.n_layers, adapter.n_heads, adapter.n_kv_heads, adapter.parallel)

    @property
    def grouped(self) -> bool:
        """True for grouped-query attention (k/v destinations per k/v head)."""
        return self.n_kv_heads != self.n_heads

    # ---------------------------------------------------------------- ordering
    def source_layer(self, name: str) -> float:
        """Layer a source writes in; ``embed`` is -1, heads of layer l are l, MLP l is l + 0.5."""
        if name == "embed":
            return -1
        p = parse_node(name)
        return p["layer"] + (0.5 if p["kind"] == "mlp" else 0.0)

    def dest_layer(self, name: str) -> float:
        """Layer a destination reads in; heads of l read at l, MLP l at l + 0.5 (at l in a parallel
        block, where it reads ``resid_pre`` like the heads), logits at L."""
        if name == "logits":
            return self.n_layers
        p = parse_node(name)
        return p["layer"] + (0.5 if p["kind"] == "mlp" and not self.parallel else 0.0)

    @cached_property
    def edge_mask(self) -> torch.Tensor:
        s = torch.tensor([self.source_layer(n) for n in self.sources])
        d = torch.tensor([self.dest_layer(n) for n in self.destinations])
        # a head (integer layer l) feeds MLP l (l + 0.5; l when parallel) but not heads of layer l
        return s[:, None] < d[None, :]

    def dest_owners(self, j: int) -> tuple[int, ...]:
        """Source indices of the components that read through destination ``j``: its head (all
        heads of the group for a grouped k/v destination), its MLP; ``()`` for ``logits``."""
        return self._owners[j]

    @cached_property
    def _owners(self) -> tuple[tuple[int, ...], ...]:
        index = {s: i for i, s in enumerate(self.sources)}
        rep = self.n_heads // self.n_kv_heads
        out = []
        for d in self.destinations:
            if d == "logits":
                out.append(())
                continue
            p = parse_node(d)
            if p["kind"] == "mlp":
                out.append((index[f"MLP{p['layer']}"],))
            elif p["kv"]:
                heads = range(p["head"] * rep, (p["head"] + 1) * rep)
                out.append(tuple(index[head_name(p["layer"], h)] for h in heads))
            else:
                out.append((index[head_name(p["layer"], p["head"])],))
        return tuple(out)

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

        try:
            src, dst = edge.split("->")
            i, j = self.sources.index(src), self.destinations.index(dst)
        except ValueError:
            node = " (a node name? patch nodes with patch_nodes, by kind)" if "->" not in str(edge) else ""
            raise WorkbookError(f"{edge!r} is not an edge name of the form 'src->dst' in {self}{node}.") from None
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
        """``(hook name, head index or None)`` holding a destination's input (for a grouped k/v
        destination the index is the k/v head's, as ``hook_k_input`` has one slot per k/v head)."""
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
        extra = (f", {self.n_kv_heads} k/v heads" if self.grouped else "") + (", parallel" if self.parallel else "")
        return (
            f"Graph({self.n_layers} layers x {self.n_heads} heads{extra}: {len(self.sources)} sources, "
            f"{len(self.destinations)} destinations, {self.n_edges} edges)"
        )
