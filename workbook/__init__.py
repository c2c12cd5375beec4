"""When Gradients Mislead — reference implementations, models, tasks and checks.

Where things live (one module per idea):

* ``workbook.models``    build / wrap / load a TransformerBridge with the hooks attribution needs
* ``workbook.tasks``     clean/corrupt prompt pairs and metrics
* ``workbook.patching``  ground truth: full activation patching of nodes and edges
* ``workbook.graph``     the edge graph (sources, destinations, names)
* ``workbook.scores``    the common result type, recall@k, false negatives, rank correlation
* ``workbook.atp``       AtP (node attribution patching)
* ``workbook.eap``       EAP (edge attribution patching)

Sign convention everywhere: noising, ``effect = M(clean with node := corrupt) - M(clean)``.
"""

from workbook.atp import atp
from workbook.eap import eap
from workbook.graph import Graph
from workbook.models import bridge_from_hf, build_gpt2, load_model, load_pretrained, prepare, save_model
from workbook.patching import patch_edges, patch_nodes, run_with_patched_edges
from workbook.scores import Scores, compare, comparison_table, false_negatives, rank_correlation, recall_at_k
from workbook.tasks import Task, make_task
from workbook.validate import MetricError, ModelError, NonFiniteError, TaskError, WorkbookError

__version__ = "0.1.0"
