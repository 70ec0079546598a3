"""Parquet files: streamed a batch at a time; a record's offset is its row number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import nullcontext

from prox_tasks.corpus.document import RecordError, build_document
from prox_tasks.storage import open_uri, parse_uri

EXTENSIONS = (".parquet", ".pq")
# Small batches and no pre-buffering keep memory flat across row groups (measured with
# bench/io.py: peak RSS stays level instead of creeping up row group after row group).
BATCH_ROWS = 256


def _row_groups(meta, start: int, end: int | None) -> tuple[list[int], int]:
    """Row groups overlapping ``[start, end)`` and the row number the first one begins at."""
    groups, first_row, row = [], None, 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if row + n > start and (end is None or row < end):
            groups.append(i)
            first_row = row if first_row is None else first_row
        row += n
    return groups, first_row or 0


def _open(uri: str):
    """A local path for pyarrow's own (faster, memory-mapped) reader, else a seekable stream."""
    loc = parse_uri(uri)
    return nullcontext(loc.path) if loc.scheme == "file" else open_uri(uri, "rb")


def scan(uri: str, max_doc_bytes: int) -> Iterator[tuple[int, int]]:
    """``(offset, bytes)`` per row from the footer alone: bytes is the row group's average."""
    import pyarrow.parquet as pq

    with _open(uri) as stream:
        meta = pq.ParquetFile(stream).metadata
    row = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        each = group.total_byte_size // max(group.num_rows, 1)
        for _ in range(group.num_rows):
            yield row, each
            row += 1


def read(uri: str, options, start: int = 0, end: int | None = None):
    """Yield ``(offset, Document | RecordError, raw row)`` for rows in ``[start, end)``."""
    import pyarrow.parquet as pq

    with _open(uri) as stream:
        pf = pq.ParquetFile(stream, pre_buffer=False)
        groups, row = _row_groups(pf.metadata, start, end)
        if not groups:
            return
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=groups):
            for item in batch.to_pylist():
                if row >= start and (end is None or row < end):
                    try:
                        doc = build_document(item, uri, row, options.text_field,
                                             options.id_field, options.max_doc_bytes)
                    except RecordError as err:
                        yield row, err, _raw(item)
                    else:
                        yield row, doc, None
                row += 1
                if end is not None and row >= end:
                    return


def _raw(item: dict) -> str:
    return json.dumps(item, ensure_ascii=False, default=str)
