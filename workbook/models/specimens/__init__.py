"""Hand-built specimens: one small model + task per failure mode, with a documented mechanism.

==================  ==========================================  ===========================
name                failure                                      fix
==================  ==========================================  ===========================
saturation          attention saturation (softmax grad ~ 0)      AtP* QK fix
cancellation        direct and indirect effects cancel           AtP* GradDrop
flat_region         zero gradient at the clean point             EAP-IG
path_saturation     straight IG path crosses a saturated region  EAP-GP
==================  ==========================================  ===========================

``workbook.models.specimens.build(name)`` returns ``(model, task)``; ``describe(name)`` prints how the
specimen is built (for learners: the construction only, no results); each module's docstring
explains, for developers, why its weights produce the failure.
"""

from __future__ import annotations

import importlib

SPECIMENS = {
    "saturation": "workbook.models.specimens.saturation",
    "cancellation": "workbook.models.specimens.cancellation",
    "flat_region": "workbook.models.specimens.flat_region",
    "path_saturation": "workbook.models.specimens.path_saturation",
}


def build(name: str):
    """``(model, task)`` for the specimen ``name`` (see the table above)."""
    if name not in SPECIMENS:
        raise KeyError(f"unknown specimen {name!r}; choose from {sorted(SPECIMENS)}.")
    return importlib.import_module(SPECIMENS[name]).build()


def describe(name: str) -> str:
    """How specimen ``name`` is built: its ``CONSTRUCTION`` text (the module docstring if it has none).

    Learner-facing: the task and what each weight block does, never what a method scores.
    """
    if name not in SPECIMENS:
        raise KeyError(f"unknown specimen {name!r}; choose from {sorted(SPECIMENS)}.")
    module = importlib.import_module(SPECIMENS[name])
    return (getattr(module, "CONSTRUCTION", None) or module.__doc__ or "").strip()
