"""circuitkit 0.2.0 (a TransformerLens 3.8 toolkit) timed on the benchmark's comparison model, in a child process.

    TL3_PYTHON bench_circuitkit.py IN.pt OUT.json

circuitkit is a peer, not a dependency: it needs TransformerLens 3.8 (``HookedTransformer``, which
TransformerLens 4 removed), so this script runs under the peers' Python (``scripts/peers_env.sh``;
``scripts/benchmark.py --tl3-python PATH`` or ``$TL3_PYTHON``) and never imports ``workbook``.
Its licence is source-available (LSAL 1.2): it is called, never copied, never shipped.
``IN.pt`` (written by ``bench_baselines.bench_circuitkit``) is the same hand-over as
``bench_hannamw_ht.py``'s: the HF GPT-2 config and state dict of the comparison model, the task's
tokens, answers and positions, the bridge's logits, the number of IG steps and of rounds.

The script builds the ``HookedTransformer`` (``bench_hannamw_ht.hooked_gpt2``, logits checked
against the bridge's), switches on the flags circuitkit's attribution asserts, and times, after
one warm-up call each, in interleaved rounds:

* ``attribute(..., "EAP")``, ``"EAP-IG-inputs"`` and ``"EAP-IG-activations"`` (edges; its steps
  ``k = 1..m``, the paper's, which is our default);
* ``attribute_node(..., "exact")``: leave-one-out node patching (every outgoing edge of a node
  patched to the corrupt run, which is noising node patching), over all of its nodes (the input
  node too; the parent prices its heads and MLPs by their share of the nodes).

One substitution, as for hannamw: circuitkit tokenizes strings, and the random model has no
tokenizer, so its ``tokenize_batch_pair`` is replaced by one that takes token tensors (no padding:
the masks are all ones). The metric is the logit difference at ``pos``; attribution backpropagates
its batch sum and circuitkit divides by the number of items (the batch mean, as ours).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import circuitkit  # noqa: E402,F401  (must come before transformer_lens: it patches TL on import)
import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parent))


def tokens_batch_pair(model, clean, corrupted, **_):
    """circuitkit's ``tokenize_batch_pair`` contract, for token tensors instead of strings."""
    clean, corrupted = torch.as_tensor(clean), torch.as_tensor(corrupted)
    mask = torch.ones_like(clean)
    return clean, corrupted, mask, torch.ones_like(corrupted), mask.sum(1), clean.shape[1]


def patched_backend():
    """circuitkit's EAP backend modules with :func:`tokens_batch_pair` in place of its tokenizer."""
    from circuitkit.backends.eap import attribute, attribute_node, eap_utils, evaluate, graph

    for mod in (attribute, attribute_node, eap_utils, evaluate):
        if hasattr(mod, "tokenize_batch_pair"):
            mod.tokenize_batch_pair = tokens_batch_pair
    return attribute, attribute_node, graph


def main(inp: str, out: str) -> None:
    import json
    import statistics
    import time
    from importlib.metadata import version

    from bench_hannamw_ht import hooked_gpt2, per_example, summed

    P = torch.load(inp, weights_only=False)
    model = hooked_gpt2(P["hf_config"], P["state_dict"])
    clean, corrupt, answer, wrong, pos = (P[k] for k in ("clean", "corrupt", "answer", "wrong", "pos"))
    with torch.no_grad():
        logits_diff = float((model(clean) - P["bridge_logits"]).abs().max())
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)
    attribute, attribute_node, G = patched_backend()
    graph = G.Graph.from_model(model)
    node_graph = G.Graph.from_model(model, node_scores=True)
    batches = [(clean, corrupt, torch.stack([answer, wrong, pos], 1))]

    scores: dict[str, dict[str, float]] = {}

    def edges(method: str, **kw) -> None:
        attribute.attribute(model, graph, batches, summed, method=method, quiet=True, **kw)
        scores[method] = {e.name: float(e.score) for e in graph.edges.values()}

    def nodes() -> None:
        attribute_node.attribute_node(model, node_graph, batches, per_example, method="exact", quiet=True)
        scores["nodes exact"] = {n.name: float(n.score) for n in node_graph.nodes.values() if n.name != "logits"}

    m = P["steps"]
    fns = {"EAP": lambda: edges("EAP"), "EAP-IG-inputs": lambda: edges("EAP-IG-inputs", ig_steps=m),
           "EAP-IG-activations": lambda: edges("EAP-IG-activations", ig_steps=m), "nodes exact": nodes}
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(P["rounds"]):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    Path(out).write_text(json.dumps({
        "circuitkit": version("circuitkit"), "transformer_lens": version("transformer_lens"),
        "logits_max_abs_diff": logits_diff, "seconds": {k: statistics.median(v) for k, v in times.items()},
        "times": times, "scores": scores, "n_nodes_exact": len(scores["nodes exact"]),
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
