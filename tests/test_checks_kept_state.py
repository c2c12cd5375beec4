"""State a learner's function keeps between calls (issue 23, round 32): a module-level dict, a name rebound with
`global`, an attribute on the function and a dict as a default argument are named when emptying them before every
call makes the check pass, and put back afterwards; a constant table that the function reads is not blamed."""

import contextlib
import functools
import io

import torch

from workbook.core.runs import cache_activations
from workbook.course.checks.kept_state import kept_state
from workbook.course.checks.node_methods import check_patch_heads


def _patch_heads(model, task, corr) -> torch.Tensor:
    """The chapter's solution with the corrupt cache given."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    with torch.no_grad():
        base = task.metric_value(model(task.clean))
    out = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            def put(act, hook, l=l, h=h):
                act = act.clone()
                act[:, :, h] = corr[names[l]][:, :, h]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(names[l], put)]):
                out[l, h] = task.metric_value(model(task.clean)) - base
    return out


def _corrupt(model, task):
    return cache_activations(model, task.corrupt, [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)])[1]


CACHE: dict = {}
RUN = None
SIGN = {"noising": 1.0}


def cached_in_a_dict(model, task):
    if not CACHE:
        CACHE.update(_corrupt(model, task))
    return _patch_heads(model, task, CACHE)


def cached_with_global(model, task):
    global RUN
    if RUN is None:
        RUN = _corrupt(model, task)
    return _patch_heads(model, task, RUN)


def cached_on_itself(model, task):
    if not hasattr(cached_on_itself, "corr"):
        cached_on_itself.corr = _corrupt(model, task)
    return _patch_heads(model, task, cached_on_itself.corr)


def cached_in_a_default(model, task, _kept={}):
    if "corr" not in _kept:
        _kept["corr"] = _corrupt(model, task)
    return _patch_heads(model, task, _kept["corr"])


def negated_by_a_table(model, task):  # wrong, but stateless: it only reads a constant table
    return -SIGN["noising"] * _patch_heads(model, task, _corrupt(model, task))


def _said(fn) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ok = check_patch_heads(fn)
    assert not ok
    return buf.getvalue()


def test_each_kind_of_kept_state_is_named_and_put_back():
    for fn, where in ((cached_in_a_dict, "module-level dict `CACHE`"),
                      (cached_with_global, "`RUN` (set with `global RUN`)"),
                      (cached_on_itself, "`cached_on_itself.corr` set on the function"),
                      (cached_in_a_default, "default argument `_kept=dict()`")):
        said = _said(fn)
        assert "keeps state between calls" in said and where in said, (fn.__name__, said)
    assert CACHE and RUN is not None and hasattr(cached_on_itself, "corr")  # what they kept is back
    assert cached_in_a_default.__defaults__[0]


def test_a_constant_table_is_read_but_not_blamed():
    said = _said(negated_by_a_table)
    assert "keeps state" not in said and "sign" in said.lower()
    assert SIGN == {"noising": 1.0}
    assert [k.what for k in kept_state(negated_by_a_table)] == ["the module-level dict `SIGN`"]


def test_a_functools_cache_and_a_closure_are_listed():
    shared: dict = {}

    @functools.lru_cache(maxsize=None)
    def cached(model, task):
        return _patch_heads(model, task, _corrupt(model, task))

    def closure(model, task):
        shared.setdefault("corr", _corrupt(model, task))
        return _patch_heads(model, task, shared["corr"])

    assert [k.what for k in kept_state(cached)] == ["the cache of `cached` (functools)"]
    assert [k.what for k in kept_state(closure)] == ["`shared` of the enclosing function (a dict shared by every "
                                                     "call)"]
    assert "`shared` of the enclosing function" in _said(closure)
