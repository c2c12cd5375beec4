"""TransformerLens 4's ``hook.name`` trap, named for the learner.

Under TransformerLens 4 (``TransformerBridge``) a hook registered under its classic name reports
a different ``hook.name``: the hook registered as ``blocks.0.attn.hook_z`` is the module hook
``blocks.0.attn.o.hook_in``, so ``hook.name == "blocks.0.attn.o.hook_in"``. Code that keys a
cache by ``hook.name`` (usual in TransformerLens 2/3 tutorials) and reads it back by the
classic name raises ``KeyError: 'blocks.0.attn.hook_z'`` (or the other way round).
:func:`hook_name_trap` turns such a ``KeyError`` into a message that says so.
"""

from __future__ import annotations

import re

__all__ = ["ALIASES", "alias_of", "canonical_of", "hook_name_trap"]

# (name reported as hook.name, classic name the course registers); {l} a layer, {x} one of q, k, v
ALIASES: tuple[tuple[str, str], ...] = (
    ("embed.hook_out", "hook_embed"),
    ("pos_embed.hook_out", "hook_pos_embed"),
    ("blocks.{l}.hook_in", "blocks.{l}.hook_resid_pre"),
    ("blocks.{l}.attn.{x}.hook_out", "blocks.{l}.attn.hook_{x}"),
    ("blocks.{l}.attn.o.hook_in", "blocks.{l}.attn.hook_z"),
    ("blocks.{l}.attn.hook_out", "blocks.{l}.hook_attn_out"),
    ("blocks.{l}.attn.hook_{x}_input", "blocks.{l}.hook_{x}_input"),
    ("blocks.{l}.ln2.hook_in", "blocks.{l}.hook_resid_mid"),
    ("blocks.{l}.mlp.in.hook_out", "blocks.{l}.mlp.hook_pre"),
    ("blocks.{l}.mlp.out.hook_in", "blocks.{l}.mlp.hook_post"),
    ("blocks.{l}.mlp.hook_out", "blocks.{l}.hook_mlp_out"),
    ("blocks.{l}.hook_out", "blocks.{l}.hook_resid_post"),
)


def _translate(name: str, src: int) -> str | None:
    for pair in ALIASES:
        rx = re.escape(pair[src]).replace(r"\{l\}", r"(?P<l>\d+)").replace(r"\{x\}", r"(?P<x>[qkv])")
        m = re.fullmatch(rx, name)
        if m:
            return pair[1 - src].format(**m.groupdict())
    return None


def alias_of(name: str) -> str | None:
    """The classic name registered for the module hook ``name`` (``blocks.0.attn.o.hook_in`` ->
    ``blocks.0.attn.hook_z``), or None."""
    return _translate(name, 0)


def canonical_of(name: str) -> str | None:
    """The ``hook.name`` that the hook registered as ``name`` reports (``blocks.0.attn.hook_z`` ->
    ``blocks.0.attn.o.hook_in``), or None when it reports its own name."""
    return _translate(name, 1)


def hook_name_trap(err: BaseException) -> str | None:
    """A message naming the ``hook.name`` trap when ``err`` is a KeyError about such a name, else None."""
    if not isinstance(err, KeyError) or not err.args or not isinstance(err.args[0], str):
        return None
    key = err.args[0]
    alias, canon = alias_of(key), canonical_of(key)
    if alias is None and canon is None:
        return None
    registered, reported = (alias, key) if alias is not None else (key, canon)
    return (f"KeyError {key!r}: this is TransformerLens 4's hook.name trap. The hook you register as "
            f"{registered!r} reports hook.name == {reported!r}, so a cache keyed by hook.name and read by the "
            f"registered name (or the other way round) misses. Key your cache by the name you registered, bound "
            f"in the hook: `lambda t, hook, name=name: cache.__setitem__(name, t)`. (If the model has no such layer, "
            f"it is not this trap: a loop bound such as n_heads runs past n_layers.)")
