"""The refined-shard Parquet schema, and reading refined shards back."""

from __future__ import annotations

import json
from collections.abc import Iterator

from prox_tasks.storage import exists, list_uri, open_uri
from prox_tasks.storage.uri import is_glob

SCHEMA_VERSION = "1"

#: (name, arrow type name, nullable, meaning) — the documented schema (docs/storage.md).
COLUMNS = [
    ("id", "string", False, "document id from the input (or its content hash)"),
    ("text", "string", True, "refined text; null when the document was dropped"),
    ("dropped", "bool", False, "true when the document was dropped"),
    ("doc_program", "string", True, "document-level program the model wrote"),
    ("chunk_program", "string", True, "chunk-level programs, joined"),
    ("stats", "string", False, "execution statistics as a JSON object"),
    ("source", "string", False, "URI of the input file"),
    ("offset", "int64", False, "record index in that input file"),
    ("model_version", "string", True, "model that wrote the programs"),
    ("meta", "string", True, "the input row's other fields as a JSON object"),
]


def arrow_schema():
    import pyarrow as pa

    types = {"string": pa.string(), "bool": pa.bool_(), "int64": pa.int64()}
    return pa.schema(
        [pa.field(name, types[kind], nullable=nullable) for name, kind, nullable, _ in COLUMNS],
        metadata={"prox.schema": "refined-shard", "prox.schema_version": SCHEMA_VERSION},
    )


def read_refined_rows(uri: str, completed_only: bool = True) -> Iterator[dict]:
    """Rows of refined shards at ``uri`` (an output folder, its ``shards/`` folder, one
    shard file or a glob of them), ``stats``/``meta`` decoded. With ``completed_only``, shards of an output
    folder are read only when their status record exists (i.e. fully written)."""
    import pyarrow.parquet as pq

    from prox_tasks.corpus.manifest import status_uri
    from prox_tasks.storage import join_uri

    if uri.endswith(".parquet"):
        # one shard file, or a glob of them (out/shards/*.parquet: docs/storage.md's URIs)
        files = list_uri(uri) if is_glob(uri) else [uri]
        if not files:
            raise FileNotFoundError(f"no Parquet file matches {uri}")
    else:
        root = uri.rstrip("/")
        base = root[: -len("/shards")] if root.endswith("/shards") else root
        files = list_uri(join_uri(base, "shards"))
        if completed_only:
            files = [f for f in files if exists(status_uri(base, _index(f)))]
    for path in files:
        with open_uri(path, "rb") as stream:
            yield from rows_of(pq.ParquetFile(stream))


def rows_of(parquet) -> Iterator[dict]:
    """Rows of one opened refined shard (a ``pyarrow.parquet.ParquetFile``), ``stats``/
    ``meta`` decoded: for a reader that also looks at the file's schema, in one open.

    Rows are made a small batch at a time (the input reader's
    :data:`~prox_tasks.corpus.parquet_format.BATCH_ROWS`), not a row group's worth: the
    gate reads 8 shards at once, and 1,024 rows of texts as Python strings a reader cost it
    ~40 MiB of peak memory at 1,200 documents a shard."""
    from prox_tasks.corpus.parquet_format import BATCH_ROWS

    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        for row in batch.to_pylist():
            # a Parquet file of plain rows (write_documents, another tool) has neither
            if "stats" in row:
                row["stats"] = json.loads(row["stats"])
            if "meta" in row:
                row["meta"] = json.loads(row["meta"]) if row["meta"] else {}
            yield row


def _index(path: str) -> int:
    return int(path.rsplit("shard-", 1)[1].split(".", 1)[0])
