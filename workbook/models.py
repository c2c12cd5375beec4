"""Getting a TransformerBridge ready for attribution: build, wrap, load, save.

Every method in this package needs three TransformerLens 4.x hook families that are off by
default: per-head outputs (``attn.hook_result``), per-head split q/k/v inputs
(``hook_{q,k,v}_input``) and ``hook_mlp_in``. :func:`prepare` switches them on and puts the
model in eval mode. The GPT-2 architecture from HF ``transformers`` wrapped with
``build_bridge_from_module`` supports all three; TL's ``boot_native`` models do not.

Three ways in:

* :func:`build_gpt2` — a fresh random GPT-2-architecture model (offline, seeded).
* :func:`load_pretrained` — real GPT-2 small (``"gpt2"``, needs the HF hub) or any folder
  written by ``save_pretrained``; the same code path serves both.
* :func:`load_model` / :func:`save_model` — the small safetensors checkpoints this package ships.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from workbook.validate import ModelError

__all__ = [
    "build_gpt2",
    "bridge_from_hf",
    "prepare",
    "load_pretrained",
    "save_model",
    "load_model",
    "gpt2_config",
]


def gpt2_config(
    n_layers: int = 2,
    d_model: int = 64,
    n_heads: int = 4,
    d_vocab: int = 50,
    n_ctx: int = 32,
    d_mlp: int | None = None,
    tie_embeddings: bool = True,
    **extra: Any,
) -> GPT2Config:
    """An HF GPT-2 config with every dropout set to 0 (attribution needs deterministic runs)."""
    kwargs: dict[str, Any] = dict(
        n_layer=n_layers,
        n_head=n_heads,
        n_embd=d_model,
        vocab_size=d_vocab,
        n_positions=n_ctx,
        n_inner=d_mlp,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=tie_embeddings,
        bos_token_id=0,
        eos_token_id=0,
        activation_function="gelu_pytorch_tanh",  # same function as GPT-2's gelu_new, ~20% faster
    )
    kwargs.update(extra)
    return GPT2Config(**kwargs)


def bridge_from_hf(hf_model: GPT2LMHeadModel, dtype: torch.dtype | None = None):
    """Wrap an HF ``GPT2LMHeadModel`` as a prepared :class:`TransformerBridge`.

    The HF module is modified in place (its submodules become bridge components), so do
    not keep using ``hf_model`` directly afterwards.
    """
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module

    if not isinstance(hf_model, GPT2LMHeadModel):
        raise ModelError(
            f"bridge_from_hf expects a transformers GPT2LMHeadModel, got {type(hf_model).__name__}."
        )
    if dtype is not None:
        hf_model = hf_model.to(dtype)
    hf_model.eval()
    bridge = build_bridge_from_module(hf_model, "GPT2LMHeadModel", hf_config=hf_model.config)
    return prepare(bridge)


def build_gpt2(seed: int = 0, dtype: torch.dtype | None = None, **config: Any):
    """A random GPT-2-architecture bridge, offline and reproducible.

    Keyword arguments go to :func:`gpt2_config` (``n_layers``, ``d_model``, ``n_heads``,
    ``d_vocab``, ``n_ctx``, ``d_mlp``, ``tie_embeddings``, any HF ``GPT2Config`` field).
    """
    cfg = gpt2_config(**config)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        hf = GPT2LMHeadModel(cfg)
    return bridge_from_hf(hf, dtype=dtype)


def prepare(model):
    """Switch on the hooks attribution needs and put ``model`` in eval mode. Returns ``model``.

    Raises :class:`~workbook.validate.ModelError` (naming the missing capability) for models
    that cannot provide per-head results or split q/k/v inputs, e.g. TL ``boot_native`` bridges.
    """
    from transformer_lens import TransformerBridge

    if not isinstance(model, TransformerBridge):
        raise ModelError(
            f"expected a transformer_lens TransformerBridge, got {type(model).__name__}. "
            "Wrap an HF GPT2LMHeadModel with workbook.models.bridge_from_hf(...)."
        )
    for setter, what in (
        ("set_use_attn_result", "per-head outputs (attn.hook_result)"),
        ("set_use_split_qkv_input", "split q/k/v inputs (hook_q_input/hook_k_input/hook_v_input)"),
        ("set_use_hook_mlp_in", "hook_mlp_in"),
    ):
        try:
            getattr(model, setter)(True)
        except NotImplementedError as err:
            raise ModelError(
                f"this model cannot provide {what}: {err}. TransformerBridge.boot_native models "
                "lack it; build the model from an HF GPT2LMHeadModel with "
                "workbook.models.bridge_from_hf (or workbook.models.build_gpt2)."
            ) from err
    model.eval()
    return model


def load_pretrained(name_or_path: str = "gpt2", dtype: torch.dtype | None = None):
    """Load a pretrained GPT-2 (``"gpt2"`` from the HF hub, or a local ``save_pretrained`` folder).

    Uses ``GPT2LMHeadModel.from_pretrained`` and then the same wrapping as every other model
    here, so hooks and flags are identical. Offline, pass a local folder.
    """
    try:
        hf = GPT2LMHeadModel.from_pretrained(name_or_path)
    except OSError as err:
        raise ModelError(
            f"could not load {name_or_path!r}: {err}. Without internet access, pass a folder "
            "written by GPT2LMHeadModel.save_pretrained, or use a shipped model "
            "(workbook.zoo.list_models())."
        ) from err
    return bridge_from_hf(hf, dtype=dtype)


def _hf_state_dict(model) -> dict[str, torch.Tensor]:
    """The bridge's state dict, cloned contiguous (q/k/v are strided views of c_attn)."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def save_model(model, path: str | Path, hf_config: GPT2Config | None = None, **info: Any) -> Path:
    """Save a GPT-2 bridge as ``<path>.safetensors`` + ``<path>.json`` (config and ``info``)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = hf_config if hf_config is not None else model.original_model.config
    save_file(_hf_state_dict(model), str(path.with_suffix(".safetensors")))
    meta = {"hf_config": cfg.to_dict(), "info": info}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
    return path.with_suffix(".safetensors")


def load_model(path: str | Path, dtype: torch.dtype | None = None):
    """Load a model written by :func:`save_model`; returns a prepared bridge.

    The ``info`` dict saved alongside is attached as ``model.workbook_info``.
    """
    from safetensors.torch import load_file

    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    cfg = GPT2Config.from_dict(meta["hf_config"])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        hf = GPT2LMHeadModel(cfg)
    bridge = bridge_from_hf(hf)
    state = load_file(str(path.with_suffix(".safetensors")))
    bridge.load_state_dict(state, strict=True)
    if dtype is not None:
        bridge = bridge.to(dtype)
    bridge.workbook_info = meta.get("info", {})
    return prepare(bridge)
