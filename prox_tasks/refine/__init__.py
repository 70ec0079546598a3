"""The refine step: documents -> programs -> refined shard, with checkpoints and statistics.

``refine_shard(output_uri, shard_index, ...)`` is what an Airflow task calls (plain
arguments, a JSON-ready result); ``refine_corpus(input_uri, output_uri, ...)`` is what
``prox refine`` calls (plan, then every shard with one loaded backend).
"""

from prox_tasks.refine.batch import refine_batch
from prox_tasks.refine.corpus import refine_corpus
from prox_tasks.refine.stats import ShardStats
from prox_tasks.refine.step import DEFAULT_CHECKPOINT_EVERY, refine_shard

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY", "ShardStats",
    "refine_batch", "refine_corpus", "refine_shard",
]  # fmt: skip
