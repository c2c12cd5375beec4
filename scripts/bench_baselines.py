"""Baselines the benchmark compares with: today's node patching and hannamw/EAP-IG.

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
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch

from workbook.hooks import cache_activations, run_model
from workbook.patching import node_specs


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
    pkg = types.ModuleType("hannamw_eap")
    pkg.__path__ = [str(src)]
    sys.modules["hannamw_eap"] = pkg
    mods = {}
    for name in ("visualization", "graph", "utils", "evaluate", "attribute"):
        text = (src / f"{name}.py").read_text().replace("device='cuda'", "device=model.cfg.device")
        # TransformerLens 4 hands hook_mlp_in the residual stream itself (TL 3 a copy): the in-place
        # update of evaluate_graph's input hook would leak an MLP-input patch into the residual
        text = text.replace("activations += update\n            return activations", "return activations + update")
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
