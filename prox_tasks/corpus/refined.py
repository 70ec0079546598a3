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
    shard file or a glob of them), ``stats``/``meta`` decoded.

    A snapshot's folder is read as its plan says (:func:`plan_shard_names`), not as its
    ``shards/`` folder is listed: a shard of an older plan left there (files restored by a
    sync, a replan stopped while it removed them) is no shard of this snapshot. So is a
    glob's match in such a folder; a file named on its own is read whatever it is. With
    ``completed_only``, a planned shard is read only once its status record of this plan
    exists (i.e. fully written); a folder without a plan, only when its record exists.
    """
    import pyarrow.parquet as pq

    from prox_tasks.storage import join_uri

    if uri.endswith(".parquet"):
        # one shard file, or a glob of them (out/shards/*.parquet: docs/storage.md's URIs)
        files = list_uri(uri) if is_glob(uri) else [uri]
        if not files:
            raise FileNotFoundError(f"no Parquet file matches {uri}")
        if is_glob(uri):
            files = _planned_only(files, completed_only)
    else:
        root = uri.rstrip("/")
        base = root[: -len("/shards")] if root.endswith("/shards") else root
        planned = plan_shard_names(base) if completed_only else None
        if planned is not None:  # named by the plan, not listed: a missing one is an error
            files = [join_uri(base, "shards", name) for name in sorted(planned)]
        else:
            files = _planned_only(list_uri(join_uri(base, "shards")), completed_only, base)
    for path in files:
        with open_uri(path, "rb") as stream:
            yield from rows_of(pq.ParquetFile(stream))


def plan_shard_names(output_uri: str, completed_only: bool = True) -> set[str] | None:
    """The file names (``shard-00003.parquet``) of the shards the plan at ``output_uri``
    holds — with ``completed_only``, of those whose status record of this plan exists — or
    None when no plan is there. The manifest is the one list of a snapshot's shards."""
    from prox_tasks.corpus.manifest import load_manifest, shard_name
    from prox_tasks.corpus.writer import read_statuses

    try:
        manifest = load_manifest(output_uri)
    except FileNotFoundError:
        return None
    indexes = [shard.index for shard in manifest.shards]
    if completed_only:  # the files themselves are read (and fail) by the caller
        indexes = [index for index, status in read_statuses(output_uri, indexes, manifest.id,
                                                            verify=False) if status]
    return {f"{shard_name(index)}.parquet" for index in indexes}


def _planned_only(files: list[str], completed_only: bool, base: str | None = None) -> list[str]:
    """``files`` less those no plan of their snapshot holds: each file's snapshot is the
    folder above its ``shards/`` folder (``base`` for all, when given: a folder listed). A
    folder without a plan keeps its files: a glob's all, a folder listed (with
    ``completed_only``) those with a status record."""
    from prox_tasks.corpus.manifest import status_uri

    plans: dict[str, set[str] | None] = {}
    kept = []
    for path in files:
        folder, _, name = path.rpartition("/")
        if base is None and not folder.endswith("/shards"):
            kept.append(path)  # no snapshot's shard: a Parquet file of its own
            continue
        snapshot = base if base is not None else folder[: -len("/shards")]
        if snapshot not in plans:
            plans[snapshot] = plan_shard_names(snapshot, completed_only)
        planned = plans[snapshot]
        if planned is not None:
            if name in planned:
                kept.append(path)
        elif base is None or not completed_only or exists(status_uri(snapshot, _index(path))):
            kept.append(path)  # a glob's match outside a snapshot: read as named
    return kept


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
