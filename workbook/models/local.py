"""Small random Hugging Face models *with tokenizers*, written offline as ``save_pretrained`` folders.

No hub is needed: :func:`save_tiny_model` trains a tokenizer with HF ``tokenizers`` on a word
list that covers IOI-style prompts (``" Mary"``, ``" John"``, ``" store"``, ...), builds a
random model of the requested family with that vocabulary, and saves both, so that
``transformers.AutoModelForCausalLM.from_pretrained(folder)`` and
``AutoTokenizer.from_pretrained(folder)`` (and :func:`workbook.load_pretrained`) load it like a
hub model. Use it to try the string-to-circuit workflow on a laptop, or in tests::

    folder = save_tiny_model("tiny-gpt2", family="gpt2")
    s = ioi_strings(4)
    task = wb.task_from_strings(model, s["clean"], s["corrupt"], s["answer"], s["wrong"])

Tokenizer styles, as in the real families:

==========  ======================================  ====================================
family      model                                   tokenizer
==========  ======================================  ====================================
``gpt2``    ``GPT2LMHeadModel``                     byte-level BPE (``"ĠMary"``); adds no BOS;
                                                    BOS = EOS = ``<|endoftext|>``
``neox``    ``GPTNeoXForCausalLM`` (parallel attn)  byte-level BPE; adds no BOS
``qwen2``   ``Qwen2ForCausalLM``                    byte-level BPE; no BOS token at all
``llama``   ``LlamaForCausalLM``                    Metaspace BPE (``"▁Mary"``); adds ``<s>``
``gemma``   ``GemmaForCausalLM``                    Metaspace BPE, no prefix space; adds ``<bos>``
==========  ======================================  ====================================

The weights are random (seeded) and the norm weights are perturbed, so norms matter in
gradients; the models have learned nothing. Everything is deterministic: the same arguments
write the same files (tokenizer training included). Takes well under a second.
"""

from __future__ import annotations

import itertools
import string
from pathlib import Path
from typing import Any, Sequence

import torch

from workbook.models.loading import gpt2_config
from workbook.tasks.ioi import ioi_sentences

__all__ = ["save_tiny_model", "train_tokenizer", "ioi_strings", "FAMILIES", "NAMES", "WORDS", "TEMPLATES"]

NAMES = (
    "Mary", "John", "Tom", "James", "Alice", "Bob", "Sarah", "Paul",
    "Anna", "David", "Emma", "Kevin", "Laura", "Mark", "Rachel", "Steve",
)
PLACES = ("store", "park", "school", "office", "garden", "station", "house", "restaurant")
OBJECTS = ("drink", "book", "ring", "ball", "letter", "gift", "bone", "kiss")
WORDS = NAMES + PLACES + OBJECTS + (
    "When", "Then", "After", "While", "and", "went", "to", "the", "gave", "a", "handed", "had",
    "long", "argument", "Afterwards", "said", "were", "working", "at", "decided", "give",
    "lots", "of", "fun", "The", "was", "it", "is", "in", "on", "with", "for", "that",
)

# IOI templates in the slots of workbook.tasks.ioi: {X} and {Y} the two names in order (here
# always X = the indirect object, Y = the subject: ABBA), {S} the repeated subject (= Y in a clean
# prompt; = X in its corrupt twin, which flips the answer). Consecutive templates differ in token
# length, so any batch of two or more needs padding.
TEMPLATES = (
    "When {X} and {Y} went to the {P}, {S} gave a {O} to",
    "The {P} was fun. {X} and {Y} went to the {P}, and {S} handed a {O} to",
    "While {X} and {Y} were working at the {P}, {S} gave a {O} to",
    "Then, {X} and {Y} had a long argument. Afterwards {S} said to",
    "After {X} and {Y} went to the {P}, {S} gave a {O} to",
)


def _corpus(extra_text: Sequence[str] = ()) -> list[str]:
    lines = list(WORDS) + [" ".join(WORDS)] + list(extra_text)
    for t, (a, b) in itertools.product(TEMPLATES, itertools.permutations(NAMES[:8], 2)):
        lines.append(
            t.format(X=a, Y=b, S=b, P=PLACES[len(a) % len(PLACES)], O=OBJECTS[len(b) % len(OBJECTS)]) + f" {a}."
        )
    return lines


def train_tokenizer(
    style: str = "byte_level",
    bos: str | None = None,
    eos: str = "<|endoftext|>",
    unk: str | None = None,
    prefix_space: bool = True,
    pad: str | None = None,
    extra_text: Sequence[str] = (),
):
    """Train a BPE tokenizer on :data:`WORDS` and the IOI templates; returns a transformers tokenizer.

    ``style="byte_level"`` (GPT-2, Pythia, Qwen2): ``"ĠMary"`` pieces, no BOS inserted.
    ``style="metaspace"`` (Llama, Gemma): ``"▁Mary"`` pieces and a ``bos`` inserted at the start
    of every encoded text; ``prefix_space`` puts ``"▁"`` before the first word (Llama) or not
    (Gemma). Every word of :data:`WORDS` is one token with and without its leading space.
    ``extra_text``: more training lines (e.g. the prompts of :mod:`workbook.tasks.prompt`), so
    that their words become tokens too.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [t for t in dict.fromkeys((unk, bos, eos, pad)) if t is not None]
    if style == "byte_level":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    elif style == "metaspace":
        tok = Tokenizer(models.BPE(unk_token=unk))
        scheme = "first" if prefix_space else "never"
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=scheme, split=True)
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme=scheme, split=True)
        alphabet = sorted(set(string.printable) - set(string.whitespace) | {"\u2581"})
    else:
        raise ValueError(f"unknown tokenizer style {style!r}; use 'byte_level' or 'metaspace'.")
    trainer = trainers.BpeTrainer(
        vocab_size=4096, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(_corpus(extra_text), trainer)
    if style == "metaspace" and bos is not None:
        bos_id = tok.token_to_id(bos)
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    kw = {k: v for k, v in dict(bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad).items() if v is not None}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **kw)


def _tokenizer_for(family: str, extra_text: Sequence[str] = ()):
    x = tuple(extra_text)
    if family in ("gpt2", "neox"):
        return train_tokenizer(
            "byte_level", bos="<|endoftext|>", eos="<|endoftext|>", unk="<|endoftext|>", extra_text=x
        )
    if family == "qwen2":
        return train_tokenizer("byte_level", bos=None, eos="<|endoftext|>", pad="<|endoftext|>", extra_text=x)
    if family == "llama":
        return train_tokenizer("metaspace", bos="<s>", eos="</s>", unk="<unk>", extra_text=x)
    if family == "gemma":
        return train_tokenizer(
            "metaspace", bos="<bos>", eos="<eos>", unk="<unk>", pad="<pad>", prefix_space=False, extra_text=x
        )
    raise ValueError(f"unknown family {family!r}; choose one of {sorted(FAMILIES)}.")


def _config(
    family: str,
    tok,
    n_layers: int,
    d_model: int,
    n_heads: int,
    n_kv_heads: int | None,
    d_mlp: int | None,
    n_ctx: int,
    d_vocab: int | None = None,
):
    import transformers as tf

    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    vocab = len(tok) if d_vocab is None else int(d_vocab)
    if vocab < len(tok):
        raise ValueError(f"d_vocab={vocab} is smaller than the tokenizer's {len(tok)} tokens.")
    common: dict[str, Any] = dict(vocab_size=vocab, **ids)
    d_mlp = d_mlp or 4 * d_model
    if family == "gpt2":

        return gpt2_config(
            n_layers=n_layers, d_model=d_model, n_heads=n_heads, d_vocab=vocab, n_ctx=n_ctx, d_mlp=d_mlp, **ids
        )
    if family == "neox":
        return tf.GPTNeoXConfig(
            hidden_size=d_model,
            num_hidden_layers=n_layers,
            num_attention_heads=n_heads,
            intermediate_size=d_mlp,
            max_position_embeddings=n_ctx,
            use_parallel_residual=True,
            attention_dropout=0.0,
            hidden_dropout=0.0,
            tie_word_embeddings=False,
            **common,
        )
    rms = dict(
        hidden_size=d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads or n_heads,
        intermediate_size=d_mlp,
        max_position_embeddings=n_ctx,
        attention_dropout=0.0,
        **common,
    )
    if family == "llama":
        return tf.LlamaConfig(tie_word_embeddings=False, **rms)
    if family == "qwen2":
        return tf.Qwen2Config(tie_word_embeddings=False, **rms)
    if family == "gemma":
        return tf.GemmaConfig(head_dim=d_model // n_heads, tie_word_embeddings=True, **rms)
    raise ValueError(f"unknown family {family!r}; choose one of {sorted(FAMILIES)}.")


FAMILIES = ("gpt2", "neox", "qwen2", "llama", "gemma")


def _perturb_norms(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Give every normalisation layer non-trivial weights (and biases), so norms matter."""
    with torch.no_grad():
        for mod in model.modules():
            if "norm" not in type(mod).__name__.lower():
                continue
            for pname, p in mod.named_parameters(recurse=False):
                noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
                p.add_(0.3 * noise if pname == "weight" else 0.1 * noise)


def save_tiny_model(
    folder: str | Path,
    family: str = "gpt2",
    *,
    seed: int = 0,
    n_layers: int = 2,
    d_model: int = 32,
    n_heads: int = 4,
    n_kv_heads: int | None = None,
    d_mlp: int | None = None,
    n_ctx: int = 64,
    perturb_norms: bool = True,
    d_vocab: int | None = None,
    extra_text: Sequence[str] = (),
) -> Path:
    """Write a random ``family`` model and its tokenizer to ``folder`` (``save_pretrained`` layout).

    Args:
        folder: where to write (created). Holds ``config.json``, ``model.safetensors``,
            ``tokenizer.json`` and ``tokenizer_config.json``.
        family: one of :data:`FAMILIES` (see the module table for the tokenizer style).
        seed: weights seed; the tokenizer is the same for every seed.
        n_kv_heads: grouped-query attention for the RMSNorm families (default: = ``n_heads``).
        perturb_norms: add seeded noise to norm weights/biases (default) so they are not identity.
        d_vocab: the model's vocabulary size (default: the tokenizer's); a larger one gives a
            model with a real-sized unembedding (e.g. 50257 for a GPT-2-small-shaped model),
            whose extra ids the tokenizer never produces.
        extra_text: more tokenizer training lines (see :func:`train_tokenizer`).

    Returns:
        ``Path(folder)``.
    """
    from transformers import AutoModelForCausalLM

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {sorted(FAMILIES)}.")
    folder = Path(folder)
    tok = _tokenizer_for(family, extra_text)
    cfg = _config(family, tok, n_layers, d_model, n_heads, n_kv_heads, d_mlp, n_ctx, d_vocab)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg).eval()
    if perturb_norms:
        _perturb_norms(model, torch.Generator().manual_seed(seed + 1))
    folder.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return folder


def ioi_strings(n: int = 4, seed: int = 0) -> dict[str, list[str]]:
    """``n`` IOI prompt pairs of *varied* lengths (so a batch needs padding), in :data:`WORDS`.

    Written by :func:`workbook.tasks.ioi.ioi_sentences` with this module's small word vocabulary
    (:data:`NAMES`, :data:`PLACES`, :data:`OBJECTS`, :data:`TEMPLATES`, which the offline tokenizers
    are trained on), name order ABBA and the ``"flip"`` corruption. Returns ``{"clean", "corrupt",
    "answer", "wrong"}``: the corrupt prompt repeats the indirect object instead of the subject
    (same token length, so the right answer flips); ``answer`` is the indirect object, ``wrong``
    the subject, both with a leading space. Names are distinct.
    """
    rows = ioi_sentences(n, seed, names=NAMES, places=PLACES, objects=OBJECTS, templates=TEMPLATES,
                         orders=("ABBA",), corruption="flip")
    return {"clean": [r.clean for r in rows], "corrupt": [r.corrupt for r in rows],
            "answer": [r.answer for r in rows], "wrong": [r.wrong for r in rows]}
