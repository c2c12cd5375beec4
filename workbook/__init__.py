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
"""

from workbook.analysis import circuits
from workbook.analysis.diagnose import diagnose
from workbook.analysis.interop import from_eap_ig_json, from_eap_ig_name, to_eap_ig_json, to_eap_ig_name
from workbook.arch.graph import Graph
from workbook.attribution.atp import atp
from workbook.attribution.atp_star import atp_star
from workbook.attribution.eap import eap
from workbook.attribution.eap_gp import eap_gp
from workbook.attribution.eap_ig import eap_ig
from workbook.attribution.fn_bound import false_negative_bound
from workbook.attribution.graddrop import graddrop
from workbook.attribution.qk_fix import atp_qk_fix
from workbook.core import scores
from workbook.core.budget import memory_budget, set_memory_budget
from workbook.core.errors import (
    MetricError,
    ModelError,
    ModelNotPreparedError,
    NonFiniteError,
    TaskError,
    UnsupportedArchitectureError,
    WorkbookError,
)
from workbook.core.scores import (
    Scores,
    compare,
    comparison_table,
    false_negatives,
    important,
    rank_correlation,
    recall_at_k,
    scale_error,
    verification_cost,
)
from workbook.core.task import Task, make_task
from workbook.course.colab import setup
from workbook.models.loading import bridge_from_hf, build_gpt2, load_model, load_pretrained, prepare, save_model
from workbook.patching import patch_nodes
from workbook.patching.edges import patch_edges, run_with_patched_edges
from workbook.patching.verify import verify_top
from workbook.tasks.strings import task_from_strings

#: the AtP* QK fix under its short name (``wb.qk_fix(model, task)``); ``atp_qk_fix`` is the same function
qk_fix = atp_qk_fix

__version__ = "0.1.0"

__all__ = [
    "Graph", "Task", "Scores", "make_task", "task_from_strings", "setup",
    "build_gpt2", "bridge_from_hf", "prepare", "load_pretrained", "load_model", "save_model",
    "patch_nodes", "patch_edges", "run_with_patched_edges", "verify_top",
    "atp", "qk_fix", "atp_qk_fix", "graddrop", "atp_star", "false_negative_bound", "eap", "eap_ig", "eap_gp",
    "diagnose", "compare", "comparison_table", "false_negatives", "important", "rank_correlation", "recall_at_k",
    "scale_error", "verification_cost", "memory_budget", "set_memory_budget", "scores", "circuits",
    "from_eap_ig_json", "from_eap_ig_name", "to_eap_ig_json", "to_eap_ig_name",
    "WorkbookError", "ModelError", "ModelNotPreparedError", "NonFiniteError", "TaskError", "MetricError",
    "UnsupportedArchitectureError",
]
