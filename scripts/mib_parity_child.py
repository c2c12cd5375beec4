"""MIB's own CPR/CMD on a GPT-2 given by the parent: the TransformerLens 3 side of the parity check.

    TL3_PYTHON mib_parity_child.py IN.pt OUT.json

Runs under a Python whose ``transformer_lens`` is 3.x (MIB needs ``HookedTransformer``, which
TransformerLens 4 removed) and must not import ``workbook``. ``IN.pt`` (written by
``scripts/mib_parity.py``) holds the HF GPT-2 config and state dict, the bridge's logits, the
task's tokens and answer/wrong ids (no padding; the metric reads the last position), the batch
size, the circuit JSON's path and the paths of the MIB-circuit-track and hannamw/EAP-IG checkouts.

What runs is MIB's code as ``run_evaluation.py`` runs it: the model's ``cfg`` flags set as there
(``use_split_qkv_input``, ``use_attn_result``, ``use_hook_mlp_in``,
``ungroup_grouped_query_attention``), ``Graph.from_json`` on the circuit file,
``get_metric('logit_diff', ...)`` with ``mean=False, loss=False``, and
``MIB_circuit_track.evaluation.evaluate_area_under_curve(level='edge', absolute=...,
apply_greedy=False)`` once signed (CPR = its ``area_under``) and once absolute (CMD = its
``area_from_1``), as ``print_results.py`` reads them. The sources are imported unmodified from the
two checkouts; the only substitutions, all forced by running offline on a model without a tokenizer:

1. the model is built by hand from the HF config and weights (``bench_hannamw_ht.hooked_gpt2``:
   TL's ``convert_gpt2_weights``, no hub), and its logits are checked against the bridge's;
2. ``eap.evaluate.tokenize_plus`` takes token tensors (all-ones attention mask, input length =
   sequence length) instead of strings, and batches are ``(clean ids, corrupt ids, [[answer,
   wrong], ...])`` instead of MIB's HF dataset rows;
3. ``evaluate_area_under_curve`` passes ``optimal_ablation_path=None`` to ``evaluate_graph``, a
   keyword hannamw/EAP-IG at 795f560 does not accept (MIB pins a submodule commit we do not
   have); the call goes through a wrapper that drops it when it is ``None`` and refuses otherwise.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


def load_mib(mib_repo: str, eap_repo: str):
    """MIB's ``evaluation`` and ``metrics`` modules and hannamw's ``eap.graph``, with substitutions 2 and 3."""
    sys.path[:0] = [str(Path(eap_repo) / "src"), str(mib_repo)]
    import eap.evaluate
    import eap.graph
    from MIB_circuit_track import evaluation, metrics

    def tokenize_plus(model, tokens, max_length=None):
        tokens = torch.as_tensor(tokens)
        mask = torch.ones_like(tokens)
        return tokens, mask, mask.sum(1), tokens.shape[1]

    eap.evaluate.tokenize_plus = tokenize_plus
    original = evaluation.evaluate_graph

    def evaluate_graph(*args, optimal_ablation_path=None, **kwargs):
        if optimal_ablation_path is not None:
            raise RuntimeError("optimal ablations are not supported by hannamw/EAP-IG 795f560")
        return original(*args, **kwargs)

    evaluation.evaluate_graph = evaluate_graph
    return evaluation, metrics, eap.graph


def main(inp: str, out: str) -> None:
    P = torch.load(inp, weights_only=False)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_hannamw_ht import hooked_gpt2

    model = hooked_gpt2(P["hf_config"], P["state_dict"])
    with torch.no_grad():
        logits = model(P["clean"])
    logits_diff = float((logits - P["bridge_logits"]).abs().max())
    model.cfg.use_split_qkv_input = True  # as run_evaluation.py sets them
    model.cfg.use_attn_result = True
    model.cfg.use_hook_mlp_in = True
    model.cfg.ungroup_grouped_query_attention = True

    evaluation, metrics, graph_mod = load_mib(P["mib_repo"], P["eap_repo"])
    graph = graph_mod.Graph.from_json(P["circuit"])
    bs = int(P["batch_size"])
    labels = torch.stack([P["answer"], P["wrong"]], 1).tolist()
    loader = [(P["clean"][i : i + bs], P["corrupt"][i : i + bs], labels[i : i + bs]) for i in range(0, len(labels), bs)]
    metric = partial(metrics.get_metric("logit_diff", "ioi", None, model), mean=False, loss=False)

    result = {"transformer_lens": version("transformer_lens"), "torch": torch.__version__,
              "logits_max_abs_diff": logits_diff, "n_edges": len(graph.edges)}
    for key, absolute in (("signed", False), ("absolute", True)):
        counts, under, from_1, average, faith = evaluation.evaluate_area_under_curve(
            model, graph, loader, metric, level="edge", absolute=absolute, apply_greedy=False
        )
        result[key] = {"weighted_edge_counts": counts, "area_under": under, "area_from_1": from_1,
                       "average": average, "faithfulness": faith}
    result["cpr"] = result["signed"]["area_under"]
    result["cmd"] = result["absolute"]["area_from_1"]
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
