"""Getting a TransformerBridge ready for attribution: build, wrap, load, save.

Every method in this package needs three TransformerLens 4.x hook families that are off by
default: per-head outputs (``attn.hook_result``), per-head split q/k/v inputs
(``hook_{q,k,v}_input``) and ``hook_mlp_in``. :func:`prepare` switches them on and puts the
model in eval mode. HF ``transformers`` models of the supported families
(:func:`workbook.arch.supported_architectures`: GPT-2, GPT-NeoX/Pythia, Llama, Qwen2, Gemma,
Gemma 2) wrapped with ``build_bridge_from_module`` support all three; TL's ``boot_native``
models do not.

Ways in:

* :func:`build_gpt2` — a fresh random GPT-2-architecture model (offline, seeded).
* :func:`bridge_from_hf` — wrap any supported HF ``*ForCausalLM`` you built or loaded.
* :func:`load_pretrained` — a hub name (online), a local ``save_pretrained`` folder or a
  ``.gguf`` file (offline): any supported family, with its tokenizer when there is one, never
  with randomly initialised weights.
* :func:`load_model` / :func:`save_model` — the small safetensors checkpoints this package ships.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from workbook.arch import check_architecture
from workbook.core.errors import ModelError, UnsupportedArchitectureError
from workbook.models.gguf_model import find_gguf, gguf_architecture, load_gguf_as_hf

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


def _architecture_of(hf_model) -> str:
    name = type(hf_model).__name__
    archs = list(getattr(getattr(hf_model, "config", None), "architectures", None) or [])
    if name.endswith("ForCausalLM") or name.endswith("LMHeadModel"):
        return name
    return archs[0] if archs else name


def bridge_from_hf(hf_model, dtype: torch.dtype | None = None, tokenizer=None):
    """Wrap an HF causal LM of a supported family as a prepared :class:`TransformerBridge`.

    Supported: :func:`workbook.arch.supported_architectures` (``GPT2LMHeadModel``,
    ``GPTNeoXForCausalLM``, ``LlamaForCausalLM``, ``Qwen2ForCausalLM``, ``GemmaForCausalLM``,
    ``Gemma2ForCausalLM``); anything else raises
    :class:`~workbook.core.errors.UnsupportedArchitectureError` naming it. ``tokenizer`` (optional)
    becomes ``model.tokenizer``. The HF module is modified in place (its submodules become
    bridge components), so do not keep using ``hf_model`` directly afterwards.
    """
    from transformer_lens.model_bridge.sources._bridge_builder import build_bridge_from_module
    from transformers import PreTrainedModel


    if not isinstance(hf_model, PreTrainedModel):
        raise ModelError(
            f"bridge_from_hf expects a transformers causal language model (e.g. GPT2LMHeadModel, "
            f"LlamaForCausalLM), got {type(hf_model).__name__}."
        )
    arch = _architecture_of(hf_model)
    check_architecture(arch)
    if type(hf_model).__name__ != arch:
        raise UnsupportedArchitectureError(
            f"bridge_from_hf needs the causal-LM class {arch} (with its LM head), got {type(hf_model).__name__}."
        )
    if dtype is not None:
        hf_model = hf_model.to(dtype)
    hf_model.eval()
    bridge = build_bridge_from_module(hf_model, arch, hf_config=hf_model.config, tokenizer=tokenizer)
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

    Raises :class:`~workbook.core.errors.ModelError` (naming the missing capability) for models
    that cannot provide per-head results or split q/k/v inputs, e.g. TL ``boot_native`` bridges.
    """
    from transformer_lens import TransformerBridge

    if not isinstance(model, TransformerBridge):
        raise ModelError(
            f"expected a transformer_lens TransformerBridge, got {type(model).__name__}. "
            "Wrap an HF causal LM of a supported family with workbook.models.loading.bridge_from_hf(...) "
            "(workbook.arch.supported_architectures())."
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
                "lack it; build the model from an HF causal LM (e.g. GPT2LMHeadModel) with "
                "workbook.models.loading.bridge_from_hf (or workbook.models.loading.build_gpt2)."
            ) from err
    model.eval()
    return model


def load_pretrained(name_or_path: str | Path = "gpt2", dtype: torch.dtype | None = None, tokenizer: bool = True):
    """Load a pretrained causal LM of a supported family: a hub name, a ``save_pretrained`` folder or a GGUF.

    The config is read first; an architecture without an adapter in :mod:`workbook.arch` is
    refused by name (:class:`~workbook.core.errors.UnsupportedArchitectureError`) before any weight
    is loaded. Weights come from ``AutoModelForCausalLM.from_pretrained``; if *any* parameter is
    missing from the checkpoint (transformers would initialise it randomly) or has the wrong
    shape, a :class:`~workbook.core.errors.ModelError` lists them: this never returns random
    weights. The folder's (or hub repo's) tokenizer, when there is one, becomes
    ``model.tokenizer`` (``tokenizer=False`` skips it). Offline, pass a local folder.

    A ``.gguf`` file, or a folder holding exactly one ``.gguf`` and no ``config.json``, is
    dequantised to float32 (:mod:`workbook.models.gguf_model`; ~20-40 s for 135M parameters) and
    comes with the tokenizer stored in the file. What is approximated: the quantised file's
    weights, not the checkpoint it was made from. A folder with neither raises ``ModelError``.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    if _is_gguf(name_or_path):
        return _load_gguf(name_or_path, dtype, tokenizer)
    name_or_path = str(name_or_path)
    try:
        cfg = AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"could not load a model config from {name_or_path!r}: {err}. Without internet access, pass a "
            "folder written by save_pretrained, or use a shipped model (workbook.models.zoo.list_models())."
        ) from err
    archs = list(getattr(cfg, "architectures", None) or [])
    if not archs:
        raise UnsupportedArchitectureError(
            f"{name_or_path!r} has no 'architectures' entry in its config, so its model class is unknown; "
            "build the HF model yourself and call workbook.bridge_from_hf(model)."
        )
    check_architecture(archs[0])
    kwargs: dict[str, Any] = {"output_loading_info": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        hf, info = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelError(f"could not load the weights of {name_or_path!r}: {err}") from err
    missing = sorted(info.get("missing_keys") or [])
    mismatched = [str(k[0]) if isinstance(k, (tuple, list)) else str(k) for k in info.get("mismatched_keys") or []]
    if missing or mismatched:
        what = (f"{len(missing)} missing (e.g. {missing[:4]})" if missing else "") + (
            f"{'; ' if missing else ''}{len(mismatched)} with the wrong shape (e.g. {mismatched[:4]})"
            if mismatched
            else ""
        )
        raise ModelError(
            f"{name_or_path!r} does not hold every weight of a {archs[0]}: {what}. transformers would "
            "initialise those randomly; workbook refuses to return a partly random model."
        )
    tok = _load_tokenizer(name_or_path) if tokenizer else None
    return bridge_from_hf(hf, tokenizer=tok)


def _is_gguf(name_or_path: str | Path) -> bool:
    """True for a ``.gguf`` file or a folder with ``.gguf`` files and no ``config.json``.

    Raises :class:`ModelError` for a folder that holds neither (naming the three ways in).
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.suffix == ".gguf"
    if not path.is_dir() or (path / "config.json").is_file():
        return False
    if any(path.glob("*.gguf")):
        return True
    raise ModelError(
        f"could not load a model from {str(name_or_path)!r}: the folder holds neither a config.json nor a .gguf file. "
        "Pass a folder written by save_pretrained (config.json + weights), a .gguf file (or a folder holding "
        "exactly one), or, for an HF model object already in memory, wrap it with workbook.bridge_from_hf(model)."
    )


def _load_gguf(path: str | Path, dtype: torch.dtype | None, tokenizer: bool):
    """A GGUF file (or the one in folder ``path``), dequantised to float32, as a prepared bridge."""
    gguf = find_gguf(path)
    check_architecture(gguf_architecture(gguf))  # refused by name before the slow dequantisation
    hf, tok = load_gguf_as_hf(gguf)
    return bridge_from_hf(hf, dtype=dtype, tokenizer=tok if tokenizer else None)


# a folder holds a real tokenizer only if one of these vocabulary files is there (transformers
# otherwise builds an empty placeholder tokenizer from the config alone)
_VOCAB_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def _load_tokenizer(name_or_path: str):
    """The tokenizer saved with the model, or ``None`` when there is none."""
    from transformers import AutoTokenizer

    folder = Path(name_or_path)
    if folder.is_dir() and not any((folder / f).exists() for f in _VOCAB_FILES):
        return None
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError, TypeError, KeyError):
        return None


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


#: a small hub endpoint whose answer means "the model hub is reachable"
HUB_URL = "https://huggingface.co/api/models/gpt2"


def probe_hub(url: str = HUB_URL, timeout: float = 3.0) -> str | None:
    """None when ``url`` answers within ``timeout``; else a short reason. Never hangs."""
    result: dict[str, str | None] = {"error": "no answer in time"}

    def probe():
        import urllib.request

        try:
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout):
                result["error"] = None
        except Exception as err:  # DNS failure, refused, proxy, HTTP error: all mean "not usable"
            result["error"] = f"{type(err).__name__}: {err}"[:120]

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return result["error"]
