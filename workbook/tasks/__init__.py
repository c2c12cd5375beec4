"""Tasks: clean/corrupt prompt pairs with a metric, built from strings or generated.

======================  ==================================================================
``tasks.strings``       :func:`task_from_strings`: a task from prompt strings and a tokenizer
``tasks.prompt``        IOI, greater-than, SVA, country-capital, hypernymy as prompts for a pretrained model
``tasks.ioi``           the one IOI sentence generator (templates, ABBA/BABA, ABC corruption)
``tasks.metrics``       the prompt tasks' probability metrics (years, digits, verb number)
``tasks.summary``       per-task accuracy on a model: does the model do the task at all?
``tasks.synthetic``     the synthetic tasks the 2-layer models were trained on (IOI, induction)
``tasks.mixture``       the six tasks of the 6-layer ``mixture`` model
======================  ==================================================================

The :class:`~workbook.core.task.Task` type itself lives in :mod:`workbook.core.task` and is
re-exported here (``from workbook.tasks import Task``).
"""

from workbook.core.task import Task, answer_logprob, logit_diff, make_task, prob_diff
from workbook.tasks.prompt import capital_task, greater_than_task, hypernymy_task, ioi_task, sva_task
from workbook.tasks.strings import task_from_strings
from workbook.tasks.summary import summary_table, task_summary

__all__ = ["Task", "make_task", "logit_diff", "prob_diff", "answer_logprob", "task_from_strings", "ioi_task",
           "greater_than_task", "sva_task", "capital_task", "hypernymy_task", "task_summary", "summary_table"]
