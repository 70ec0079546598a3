"""Hive-style partition values in a file's path (``…/date=2024-01-01/lang=en/part-0.parquet``).

Spark, Hive, pyarrow and Athena write a partitioned data set as folders named
``column=value``, and leave the column out of the files below them: read file by file,
the value would be lost. Each such folder of a file's path below the input's root (the
folder named, or a glob's folder before its first wildcard: :func:`partition_root`) gives its
document's ``meta`` that key (:func:`with_partitions`), as Spark and pyarrow read a data set
from its root: a ``column=value`` folder above the input (``/data/lr=0.1/crawl/``) is not a
partition of it. A plan records its root (``Manifest.partition_root``), so every read of
one of its shards gives the same meta; a plan made before prox read partitions has none,
and its shards are read as they were planned, without them. A path naming one column twice
with other values (``lang=en/lang=fr/``) is refused (:class:`PartitionConflict`): one of
its values would be lost.
"""

from __future__ import annotations

from urllib.parse import unquote

#: Hive's name for a null partition value (a row whose column was null).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


class PartitionConflict(ValueError):
    """A file's path names one partition column twice with other values
    (``lang=en/lang=fr/part.jsonl``): its documents would keep one value and lose the
    other. Reading the same path again cannot mend it, so the DAG tasks fail at once
    (:func:`prox_tasks.pipeline.errors.cannot_succeed`)."""


def partition_root(input_uri: str) -> str:
    """The folder whose ``column=value`` sub-folders are partitions of ``input_uri`` (a
    file, folder, prefix or glob): the input itself, or a glob's folder before its first
    wildcard; a single file has none below it."""
    from prox_tasks.storage.uri import GLOB_CHARS, to_uri

    uri = to_uri(input_uri)
    if GLOB_CHARS.search(uri.split("://", 1)[-1]):
        uri = GLOB_CHARS.split(uri, 1)[0].rsplit("/", 1)[0]
    return uri.rstrip("/")


def planned_partition_root(input_uri: str, file_uris) -> str | None:
    """What a plan of ``file_uris`` (the files found at ``input_uri``) records as its
    partition root: :func:`partition_root`, or None when no file has a partition below it.
    Such a plan reads as one made before partitions were read, so it keeps that plan's id
    (the root is part of it): planning an unpartitioned folder again after the upgrade is
    the same plan, its refined shards kept, not another plan refined anew."""
    root = partition_root(input_uri)
    # every file's, not up to the first with one: a later file's conflict is refused now,
    # before a scan of the crawl, not when its shard is read
    found = [partition_values(uri, root) for uri in file_uris]
    return root if any(found) else None


def partition_values(uri: str, root: str) -> dict[str, str | None]:
    """``{column: value}`` of the ``column=value`` folders in ``uri``'s path below ``root``
    (:func:`partition_root`), outermost first; a value as Hive escapes it (``%2F``)
    unescaped, :data:`HIVE_NULL` as None. Values stay text, as the path holds them
    (``007`` is not the number 7).

    Raises:
        PartitionConflict: a column is named twice with other values (the same value twice,
            ``lang=en/lang=en/``, loses nothing and is read once).
    """
    root = root.rstrip("/") + "/"
    if not uri.startswith(root):  # the input itself (one file), or not below it
        return {}
    folders = uri[len(root):].split("/")[:-1]  # the last part is the file's name
    values: dict[str, str | None] = {}
    for folder in folders:
        column, sep, value = folder.partition("=")
        if sep and column and not column.startswith((".", "_")):
            column, value = unquote(column), None if value == HIVE_NULL else unquote(value)
            if column in values and values[column] != value:
                raise _conflict(uri, column, values[column], value)
            values[column] = value
    return values


def _conflict(uri: str, column: str, outer: str | None, inner: str | None) -> PartitionConflict:
    # the way out first: a DAG's error line is cut
    said = [HIVE_NULL if v is None else v for v in (outer, inner)]
    return PartitionConflict(
        f"move or rename the folders so that each partition column is named once in a file's "
        f"path: {uri} names the column {column!r} twice, {said[0]!r} then {said[1]!r}, and its "
        "documents would keep one value and lose the other")


def with_partitions(docs, uri: str, root: str | None, reserved: tuple[str, ...]):
    """``docs`` (of the file ``uri``) with :func:`partition_values` below ``root`` in each
    one's ``meta`` (none when ``root`` is None: a plan made before partitions were read),
    but for a key the row already has (its own field wins) or one of ``reserved`` (the text
    and id fields, which are not meta)."""
    if root is None:
        yield from docs
        return
    values = {k: v for k, v in partition_values(uri, root).items() if k not in reserved}
    if not values:
        yield from docs
        return
    for doc in docs:
        for column, value in values.items():
            doc.meta.setdefault(column, value)
        yield doc
