"""When Gradients Mislead — reference implementations, models, tasks and learner checks.

Where things live (one module per idea):

==========================  =================================================================
``workbook.models``         build / wrap / load a TransformerBridge with the hooks attribution needs
``workbook.tasks``          clean/corrupt prompt pairs and per-example metrics
``workbook.datasets``       synthetic tasks the shipped models were trained on (IOI, induction)
``workbook.zoo``            every shipped model by name: ``zoo.load("ioi")``, ``zoo.load("saturation")``
``workbook.specimens``      hand-built models, one per failure mode
``workbook.patching``       ground truth: full activation patching of nodes and edges
``workbook.graph``          the edge graph (sources, destinations, readable names)
``workbook.scores``         the common result type, recall@k, false negatives, rank correlation
``workbook.atp``            AtP (node attribution patching)
``workbook.qk_fix``         AtP* QK fix (attention saturation)
``workbook.graddrop``       AtP* GradDrop (effect cancellation)
``workbook.atp_star``       AtP* = AtP + QK fix + GradDrop
``workbook.fn_bound``       AtP*'s subset-sampling bound on remaining false negatives
``workbook.eap``            EAP (edge attribution patching)
``workbook.eap_ig``         EAP-IG (integrated gradients on edges)
``workbook.eap_gp``         EAP-GP (adaptive GradPath)
``workbook.circuits``       edge selection, faithfulness, faithfulness curves, overlap
``workbook.diagnose``       which estimates to distrust, and the fix to use
``workbook.checks``         learner checks for the notebooks' exercises
``workbook.plots``          matplotlib figures; ``workbook.widgets`` interactive knobs
``workbook.colab``          ``setup()`` for notebooks (Colab install, device, seeds)
==========================  =================================================================

Sign convention everywhere: noising, ``effect = M(clean with node := corrupt) - M(clean)``;
pass ``direction="denoising"`` for the other one.
"""

from workbook.atp import atp
from workbook.atp_star import atp_star
from workbook.colab import setup
from workbook.diagnose import diagnose
from workbook.eap import eap
from workbook.eap_gp import eap_gp
from workbook.eap_ig import eap_ig
from workbook.graddrop import graddrop
from workbook.graph import Graph
from workbook.models import bridge_from_hf, build_gpt2, load_model, load_pretrained, prepare, save_model
from workbook.patching import patch_edges, patch_nodes, run_with_patched_edges
from workbook.qk_fix import atp_qk_fix
from workbook.scores import Scores, compare, comparison_table, false_negatives, rank_correlation, recall_at_k
from workbook.tasks import Task, make_task
from workbook.validate import MetricError, ModelError, NonFiniteError, TaskError, WorkbookError

__version__ = "0.1.0"
