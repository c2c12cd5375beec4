"""When Gradients Mislead — reference implementations, models, tasks and learner checks.

The package is layered; each folder imports only from the ones above it in this list:

==================  =====================================================================
``core/``           Task, Scores, errors, forward/backward runs, the memory budget
``arch/``           one adapter per model family, and the edge graph
``models/``         build / wrap / load bridges, the shipped models, hand-built specimens
``tasks/``          tasks from strings, IOI / greater-than / SVA prompts, synthetic tasks
``patching/``       ground truth: activation patching of nodes and edges, verification
``attribution/``    AtP, QK fix, GradDrop, AtP*, the FN bound, EAP, EAP-IG, EAP-GP
``analysis/``       circuits, interop with hannamw/EAP-IG, the diagnoser
``course/``         notebook set-up, plots, widgets, real-model sections, learner checks
``cli/``            ``python -m workbook`` (report) and ``python -m workbook doctor``
==================  =====================================================================

Every method is a plain function: ``wb.atp(model, task)``, ``wb.qk_fix(model, task)``,
``wb.eap_ig(model, task)``. Sign convention everywhere: noising,
``effect = M(clean with node := corrupt) - M(clean)``; pass ``direction="denoising"`` for the
other one.

Names are imported on first use (``_EXPORTS`` below), so ``import workbook`` is fast and a
notebook pays for transformer_lens only when it first builds a model.
"""

from __future__ import annotations

import importlib

#: every public name -> "module:attribute" (":" alone: the module itself). The package imports
#: nothing heavy up front: a name is imported on first use (``wb.eap`` imports
#: ``workbook.attribution.eap`` and transformer_lens; ``wb.setup`` imports neither), so
#: ``import workbook; workbook.setup()`` costs about one ``import torch``. To export a new
#: function, add ONE line here; ``__all__``, ``dir(wb)`` and tab completion follow.
_EXPORTS: dict[str, str] = {
    # set-up, models, tasks
    "setup": "workbook.course.colab:setup",
    "Graph": "workbook.arch.graph:Graph",
    "Task": "workbook.core.task:Task",
    "make_task": "workbook.core.task:make_task",
    "task_from_strings": "workbook.tasks.strings:task_from_strings",
    "build_gpt2": "workbook.models.loading:build_gpt2",
    "bridge_from_hf": "workbook.models.loading:bridge_from_hf",
    "prepare": "workbook.models.loading:prepare",
    "load_pretrained": "workbook.models.loading:load_pretrained",
    "load_model": "workbook.models.loading:load_model",
    "save_model": "workbook.models.loading:save_model",
    # ground truth
    "patch_nodes": "workbook.patching:patch_nodes",
    "patch_edges": "workbook.patching.edges:patch_edges",
    "run_with_patched_edges": "workbook.patching.edges:run_with_patched_edges",
    "verify_top": "workbook.patching.verify:verify_top",
    # methods (plain functions)
    "atp": "workbook.attribution.atp:atp",
    "qk_fix": "workbook.attribution.qk_fix:atp_qk_fix",  # the AtP* QK fix under its short name
    "atp_qk_fix": "workbook.attribution.qk_fix:atp_qk_fix",
    "graddrop": "workbook.attribution.graddrop:graddrop",
    "atp_star": "workbook.attribution.atp_star:atp_star",
    "false_negative_bound": "workbook.attribution.fn_bound:false_negative_bound",
    "eap": "workbook.attribution.eap:eap",
    "eap_ig": "workbook.attribution.eap_ig:eap_ig",
    "eap_gp": "workbook.attribution.eap_gp:eap_gp",
    # beyond the gradient (chapter 06): other backward rules, the second-order correction
    "relp": "workbook.attribution.relp:relp",
    "relp_edges": "workbook.attribution.relp:relp_edges",
    "gim": "workbook.attribution.gim:gim",
    "gim_edges": "workbook.attribution.gim:gim_edges",
    "atp_hvp": "workbook.attribution.hvp:atp_hvp",
    "diagnose": "workbook.analysis.diagnose:diagnose",
    # how a circuit changes across data resamples
    "stability": "workbook.analysis.stability:stability",
    "pairwise_jaccard": "workbook.analysis.stability:pairwise_jaccard",
    # scores and the course's vocabulary
    "Scores": "workbook.core.scores:Scores",
    "compare": "workbook.core.scores:compare",
    "comparison_table": "workbook.core.scores:comparison_table",
    "false_negatives": "workbook.core.scores:false_negatives",
    "important": "workbook.core.scores:important",
    "rank_correlation": "workbook.core.scores:rank_correlation",
    "recall_at_k": "workbook.core.scores:recall_at_k",
    "scale_error": "workbook.core.scores:scale_error",
    "verification_cost": "workbook.core.scores:verification_cost",
    "memory_budget": "workbook.core.budget:memory_budget",
    "set_memory_budget": "workbook.core.budget:set_memory_budget",
    # modules
    "scores": "workbook.core.scores:",
    "circuits": "workbook.analysis.circuits:",
    "mib": "workbook.analysis.mib:",  # MIB's CPR / CMD yardstick
    # interop with hannamw/EAP-IG
    "from_eap_ig_json": "workbook.analysis.interop:from_eap_ig_json",
    "from_eap_ig_name": "workbook.analysis.interop:from_eap_ig_name",
    "to_eap_ig_json": "workbook.analysis.interop:to_eap_ig_json",
    "to_eap_ig_name": "workbook.analysis.interop:to_eap_ig_name",
    # errors
    "WorkbookError": "workbook.core.errors:WorkbookError",
    "ModelError": "workbook.core.errors:ModelError",
    "ModelNotPreparedError": "workbook.core.errors:ModelNotPreparedError",
    "NonFiniteError": "workbook.core.errors:NonFiniteError",
    "TaskError": "workbook.core.errors:TaskError",
    "MetricError": "workbook.core.errors:MetricError",
    "UnsupportedArchitectureError": "workbook.core.errors:UnsupportedArchitectureError",
}

#: the layers, reachable as attributes too (``wb.patching.edge_patched_metric``); a module inside
#: one still needs its import (``import workbook.core.runs``) unless something imported it already
_SUBPACKAGES = frozenset({"core", "arch", "models", "tasks", "patching", "attribution", "analysis", "course", "cli"})

__version__ = "0.1.0"

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Import a public name on first use (PEP 562) and keep it, so later look-ups are plain attributes."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"workbook.{name}")  # the import system also binds it here
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'workbook' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = importlib.import_module(module)
    if attr:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
