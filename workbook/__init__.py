"""When Gradients Mislead — reference implementations, models, tasks and learner checks.

Where things live (one module per idea):

==========================  =================================================================
``workbook.models``         build / wrap / load a TransformerBridge with the hooks attribution needs
``workbook.arch``           one adapter per model family: graph, hooks, norms, attention (GPT-2, NeoX, Llama, Qwen2, Gemma)
``workbook.tasks``          clean/corrupt prompt pairs and per-example metrics
``workbook.prompts``        ``task_from_strings``: a task from prompt strings (tokenizer, BOS, padding)
``workbook.datasets``       synthetic tasks the 2-layer models were trained on (IOI, induction)
``workbook.mixture_tasks``  the six tasks of the 6-layer ``mixture`` model (IOI, greater-than, SVA, ...)
``workbook.zoo``            every shipped model by name: ``zoo.load("ioi")``, ``zoo.load("mixture", task="sva")``
``workbook.local_models``   tiny random HF models with tokenizers, saved offline (``save_tiny_model``)
``workbook.prompt_tasks``   IOI, greater-than, SVA as plain prompts for a pretrained model
``workbook.real_models``    the chapters' "Now on GPT-2 small" sections: load or skip, screen then verify
``workbook.specimens``      hand-built models, one per failure mode
``workbook.patching``       ground truth: full activation patching of nodes (``edge_patching``: of edges)
``workbook.direct_effects`` a node's direct effect (downstream frozen) and indirect effect, by patching
``workbook.resume``         the cached clean run resumed from any layer (what makes patching fast)
``workbook.edge_scores``    EAP-family edge scores accumulated in head space (no per-destination gradient stack)
``workbook.budget``         the memory budget that chooses how many copies a batched pass holds
``workbook.graph``          the edge graph (sources, destinations, readable names)
``workbook.scores``         the common result type; truly important, false negatives, verification cost, recall@k
``workbook.atp``            AtP (node attribution patching)
``workbook.qk_fix``         AtP* QK fix (attention saturation)
``workbook.graddrop``       AtP* GradDrop (effect cancellation)
``workbook.atp_star``       AtP* = AtP + QK fix + GradDrop
``workbook.fn_bound``       AtP*'s subset-sampling bound on remaining false negatives
``workbook.eap``            EAP (edge attribution patching)
``workbook.eap_ig``         EAP-IG (integrated gradients on edges)
``workbook.eap_gp``         EAP-GP (adaptive GradPath)
``workbook.circuits``       edge selection, faithfulness, faithfulness curves, overlap
``workbook.interop``        scores and circuits in hannamw/EAP-IG's names and graph JSON
``workbook.diagnose``       which estimates to distrust, and the fix to use
``workbook.probes``         the diagnoser's cheap probes (pattern change, edge terms, predicted misses)
``workbook.verify``         screen, then verify: activation-patch an estimate's top k
``workbook.checks``         learner checks for the notebooks' exercises
``workbook.plots``          matplotlib figures; ``workbook.widgets`` interactive knobs
``workbook.colab``          ``setup()`` for notebooks (Colab install, device, seeds)
==========================  =================================================================

The method modules are callable: ``wb.eap(model, task)`` calls ``workbook.eap.eap``, while
``import workbook.eap`` still gives the module (same for atp, atp_star, eap_ig, eap_gp,
graddrop, diagnose).

Sign convention everywhere: noising, ``effect = M(clean with node := corrupt) - M(clean)``;
pass ``direction="denoising"`` for the other one.
"""

import importlib as _importlib
import inspect as _inspect
import types as _types

from workbook.colab import setup
from workbook.graph import Graph
from workbook.interop import from_eap_ig_json, from_eap_ig_name, to_eap_ig_json, to_eap_ig_name

from workbook.models import bridge_from_hf, build_gpt2, load_model, load_pretrained, prepare, save_model
from workbook.patching import patch_edges, patch_nodes, run_with_patched_edges
from workbook.budget import memory_budget, set_memory_budget
from workbook.prompts import task_from_strings
from workbook.qk_fix import atp_qk_fix
from workbook.scores import (
    Scores, compare, comparison_table, false_negatives, important, rank_correlation, recall_at_k, scale_error,
    verification_cost,
)
from workbook.tasks import Task, make_task
from workbook.validate import (
    MetricError,
    ModelError,
    ModelNotPreparedError,
    NonFiniteError,
    TaskError,
    UnsupportedArchitectureError,
    WorkbookError,
)


class _CallableModule(_types.ModuleType):
    """A method module that can also be called as its method: ``wb.eap(model, task)``.

    ``workbook.eap`` is the module (``import workbook.eap``, ``workbook.eap.GraphIO``, help
    pages), and calling it calls ``workbook.eap.eap`` — looked up at call time, so patching
    the function in its module takes effect. ``inspect.signature`` reports the function's.
    """

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__workbook_main__)(*args, **kwargs)


# Modules named after their method. Binding the function here under the module's name would
# hide the module (``import workbook.eap as m`` gave the function); a callable module keeps both.
CALLABLE_MODULES = ("atp", "atp_star", "diagnose", "eap", "eap_gp", "eap_ig", "graddrop")
for _name in CALLABLE_MODULES:
    _mod = _importlib.import_module(f"workbook.{_name}")
    _mod.__class__ = _CallableModule
    _mod.__workbook_main__ = _name
    _mod.__signature__ = _inspect.signature(getattr(_mod, _name))
    globals()[_name] = _mod
del _name, _mod

from workbook.verify import verify_top  # noqa: E402 - screen, then verify: exact effects of an estimate's top k (nodes or edges)

__version__ = "0.1.0"
