"""Corpus I/O: streaming readers, shard planning, refined-shard writer, quarantine."""

from prox_tasks.corpus.document import (
    DEFAULT_MAX_DOC_BYTES,
    BadRecordError,
    Document,
    RecordError,
    content_id,
)
from prox_tasks.corpus.export import write_documents
from prox_tasks.corpus.manifest import (
    Manifest,
    Segment,
    ShardPlan,
    load_manifest,
    quarantine_uri,
    shard_uri,
    status_uri,
)
from prox_tasks.corpus.planner import ManifestConflict, plan_shards, read_shard
from prox_tasks.corpus.quarantine import Quarantine, quarantine_beside
from prox_tasks.corpus.readers import ReadOptions, detect_format, read_documents, read_rows
from prox_tasks.corpus.refined import COLUMNS as REFINED_COLUMNS
from prox_tasks.corpus.refined import arrow_schema as refined_schema
from prox_tasks.corpus.refined import read_refined_rows
from prox_tasks.corpus.writer import (
    AccountingError,
    ShardAccounting,
    read_status,
    write_refined_shard,
)

__all__ = [
    "DEFAULT_MAX_DOC_BYTES", "REFINED_COLUMNS", "AccountingError", "BadRecordError",
    "Document", "Manifest", "ManifestConflict", "Quarantine", "quarantine_beside", "ReadOptions", "RecordError",
    "Segment", "ShardAccounting", "ShardPlan", "content_id", "detect_format",
    "load_manifest", "plan_shards", "quarantine_uri", "read_documents", "read_refined_rows",
    "read_rows",
    "read_shard", "read_status", "refined_schema", "shard_uri",
    "status_uri",
    "write_documents", "write_refined_shard",
]  # fmt: skip
