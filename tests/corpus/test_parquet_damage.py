"""Parquet files damaged for real (bytes flipped, cut or zeroed in a file pyarrow wrote):
each is a counted loss that ``prox refine`` quarantines once, never a crash."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prox_tasks.corpus import Quarantine, plan_shards, read_shard

ROWS = 40


def _write(path, prefix: str) -> None:
    rows = [{"id": f"{prefix}{i}", "text": f"text number {i} " * 20} for i in range(ROWS)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=20)


def _flip_page_header(path) -> None:
    """Bytes of the first row group's text data page header made nonsense: pyarrow then
    raises a bare ``OSError`` ('Couldn't deserialize thrift'), not an ArrowException."""
    column = pq.ParquetFile(path).metadata.row_group(0).column(1)
    data = bytearray(path.read_bytes())
    at = column.data_page_offset
    data[at + 2 : at + 10] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _cut_in_half(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero_column_chunk(path) -> None:
    """The first row group's text column chunk zeroed; the footer is intact."""
    column = pq.ParquetFile(path).metadata.row_group(0).column(1)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + column.total_compressed_size] = bytes(column.total_compressed_size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "lost"), [
    (_flip_page_header, [(i, "corrupt_row_group") for i in range(20)]),
    (_zero_column_chunk, [(i, "corrupt_row_group") for i in range(20)]),
    (_cut_in_half, [(0, "corrupt_file")]),
])  # fmt: skip
def test_a_damaged_parquet_file_is_one_counted_loss_beside_a_good_one(tmp_path, damage, lost):
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a_bad.parquet", "a")
    damage(folder / "a_bad.parquet")
    _write(folder / "b_good.parquet", "b")
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=15)
    quarantine, docs = Quarantine(), []
    for shard in manifest.shards:
        docs += read_shard(manifest, shard.index, quarantine)
    records = list(quarantine.records())
    assert [(q["offset"], q["reason"]) for q in records] == lost
    assert all(q["source"].endswith("a_bad.parquet") for q in records)
    read_of_bad = {d.id for d in docs if d.id.startswith("a")}
    assert read_of_bad == (set() if lost[0][1] == "corrupt_file" else
                           {f"a{i}" for i in range(20, ROWS)})  # fmt: skip
    assert {d.id for d in docs if d.id.startswith("b")} == {f"b{i}" for i in range(ROWS)}
    assert len(docs) + len(records) == manifest.total_docs
    if lost[0][1] == "corrupt_row_group":
        assert "row group 0" in records[0]["detail"]


def _quarantined(out) -> list[tuple]:
    found = []
    for path in sorted((out / "quarantine").glob("shard-*.jsonl.gz")):
        for line in gzip.decompress(path.read_bytes()).splitlines():
            row = json.loads(line)
            found.append((row["source"].rsplit("/", 1)[-1], row["offset"], row["reason"],
                          row["detail"]))  # fmt: skip
    return found


@pytest.mark.slow
def test_prox_refine_quarantines_a_row_group_whose_page_header_is_corrupt(
    tmp_path, tagger_model, capsys
):
    """A data page header with flipped bytes made pyarrow raise a bare OSError ('Couldn't
    deserialize thrift') that the reader let through: ``prox refine`` (its plan, duplicate
    pass and read) failed. Now the row group's 20 rows are ``corrupt_row_group`` entries,
    once each; serial and ``--workers 2`` write the same shards and quarantine, and the
    gate counts the loss."""
    from prox_tasks.cli import main
    from prox_tasks.quality import run_gate

    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a_bad.parquet", "a")
    _flip_page_header(folder / "a_bad.parquet")
    _write(folder / "b_good.parquet", "b")
    results = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        argv = ["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
                str(tagger_model), "--shards", "3", "--workers", workers, "--threads", "1",
                "--no-progress"]  # fmt: skip
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["quarantine_reasons"] == {"corrupt_row_group": 20}, summary
        rows = pq.read_table(out / "shards", columns=["id", "source", "offset"]).to_pylist()
        results.append((sorted((r["id"], r["offset"]) for r in rows), _quarantined(out)))
        gate = run_gate(str(out))
        assert gate.metrics["input_losses"] == 20 and not gate.passed
    (docs, quarantined), again = results
    assert again == results[0]
    assert len(docs) == 60 and {i for i, _ in docs} >= {f"a{i}" for i in range(20, ROWS)}
    assert [(name, offset, reason) for name, offset, reason, _ in quarantined] == [
        ("a_bad.parquet", i, "corrupt_row_group") for i in range(20)
    ]
    assert "row group 0" in quarantined[0][3] and "deserialize" in quarantined[0][3]


def test_a_storage_fault_inside_a_row_group_is_raised_not_quarantined(tmp_path):
    """Only the Parquet reader's own bare OSError is bad input: an I/O error with an errno
    (a reset connection) or a stream's own error class is a fault to retry. MOCK, named as
    such: a stream failing once the footer is read stands for a dropped S3 connection, which
    cannot be cut at that moment for real here."""
    import io

    from prox_tasks.corpus.parquet_format import _undecodable

    path = tmp_path / "a.parquet"
    _write(path, "a")
    data = path.read_bytes()
    for fault in (ConnectionResetError(104, "Connection reset by peer"), TimeoutError("read")):

        class FailingStream(io.BytesIO):
            failing = None

            def read(self, size=-1):
                if self.failing is not None:
                    raise self.failing
                return super().read(size)

        stream = FailingStream(data)
        parquet = pq.ParquetFile(stream, pre_buffer=False)
        stream.failing = fault
        with pytest.raises(OSError) as raised:
            list(parquet.iter_batches(row_groups=[0]))
        assert raised.value is fault and not _undecodable(raised.value)
    _flip_page_header(path)
    with pytest.raises(OSError) as raised:
        list(pq.ParquetFile(path).iter_batches(row_groups=[0]))
    assert _undecodable(raised.value)


def test_a_corrupt_page_header_in_an_s3_object_is_quarantined_the_same_way(tmp_path, s3_bucket):
    """Read from S3 (a seekable stream, not pyarrow's memory map), the same damage is the
    same 20 ``corrupt_row_group`` entries, the other row group read."""
    from prox_tasks.storage import get_client

    path = tmp_path / "a.parquet"
    _write(path, "a")
    _flip_page_header(path)
    bucket = s3_bucket.removeprefix("s3://")
    get_client().put_object(Bucket=bucket, Key="in/a.parquet", Body=path.read_bytes())
    manifest = plan_shards(f"{s3_bucket}/in/", f"{s3_bucket}/out/", target_docs=100)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert [d.id for d in docs] == [f"a{i}" for i in range(20, ROWS)]
    assert [(q["offset"], q["reason"]) for q in quarantine.records()] == [
        (i, "corrupt_row_group") for i in range(20)
    ]


def _zigzag(value: int) -> bytes:
    """``value`` as the Thrift compact protocol writes an i64: zigzag, then a varint."""
    value, out = value << 1, b""
    while value >= 0x80:
        out, value = out + bytes([value & 0x7F | 0x80]), value >> 7
    return out + bytes([value])


def _overstate_first_row_group(path, declared: int) -> None:
    """The footer made to say the first row group (and so the file) holds ``declared`` rows
    where its pages hold 20: its ``total_byte_size, num_rows`` fields (each a field header
    0x16, i64) rewritten in place, so the footer's length stays."""
    meta = pq.ParquetFile(path).metadata
    data = path.read_bytes()
    group = _zigzag(meta.row_group(0).total_byte_size)
    old = b"\x16" + group + b"\x16" + _zigzag(20)
    data = data.replace(old, b"\x16" + group + b"\x16" + _zigzag(declared), 1)
    whole = b"\x16" + _zigzag(ROWS)  # FileMetaData.num_rows, after its schema
    at = data.rindex(whole, len(data) - int.from_bytes(data[-8:-4], "little") - 8)
    data = data[:at] + b"\x16" + _zigzag(ROWS + declared - 20) + data[at + len(whole):]
    path.write_bytes(data)
    assert pq.ParquetFile(path).metadata.row_group(0).num_rows == declared


def test_a_row_group_holding_fewer_rows_than_its_footer_says_quarantines_the_others(tmp_path):
    """A footer that says a row group holds more rows than its pages do: pyarrow reads the
    rows there are and stops without a word, so the shard read fewer rows than the plan
    counted and failed whole on an AccountingError that named neither the file nor what to
    do (a retry failing the same). The rows the footer counts and the pages lack are each a
    ``corrupt_row_group`` now, saying so; the rows there are, and the file's other row
    groups, are read, shard by shard."""
    path = tmp_path / "a.parquet"
    _write(path, "a")
    _overstate_first_row_group(path, 30)
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=15)
    assert manifest.total_docs == 50 and len(manifest.shards) > 2
    quarantine, docs = Quarantine(), []
    for shard in manifest.shards:
        docs += read_shard(manifest, shard.index, quarantine)
    records = list(quarantine.records())
    assert [d.id for d in docs] == [f"a{i}" for i in range(ROWS)]
    assert [(q["offset"], q["reason"]) for q in records] == [
        (i, "corrupt_row_group") for i in range(20, 30)]
    assert records[0]["detail"] == ("row group 0 holds 20 rows as read, its footer counts 30: "
                                    "the file's metadata does not match its data (damaged, or a "
                                    "writer's bug); write the file again")
    assert len(docs) + len(records) == manifest.total_docs


def test_a_row_group_holding_more_rows_than_its_footer_says_quarantines_the_others(tmp_path):
    """The other way round: a footer whose ``num_rows`` says fewer rows than the pages (and
    the columns' value counts) hold. pyarrow reads that many and leaves the others unread
    without a word, the plan counted by ``num_rows``: ten documents lost without a count,
    the shards "balanced". The plan counts the rows the columns count now, and the rows
    pyarrow leaves unread are each a ``corrupt_row_group``."""
    path = tmp_path / "a.parquet"
    _write(path, "a")
    _overstate_first_row_group(path, 10)
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=15)
    assert manifest.total_docs == ROWS
    quarantine, docs = Quarantine(), []
    for shard in manifest.shards:
        docs += read_shard(manifest, shard.index, quarantine)
    records = list(quarantine.records())
    assert [(d.id, d.offset) for d in docs] == [(f"a{i}", i) for i in [*range(10), *range(20, 40)]]
    assert [(q["offset"], q["reason"]) for q in records] == [
        (i, "corrupt_row_group") for i in range(10, 20)]
    assert records[0]["detail"].startswith("row group 0 holds 10 rows as read, its footer counts "
                                           "20 (num_rows 10, a column's values 20): ")
    assert len(docs) + len(records) == manifest.total_docs


def _claim_rows(path, declared: int) -> None:
    """The footer made to say the first row group holds ``declared`` rows (its pages hold
    20), however long the number's varint: the footer's length at its end written anew."""
    meta = pq.ParquetFile(path).metadata
    data = path.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    body, footer = data[: -8 - length], data[-8 - length : -8]
    group = _zigzag(meta.row_group(0).total_byte_size)
    footer = footer.replace(b"\x16" + group + b"\x16" + _zigzag(20),
                            b"\x16" + group + b"\x16" + _zigzag(declared), 1)  # fmt: skip
    whole = b"\x16" + _zigzag(ROWS)  # FileMetaData.num_rows, after its schema
    at = footer.rindex(whole)
    footer = footer[:at] + b"\x16" + _zigzag(ROWS + declared - 20) + footer[at + len(whole) :]
    path.write_bytes(body + footer + len(footer).to_bytes(4, "little") + b"PAR1")
    assert pq.ParquetFile(path).metadata.row_group(0).num_rows == declared


@pytest.mark.timeout(60)
def test_a_footer_counting_a_trillion_rows_is_one_corrupt_file_not_a_hang(tmp_path):
    """A footer that says a row group of a 3 KB file holds 10^12 rows: the plan counted
    each row one by one (``prox plan`` ran for hours, and each shard would have
    quarantined its rows one by one). Such a count is past any file of texts: the file is
    one ``corrupt_file`` saying so, beside a good file read whole."""
    folder = tmp_path / "in"
    folder.mkdir()
    _write(folder / "a_bad.parquet", "a")
    _claim_rows(folder / "a_bad.parquet", 10**12)
    _write(folder / "b_good.parquet", "b")
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=15)
    assert manifest.total_docs == 1 + ROWS
    quarantine, docs = Quarantine(), []
    for shard in manifest.shards:
        docs += read_shard(manifest, shard.index, quarantine)
    records = list(quarantine.records())
    assert [d.id for d in docs] == [f"b{i}" for i in range(ROWS)]
    assert [(q["offset"], q["reason"]) for q in records] == [(0, "corrupt_file")]
    assert "its footer counts 1,000,000,000,020 rows in a file of " in records[0]["detail"]
