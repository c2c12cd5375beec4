"""Second development batch: first written as a held-out set; the probes were revised after its
results were seen (sized crash messages, a shift of a 2-long axis, per-example GradDrop), so it
counts with the development set now. The real held-out set is `held_out.py`."""

import torch

from tests.planted._base import gradpath_walk, verify
from tests.planted.planted import _atp, _eap, _gd, _ig, _patch, _qkk, _qkq


def h_patch_negated_and_mean(model, task):
    return -_patch(model, task) / task.batch_size


def h_patch_n_heads_squared(model, task):
    return _patch(model, task, H=model.cfg.n_heads + 1)


def h_atp_layer_shift(model, task):
    out = _atp(model, task)
    return torch.cat([out[1:], out[:1]])


def h_atp_positions_mean(model, task):
    return _atp(model, task) / task.seq_len


def h_qkq_last_layer_repeated(model, task):
    out = _qkq(model, task)
    return out[-1:].expand_as(out).clone()


def h_qkk_half(model, task):
    return _qkk(model, task) / 2 * 2 * (-1)


def h_gd_batch_first_example(model, task):
    return _gd(model, task.subset(slice(0, 1)))


def h_eap_clean_minus_corrupt(model, task):
    return -_eap(model, task)


def h_eap_ig_seq_mean(model, task, steps):
    return _ig(model, task, steps) / task.seq_len


def h_gp_from_corrupt_unit(model, task, steps, step_size):
    return gradpath_walk(model, task, steps, step_size, sign=-1.0)


def h_vt_k_plus_one(model, task, scores, k):
    return verify(model, task, scores.order(absolute=True)[: k + 1])


def h_vt_reverse(model, task, scores, k):
    return verify(model, task, list(reversed(scores.order(absolute=True)[:k])))


MISTAKES = [
    ("check_patch_heads", "negated and divided by B", r"-1/B|sign", h_patch_negated_and_mean),
    ("check_patch_heads", "n_heads + 1 heads", r"n_heads", h_patch_n_heads_squared),
    ("check_atp_heads", "layers rolled by one", r"shift|layer", h_atp_layer_shift),
    ("check_atp_heads", "mean over positions", r"1/seq", h_atp_positions_mean),
    ("check_qk_fix_queries", "last layer everywhere", r"late|last layer", h_qkq_last_layer_repeated),
    ("check_qk_fix_keys", "sign flipped", r"sign", h_qkk_half),
    ("check_graddrop", "first prompt pair only", r"first|FIRST|prompt", h_gd_batch_first_example),
    ("check_eap", "delta clean - corrupt", r"sign", h_eap_clean_minus_corrupt),
    ("check_eap_ig", "divided by seq", r"1/seq", h_eap_ig_seq_mean),
    ("check_gradpath", "gradient ascent", r"AGAINST|grows", h_gp_from_corrupt_unit),
    ("check_verify_top", "k + 1 components", r"one component too many|exactly k|expected 5", h_vt_k_plus_one),
    ("check_verify_top", "ascending order", r"smallest \|score\| first|order", h_vt_reverse),
]
