"""prox: refine LLM pre-training corpora the ProX way.

Plain Python, no Airflow import: every DAG task and every ``prox`` subcommand calls a
function of this package.
"""

__version__ = "0.1.0"
