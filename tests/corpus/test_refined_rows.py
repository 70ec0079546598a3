"""Reading refined shards back (``prox_tasks.corpus.refined.rows_of``)."""

from __future__ import annotations

import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq

from prox_tasks.corpus.parquet_format import BATCH_ROWS
from prox_tasks.corpus.refined import arrow_schema, rows_of


def test_rows_of_a_refined_shard_hold_a_small_batch_not_a_row_group(tmp_path):
    """The gate reads 8 shards at once (storage.ahead), each through ``rows_of``, which
    made Python rows of 1,024 at a time: a whole row group (the writer's 1,000 rows) of
    texts as Python strings per reader. At 1,200 documents a shard (600,000 documents,
    ~1.5 GB of text) the gate's shard reading peaked at 296-305 MiB; rows made
    :data:`~prox_tasks.corpus.parquet_format.BATCH_ROWS` at a time, as the input reader
    does, bound that by the batch. Here a 1,000-row group of 8 KB texts (8 MB): the
    Python memory held while the rows pass is a batch's, not the group's."""
    n, text = 1000, "w" * 8192
    columns = {"id": [f"d{i}" for i in range(n)], "text": [text] * n, "dropped": [False] * n,
               "doc_program": ["keep_doc()"] * n, "chunk_program": [None] * n,
               "stats": ["{}"] * n, "source": ["in.jsonl"] * n, "offset": list(range(n)),
               "model_version": ["m"] * n, "meta": [None] * n}
    path = tmp_path / "shard-00000.parquet"
    # one row group of distinct strings (Arrow gives each row its own Python string)
    pq.write_table(pa.table(columns, schema=arrow_schema()), path, row_group_size=n)
    tracemalloc.start()
    try:
        seen = sum(len(row["text"]) for row in rows_of(pq.ParquetFile(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == n * len(text)
    assert peak < 2 * BATCH_ROWS * len(text), f"{peak / 1e6:.1f} MB held for {n} rows"
