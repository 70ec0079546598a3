"""Hive-style partition values in a file's path (``…/date=2024-01-01/lang=en/part-0.parquet``).

Spark, Hive, pyarrow and Athena write a partitioned data set as folders named
``column=value``, and leave the column out of the files below them: read file by file,
the value would be lost. Each such folder of a file's path gives its document's ``meta``
that key (:func:`with_partitions`), taken from the file's own path — never from how the
input was named (a folder, a glob, one file, a shard of the plan) — so every read of the
file gives the same meta.
"""

from __future__ import annotations

from urllib.parse import unquote

#: Hive's name for a null partition value (a row whose column was null).
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def partition_values(uri: str) -> dict[str, str | None]:
    """``{column: value}`` of the ``column=value`` folders in ``uri``'s path, outermost
    first; a value as Hive escapes it (``%2F``) unescaped, :data:`HIVE_NULL` as None. A
    column named twice keeps its innermost value. Values stay text, as the path holds them
    (``007`` is not the number 7)."""
    folders = uri.split("://", 1)[-1].split("/")[:-1]  # the last part is the file's name
    values: dict[str, str | None] = {}
    for folder in folders:
        column, sep, value = folder.partition("=")
        if sep and column and not column.startswith((".", "_")):
            values[unquote(column)] = None if value == HIVE_NULL else unquote(value)
    return values


def with_partitions(docs, uri: str, reserved: tuple[str, ...]):
    """``docs`` (of the file ``uri``) with :func:`partition_values` in each one's ``meta``,
    but for a key the row already has (its own field wins) or one of ``reserved`` (the text
    and id fields, which are not meta)."""
    values = {k: v for k, v in partition_values(uri).items() if k not in reserved}
    if not values:
        yield from docs
        return
    for doc in docs:
        for column, value in values.items():
            doc.meta.setdefault(column, value)
        yield doc
