"""Write documents as JSONL (plain/.gz/.zst) or Parquet — samples, tests, benchmarks."""

from __future__ import annotations

from collections.abc import Iterable

from prox_tasks.corpus.document import Document
from prox_tasks.corpus.jsonl import dumps_line
from prox_tasks.storage import open_uri


def _row(doc: Document | dict, text_field: str, id_field: str) -> dict:
    if isinstance(doc, dict):
        return doc
    return doc.as_row(text_field, id_field)


def write_documents(uri: str, docs: Iterable[Document | dict], text_field: str = "text",
                    id_field: str = "id", batch_rows: int = 1000) -> int:
    """Write ``docs`` (Documents or plain rows) atomically; the format follows the extension
    (``.parquet``, else JSONL compressed by ``.gz``/``.zst``). Returns the row count."""
    if uri.endswith(".parquet"):
        return _write_parquet(uri, docs, text_field, id_field, batch_rows)
    count = 0
    with open_uri(uri, "wb", compression="infer") as out:
        for doc in docs:
            out.write(dumps_line(_row(doc, text_field, id_field)))
            count += 1
    return count


def _write_parquet(uri, docs, text_field, id_field, batch_rows) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    count, batch, writer = 0, [], None
    with open_uri(uri, "wb") as out:
        for doc in docs:
            batch.append(_row(doc, text_field, id_field))
            if len(batch) >= batch_rows:
                table = pa.Table.from_pylist(batch, schema=writer.schema if writer else None)
                writer = writer or pq.ParquetWriter(out, table.schema, compression="zstd")
                writer.write_table(table)
                count, batch = count + len(batch), []
        if batch or writer is None:
            table = pa.Table.from_pylist(batch, schema=writer.schema if writer else None)
            writer = writer or pq.ParquetWriter(out, table.schema, compression="zstd")
            writer.write_table(table)
            count += len(batch)
        writer.close()
    return count
