"""Arrow columns built into Arrow's buffers: equal to ``pyarrow.array`` of the same values,
the refined shard byte for byte what ``Table.from_pydict`` wrote, and no pandas import."""

import io
import json
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from prox_tasks.corpus import arrow_columns, refined_schema, write_refined_shard
from prox_tasks.corpus.arrow_columns import StringColumn, bool_array, int64_array
from prox_tasks.corpus.document import escape_surrogates
from prox_tasks.corpus.writer import DICTIONARY_COLUMNS

PIECES = ["", "a", "word ", "\n", "é", "日本", "😀", "\ud800", "\udfff", "\x00", "\u2028", "x" * 300]


def _values(rng: random.Random, n: int) -> list:
    return [None if rng.random() < 0.2 else "".join(rng.choices(PIECES, k=rng.randint(0, 6)))
            for _ in range(n)]  # fmt: skip


def _expected(values: list):
    return pa.array([v if v is None else escape_surrogates(v) for v in values], pa.string())


def test_string_columns_equal_pyarrow_array():
    rng = random.Random(7)
    for n in (0, 1, 2, 7, 8, 9, 64, 333):
        values = _values(rng, n)
        column = StringColumn("x")
        for value in values:
            column.append(value)
        assert len(column) == n
        array = column.finish()
        array.validate(full=True)
        assert array.equals(_expected(values)) and array.null_count == values.count(None)
        assert len(column) == 0 and column.finish().equals(pa.array([], pa.string()))


def test_a_column_past_the_chunk_limit_is_chunked(monkeypatch):
    monkeypatch.setattr(arrow_columns, "MAX_CHUNK_BYTES", 40)
    values = _values(random.Random(3), 50)
    column = StringColumn("x")
    for value in values:
        column.append(value)
    array = column.finish()
    assert isinstance(array, pa.ChunkedArray) and array.num_chunks > 1
    for chunk in array.chunks:
        chunk.validate(full=True)
        sizes = [len(v.encode()) for v in chunk.to_pylist() if v is not None]
        assert sum(sizes) <= 40 or len(sizes) == 1  # a longer value has a chunk of its own
    assert array.combine_chunks().equals(_expected(values))


def test_a_non_string_value_is_refused():
    column = StringColumn("doc_program")
    try:
        column.append(3)
    except TypeError as err:
        assert "doc_program" in str(err)
    else:
        raise AssertionError("an int was accepted in a string column")


def test_bool_and_int64_arrays_equal_pyarrow_array():
    rng = random.Random(5)
    for n in (0, 1, 7, 8, 9, 100):
        flags = [rng.random() < 0.5 for _ in range(n)]
        numbers = [rng.randint(-(2**63), 2**63 - 1) for _ in range(n)]
        assert bool_array(flags).equals(pa.array(flags, pa.bool_()))
        assert int64_array(numbers).equals(pa.array(numbers, pa.int64()))


def _rows(n: int) -> list[dict]:
    rng = random.Random(11)
    rows = []
    for i in range(n):
        text = _values(rng, 1)[0]
        rows.append({"id": f"doc-{i}\ud801" if i == 3 else f"doc-{i}", "text": text,
                     "doc_program": rng.choice(["keep_doc()", "drop_doc()", None]),
                     "chunk_program": _values(rng, 1)[0],
                     "stats": {"words": i, "note": rng.choice(PIECES)}, "source": "file:///in",
                     "offset": i, "meta": rng.choice([None, {"url": rng.choice(PIECES)}])})
    return rows


def test_the_shard_is_what_from_pydict_wrote(tmp_path):
    rows = _rows(2500)  # three row groups of 1,000 rows
    write_refined_shard(str(tmp_path), 0, rows, expected_docs=len(rows), model_version="m1")
    columns = {name: [] for name in refined_schema().names}
    for row in rows:  # the writer's columns as the writer built them with pyarrow.array
        meta = row["meta"]
        values = {"id": row["id"], "text": row["text"], "dropped": row["text"] is None,
                  "doc_program": row["doc_program"], "chunk_program": row["chunk_program"],
                  "stats": json.dumps(row["stats"], sort_keys=True, ensure_ascii=False),
                  "source": row["source"], "offset": row["offset"], "model_version": "m1",
                  "meta": None if meta is None else json.dumps(meta, sort_keys=True,
                                                               ensure_ascii=False)}
        for name, value in values.items():
            columns[name].append(escape_surrogates(value) if isinstance(value, str) else value)
    expected = io.BytesIO()
    with pq.ParquetWriter(expected, refined_schema(), compression="zstd",
                          use_dictionary=DICTIONARY_COLUMNS) as writer:
        for start in range(0, len(rows), 1000):
            writer.write_table(pa.Table.from_pydict(
                {k: v[start:start + 1000] for k, v in columns.items()}, schema=refined_schema()))
    assert (tmp_path / "shards" / "shard-00000.parquet").read_bytes() == expected.getvalue()


def test_writing_a_shard_does_not_import_pandas(tmp_path):
    code = (
        "import sys\n"
        "from prox_tasks.corpus import write_refined_shard\n"
        "rows = [{'id': 'a', 'text': 'x', 'stats': {}, 'source': 's', 'offset': 0}]\n"
        f"write_refined_shard({str(tmp_path)!r}, 0, rows, expected_docs=1)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "False"
