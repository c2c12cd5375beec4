"""hannamw/EAP-IG in its standard set-up: a TransformerLens 3 ``HookedTransformer``, run in a child process.

    TL3_PYTHON bench_hannamw_ht.py IN.pt OUT.json

TransformerLens 4 removed ``HookedTransformer`` (importing it raises ``ImportError``), so this script
runs under a *separate* Python whose ``transformer_lens`` is 3.x (``scripts/benchmark.py
--tl3-python PATH``; see ``bench_baselines.bench_hannamw_ht``). It must not import ``workbook``
(which needs TransformerLens 4). ``IN.pt`` (written by the parent) holds the HF GPT-2 config and
state dict of the benchmark's comparison model, the task's tokens/answers/positions, the bridge's
logits, the EAP-IG checkout, the number of IG steps and rounds. The script

1. builds a ``HookedTransformerConfig`` by hand from the HF config (no hub access), converts the
   weights with TL's ``convert_gpt2_weights`` and checks its logits against the bridge's;
2. switches on the flags hannamw's ``attribute`` asserts (``use_attn_result``,
   ``use_split_qkv_input``, ``use_hook_mlp_in``);
3. times hannamw's EAP and EAP-IG (inputs) in interleaved rounds after one warm-up call each, then
   exact patching of every edge (:func:`time_exact`: timed on every ``exact_every``-th edge and
   scaled), and writes the median times and the scores to ``OUT.json``.

hannamw's code runs unmodified but for two substitutions: ``device='cuda'`` becomes the model's
device, and ``tokenize_plus`` takes token tensors (the random model has no tokenizer). The metric
is the logit difference at ``pos`` (the only one the parent hands over).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import types
import warnings
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)


def load_eap(path: str | Path, edits: dict[str, str] | None = None) -> types.SimpleNamespace:
    """hannamw's ``graph``, ``evaluate`` and ``attribute`` modules, loaded from the checkout's sources.

    Two substitutions always: ``device='cuda'`` becomes the model's device and ``tokenize_plus``
    takes token tensors; ``edits`` (old text -> new text) are applied to every module's source too
    (``bench_baselines.load_hannamw`` uses it to run hannamw on a TransformerLens 4 bridge).
    """
    src = Path(path) / "src" / "eap"
    pkg = types.ModuleType("hannamw_eap")
    pkg.__path__ = [str(src)]
    sys.modules["hannamw_eap"] = pkg
    mods = {}
    for name in ("visualization", "graph", "utils", "evaluate", "attribute"):
        text = (src / f"{name}.py").read_text().replace("device='cuda'", "device=model.cfg.device")
        for old, new in (edits or {}).items():
            text = text.replace(old, new)
        mod = types.ModuleType(f"hannamw_eap.{name}")
        mod.__package__ = "hannamw_eap"
        sys.modules[mod.__name__] = mod
        exec(compile(text, str(src / f"{name}.py"), "exec"), mod.__dict__)
        mods[name] = mod

    def tokenize_plus(model, tokens, max_length=None):
        tokens = torch.as_tensor(tokens)
        mask = torch.ones_like(tokens)
        return tokens, mask, mask.sum(1), tokens.shape[1]

    for name in ("utils", "evaluate", "attribute"):
        mods[name].tokenize_plus = tokenize_plus
    return types.SimpleNamespace(**mods)


def time_exact(E, model, graph, batches, metric, every: int) -> tuple[float, dict[str, float]]:
    """hannamw's exact patching of every edge, priced from every ``every``-th edge: its
    ``get_scores_exact`` costs one baseline evaluation plus one ``evaluate_graph`` per edge, so
    it is timed on the first sampled edge alone (fixed + one edge) and on the whole sample;
    total = fixed + per-edge cost x number of edges. Returns (seconds, scores of the sample)."""
    everything = graph.edges
    sample = dict(list(everything.items())[::every])

    def timed(edges: dict) -> float:
        graph.edges = edges
        try:
            t0 = time.perf_counter()
            E.attribute.attribute(model, graph, batches, metric, method="exact", quiet=True)
            return time.perf_counter() - t0
        finally:
            graph.edges = everything

    t_one = timed(dict(list(sample.items())[:1]))
    t_many = timed(sample)
    per_edge = (t_many - t_one) / max(1, len(sample) - 1) if len(sample) > 1 else t_one
    fixed = max(0.0, t_one - per_edge)
    return fixed + per_edge * len(everything), {e.name: float(e.score) for e in sample.values()}


def hooked_gpt2(hf_config: dict, state_dict: dict):
    """A TL 3 ``HookedTransformer`` with the weights of the HF GPT-2 ``state_dict`` (no weight processing)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2LMHeadModel(GPT2Config(**hf_config))
    missing, unexpected = hf.load_state_dict(state_dict, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"HF state dict mismatch: missing {missing}, unexpected {unexpected}")
    c = hf.config
    act = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}[c.activation_function]
    cfg = HookedTransformerConfig(
        n_layers=c.n_layer, d_model=c.n_embd, n_heads=c.n_head, d_head=c.n_embd // c.n_head,
        d_mlp=c.n_inner or 4 * c.n_embd, d_vocab=c.vocab_size, n_ctx=c.n_positions, act_fn=act,
        normalization_type="LN", eps=c.layer_norm_epsilon, positional_embedding_type="standard",
        original_architecture="GPT2LMHeadModel", default_prepend_bos=False, device="cpu", dtype=torch.float32,
    )
    with warnings.catch_warnings():  # "HookedTransformer is deprecated": it is the set-up hannamw is written for
        warnings.simplefilter("ignore", DeprecationWarning)
        model = HookedTransformer(cfg)
    model.load_state_dict(convert_gpt2_weights(hf, cfg), strict=False)
    model.eval()
    return model


def per_example(logits, clean_logits, input_lengths, label):
    """hannamw's metric signature: the logit difference at ``label[:, 2]``, one value per example
    (``label`` columns: answer, wrong, position)."""
    rows = torch.arange(logits.shape[0])
    last = logits[rows, label[:, 2]]
    return last[rows, label[:, 0]] - last[rows, label[:, 1]]


def summed(*a):
    """:func:`per_example` summed over the batch (what hannamw's attribution differentiates)."""
    return per_example(*a).sum()


def main(inp: str, out: str) -> None:
    P = torch.load(inp, weights_only=False)
    model = hooked_gpt2(P["hf_config"], P["state_dict"])
    clean, corrupt, answer, wrong, pos = (P[k] for k in ("clean", "corrupt", "answer", "wrong", "pos"))
    with torch.no_grad():
        logits = model(clean)
    logit_diff = float((logits - P["bridge_logits"]).abs().max())
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)

    E = load_eap(P["eap_ig"])
    graph = E.graph.Graph.from_model(model)
    label = torch.stack([answer, wrong, pos], 1)
    batches = [(clean, corrupt, label)]

    scores = {}

    def run(method, **kw):
        E.attribute.attribute(model, graph, batches, per_example if method == "exact" else summed, method=method, quiet=True, **kw)
        scores[method] = {e.name: float(e.score) for e in graph.edges.values()}

    fns = {"EAP": lambda: run("EAP"), "EAP-IG-inputs": lambda: run("EAP-IG-inputs", ig_steps=P["steps"])}
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(P["rounds"]):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    t_exact, scores["exact"] = time_exact(E, model, graph, batches, per_example, P["exact_every"])
    from importlib.metadata import version

    Path(out).write_text(json.dumps({
        "transformer_lens": version("transformer_lens"), "logits_max_abs_diff": logit_diff,
        "seconds": {**{k: statistics.median(v) for k, v in times.items()}, "exact": t_exact},
        "times": times, "scores": scores,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
