"""prox: refine LLM pre-training corpora the ProX way.

Plain Python, no Airflow import: every DAG task and every ``prox`` subcommand calls a
function of this package.

Importing it bounds the caches torch's CPU convolutions keep per input shape
(:mod:`prox_tasks.models.torch_caches`; an explicit value in the environment wins): torch
sizes them once, at its first call that sets up its threads, so the bound is set before any
prox code calls torch.
"""

from prox_tasks.models.torch_caches import bound_torch_caches

__version__ = "0.1.0"

bound_torch_caches()
