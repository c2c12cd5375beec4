"""Path saturation: the straight corrupt->clean path is flat almost everywhere IG samples it.

Mechanism (1 layer, built with :func:`workbook.specimens.flat_region.build_mlp_specimen`):

* As in ``flat_region`` the answer-position residual is ``p + t u`` with the clean token at
  ``t = -1`` and the corrupt token at ``t = +1``; heads write nothing.
* MLP 0 holds a *clipped ramp* along ``u``: ``GELU(10 (t - 0.65)) - GELU(10 (t - 0.95))``,
  written along the readout direction ``r``. It is flat (saturated) for ``t < 0.65`` and
  nearly flat again for ``t > 0.95``; all of its change happens in a narrow band near the
  corrupt end.
* EAP-IG with m = 5 samples the straight path at ``t = 0.6, 0.2, -0.2, -0.6, -1``: every point
  sits on the broad flat stretch, so the averaged gradient, and the score of ``embed -> MLP0``,
  is a small fraction of the exact edge effect. With many steps (m = 50) the straight path
  integral is recovered, so the failure is where the few sample points land.

What EAP-GP (the GradPath reading in :mod:`workbook.eap_gp`) does here, measured rather than
assumed: its path descends ``||G(gamma) - G(e_corrupt)||^2`` over the *whole* embedding, and
the cheapest way to move the output toward the corrupt output is to write along ``r``
directly (the linear ``embed -> logits`` route), not to walk along ``u`` through the
saturated neuron. The path leaves the clean/corrupt line, its points keep the neuron in its
flat tail, and EAP-GP scores ``embed -> MLP0`` about 0, *worse* than EAP-IG. Chapter 04
shows the two paths and the numbers; tests pin this behaviour.
"""

from __future__ import annotations

import torch

from workbook.specimens.flat_region import ANSWER, BOS, CLEAN_TOK, CORRUPT_TOK, U_DIR, WRONG, build_mlp_specimen
from workbook.tasks import Task

GAIN, RAMP_START, RAMP_END = 10.0, 0.65, 0.95


def build():
    """``(model, task)``: one example, ``t = -1`` (clean) vs ``t = +1`` (corrupt)."""
    neurons = [(U_DIR, GAIN, -GAIN * RAMP_START, 1.0), (U_DIR, GAIN, -GAIN * RAMP_END, -1.0)]
    model = build_mlp_specimen(neurons, {CLEAN_TOK: -1.0 * U_DIR, CORRUPT_TOK: 1.0 * U_DIR})
    task = Task(torch.tensor([[BOS, CLEAN_TOK]]), torch.tensor([[BOS, CORRUPT_TOK]]),
                torch.tensor([ANSWER]), torch.tensor([WRONG]), name="path_saturation",
                vocab=["<bos>", "A", "B", "yes", "no", "A'"],
                description="a clipped ramp whose change sits between IG's sample points")
    return model, task
