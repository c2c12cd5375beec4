"""Moving scores and circuits between workbook and hannamw/EAP-IG (Hanna et al.'s ``eap`` package).

Names (EAP-IG's on the right)::

    embed            <->  input
    L{l}H{h}         <->  a{l}.h{h}          (a head as a source / node)
    L{l}H{h}.q|k|v   <->  a{l}.h{h}<q|k|v>   (a head's q/k/v input as a destination)
    MLP{l}           <->  m{l}
    logits           <->  logits
    embed->L1H2.q    <->  input->a1.h2<q>    (edges: the same rule on both ends)

Graph JSON, as written by ``Graph.to_json`` and read by ``Graph.from_json`` in EAP-IG's
``src/eap/graph.py`` (matched against commit ``795f560``, where ``graph.py`` last changed in
``55a2be2``, 2025-07-23)::

    {"cfg":   {"n_layers": L, "n_heads": H, "parallel_attn_mlp": false, "d_model": D},
     "nodes": {"input": {"in_graph": true}, "a0.h0": {...}, ..., "m0": {...}, ..., "logits": {"in_graph": true}},
     "edges": {"input->a0.h0<q>": {"score": 0.12, "in_graph": true}, ...}}

Every real edge is listed, in EAP-IG's construction order; a node entry gets ``"score"`` only
when node scores are exported (NaN = unscored, EAP-IG's convention; never on ``logits``).
A node is ``in_graph`` when it has an outgoing circuit edge and (``input`` excepted) an
incoming one, as EAP-IG's ``prune`` leaves them; ``logits`` always is.

Conventions that differ, and are *not* converted silently:

* **Sign.** Both tools score an edge as ``(corrupt - clean) . grad metric`` summed over
  positions and averaged over examples. Workbook's metric is the task metric (noising
  convention); EAP-IG's demos pass ``loss=True`` metrics (the negated metric). Pass
  ``loss=True`` here to negate scores on the way in and out; rankings and circuits
  (``|score|``) do not depend on it.
* **Positions and neurons** (``L1H2@3``, ``L0N7``) have no EAP-IG name: a named error.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from workbook.analysis.circuits import Circuit
from workbook.arch.graph import Graph
from workbook.core.errors import WorkbookError
from workbook.core.scores import Scores

__all__ = [
    "EAP_IG_VERSION", "to_eap_ig_name", "from_eap_ig_name", "scores_to_eap_ig", "scores_from_eap_ig",
    "eap_ig_edge_names", "to_eap_ig_json", "from_eap_ig_json", "EapIgGraph",
]

EAP_IG_VERSION = "hannamw/EAP-IG 795f560 (src/eap/graph.py as of 55a2be2, 2025-07-23)"

_OURS = re.compile(r"^(?:(embed|logits)|L(\d+)H(\d+)(?:\.([qkv]))?|MLP(\d+))$")
_THEIRS = re.compile(r"^(?:(input|logits)|a(\d+)\.h(\d+)(?:<([qkv])>)?|m(\d+))$")


def _convert_node(name: str, pattern: re.Pattern, to_theirs: bool) -> str:
    m = pattern.match(name)
    if m is None:
        side = "workbook" if to_theirs else "EAP-IG"
        example = "embed, L1H2, L1H2.q, MLP0, logits" if to_theirs else "input, a1.h2, a1.h2<q>, m0, logits"
        extra = (
            " Per-position and per-neuron names have no EAP-IG equivalent."
            if to_theirs and ("@" in name or "N" in name)
            else ""
        )
        if to_theirs and "KV" in name:
            extra = (
                " Grouped-query k/v inputs (one per k/v head) have no EAP-IG equivalent: EAP-IG names one "
                "k/v input per query head (TransformerLens' ungroup_grouped_query_attention)."
            )
        raise WorkbookError(f"{name!r} is not a {side} node name (expected e.g. {example}).{extra}")
    special, layer, head, qkv, mlp = m.groups()
    if special is not None:
        return {"embed": "input", "input": "embed", "logits": "logits"}[special]
    if mlp is not None:
        return f"m{mlp}" if to_theirs else f"MLP{mlp}"
    if to_theirs:
        return f"a{layer}.h{head}" + (f"<{qkv}>" if qkv else "")
    return f"L{layer}H{head}" + (f".{qkv}" if qkv else "")


def to_eap_ig_name(name: str) -> str:
    """Workbook node or edge name -> EAP-IG's (``"embed->L1H2.q"`` -> ``"input->a1.h2<q>"``)."""
    return "->".join(_convert_node(part, _OURS, True) for part in name.split("->"))


def from_eap_ig_name(name: str) -> str:
    """EAP-IG node or edge name -> workbook's (``"a0.h1->m1"`` -> ``"L0H1->MLP1"``)."""
    return "->".join(_convert_node(part, _THEIRS, False) for part in name.split("->"))


def scores_to_eap_ig(scores: Scores, loss: bool = False) -> Scores:
    """The same scores under EAP-IG names (negated if ``loss``: see the module doc)."""
    values = -scores.values if loss else scores.values
    return Scores(
        [to_eap_ig_name(n) for n in scores.names], values, scores.method, scores.kind, None, dict(scores.info)
    )


def scores_from_eap_ig(
    scores: Scores | dict, loss: bool = False, method: str = "EAP-IG (imported)", kind: str | None = None
) -> Scores:
    """Scores named by EAP-IG (a :class:`Scores` or a ``{name: value}`` dict) under workbook names."""
    if isinstance(scores, dict):
        names, values = list(scores), torch.tensor([float(v) for v in scores.values()], dtype=torch.float64)
        kind = kind or ("edge" if names and all("->" in n for n in names) else "node")
        scores = Scores(names, values, method, kind)
    values = -scores.values if loss else scores.values
    return Scores(
        [from_eap_ig_name(n) for n in scores.names], values, scores.method, kind or scores.kind, None, dict(scores.info)
    )


def eap_ig_edge_names(n_layers: int, n_heads: int, parallel_attn_mlp: bool = False) -> list[str]:
    """Every real edge of EAP-IG's graph, in the order its ``Graph.from_model`` adds them."""
    resid, out = ["input"], []
    for l in range(n_layers):
        heads, mlp = [f"a{l}.h{h}" for h in range(n_heads)], f"m{l}"
        for u in resid:
            out += [f"{u}->{a}<{x}>" for a in heads for x in "qkv"]
            if parallel_attn_mlp:
                out.append(f"{u}->{mlp}")
        if parallel_attn_mlp:
            resid += heads + [mlp]
            continue
        resid += heads
        out += [f"{u}->{mlp}" for u in resid]
        resid.append(mlp)
    out += [f"{u}->logits" for u in resid]
    return out


def _eap_ig_nodes(n_layers: int, n_heads: int) -> list[str]:
    nodes = ["input"]
    for l in range(n_layers):
        nodes += [f"a{l}.h{h}" for h in range(n_heads)] + [f"m{l}"]
    return nodes + ["logits"]


def _is_parallel(graph: Graph) -> bool:
    """Parallel attention+MLP blocks: heads of layer l do not feed MLP l."""
    return not bool(graph.edge_mask[graph.sources.index("L0H0"), graph.destinations.index("MLP0")])


def _check_same_edges(graph: Graph, parallel: bool) -> list[str]:
    theirs = eap_ig_edge_names(graph.n_layers, graph.n_heads, parallel)
    ours = {to_eap_ig_name(e) for e in graph.edges}
    if ours != set(theirs):
        extra, missing = sorted(ours - set(theirs)), sorted(set(theirs) - ours)
        raise WorkbookError(
            f"{graph} does not have EAP-IG's edge set (parallel_attn_mlp={parallel}): "
            f"only here {extra[:3]}, only in EAP-IG {missing[:3]}."
        )
    return theirs


def _graph_of(model_or_graph) -> Graph:
    return model_or_graph if isinstance(model_or_graph, Graph) else Graph.from_model(model_or_graph)


def to_eap_ig_json(
    path: str | Path | None,
    model_or_graph,
    scores: Scores | None = None,
    circuit: Circuit | None = None,
    *,
    node_scores: Scores | None = None,
    loss: bool = False,
    d_model: int | None = None,
) -> dict:
    """Write edge scores and/or a circuit as an EAP-IG graph JSON; returns the dict.

    Args:
        path: file to write, or ``None`` to only return the dict.
        model_or_graph: the bridge the scores belong to, or its :class:`~workbook.arch.graph.Graph`
            (then pass ``d_model``, which EAP-IG's ``from_json`` needs).
        scores: edge :class:`Scores` covering every edge of the graph. Without them every
            edge gets ``score`` 0.0, which is what EAP-IG writes for an unscored graph.
        circuit: the edges ``in_graph``; without it nothing is in the graph (only ``logits``).
        node_scores: optional node :class:`Scores` (``embed``, ``L{l}H{h}``, ``MLP{l}``).
        loss: negate scores (EAP-IG ``loss=True`` metrics; module doc).
    """
    graph = _graph_of(model_or_graph)
    if d_model is None:
        if isinstance(model_or_graph, Graph):
            raise WorkbookError("to_eap_ig_json needs d_model (EAP-IG's from_json reads it) when given a Graph.")
        d_model = int(model_or_graph.cfg.d_model)
    parallel = _is_parallel(graph)
    edge_names = _check_same_edges(graph, parallel)
    sign = -1.0 if loss else 1.0

    values = torch.zeros(graph.edge_mask.shape, dtype=torch.float64)
    if scores is not None:
        if scores.kind != "edge":
            raise WorkbookError(f"scores must be edge scores, got {scores.kind!r} scores ({scores.method}).")
        missing = [e for e in graph.edges if e not in scores]
        if missing:
            raise WorkbookError(
                f"scores lack {len(missing)} edges of {graph} (e.g. {missing[:3]}); export needs all of them."
            )
        for name, v in zip(scores.names, scores.values.tolist()):
            values[graph.edge_index(name)] = sign * v
    kept = torch.zeros_like(graph.edge_mask)
    if circuit is not None:
        if circuit.graph != graph:
            raise WorkbookError(f"the circuit is on {circuit.graph}, not on {graph}.")
        kept = circuit.mask & graph.edge_mask

    edges = {}
    for theirs in edge_names:
        i, j = graph.edge_index(from_eap_ig_name(theirs))
        edges[theirs] = {"score": float(values[i, j]), "in_graph": bool(kept[i, j])}

    has_out = kept.any(1)
    fed = {"embed"}
    for i, j in kept.nonzero().tolist():
        fed.add(graph.destinations[j].split(".")[0])
    node_vals = {} if node_scores is None else dict(zip(node_scores.names, node_scores.values.tolist()))
    nodes = {}
    for theirs in _eap_ig_nodes(graph.n_layers, graph.n_heads):
        ours = from_eap_ig_name(theirs)
        if theirs == "logits":
            nodes[theirs] = {"in_graph": True}
            continue
        entry = {"in_graph": bool(has_out[graph.sources.index(ours)]) and ours in fed}
        if node_scores is not None:
            entry["score"] = sign * float(node_vals[ours]) if ours in node_vals else math.nan
        nodes[theirs] = entry

    cfg = {"n_layers": graph.n_layers, "n_heads": graph.n_heads, "parallel_attn_mlp": parallel, "d_model": int(d_model)}
    out = {"cfg": cfg, "nodes": nodes, "edges": edges}
    if path is not None:
        Path(path).write_text(json.dumps(out))
    return out


@dataclass
class EapIgGraph:
    """What :func:`from_eap_ig_json` read: edge scores, the circuit, node scores (or None), cfg."""

    scores: Scores
    circuit: Circuit
    node_scores: Scores | None
    cfg: dict


def from_eap_ig_json(source: str | Path | dict, graph: Graph | None = None, *, loss: bool = False) -> EapIgGraph:
    """Read an EAP-IG graph JSON (a path or the loaded dict) into workbook names and objects.

    ``graph``: the workbook graph of the model the file is for (default: built from the
    file's ``cfg``, parallel blocks included).
    Edges absent from the file are outside the circuit; edges and nodes without a score (or
    with NaN, EAP-IG's "unscored") are absent from the returned scores.
    """
    d = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    missing = [k for k in ("cfg", "nodes", "edges") if k not in d]
    if missing:
        raise WorkbookError(f"not an EAP-IG graph JSON: missing keys {missing} (expected cfg, nodes, edges).")
    cfg = d["cfg"]
    try:
        L, H, parallel = int(cfg["n_layers"]), int(cfg["n_heads"]), bool(cfg.get("parallel_attn_mlp", False))
    except (KeyError, TypeError, ValueError) as err:
        raise WorkbookError(f"the JSON's cfg lacks n_layers / n_heads: {cfg!r}.") from err
    graph = graph if graph is not None else Graph(L, H, parallel=parallel)
    if (graph.n_layers, graph.n_heads) != (L, H):
        raise WorkbookError(f"the file is for {L} layers x {H} heads, the graph {graph} is not.")
    if _is_parallel(graph) != parallel:
        raise WorkbookError(
            f"the file's parallel_attn_mlp={parallel} does not match {graph}; pass graph=Graph.from_model(model) "
            "for the model the file was made for."
        )
    _check_same_edges(graph, parallel)
    sign = -1.0 if loss else 1.0
    names, values = [], []
    mask = torch.zeros_like(graph.edge_mask)
    for theirs, info in d["edges"].items():
        ours = from_eap_ig_name(theirs)
        try:
            i, j = graph.edge_index(ours)
        except WorkbookError:
            raise WorkbookError(
                f"the file's edge {theirs!r} is not an edge of {graph}, the graph of its cfg "
                f"(parallel_attn_mlp={parallel}): the file does not describe this architecture."
            ) from None
        mask[i, j] = bool(info.get("in_graph", False))
        score = float(info.get("score", math.nan))
        if not math.isnan(score):
            names.append(ours)
            values.append(sign * score)
    scores = Scores(names, torch.tensor(values, dtype=torch.float64), "EAP-IG (imported)", "edge")
    node_names, node_values = [], []
    for theirs, info in d["nodes"].items():
        if theirs != "logits" and not math.isnan(float(info.get("score", math.nan))):
            node_names.append(from_eap_ig_name(theirs))
            node_values.append(sign * float(info["score"]))
    node_scores = (
        Scores(node_names, torch.tensor(node_values, dtype=torch.float64), "EAP-IG nodes (imported)")
        if node_names
        else None
    )
    return EapIgGraph(scores, Circuit(graph, mask), node_scores, dict(cfg))
