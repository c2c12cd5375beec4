"""Hand-built specimens: one small model + task per failure mode, with a documented mechanism.

==================  ==========================================  ===========================
name                failure                                      fix
==================  ==========================================  ===========================
saturation          attention saturation (softmax grad ~ 0)      AtP* QK fix
cancellation        direct and indirect effects cancel           AtP* GradDrop
flat_region         zero gradient at the clean point             EAP-IG
path_saturation     straight IG path crosses a saturated region  EAP-GP
==================  ==========================================  ===========================

``workbook.specimens.build(name)`` returns ``(model, task)``; each module's docstring explains
why its weights produce the failure.
"""

from __future__ import annotations

import importlib

SPECIMENS = {
    "saturation": "workbook.specimens.saturation",
    "cancellation": "workbook.specimens.cancellation",
    "flat_region": "workbook.specimens.flat_region",
    "path_saturation": "workbook.specimens.path_saturation",
}


def build(name: str):
    """``(model, task)`` for the specimen ``name`` (see the table above)."""
    if name not in SPECIMENS:
        raise KeyError(f"unknown specimen {name!r}; choose from {sorted(SPECIMENS)}.")
    return importlib.import_module(SPECIMENS[name]).build()


def describe(name: str) -> str:
    """The specimen module's docstring: what it is and why it fails."""
    if name not in SPECIMENS:
        raise KeyError(f"unknown specimen {name!r}; choose from {sorted(SPECIMENS)}.")
    return importlib.import_module(SPECIMENS[name]).__doc__ or ""
