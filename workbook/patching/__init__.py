"""Ground truth: full activation patching, and everything built on it.

======================  ==================================================================
``patching.nodes``      :func:`patch_nodes`: heads, q/k/v, patterns, MLPs, neurons (batched)
``patching.edges``      :func:`patch_edges`, :func:`run_with_patched_edges` (circuits)
``patching.resume``     the cached clean run resumed from any layer (what makes patching fast)
``patching.direct_effects``  a node's direct effect (downstream frozen) and indirect effect
``patching.verify``     :func:`verify_top`: screen, then activation-patch an estimate's top k
``patching.masked``     the edge-masked forward that evaluates circuits (K circuits in one pass)
``patching.edge_scorer`` edge scores accumulated in head space (EAP family and exact edge patching)
======================  ==================================================================

Sign convention: noising, ``effect(n) = M(clean with n := corrupt) - M(clean)``
(``direction="denoising"`` for the other one).
"""

from workbook.patching.edges import edge_patched_metric, patch_edges, run_with_patched_edges
from workbook.patching.nodes import NODE_KINDS, node_kinds, node_specs, patch_nodes
from workbook.patching.verify import verify_top

__all__ = ["patch_nodes", "patch_edges", "run_with_patched_edges", "edge_patched_metric", "verify_top", "NODE_KINDS",
           "node_kinds", "node_specs"]
