"""The refine step: documents -> programs -> refined shard, with checkpoints and statistics.

``refine_shard(output_uri, shard_index, ...)`` is what an Airflow task calls (plain
arguments, a JSON-ready result); ``refine_corpus(input_uri, output_uri, ...)`` is what
``prox refine`` calls (plan, then every shard with one loaded backend).

The names below load on first use: DAG files import ``prox_tasks.refine.limits`` at parse
time for their Params, and must not pay for the readers, planner and writer with it.
"""

from prox_tasks.lazy_names import lazy_names

_WHERE = {
    "refine_batch": "prox_tasks.refine.batch",
    "refine_corpus": "prox_tasks.refine.corpus",
    "ShardStats": "prox_tasks.refine.stats",
    "DEFAULT_CHECKPOINT_EVERY": "prox_tasks.refine.step",
    "refine_shard": "prox_tasks.refine.step",
}

__getattr__, __dir__, __all__ = lazy_names(__name__, _WHERE)
