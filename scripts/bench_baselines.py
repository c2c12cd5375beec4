"""Baselines the benchmark compares with: today's node patching, hannamw/EAP-IG, circuitkit, TransformerLens.

* :func:`legacy_patch_nodes` — node patching as the package did it before the resumed clean run
  (main at 22ead70): full forwards of 512-row stacks of patched copies, on the prepared model
  (TransformerLens' per-head split q/k/v flags on), every layer recomputed, full logits.
* :func:`load_hannamw` — import hannamw/EAP-IG's ``eap`` package from a local checkout (never
  shipped with workbook: ``git clone https://github.com/hannamw/EAP-IG``) so that it runs on a
  TransformerLens 4 bridge on the CPU: its ``HookedTransformer`` imports are satisfied by empty
  stand-ins, ``device='cuda'`` becomes the model's device, ``tokenize_plus`` takes token tensors
  instead of strings (our random models have no tokenizer), and ``evaluate_graph``'s input hook
  returns ``activations + update`` instead of updating in place (TransformerLens 4 passes
  ``hook_mlp_in`` the residual stream itself, so the in-place update would also patch the residual).
* :func:`bench_circuitkit` — circuitkit 0.2.0 in a TransformerLens 3.8 child process
  (``scripts/bench_circuitkit.py``; the peers' Python from ``scripts/peers_env.sh``).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch
from bench_common import Row, bare_2fwd_1bwd, interleaved_times, median_ratio, median_time

from workbook.core.runs import cache_activations, run_model
from workbook.patching.nodes import node_specs


@torch.no_grad()
def legacy_patch_nodes(model, task, what: str, nodes: list[str] | None = None, max_rows: int = 512) -> dict[str, float]:
    """Today's algorithm (see the module docstring); returns ``{name: batch-mean effect}``."""
    specs = node_specs(model, what)
    if nodes is not None:
        specs = [s for s in specs if s.name in set(nodes)]
    hooks_needed = sorted({s.hook for s in specs})
    B = task.batch_size
    clean_logits, _ = cache_activations(model, task.clean, hooks_needed)
    _, corr = cache_activations(model, task.corrupt, hooks_needed)
    base = task.per_example(clean_logits)
    per_rows = max(1, max_rows // B)
    out = {}
    for a in range(0, len(specs), per_rows):
        chunk = specs[a : a + per_rows]
        K = len(chunk)
        masks: dict[str, torch.Tensor] = {}
        for j, s in enumerate(chunk):
            if s.hook not in masks:
                masks[s.hook] = torch.zeros((K,) + tuple(corr[s.hook].shape[1:]), dtype=torch.bool)
            masks[s.hook][(j,) + s.index] = True

        def make_hook(name):
            m = masks[name][:, None]

            def fn(act, hook):
                shaped = act.reshape((K, B) + tuple(act.shape[1:]))
                return torch.where(m, corr[name][None], shaped).reshape(act.shape)

            return fn

        with model.hooks(fwd_hooks=[(h, make_hook(h)) for h in masks]):
            logits = run_model(model, task.clean.repeat(K, 1))
        vals = task.per_example(logits).reshape(K, B)
        for j, s in enumerate(chunk):
            out[s.name] = float((vals[j] - base).mean())
    return out


def load_hannamw(path: str | Path):
    """hannamw/EAP-IG's ``eap`` modules (``graph``, ``attribute``, ``evaluate``) from the checkout at ``path``."""
    src = Path(path) / "src" / "eap"
    if not (src / "attribute.py").exists():
        raise FileNotFoundError(f"{path} is not a checkout of hannamw/EAP-IG (no src/eap/attribute.py)")
    import transformer_lens

    for name in ("HookedTransformer", "HookedTransformerConfig"):
        try:
            getattr(transformer_lens, name)
        except (ImportError, AttributeError):  # removed in TransformerLens 4
            setattr(transformer_lens, name, type(name, (), {}))
    if "transformer_lens.utils" not in sys.modules:
        shim = types.ModuleType("transformer_lens.utils")
        shim.get_attention_mask = None
        sys.modules["transformer_lens.utils"] = shim
    from bench_hannamw_ht import load_eap  # the loader the TransformerLens 3 child process uses too

    # TransformerLens 4 hands hook_mlp_in the residual stream itself (TL 3 a copy): the in-place
    # update of evaluate_graph's input hook would leak an MLP-input patch into the residual
    return load_eap(path, {"activations += update\n            return activations": "return activations + update"})


def hannamw_inputs(task, batch_size: int | None = None):
    """A dataloader (list of batches) of ``(clean, corrupt, label)``, the batch-summed metric hannamw's
    attribution backpropagates (it divides the scores by the number of items) and the per-example
    metric its evaluation averages."""
    B = task.batch_size
    bs = batch_size or B
    batches = []
    for a in range(0, B, bs):
        idx = torch.arange(a, min(B, a + bs))
        label = torch.stack([task.answer[idx], task.wrong[idx], task.pos[idx]], 1)
        batches.append((task.clean[idx], task.corrupt[idx], label))

    def per_example(logits, clean_logits, input_lengths, label):
        return task.metric_fn(logits, label[:, 0], label[:, 1], label[:, 2])

    def summed(logits, clean_logits, input_lengths, label):
        return per_example(logits, clean_logits, input_lengths, label).sum()

    return batches, summed, per_example


# --------------------------------------------------------------------------- (6) hannamw
def bench_hannamw(model, task, path: str | None, rounds: int, steps: int, tl3_python: str | None = None) -> list[Row]:
    """workbook against hannamw/EAP-IG: EAP, EAP-IG (same alphas), exact edge patching, values compared.

    Two set-ups of hannamw on the same weights: (a) on our TransformerLens 4 bridge (loaded with
    :func:`load_hannamw`; timed interleaved with ours; info rows), and (b) its standard set-up, a
    TransformerLens 3 ``HookedTransformer`` with its required flags, in a child process run by
    ``tl3_python`` (``scripts/bench_hannamw_ht.py``; TL 4 has no ``HookedTransformer``); the
    issue's targets apply to (b). Ours always runs on the bridge.
    """
    if not path:
        return [Row("vs hannamw/EAP-IG", float("nan"), note="no checkout given (--eap-ig PATH or $EAP_IG_REPO)")]
    import workbook as wb

    E = load_hannamw(path)
    cfg = model.cfg
    graph = E.graph.Graph.from_model({"n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "parallel_attn_mlp": False, "d_model": cfg.d_model})
    batches, summed, per_ex = hannamw_inputs(task)
    theirs_scores = {}

    def run_theirs(method, **kw):
        E.attribute.attribute(model, graph, batches, summed if method != "exact" else per_ex, method=method, quiet=True, **kw)
        theirs_scores[method] = {e.name: float(e.score) for e in graph.edges.values()}

    ours = {}
    fns = {
        "theirs EAP": lambda: run_theirs("EAP"),
        "ours EAP": lambda: ours.__setitem__("EAP", wb.eap(model, task)),
        "theirs EAP-IG": lambda: run_theirs("EAP-IG-inputs", ig_steps=steps),
        "ours EAP-IG": lambda: ours.__setitem__("EAP-IG-inputs", wb.eap_ig(model, task, steps=steps, alphas="corrupt_end")),
        "bare": lambda: bare_2fwd_1bwd(model, task),  # what any EAP on our bridge pays before scoring an edge
    }
    T = interleaved_times(fns, rounds)
    from bench_hannamw_ht import time_exact

    every = max(1, len(graph.edges) // 96)  # about 96 timed edges
    t_theirs, theirs_scores["exact"] = time_exact(E, model, graph, batches, per_ex, every)
    t0 = time.perf_counter()
    ours["exact"] = wb.patch_edges(model, task)
    t_ours = time.perf_counter() - t0

    def agree(method, th):
        s = ours[method]
        ours_by = {wb.to_eap_ig_name(n): v for n, v in zip(s.names, s.values.tolist())}
        diff = max(abs(t - ours_by[n]) for n, t in th[method].items())
        if method == "exact":
            return f"max |difference| {diff:.2g} on the {len(th[method])} timed edges (largest {s.values.abs().max():.3g})"
        return f"max |difference| {diff:.2g} (largest {s.values.abs().max():.3g})"

    rows = []
    where = "(on our bridge)"
    for name in ("EAP", "EAP-IG"):
        key = "EAP" if name == "EAP" else "EAP-IG-inputs"
        r = median_ratio(T, f"ours {name}", lambda i: T[f"theirs {name}"][i])
        rows.append(Row(f"[comparison] workbook {name} / hannamw {name}" + (f" m={steps}" if name != "EAP" else "") + f" {where}", r,
                        note=f"{statistics.median(T[f'ours {name}']):.3g} s vs {statistics.median(T[f'theirs {name}']):.3g} s; "
                        f"{agree(key, theirs_scores)}"))
    rows.append(Row(f"[comparison] workbook patch_edges / hannamw exact {where}", t_ours / t_theirs,
                    note=f"{t_ours:.3g} s vs {t_theirs:.3g} s (theirs timed on 1 in {every} edges, scaled); "
                    f"{agree('exact', theirs_scores)}"))
    ours_s = {"EAP": statistics.median(T["ours EAP"]), "EAP-IG-inputs": statistics.median(T["ours EAP-IG"]), "exact": t_ours,
              "bare": statistics.median(T["bare"])}

    def retime() -> dict[str, float]:
        """Ours again, right after the child: the medians over the rounds before and after it, so
        that a load change while the child ran moves both sides of the ratio alike."""
        again = interleaved_times({k: fns[k] for k in ("ours EAP", "ours EAP-IG", "bare")}, rounds)
        return {"EAP": statistics.median(T["ours EAP"] + again["ours EAP"]),
                "EAP-IG-inputs": statistics.median(T["ours EAP-IG"] + again["ours EAP-IG"]),
                "bare": statistics.median(T["bare"] + again["bare"])}

    return rows + bench_hannamw_ht(model, task, path, tl3_python, rounds, steps, ours_s, agree, every, retime)


def hf_gpt2_state(model) -> tuple[dict, dict[str, torch.Tensor]]:
    """The HF ``GPT2Config`` (as a dict) and ``GPT2LMHeadModel`` state dict of a GPT-2 bridge."""
    from transformers import GPT2LMHeadModel

    hf = model.original_model
    if type(hf).__name__ != "GPT2LMHeadModel":
        raise ValueError(f"hannamw on HookedTransformer: GPT-2 models only, got {type(hf).__name__}")
    raw = {k.replace("._original_component", ""): v for k, v in hf.state_dict().items()}
    bias = raw.get("lm_head.bias")
    if bias is not None and bool(bias.abs().max() > 0):
        raise ValueError("the bridge's unembedding has a non-zero bias, which GPT2LMHeadModel cannot hold")
    with torch.device("meta"):
        wanted = GPT2LMHeadModel(hf.config).state_dict().keys()
    return hf.config.to_dict(), {k: raw[k].detach().clone().contiguous() for k in wanted if k in raw}


def run_tl3_child(script: str, model, task, tl3_python: str, extra: dict) -> tuple[dict, float]:
    """Run ``scripts/<script> IN.pt OUT.json`` under ``tl3_python`` (a TransformerLens 3 Python) on the
    bridge's weights and the task's tokens (plus ``extra``); returns its JSON result and wall time."""
    import json
    import subprocess
    import tempfile

    hf_config, state = hf_gpt2_state(model)
    with torch.no_grad():
        logits = model(task.clean)
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "in.pt", Path(tmp) / "out.json"
        torch.save({"hf_config": hf_config, "state_dict": state, "clean": task.clean, "corrupt": task.corrupt,
                    "answer": task.answer, "wrong": task.wrong, "pos": task.pos, "bridge_logits": logits, **extra}, inp)
        t0 = time.perf_counter()
        subprocess.run([tl3_python, str(Path(__file__).resolve().parent / script), str(inp), str(out)],
                       check=True, env={**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": ""},
                       cwd=tmp)  # circuitkit writes a logs/ folder into its working directory
        return json.loads(out.read_text()), time.perf_counter() - t0


def bench_hannamw_ht(model, task, path, tl3_python, rounds, steps, ours_s, agree, every, retime=None) -> list[Row]:
    """hannamw on a TransformerLens 3 ``HookedTransformer`` with the bridge's weights (child process).

    ``retime()`` (optional) times ours again once the child has finished; the ratios then use ours
    before and after the child, which ran in between."""
    where = "(HookedTransformer, its standard set-up)"
    names = [f"[comparison] workbook EAP / hannamw EAP {where}", f"[comparison] workbook EAP-IG / hannamw EAP-IG m={steps} {where}",
             f"[comparison] workbook patch_edges / hannamw exact {where}"]
    targets = (0.25, 0.2, 0.1)  # EAP: issue #22 target 4
    if not tl3_python:
        return [Row(n, float("nan"), t, "<=", note="no TransformerLens 3 python given (--tl3-python PATH or $TL3_PYTHON)")
                for n, t in zip(names, targets)]
    from workbook.core.task import logit_diff

    if task.metric_fn is not logit_diff:
        return [Row(n, float("nan"), t, "<=", note="the child process knows the logit difference only") for n, t in zip(names, targets)]
    res, child = run_tl3_child("bench_hannamw_ht.py", model, task, tl3_python,
                               {"eap_ig": str(path), "steps": steps, "rounds": rounds, "exact_every": every})
    if res["logits_max_abs_diff"] > 1e-4:
        raise RuntimeError(f"HookedTransformer logits differ from the bridge's by {res['logits_max_abs_diff']:.3g}")
    if retime is not None:
        ours_s = {**ours_s, **retime()}
    rows = []
    for name, key, target in zip(names, ("EAP", "EAP-IG-inputs", "exact"), targets):
        theirs = res["seconds"][key]
        rows.append(Row(name, ours_s[key] / theirs, target, "<=",
                        note=f"{ours_s[key]:.3g} s vs {theirs:.3g} s" + (f" (theirs timed on 1 in {every} edges, scaled)" if key == "exact" else "")
                        + f"; {agree(key, res['scores'])}; "
                        f"TL {res['transformer_lens']}, logits max |diff| {res['logits_max_abs_diff']:.2g}, child {child:.3g} s"))
    rows.insert(1, Row(f"[comparison]   our bridge's bare 2 fwd + 1 bwd / hannamw EAP {where}", ours_s["bare"] / res["seconds"]["EAP"],
                       note=f"{ours_s['bare']:.3g} s: the passes any EAP on the TransformerLens 4 bridge makes, before scoring an edge"))
    return rows


# --------------------------------------------------------------------------- (6b) circuitkit
CIRCUITKIT_TARGET = 0.5
CIRCUITKIT_PARITY = 1e-4  # of the largest score: float32 sums of the same terms in another order


def bench_circuitkit(model, task, tl3_python: str | None, rounds: int, steps: int) -> list[Row]:
    """workbook against circuitkit 0.2.0 on a TransformerLens 3.8 ``HookedTransformer`` with the same
    weights (child process ``scripts/bench_circuitkit.py`` under ``tl3_python``, see
    ``scripts/peers_env.sh``): EAP, EAP-IG inputs and activations (edges, m = ``steps``, both
    ``k = 1..m``) and exact node patching (heads + MLPs), each ours/theirs <= 0.5, and score parity.

    Where the definitions match (these four: circuitkit's edge code is hannamw's EAP-IG, its exact
    node score drops every outgoing edge of the node, which is noising node patching) the scores
    must agree to ``CIRCUITKIT_PARITY`` of the largest one; the parity row prints PASS/MISS. Where
    they differ no number is compared: its node EAP / EAP-IG / EAP-GP read an MLP node's gradient at
    the MLP's *input* (``hook_mlp_in``, the destination of its edges) where our node AtP takes it at
    the MLP's output (``hook_mlp_out``, the node's own write); its ``atp-gd`` (AtP+GradDrop) takes
    ``|.|`` of each dropped layer's score *after* averaging over the batch, ours per example.
    """
    names = [f"[comparison] workbook {k} / circuitkit (TL 3.8)"
             for k in ("EAP", f"EAP-IG m={steps} inputs", f"EAP-IG m={steps} activations", "patch_nodes heads+MLPs")]
    names.append("[comparison]   circuitkit score parity: max |ours - theirs| / largest")
    targets = [CIRCUITKIT_TARGET] * 4 + [CIRCUITKIT_PARITY]
    if not tl3_python:
        return [Row(n, float("nan"), t, "<=", note="no TransformerLens 3 python with circuitkit (--tl3-python PATH, "
                    "$TL3_PYTHON; bash scripts/peers_env.sh)") for n, t in zip(names, targets)]
    from workbook.core.task import logit_diff

    if task.metric_fn is not logit_diff:
        return [Row(n, float("nan"), t, "<=", note="the child process knows the logit difference only")
                for n, t in zip(names, targets)]
    import workbook as wb
    from workbook.analysis.interop import to_eap_ig_name

    ours: dict = {}

    def nodes():
        heads, mlps = wb.patch_nodes(model, task, "head"), wb.patch_nodes(model, task, "mlp")
        ours["nodes exact"] = {**heads.to_dict(), **mlps.to_dict()}

    fns = {"EAP": lambda: ours.__setitem__("EAP", wb.eap(model, task).to_dict()),
           "EAP-IG-inputs": lambda: ours.__setitem__("EAP-IG-inputs", wb.eap_ig(model, task, steps=steps).to_dict()),
           "EAP-IG-activations": lambda: ours.__setitem__(
               "EAP-IG-activations", wb.eap_ig(model, task, steps=steps, variant="activations").to_dict()),
           "nodes exact": nodes}
    T = interleaved_times(fns, rounds)
    res, child = run_tl3_child("bench_circuitkit.py", model, task, tl3_python, {"steps": steps, "rounds": rounds})
    if res["logits_max_abs_diff"] > 1e-4:
        raise RuntimeError(f"HookedTransformer logits differ from the bridge's by {res['logits_max_abs_diff']:.3g}")
    rows, worst, parity = [], 0.0, []
    for name, key in zip(names, fns):
        mine = {to_eap_ig_name(n): v for n, v in ours[key].items()}
        theirs = res["scores"][key]
        scale = max(abs(v) for v in mine.values())
        diff = max(abs(theirs[n] - v) for n, v in mine.items())
        worst = max(worst, diff / scale)
        parity.append(f"{key} {diff:.2g} of {scale:.3g}")
        t_theirs = res["seconds"][key]
        extra = ""
        if key == "nodes exact":  # circuitkit patches the input node too: price its heads and MLPs by their share
            t_theirs *= len(mine) / res["n_nodes_exact"]
            extra = f" (theirs: {len(mine)} of its {res['n_nodes_exact']} nodes' share)"
        t_ours = statistics.median(T[key])
        rows.append(Row(name, t_ours / t_theirs, CIRCUITKIT_TARGET, "<=",
                        note=f"{t_ours:.3g} s vs {t_theirs:.3g} s{extra}; "
                        f"max |difference| {diff:.2g} (largest {scale:.3g})"))
    rows.append(Row(names[-1], worst, CIRCUITKIT_PARITY, "<=", "",
                    note="; ".join(parity) + f"; circuitkit {res['circuitkit']}, TL {res['transformer_lens']}, "
                    f"logits max |diff| {res['logits_max_abs_diff']:.2g}, child {child:.3g} s"))
    return rows


# --------------------------------------------------------------------------- (7) TransformerLens
def bench_vs_transformerlens(model, task, repeats: int) -> list[Row]:
    """workbook EAP and head patching against TransformerLens 4.3 on the same model and batch."""
    from transformer_lens.patching import get_act_patch_attn_head_out_all_pos
    from transformer_lens.tools.analysis.attribution_patching import EdgeAttributionConfig, attribution_patch

    from workbook.attribution.eap import eap
    from workbook.patching.nodes import patch_nodes

    B = task.batch_size
    calls = {"n": 0}

    def metric_fn(logits: torch.Tensor) -> torch.Tensor:
        # TL calls this once per example (on the corrupt run, in batch order), logits [1, S, V]
        b = calls["n"] % B
        calls["n"] += 1
        return task.metric_fn(logits, task.answer[b : b + 1], task.wrong[b : b + 1], task.pos[b : b + 1])[0]

    cfg = EdgeAttributionConfig(granularity="edge")
    t_tl = median_time(lambda: attribution_patch(model, task.clean, task.corrupt, metric_fn, cfg), repeats)
    if calls["n"] % B:
        raise RuntimeError(f"TL called the metric {calls['n']} times, not a multiple of the batch {B}: "
                           "the per-example answers would be misaligned.")
    t_wb = median_time(lambda: eap(model, task, direction="denoising"), repeats)
    rows = [Row("[comparison] workbook EAP / TL attribution_patch (edge)", t_wb / t_tl, 1.0, "<=",
                note=f"{t_wb * 1e3:.3g} ms vs {t_tl * 1e3:.3g} ms (TL: per example, per position)")]

    def tl_patch() -> None:
        with torch.no_grad():
            _, cache = model.run_with_cache(task.clean)
            get_act_patch_attn_head_out_all_pos(model, task.corrupt, cache, lambda lg: task.metric_value(lg))

    t_tl_p = median_time(tl_patch, repeats)
    t_wb_p = median_time(lambda: patch_nodes(model, task, "head", direction="denoising"), repeats)
    rows.append(Row("[comparison] workbook patch_nodes(head, denoising) / TL act_patch head", t_wb_p / t_tl_p, 1.0, "<=",
                    note=f"{t_wb_p * 1e3:.3g} ms vs {t_tl_p * 1e3:.3g} ms (both incl. caching)"))
    return rows
