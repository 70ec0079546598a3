"""Fault injection into the readers: hostile records and cut files, on real files.

Every case asserts read = written + quarantined, with the reason in the quarantine, and
that the good files beside a broken one are still read.
"""

from __future__ import annotations

import base64
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from warcio.warcwriter import WARCWriter

from prox_tasks.corpus import (
    Quarantine,
    plan_shards,
    read_documents,
    read_rows,
    read_shard,
    write_refined_shard,
)
from tests.corpus.conftest import refine_rows
from tests.corpus.conftest import wet_bytes as _wet

HOSTILE = {
    "lone_surrogate": '{"id": "s1", "text": "bad \\ud800 text"}',
    "bad_number": '{"id": "n1", "text": "ok", "n": ' + "7" * 5000 + "}",
    "too_deep": '{"id": "d1", "text": "ok", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "not_text": '{"id": 5, "text": 12}',
    "bad_id": '{"id": {"a": 1}, "text": "an object as id"}',
}


def _good(n: int, prefix: str = "g") -> list[str]:
    return [json.dumps({"id": f"{prefix}{i}", "text": f"document {i} " * 30}) for i in range(n)]


def test_hostile_records_are_quarantined_one_by_one(tmp_path):
    lines = _good(3) + list(HOSTILE.values()) + [
        '{"id": "s\\udc00", "text": "id with a lone surrogate"}',
        '{"id": "m1", "text": "a surrogate only in another field", "note": "\\udfff"}',
        '{"id": "pair", "text": "a real pair \\ud83d\\ude00 is fine"}',
    ] + _good(2, "h")  # fmt: skip
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n")
    quarantine = Quarantine()
    docs = list(read_documents(str(path), quarantine=quarantine))
    assert len(docs) + len(quarantine) == len(lines)
    assert [d.id for d in docs] == ["g0", "g1", "g2", "m1", "pair", "h0", "h1"]
    assert dict(quarantine.reasons) == {"lone_surrogate": 2, "bad_number": 1, "too_deep": 1,
                                        "not_text": 1, "bad_id": 1}  # fmt: skip
    by_offset = {q["offset"]: q for q in quarantine.records()}
    assert by_offset[3]["reason"] == "lone_surrogate" and by_offset[3]["id"] == "s1"
    assert by_offset[4]["reason"] == "bad_number" and "4300" in by_offset[4]["detail"]
    assert by_offset[5]["reason"] == "too_deep"
    assert all(q["source"] == path.as_uri() for q in by_offset.values())


def test_surrogates_in_other_fields_reach_parquet_escaped(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "m1", "text": "fine text", "note": "\\udfff"}\n')
    out = tmp_path / "out"
    manifest = plan_shards(str(path), str(out), target_docs=10)
    quarantine = Quarantine()
    rows = list(refine_rows(read_shard(manifest, 0, quarantine)))
    rows[0]["doc_program"] = 'normalize(source_str="a", target_str="\udc80")'  # a model's
    acc = write_refined_shard(str(out), 0, rows, quarantine=quarantine)
    assert acc.balanced and acc.docs_written == 1
    table = pq.read_table(out / "shards" / "shard-00000.parquet")
    assert json.loads(table["meta"][0].as_py()) == {"note": "\udfff"}  # the JSON escape
    assert table["doc_program"][0].as_py().endswith('target_str="\\udc80")')


def test_read_rows_is_the_one_jsonl_reader_for_non_documents(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    body = "\n".join(['{"id": 1, "gold": "x"}', "[1]", HOSTILE["too_deep"], '{"id": 2}'])
    path.write_bytes(gzip.compress(body.encode()))
    quarantine = Quarantine()
    got = list(read_rows(str(path), quarantine))
    assert [(line, row["id"]) for _, line, row in got] == [(0, 1), (3, 2)]
    assert [q["reason"] for q in quarantine.records()] == ["not_an_object", "too_deep"]


def _cut_gzip(rows: list[str]) -> bytes:
    data = gzip.compress(("\n".join(rows) + "\n").encode(), mtime=0)
    return data[: len(data) * 2 // 3]


def _cut_zstd(rows: list[str]) -> bytes:
    data = zstandard.ZstdCompressor(level=3).compress(("\n".join(rows) + "\n").encode())
    return data[: len(data) // 2]


@pytest.mark.parametrize("suffix, cut", [(".jsonl.gz", _cut_gzip), (".jsonl.zst", _cut_zstd)])
def test_a_cut_compressed_file_keeps_what_it_can_and_counts_the_loss(tmp_path, suffix, cut):
    import random

    rng = random.Random(1)
    # incompressible enough that the cut falls in the middle of the records
    rows = [json.dumps({"id": f"t{i}", "text": " ".join(str(rng.random()) for _ in range(40))})
            for i in range(1000)]  # fmt: skip
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / f"a-cut{suffix}").write_bytes(cut(rows))
    (tmp_path / "in" / "b-good.jsonl").write_text("\n".join(_good(5)) + "\n")
    out = tmp_path / "out"
    manifest = plan_shards(str(tmp_path / "in"), str(out), target_docs=1000)  # no traceback
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert len(docs) + len(quarantine) == manifest.total_docs
    assert [d.id for d in docs][-5:] == ["g0", "g1", "g2", "g3", "g4"]  # the good file too
    cut_docs = [d for d in docs if d.id.startswith("t")]
    assert 0 < len(cut_docs) < 1000
    assert [d.id for d in cut_docs] == [f"t{i}" for i in range(len(cut_docs))]
    lost = [q for q in quarantine.records() if q["reason"] == "truncated_file"]
    assert len(lost) == 1 and lost[0]["source"].endswith(f"a-cut{suffix}")
    assert "lost" in lost[0]["detail"]
    # every line the decoder handed out before the cut is a document or quarantined
    assert lost[0]["offset"] >= len(cut_docs)
    acc = write_refined_shard(str(out), 0, refine_rows(docs), quarantine=quarantine)
    assert acc.balanced and acc.quarantine_reasons.get("truncated_file") == 1


def test_a_warc_or_wat_file_under_a_wet_name_is_one_loss_saying_so_not_empty(tmp_path):
    """A crawl's WARC (responses) or WAT (metadata) file named ``.warc.wet.gz`` holds no
    conversion record: it was zero documents, so beside other files its pages went
    unnoticed, and alone the run failed saying the file "is empty (no document, not even a
    bad one)". It is now one ``truncated_file`` entry naming what it holds; a WET file
    holding only its ``warcinfo`` is still empty."""
    from warcio.statusandheaders import StatusAndHeaders

    def warc(kind: str, n: int) -> bytes:
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=True)
        for i in range(n):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                    protocol="HTTP/1.1") if kind == "response" else None
            writer.write_record(writer.create_warc_record(
                f"https://example.org/{i}", kind, payload=io.BytesIO(b"<p>page</p>"),
                http_headers=http, warc_content_type="application/json"))
        return buffer.getvalue()

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.warc.wet.gz").write_bytes(_wet(["first page text " * 10] * 2))
    (folder / "b.warc.wet.gz").write_bytes(warc("response", 3))
    (folder / "c.warc.wet.gz").write_bytes(warc("metadata", 2))
    info = io.BytesIO()
    writer = WARCWriter(info, gzip=True)
    writer.write_record(writer.create_warcinfo_record("d.warc.wet.gz", {"software": "x"}))
    (folder / "d.warc.wet.gz").write_bytes(info.getvalue())
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100)
    assert [f.records for f in manifest.files] == [2, 1, 1, 0]
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert len(docs) == 2
    assert [(r["source"].rsplit("/", 1)[1], r["offset"], r["reason"], r["detail"])
            for r in quarantine.records()] == [
        ("b.warc.wet.gz", 0, "truncated_file", "no conversion record among its 3 WARC records "
         "(3 response): a WARC or WAT file, not WET; read the crawl's .warc.wet.gz files"),
        ("c.warc.wet.gz", 0, "truncated_file", "no conversion record among its 2 WARC records "
         "(2 metadata): a WARC or WAT file, not WET; read the crawl's .warc.wet.gz files")]


def test_a_wet_record_not_in_utf8_says_to_re_encode_its_file(tmp_path):
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    writer.write_record(writer.create_warc_record(
        "https://example.org/fr", "conversion", payload=io.BytesIO("Genève".encode("latin-1")),
        warc_content_type="text/plain"))
    path = tmp_path / "crawl.warc.wet.gz"
    path.write_bytes(buffer.getvalue() + _wet(["a page in UTF-8 " * 4]))
    quarantine = Quarantine()
    docs = list(read_documents(str(path), quarantine=quarantine))
    assert len(docs) == 1
    assert [(q["reason"], q["detail"]) for q in quarantine.records()] == [(
        "bad_encoding", "not UTF-8 at byte 3 (0xe8): re-encode the file as UTF-8, e.g. "
        "iconv -f latin1 -t utf-8")]


def test_a_cut_wet_file_never_publishes_a_document_cut_short(tmp_path):
    import random

    rng = random.Random(2)
    texts = [f"page {i}\n" + "\n".join(str(rng.random()) for _ in range(300)) for i in range(4)]
    data, three = _wet(texts), len(_wet(texts[:3]))
    path = tmp_path / "crawl.warc.wet.gz"
    path.write_bytes(data[: three + (len(data) - three) // 2])  # inside the last payload
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=100)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert len(docs) + len(quarantine) == manifest.total_docs == 4
    assert [d.text for d in docs] == texts[:3]
    (lost,) = quarantine.records()
    assert lost["reason"] in ("truncated_record", "truncated_file") and lost["offset"] == 3


def test_a_wet_file_cut_inside_a_header_is_one_loss(tmp_path):
    texts = [f"page {i}\n" + "words " * 300 for i in range(3)]
    whole = _wet(texts)
    two = len(_wet(texts[:2]))
    path = tmp_path / "crawl.wet.gz"
    path.write_bytes(whole[: two + 40])  # 40 bytes into the third gzip member
    quarantine = Quarantine()
    docs = list(read_documents(str(path), quarantine=quarantine))
    assert [d.text for d in docs] == texts[:2]
    assert [q["reason"] for q in quarantine.records()] == ["truncated_file"]


def test_a_parquet_file_with_a_cut_footer_is_one_quarantined_record(tmp_path, sample_rows):
    (tmp_path / "in").mkdir()
    table = pa.Table.from_pylist([{"id": r["id"], "text": r["text"]} for r in sample_rows])
    pq.write_table(table, tmp_path / "in" / "a.parquet")
    data = (tmp_path / "in" / "a.parquet").read_bytes()
    (tmp_path / "in" / "a.parquet").write_bytes(data[: len(data) - 20])
    (tmp_path / "in" / "b.jsonl").write_text("\n".join(_good(3)) + "\n")
    manifest = plan_shards(str(tmp_path / "in"), str(tmp_path / "out"), target_docs=100)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert [d.id for d in docs] == ["g0", "g1", "g2"]
    assert [q["reason"] for q in quarantine.records()] == ["corrupt_file"]
    assert len(docs) + len(quarantine) == manifest.total_docs


def test_a_cut_zst_on_s3_is_detected_the_same_way(s3_bucket):
    import random

    from prox_tasks.storage import get_client

    rng = random.Random(3)
    rows = [json.dumps({"id": f"t{i}", "text": " ".join(str(rng.random()) for _ in range(40))})
            for i in range(1000)]  # fmt: skip
    bucket = s3_bucket.removeprefix("s3://")
    get_client().put_object(Bucket=bucket, Key="in/a.jsonl.zst", Body=_cut_zstd(rows))
    get_client().put_object(Bucket=bucket, Key="in/b.jsonl", Body="\n".join(_good(2)).encode())
    manifest = plan_shards(f"{s3_bucket}/in/", f"{s3_bucket}/out/", target_docs=5000)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert len(docs) + len(quarantine) == manifest.total_docs
    assert 0 < len(docs) - 2 < 1000 and [d.id for d in docs[-2:]] == ["g0", "g1"]
    assert [q["reason"] for q in quarantine.records()] == ["truncated_file"]


def test_a_damaged_parquet_row_group_quarantines_its_rows_and_reads_the_others(tmp_path):
    rows = [{"id": f"r{i}", "text": f"text number {i} " * 20} for i in range(40)]
    path = tmp_path / "rg.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=20, compression="none",
                   use_dictionary=False)  # fmt: skip
    text_column = pq.ParquetFile(path).metadata.row_group(0).column(1)
    data = bytearray(path.read_bytes())
    at = text_column.data_page_offset + text_column.total_compressed_size // 2
    data[at : at + 64] = b"\xff" * 64  # string lengths in the first group's page now lie
    path.write_bytes(bytes(data))
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=100)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert [d.id for d in docs] == [f"r{i}" for i in range(20, 40)]
    assert [(q["offset"], q["reason"]) for q in quarantine.records()] == [
        (i, "corrupt_row_group") for i in range(20)]
    assert len(docs) + len(quarantine) == manifest.total_docs == 40


def _refined(tmp_path, path):
    """Plan, read and write one shard of ``path``: (documents, quarantine records, output ids)."""
    out = tmp_path / "out"
    manifest = plan_shards(str(path), str(out), target_docs=100)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert len(docs) + len(quarantine) == manifest.total_docs
    acc = write_refined_shard(str(out), 0, refine_rows(docs), quarantine=quarantine)
    assert acc.balanced
    ids = pq.read_table(out / "shards" / "shard-00000.parquet", columns=["id"])["id"]
    return docs, list(quarantine.records()), ids.to_pylist()


PLAIN = b"Some exported page text with several words here\nAnother line\n" * 5


@pytest.mark.parametrize("before", [0, 2])
def test_plain_text_in_a_wet_file_is_a_loss_not_zero_documents(tmp_path, before):
    # warcio parses such lines as old ARC records, which are not conversion records
    texts = [f"page {i}\n" + "words " * 30 for i in range(before)]
    path = tmp_path / "notes.warc.wet"
    path.write_bytes(gzip.decompress(_wet(texts)) + PLAIN)
    docs, quarantined, _ = _refined(tmp_path, path)
    assert [d.text for d in docs] == texts
    assert [(q["offset"], q["reason"]) for q in quarantined] == [(before, "truncated_file")]
    # at the start warcio reads the lines as ARC; after WARC records it refuses them itself
    assert "WARC record" in quarantined[0]["detail"]
    assert "Some exported page text" in quarantined[0]["detail"]


def _conversion(record_id: str, length) -> bytes:
    body = f"Page {record_id}.\n".encode() + b"The quick brown fox jumps over the lazy dog. " * 6
    head = (f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Record-ID: <urn:uuid:{record_id}>\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {length or len(body)}\r\n\r\n")
    return head.encode() + body + b"\r\n\r\n"


def test_a_wet_record_whose_content_length_is_not_a_number_is_named_not_blank(tmp_path):
    path = tmp_path / "cl.warc.wet"
    path.write_bytes(_conversion("y0", None) + _conversion("y1", "abc")
                     + _conversion("y2", None))  # fmt: skip
    docs, quarantined, _ = _refined(tmp_path, path)
    assert [d.id for d in docs] == ["urn:uuid:y0"]
    bad, lost = quarantined  # warcio cannot find y2 once y1's length is unknown
    assert (bad["offset"], bad["id"], bad["reason"]) == (1, "urn:uuid:y1", "bad_record")
    assert "Content-Length 'abc'" in bad["detail"]
    assert (lost["offset"], lost["reason"]) == (2, "truncated_file")


@pytest.mark.parametrize("compressed", [False, True])
def test_a_wet_record_whose_content_length_is_too_short_is_never_published_cut_short(
        tmp_path, compressed):
    """A record whose Content-Length is shorter than its payload (a writer that counted
    characters, not bytes): warcio stops its payload there, warns on stderr and goes on, so
    the record was published as a document cut at that length. It is quarantined now, and
    the record after it is read, as warcio finds it past the remainder (a remainder of
    more than one line ends the file's reading: the one ``truncated_file`` loss); the plan
    counts the same."""
    records = [_conversion("z0", None), _conversion("z1", 25), _conversion("z2", None)]
    path = tmp_path / ("short.warc.wet.gz" if compressed else "short.warc.wet")
    path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in records) if compressed
                     else b"".join(records))  # fmt: skip
    docs, quarantined, ids = _refined(tmp_path, path)
    whole = _conversion("z0", None).split(b"\r\n\r\n")[1].decode()
    assert [d.text for d in docs] == [whole, whole.replace("z0", "z2")]
    assert ids == ["urn:uuid:z0", "urn:uuid:z2"]
    (bad,) = quarantined
    assert (bad["offset"], bad["id"], bad["reason"]) == (1, "urn:uuid:z1", "bad_record")
    assert "Content-Length 25 ends inside the record" in bad["detail"]


def test_each_wet_record_whose_content_length_is_too_short_is_its_own_bad_record(tmp_path,
                                                                                 capsys):
    """In a .warc.wet.gz, a Content-Length cut inside a record's first line leaves lines of
    it that warcio takes for the next record's header: reading stopped there with one
    ``truncated_file``, and every record after it, good ones too, was lost uncounted.
    Each record of a .gz is its own gzip member, so reading now goes on at the next one:
    each such record is a ``bad_record`` (plan, refine and ``prox label`` alike), the rest
    are read. A plain .warc.wet has no such place to go on from (a ``truncated_file``)."""
    from prox_tasks.cli import main

    records = [_conversion("s0", None), _conversion("s1", 5), _conversion("s2", 6),
               _conversion("s3", None), _conversion("s4", 7), _conversion("s5", None)]
    path = tmp_path / "short.warc.wet.gz"
    path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in records))
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=2)
    assert manifest.total_docs == 6 and len(manifest.shards) > 1
    quarantine, docs = Quarantine(), []
    for shard in range(len(manifest.shards)):  # shards after the first start at a byte offset
        docs += read_shard(manifest, shard, quarantine)
    assert [d.id for d in docs] == ["urn:uuid:s0", "urn:uuid:s3", "urn:uuid:s5"]
    assert [(q["id"], q["reason"]) for q in quarantine.records()] == [
        ("urn:uuid:s1", "bad_record"), ("urn:uuid:s2", "bad_record"),
        ("urn:uuid:s4", "bad_record")]  # fmt: skip
    out = tmp_path / "labels.jsonl"
    assert main(["label", "--json", "--input", str(path), "--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["written"], summary["quarantined"]) == (3, {"bad_record": 3})


@pytest.mark.parametrize("compressed", [False, True])
def test_a_wet_content_length_ending_at_a_line_end_is_not_taken_for_the_record_end(
        tmp_path, compressed):
    """A Content-Length too short that ends just before one of the record's line ends: warcio
    takes that line end for the blank line ending the record, counts no error, and reads the
    record's next line as the next record's header. The record was published cut at that
    line, and in a .warc.wet.gz the good record after it was lost to a ``truncated_file``.
    It is a ``bad_record`` now; a .gz goes on at the next gzip member (a plain file, as for
    any short length, cannot)."""
    cut = len(b"Page t1.")  # the payload's first line, without its line end
    records = [_conversion("t0", None), _conversion("t1", cut), _conversion("t2", None)]
    path = tmp_path / ("cut.warc.wet.gz" if compressed else "cut.warc.wet")
    path.write_bytes(b"".join(gzip.compress(r, mtime=0) for r in records) if compressed
                     else b"".join(records))  # fmt: skip
    docs, quarantined, ids = _refined(tmp_path, path)
    assert [d.id for d in docs] == (["urn:uuid:t0", "urn:uuid:t2"] if compressed
                                    else ["urn:uuid:t0"])  # fmt: skip
    assert sorted(ids) == [d.id for d in docs]
    bad, *rest = quarantined
    assert (bad["offset"], bad["id"], bad["reason"]) == (1, "urn:uuid:t1", "bad_record")
    assert f"Content-Length {cut} ends inside the record" in bad["detail"]
    assert [q["reason"] for q in rest] == ([] if compressed else ["truncated_file"])


def test_a_wet_content_length_too_long_in_a_plain_file_is_not_a_document_of_two_records(
        tmp_path):
    """In a plain .warc.wet a Content-Length too long reads on into the records after it:
    warcio hands them out as the record's payload and finds the next header past them. The
    record was published with the next record's WARC headers and text inside it, and that
    record was lost without a count. It is a ``bad_record`` now, the record it ran over in
    its raw; the records after are read."""
    over = _conversion("u2", None)
    body = len(_conversion("u1", None).split(b"\r\n\r\n", 1)[1]) - 4
    length = body + 4 + len(over) - 2  # ends inside the blank lines after u2
    records = [_conversion("u0", None), _conversion("u1", length), over,
               _conversion("u3", None)]
    path = tmp_path / "long.warc.wet"
    path.write_bytes(b"".join(records))
    docs, quarantined, ids = _refined(tmp_path, path)
    assert [d.id for d in docs] == ["urn:uuid:u0", "urn:uuid:u3"]
    assert sorted(ids) == ["urn:uuid:u0", "urn:uuid:u3"]
    (bad,) = quarantined
    assert (bad["offset"], bad["id"], bad["reason"]) == (1, "urn:uuid:u1", "bad_record")
    assert f"Content-Length {length} runs on past the record's end, over the 1 WARC record" \
        in bad["detail"]
    assert "urn:uuid:u2" in bad["raw"]


#: A page on the WARC format quotes two records in a ``<pre>``: a blank line, then a header.
QUOTED_RECORDS = ("WARC/1.0\nWARC-Type: warcinfo\nContent-Length: 0\n\n\nWARC/1.0\n"
                  "WARC-Type: response\nWARC-Target-URI: http://example.com/\n")


def test_a_wet_gz_page_quoting_warc_records_is_a_document_not_a_long_content_length(tmp_path):
    """The check for a Content-Length too long (its payload holding the records it ran on
    over) looked at every record, in a .warc.wet.gz too, where a record's gzip member ends
    it: a page on the WARC format, its text quoting records, written with the right length
    by warcio's own writer, was quarantined as ``bad_record`` "runs on past the record's
    end" (a message that lied). Its text is a document."""
    text = ("Reading WARC files\nA WARC file is a run of records:\n" + QUOTED_RECORDS
            + "Each record ends with two blank lines.\n")  # fmt: skip
    path = tmp_path / "format.warc.wet.gz"
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warc_record(
            "http://docs.example/warc", "conversion", payload=io.BytesIO(text.encode()),
            warc_content_type="text/plain"))  # fmt: skip
    docs, quarantined, ids = _refined(tmp_path, path)
    assert quarantined == [] and [d.text for d in docs] == [text] and len(ids) == 1


def test_a_corrupt_zstd_frame_keeps_the_good_frame_before_it(tmp_path):
    def frame(prefix: str) -> bytes:
        rows = [json.dumps({"id": f"{prefix}{i}", "text": f"document {i} " * 30})
                for i in range(3)]
        return zstandard.ZstdCompressor().compress(("\n".join(rows) + "\n").encode())

    second = bytearray(frame("b"))
    second[4:8] = b"\xff" * 4  # the frame header: the whole frame is unreadable
    path = tmp_path / "z.jsonl.zst"
    path.write_bytes(frame("a") + bytes(second))  # both in one input chunk of the decoder
    docs, quarantined, ids = _refined(tmp_path, path)
    assert [d.id for d in docs] == ["a0", "a1", "a2"]
    assert sorted(ids) == ["a0", "a1", "a2"]
    assert [(q["offset"], q["reason"]) for q in quarantined] == [(3, "truncated_file")]


def test_a_parquet_binary_id_is_its_utf8_text(tmp_path):
    text = "The quick brown fox jumps over the lazy dog near the river. " * 4
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": pa.array([b"k1", b"\xffk", b"k2"], pa.binary()),
                             "text": [text, text + "x", text + "y"]}), path)
    docs, quarantined, ids = _refined(tmp_path, path)
    assert [d.id for d in docs] == ["k1", "k2"]
    assert sorted(ids) == ["k1", "k2"]  # not "b'k1'"
    assert [(q["offset"], q["reason"]) for q in quarantined] == [(1, "bad_id")]
    assert "not UTF-8" in quarantined[0]["detail"]


@pytest.mark.parametrize("kind", [pa.binary(), pa.large_binary()], ids=str)
def test_a_parquet_binary_text_column_is_read_as_utf8_text(tmp_path, kind):
    """Hive and Impala write string columns as plain ``binary`` (no UTF-8 annotation):
    its UTF-8 values are the documents' texts, as a binary id is the id (before, every
    row was quarantined as ``not_text``: 'field 'text' is a bytes'); bytes that are not
    UTF-8 are ``bad_encoding``, naming the byte."""
    text = "Ein schöner Satz über den Fluss, mit ein paar Wörtern mehr darin. " * 4
    path = tmp_path / "a.parquet"
    values = [text.encode(), b"caf\xe9 " + text.encode(), (text + "!").encode(), None]
    pq.write_table(pa.table({"id": ["b0", "b1", "b2", "b3"],
                             "text": pa.array(values, kind)}), path)
    docs, quarantined, ids = _refined(tmp_path, path)
    assert [(d.id, d.text) for d in docs] == [("b0", text), ("b2", text + "!")]
    assert sorted(ids) == ["b0", "b2"]
    assert [(q["offset"], q["reason"], q["id"]) for q in quarantined] == [
        (1, "bad_encoding", "b1"), (3, "missing_text", "b3")]
    assert quarantined[0]["detail"] == ("field 'text' is bytes that are not UTF-8 at byte 3 "
                                        "(0xe9)")


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_nan_and_infinity_in_a_parquet_input_keep_the_meta_column_strict_json(tmp_path):
    """A Parquet float column holds NaN and infinities; the refined shard's ``meta`` is JSON
    that strict parsers (jq, JavaScript, DuckDB) read (before: the bare tokens ``NaN`` and
    ``Infinity``), each such value the string the Protocol Buffers JSON mapping writes."""
    text = "The quick brown fox jumps over the lazy dog near the river. " * 4
    path = tmp_path / "a.parquet"
    nan, inf = float("nan"), float("inf")
    pq.write_table(pa.table({
        "id": ["a", "b", "c"], "text": [text, text + "b", text + "c"],
        "score": pa.array([nan, 0.5, -inf], pa.float64()),
        "scores": pa.array([[inf, 1.0], [], None], pa.list_(pa.float32())),
        "nested": [{"p": nan, "q": "x"}, {"p": 2.0, "q": "y"}, {"p": None, "q": None}],
    }), path)  # fmt: skip
    docs, quarantined, _ = _refined(tmp_path, path)
    assert len(docs) == 3 and quarantined == []
    metas = pq.read_table(tmp_path / "out" / "shards" / "shard-00000.parquet",
                          columns=["meta"])["meta"].to_pylist()
    assert [_strict(m) for m in metas] == [
        {"score": "NaN", "scores": ["Infinity", 1.0], "nested": {"p": "NaN", "q": "x"}},
        {"score": 0.5, "scores": [], "nested": {"p": 2.0, "q": "y"}},
        {"score": "-Infinity", "scores": None, "nested": {"p": None, "q": None}}]


def test_bytes_in_a_parquet_input_reach_the_meta_as_text_or_base64_not_python_reprs(tmp_path):
    """Binary meta columns (Hive and Impala write strings so; hashes, thumbnails) were
    written into the refined ``meta`` as Python reprs, ``"b'hello'"``, which no reader of
    the JSON can turn back into the bytes; a quarantined row's ``raw`` held its non-UTF-8
    text so too. UTF-8 bytes are now their text and other bytes ``{"base64": "…"}``,
    nested ones too."""
    import base64

    text = "The quick brown fox jumps over the lazy dog near the river. " * 4
    path = tmp_path / "a.parquet"
    raw_bytes = b"\xff\xfe\x00"
    pq.write_table(pa.table({
        "id": ["a", "b", "c"],
        "text": pa.array([text.encode(), text.encode() + b"!", b"caf\xe9"], pa.binary()),
        "blob": pa.array([b"hello", raw_bytes, None], pa.binary()),
        "large": pa.array([b"\xc3\xa9t\xc3\xa9", b"", b"x"], pa.large_binary()),
        "digest": pa.array([b"\xfe\x01", b"ab", b"cd"], pa.binary(2)),
        "parts": pa.array([[b"x", raw_bytes], [], None], pa.list_(pa.binary())),
        "nested": pa.array([{"k": b"v"}, {"k": raw_bytes}, {"k": None}],
                           pa.struct([("k", pa.binary())])),
        "kind": pa.array([b"page", b"page", b"pdf"], pa.binary()).dictionary_encode(),
    }), path)  # fmt: skip
    docs, quarantined, _ = _refined(tmp_path, path)
    assert [d.id for d in docs] == ["a", "b"]
    metas = pq.read_table(tmp_path / "out" / "shards" / "shard-00000.parquet",
                          columns=["meta"])["meta"].to_pylist()
    b64 = {"base64": base64.b64encode(raw_bytes).decode()}
    assert [json.loads(m) for m in metas] == [
        {"blob": "hello", "large": "été", "digest": {"base64": "/gE="}, "parts": ["x", b64],
         "nested": {"k": "v"}, "kind": "page"},
        {"blob": b64, "large": "", "digest": "ab", "parts": [], "nested": {"k": b64},
         "kind": "page"}]
    (bad,) = quarantined
    assert (bad["id"], bad["reason"]) == ("c", "bad_encoding")
    assert json.loads(bad["raw"])["text"] == {"base64": base64.b64encode(b"caf\xe9").decode()}
    assert json.loads(bad["raw"])["blob"] is None


def test_columns_named_twice_in_a_parquet_file_are_all_read(tmp_path, caplog):
    """pyarrow writes a schema that names a column twice (a join's two ``text`` columns);
    read as rows, the last column of a name hid the others: their values were lost without
    a word (and the text read was the last one). The first of each name is now read by its
    name, the others as ``NAME#2``, …, with a warning."""
    text = "The quick brown fox jumps over the lazy dog near the river. " * 4
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_arrays(
        [pa.array(["a", "b"]), pa.array([text, text + "b"]), pa.array(["m1", "m2"]),
         pa.array([b"n1", b"\xff"]), pa.array(["other", "x" * 3000])],
        names=["id", "text", "x", "x", "text"]), path)
    docs, quarantined, _ = _refined(tmp_path, path)
    assert quarantined == []
    assert [(d.id, d.text, d.meta) for d in docs] == [
        ("a", text, {"x": "m1", "x#2": "n1", "text#2": "other"}),
        ("b", text + "b", {"x": "m2", "x#2": {"base64": "/w=="}, "text#2": "x" * 3000})]
    assert any("names columns more than once (text, x)" in r.getMessage()
               for r in caplog.records), caplog.records


def test_an_id_is_its_text_whatever_the_column_type_and_nan_is_no_id(tmp_path):
    """A Parquet float id column (pandas writes an integer column holding a null so) gave
    the ids ``"12345.0"`` and ``"nan"``: a whole number that matched no other copy of its
    id, and one id every row with a missing value shared, each after the first quarantined
    as a duplicate. A whole float is now its integer's digits, NaN is no id (the text's
    content hash, as a null), an infinity is ``bad_id``. An integer and its digits as a
    string are one id (the refined id column is text), across files and formats."""
    from prox_tasks.corpus.document import content_id
    from prox_tasks.corpus.duplicates import index_duplicates

    texts = [f"Document {i}: the quick brown fox jumps over the lazy dog." for i in range(6)]
    folder = tmp_path / "in"
    folder.mkdir()
    nan = float("nan")
    pq.write_table(pa.table({"id": pa.array([12345.0, nan, nan, 1.5, float("inf")]),
                             "text": texts[:5]}), folder / "a.parquet")
    pq.write_table(pa.table({"id": pa.array([7], pa.int64()), "text": texts[5:]}),
                   folder / "b.parquet")
    (folder / "c.jsonl").write_text(json.dumps({"id": "12345", "text": "Another text."}) + "\n"
                                    + json.dumps({"id": "7", "text": "And one more."}) + "\n")
    quarantine = Quarantine()
    docs = list(read_documents(str(folder), quarantine=quarantine))
    assert [d.id for d in docs] == ["12345", content_id(texts[1]), content_id(texts[2]), "1.5",
                                    "7", "12345", "7"]
    (bad,) = quarantine.records()
    assert (bad["offset"], bad["reason"], bad["detail"]) == (
        4, "bad_id", "field 'id' is inf: not an id")
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100)
    assert index_duplicates(manifest)["duplicate_ids"] == 2  # 12345 and 7, nothing else


def test_a_decimal_id_is_the_same_id_as_its_number_in_every_reader(tmp_path):
    """A Parquet ``decimal(10,2)`` id column gave ``"12345.00"`` and ``"1.50"``: ids that
    matched no copy of them written as ``12345`` or ``1.5`` elsewhere (JSON ``12345.00``
    reads as ``12345``), so a duplicate went unseen. One rule reads every id: a whole
    number is its integer's digits, another number its shortest text, a NaN decimal no
    id, an infinite one ``bad_id``."""
    from decimal import Decimal

    from prox_tasks.corpus.document import content_id
    from prox_tasks.corpus.duplicates import index_duplicates

    folder = tmp_path / "in"
    folder.mkdir()
    texts = [f"Text number {i} of the decimal id test." for i in range(5)]
    pq.write_table(pa.table({"id": pa.array([Decimal("12345.00"), Decimal("1.50"),
                                             Decimal("-0.00"), None, Decimal("7.25")],
                                            pa.decimal128(10, 2)), "text": texts}),
                   folder / "a.parquet")  # fmt: skip
    (folder / "b.jsonl").write_text("".join(
        json.dumps({"id": i, "text": t}).replace('"@', "").replace('@"', "") + "\n"
        for i, t in [("@12345.00@", "Another text."), ("@1.50@", "And another."),
                     ("7.25", "A string id.")]))  # fmt: skip
    docs = list(read_documents(str(folder)))
    assert [d.id for d in docs] == ["12345", "1.5", "0", content_id(texts[3]), "7.25",
                                    "12345", "1.5", "7.25"]  # fmt: skip
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100)
    assert index_duplicates(manifest)["duplicate_ids"] == 3


@pytest.mark.parametrize("rows, text_chars, compress", [
    (3, 300, None), (3000, 300, gzip.compress), (4, 100_000, None),
    (3, 300, lambda b: b.decode().encode("utf-16"))],
    ids=["short", "gzip_over_a_line", "first_line_over_the_head", "utf16"])
def test_a_file_whose_lines_end_in_a_lone_cr_is_read_line_by_line(tmp_path, rows, text_chars,
                                                                  compress):
    """A file written with classic Mac OS line ends (CR alone) was one line to the reader:
    all its documents counted as one record and quarantined whole (``Extra data``, or
    ``too_large`` past a line's limit), so ``prox refine`` said "refined 1 document". Its
    lone CRs are line ends now: every document read once, at its line, as the plan counts
    them — whatever the line's length against the bytes looked at first, compressed or
    UTF-16."""
    text = ("A line of a page that is long enough to count for something here. " * 1600
            )[:text_chars]  # fmt: skip
    body = b"\r".join(json.dumps({"id": f"m{i}", "text": text}).encode()
                      for i in range(rows)) + b"\r{bad\r"
    path = tmp_path / "in" / "mac.jsonl"
    path.parent.mkdir()
    path.write_bytes(compress(body) if compress else body)
    manifest = plan_shards(str(path.parent), str(tmp_path / "out"), target_docs=1000)
    assert manifest.total_docs == rows + 1
    quarantine = Quarantine()
    docs = [d for shard in manifest.shards for d in read_shard(manifest, shard.index, quarantine)]
    assert [(d.id, d.offset, d.text) for d in docs] == [(f"m{i}", i, text) for i in range(rows)]
    # a UTF-16 file's record keeps its own encoding's bytes (its line end read as LF)
    raw = [base64.b64decode(r["raw_b64"]).decode(r["encoding"]) if "encoding" in r
           else r["raw"] for r in quarantine.records()]
    assert [(r["offset"], r["reason"]) for r in quarantine.records()] == [
        (rows, "malformed_json")] and raw == ["{bad\n"]
    assert ["encoding" in r for r in quarantine.records()] == [compress is not None
                                                               and compress is not gzip.compress]


def test_lone_crs_are_line_ends_only_in_a_file_whose_first_line_ends_so(tmp_path):
    """CR LF line ends are lines as ever; so is a CR at a chunk's edge. In a file whose first
    line ends in ``\\n`` (two files concatenated, the second a Mac one) a lone CR is no line
    end: that line is one record, quarantined with the hint naming the line ends."""
    text = "A line of a page that is long enough to count for something here. " * 5
    row = json.dumps({"id": "d", "text": text}).encode()
    crlf = tmp_path / "dos.jsonl"
    crlf.write_bytes(row + b"\r\n{bad\r\n")
    quarantine = Quarantine()
    assert [d.id for d in read_documents(str(crlf), quarantine=quarantine)] == ["d"]
    (record,) = quarantine.records()
    assert "carriage" not in record["detail"] and record["raw"] == "{bad\r\n"
    edge = tmp_path / "edge.jsonl"  # a CR as the 65,536th byte, then an LF: a CRLF file
    padded = json.dumps({"id": "e", "text": "x" * (65_536 - 2 - len('{"id": "e", "text": ""}'))})
    edge.write_bytes(padded.encode() + b" \r\n" + row + b"\r\n")
    assert [d.id for d in read_documents(str(edge))] == ["e", "d"]
    twice = tmp_path / "twice.jsonl"  # CR CR LF, a line-end conversion run twice: as ever
    twice.write_bytes(b"".join(json.dumps({"id": f"t{i}", "text": text}).encode() + b"\r\r\n"
                               for i in range(3)))
    assert [(d.id, d.offset) for d in read_documents(str(twice))] == [
        ("t0", 0), ("t1", 1), ("t2", 2)]
    edge.write_bytes(padded.encode() + b"\r\r\n" + row + b"\r\r\n")  # cut inside the run
    assert [(d.id, d.offset) for d in read_documents(str(edge))] == [("e", 0), ("d", 1)]
    spaced = tmp_path / "spaced.jsonl"  # a raw CR is whitespace inside a record: kept there
    spaced.write_bytes(b'{"id": "a", "text": "t"}\n{"id": "s",\r"text": "t"}\r\n')
    assert [(d.id, d.offset) for d in read_documents(str(spaced))] == [("a", 0), ("s", 1)]


def _mixed_line_ends(folder, unix: int, mac: int) -> list[str]:
    """``folder/cat.jsonl``: ``unix`` records ending in ``\\n`` then ``mac`` ending in a lone
    CR (``cat a.jsonl mac.jsonl``), one of them padded across the reader's 64 KiB chunk
    edge; the ids, in order."""
    text = "A line of a page that is long enough to count for something here. " * 5
    ids = [f"u{i}" for i in range(unix)] + [f"m{i}" for i in range(mac)]
    rows = [json.dumps({"id": i, "text": text}).encode() for i in ids]
    head = b"".join(r + b"\n" for r in rows[:unix])
    pad = 65_536 - len(head) - len(rows[unix]) - 2  # row "m0" ends at the edge, then " \r"
    rows[unix] = json.dumps({"id": ids[unix], "text": text + "x" * pad}).encode()
    (folder / "cat.jsonl").write_bytes(head + b" \r".join(rows[unix:]) + b"\r")
    return ids


def test_a_mac_file_appended_to_a_unix_one_is_read_record_by_record(tmp_path, caplog):
    """``cat a.jsonl mac.jsonl``: the records after the first lone CR were one malformed
    record (all of them lost, with only a ``tr`` hint). A lone CR between two records is
    now a line end there too: each record read once at its own offset, by the plan, each
    shard, a replan, and read alike whatever the chunk edges."""
    folder = tmp_path / "in"
    folder.mkdir()
    ids = _mixed_line_ends(folder, unix=3, mac=6)
    quarantine = Quarantine()
    docs = list(read_documents(str(folder), quarantine=quarantine))
    assert [(d.id, d.offset) for d in docs] == [(i, n) for n, i in enumerate(ids)]
    assert len(quarantine) == 0
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "its lines end in \\n, but some records are separated by a lone carriage return (\\r, "
        "classic Mac OS: a file appended to it?): read as line ends"]
    out = str(tmp_path / "out")
    manifest = plan_shards(str(folder), out, target_docs=4)
    assert manifest.total_docs == len(ids) and len(manifest.shards) == 3
    read = [(d.id, d.source, d.offset) for shard in manifest.shards
            for d in read_shard(manifest, shard.index, Quarantine())]  # fmt: skip
    assert read == [(d.id, d.source, d.offset) for d in docs]
    assert plan_shards(str(folder), out, target_docs=4, overwrite=True).id == manifest.id


@pytest.mark.slow
def test_prox_refine_of_mixed_line_ends_with_two_workers_writes_each_record_once(
        tmp_path, tagger_model, capsys):
    """The appended Mac part refined by ``prox refine --workers 2`` and refined again (a
    resume): every record written once, none quarantined, the plan kept."""
    from prox_tasks.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    ids = _mixed_line_ends(folder, unix=4, mac=8)
    out = tmp_path / "out"
    argv = ["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
            str(tagger_model), "--shards", "3", "--workers", "2", "--threads", "1",
            "--no-progress"]
    for _run in range(2):
        assert main(argv) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["docs_read"] == len(ids), summary
    rows = pq.read_table(out / "shards").to_pylist()
    assert sorted((r["id"], r["offset"]) for r in rows) == sorted(
        (i, n) for n, i in enumerate(ids))


@pytest.mark.parametrize("shape", ["pretty", "pretty_array", "one_line_array"])
def test_a_pretty_printed_or_array_file_says_how_to_make_json_lines(tmp_path, shape):
    """``jq . FILE > out.jsonl`` (no ``-c``), ``json.dump(rows, fh, indent=2)``: 3
    documents were 30 bad records (a brace, a key, a bracket a line), each saying only
    'Expecting property name ...', 'Extra data ...' or 'a JSON int, not an object'; and a
    one-line JSON array 'a JSON list, not an object'. Each such record now names the shape
    and the jq command that writes JSON Lines; read_rows (labels, programs) says the same."""
    rows = [{"id": f"p{i}", "text": f"document {i}", "tags": [1, 2]} for i in range(3)]
    text = {"pretty": "\n".join(json.dumps(r, indent=2) for r in rows),
            "pretty_array": json.dumps(rows, indent=2),
            "one_line_array": json.dumps(rows)}[shape]
    path = tmp_path / "export.jsonl"
    path.write_text(text + "\n")
    hint = ("a JSON array of objects: JSON Lines wants one object a line, e.g. jq -c '.[]' "
            "FILE > FILE.jsonl") if shape == "one_line_array" else (
        "the file looks pretty-printed (a JSON value over several lines, as jq or "
        "json.dump(indent=...) write it): JSON Lines wants one object a line, e.g. jq -c . "
        "FILE > FILE.jsonl (an array: jq -c '.[]')")
    for read in (lambda q: read_documents(str(path), quarantine=q),
                 lambda q: read_rows(str(path), quarantine=q)):
        quarantine = Quarantine()
        assert list(read(quarantine)) == []
        records = list(quarantine.records())
        assert records and all(r["detail"].endswith("; " + hint) for r in records), records
        assert len(records) == len(text.splitlines())
    ok = tmp_path / "ok.jsonl"  # a good line is no hint's business; nor a bad one's shape
    ok.write_text(json.dumps(rows[0]) + "\n" + '{"id": "x", "text": "a" "b"}\n' + "[1, 2]\n")
    quarantine = Quarantine()
    assert [d.id for d in read_documents(str(ok), quarantine=quarantine)] == ["p0"]
    assert [r["detail"] for r in quarantine.records()] == [
        "Expecting ',' delimiter at column 25", "a JSON list, not an object"]


def test_a_zero_filled_file_or_tail_says_so(tmp_path):
    """A file a crash left zero-filled (or with a zero-filled end): each such line was
    'Expecting value at column 1'; the detail now says what the bytes are and the fix."""
    text = "A line of a page that is long enough to count for something here. " * 5
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(b"\0" * 100_000)
    (tmp_path / "in" / "b.jsonl").write_bytes(json.dumps({"id": "b", "text": text}).encode()
                                              + b"\n" + b"\0" * 3000)
    (tmp_path / "in" / "c.jsonl").write_bytes(b'\0{"id": "c"}\n')  # a zero, then JSON: no hint
    quarantine = Quarantine()
    docs = list(read_documents(str(tmp_path / "in"), quarantine=quarantine))
    assert [d.id for d in docs] == ["b"]
    records = list(quarantine.records())
    assert [(r["source"].rsplit("/", 1)[1], r["offset"], r["reason"]) for r in records] == [
        ("a.jsonl", 0, "malformed_json"), ("b.jsonl", 1, "malformed_json"),
        ("c.jsonl", 0, "malformed_json")]
    hint = ("; the line is zero bytes only: the file was left zero-filled (a writer that "
            "died, a crash that lost its end): write it again from its source")
    assert [r["detail"].endswith(hint) for r in records] == [True, True, False]


def test_malformed_json_detail_reads_as_a_sentence(tmp_path):
    """A raw tab or NUL inside a string (a writer that pasted text into JSON by hand) said
    'Invalid control character at column 25': which character, and what to do, now too."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id": "a", "text": "raw\ttab inside a string"}\n'
                     b'{"id": "b", "text": "raw\x00nul"}\n')
    quarantine = Quarantine()
    assert list(read_documents(str(path), quarantine=quarantine)) == []
    assert [r["detail"] for r in quarantine.records()] == [
        "Invalid control character at column 25; a raw tab (0x09) inside a string, which "
        "JSON wants escaped (\\t): the file's writer did not escape it; write it with a JSON "
        "library (json.dumps, jq -c)",
        "Invalid control character at column 25; a raw NUL (0x00) inside a string, which "
        "JSON wants escaped (\\u0000): the file's writer did not escape it; write it with a "
        "JSON library (json.dumps, jq -c)"]


def test_control_characters_are_refined_without_loss_and_raw_ones_quarantined(tmp_path,
                                                                              capsys):
    """Every control character (NUL, ESC, the C1 NEL, U+2028…) in a text, escaped in JSON
    or held by a Parquet string, reaches the refined shard as it was, as does a row's other
    field holding them; a JSONL line holding them raw inside a string (invalid JSON) is one
    counted ``malformed_json`` each, naming the character, its raw line kept in the
    quarantine byte for byte. Pins behaviour checked with no fix needed."""
    from prox_tasks.cli import main
    from prox_tasks.corpus import read_refined_rows

    controls = "".join(map(chr, [*range(32), 127])) + "\x85\u2028\u2029"
    texts = {f"j{i}": f"Document {i}, {controls} inside it. " + "more words. " * 5
             for i in range(3)}
    folder = tmp_path / "in"
    folder.mkdir()
    raw = [b'{"id": "r0", "text": "a raw \x00 NUL"}\n', b'{"id": "r1", "text": "\x1b[31m red"}\n']
    (folder / "a.jsonl").write_bytes(b"".join(
        [json.dumps({"id": k, "text": t, "note": controls}).encode() + b"\n"
         for k, t in texts.items()] + raw))
    parquet = {f"p{i}": f"Row {i}: {controls}. " + "more words. " * 5 for i in range(2)}
    pq.write_table(pa.table({"id": list(parquet), "text": list(parquet.values())}),
                   folder / "b.parquet")
    out = tmp_path / "out"
    assert main(["refine", "--json", "--input", str(folder), "--output", str(out), "--model",
                 "default", "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["docs_written"], summary["docs_quarantined"]) == (5, 2)
    rows = {r["id"]: r for r in read_refined_rows(str(out))}
    assert {k: r["text"] for k, r in rows.items()} == {**texts, **parquet}
    assert all(rows[k]["meta"]["note"] == controls for k in texts)
    with gzip.open(out / "quarantine" / "shard-00000.jsonl.gz", "rt") as f:
        quarantined = [json.loads(line) for line in f]
    assert [(q["reason"], q["raw"].encode()) for q in quarantined] == [
        ("malformed_json", line) for line in raw]
    assert ["raw NUL (0x00)" in quarantined[0]["detail"],
            "raw escape (0x1b)" in quarantined[1]["detail"]] == [True, True]


@pytest.mark.parametrize("compress", [lambda b: gzip.compress(b, mtime=0),
                                      lambda b: zstandard.ZstdCompressor().compress(b)],
                         ids=["gzip", "zstd"])
def test_a_compressed_file_named_as_plain_jsonl_is_read_by_its_content(
        tmp_path, s3_bucket, compress, caplog):
    """``part-0.jsonl`` holding gzip (a download saved without ``.gz``): each document is
    read once, as the planner counts it — not quarantined as ``bad_encoding`` lines of
    binary noise whose number has nothing to do with the documents in it — and the file is
    counted once as an input notice with a warning naming it, as the reverse case is (it
    was read without a word). Local and S3."""
    from prox_tasks.storage import get_client

    lines = _good(6)
    bucket = s3_bucket.removeprefix("s3://")
    get_client().put_object(Bucket=bucket, Key="in/part-0.jsonl",
                            Body=compress(("\n".join(lines) + "\n").encode()))
    local = tmp_path / "in"
    local.mkdir()
    (local / "part-0.ndjson").write_bytes(compress(("\n".join(lines) + "\n").encode()))
    for root in (str(local), f"{s3_bucket}/in/"):
        caplog.clear()
        manifest = plan_shards(root, f"{root.rstrip('/')}-out", target_docs=100)
        quarantine = Quarantine()
        docs = list(read_shard(manifest, 0, quarantine))
        assert (manifest.total_docs, len(quarantine)) == (6, 0)
        assert [d.id for d in docs] == [f"g{i}" for i in range(6)]
        assert quarantine.notices == {"misnamed_compression": 1}
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any("is named as uncompressed (it starts b'" in w for w in warned), warned


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_a_plain_file_named_as_compressed_is_read_as_plain_text_with_a_warning(
        tmp_path, s3_bucket, suffix, caplog):
    """``crawl.jsonl.gz`` holding plain JSON Lines (a tool that named its output before
    compressing, or gunzip without a rename): the reverse of the case above. Its documents
    are read, as the planner counts them, with one warning naming the file — not one
    ``truncated_file`` entry standing for every document in it. Local and S3."""
    from prox_tasks.storage import get_client

    body = ("\n".join(_good(6)) + "\n").encode()
    bucket = s3_bucket.removeprefix("s3://")
    get_client().put_object(Bucket=bucket, Key=f"plain/part-0{suffix}", Body=body)
    local = tmp_path / "plain"
    local.mkdir()
    (local / f"part-0{suffix}").write_bytes(body)
    named = {".jsonl.gz": "gzip", ".jsonl.zst": "zstd"}[suffix]
    for root in (str(local), f"{s3_bucket}/plain/"):
        caplog.clear()
        manifest = plan_shards(root, f"{root.rstrip('/')}-out", target_docs=100)
        quarantine = Quarantine()
        docs = list(read_shard(manifest, 0, quarantine))
        assert (manifest.total_docs, len(quarantine)) == (6, 0), list(quarantine.records())
        assert [d.id for d in docs] == [f"g{i}" for i in range(6)]
        assert quarantine.notices == {"misnamed_compression": 1}
        warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert any(f"part-0{suffix} is named as {named} but is not {named}" in w
                   and "read as plain text" in w for w in warned), warned


def test_bytes_after_the_last_gzip_member_are_named_as_such_not_a_cut(tmp_path):
    """A .gz with bytes after its last member that are not gzip (an appended note, a
    transfer's padding): every document was read, but its one ``truncated_file`` entry
    said "gzip stream truncated or corrupt: Not a gzipped file (b'ga')", as for a file cut
    in half. It now says what the bytes are and that every member before them was read."""
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(_good(5)) + "\n").encode()) + b"garbage\n")
    quarantine = Quarantine()
    assert [d.id for d in read_documents(str(path), quarantine=quarantine)] == [
        f"g{i}" for i in range(5)]
    (lost,) = quarantine.records()
    assert (lost["offset"], lost["reason"]) == (5, "truncated_file")
    assert lost["detail"].startswith(
        "gzip stream: the bytes after its last whole member are not gzip (b'ga'; gzip -d "
        "calls them trailing garbage): every member before them was read"), lost["detail"]


def test_a_zstd_file_written_with_a_long_window_is_read_not_called_corrupt(tmp_path):
    """``zstd --long=31`` (streamed: the frame asks for a 2 GiB window) was refused by
    libzstd's default 128 MiB limit: the whole file one ``truncated_file`` entry, "zstd
    stream corrupt ...: Frame requires too much memory for decoding", every document lost.
    Windows up to the format's largest are read."""
    params = zstandard.ZstdCompressionParameters(window_log=31, enable_ldm=True)
    path = tmp_path / "long.jsonl.zst"
    with open(path, "wb") as fh, zstandard.ZstdCompressor(
            compression_params=params).stream_writer(fh) as writer:
        writer.write(("\n".join(_good(50)) + "\n").encode())
    assert zstandard.get_frame_parameters(path.read_bytes()).window_size == 1 << 31
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=100)
    quarantine = Quarantine()
    assert [d.id for d in read_shard(manifest, 0, quarantine)] == [f"g{i}" for i in range(50)]
    assert (manifest.total_docs, len(quarantine)) == (50, 0)


@pytest.mark.parametrize("name, outer, inner", [
    ("a.jsonl.gz", "gzip", "gzip"), ("a.jsonl.gz", "gzip", "zstd"),
    ("a.jsonl.zst", "zstd", "gzip"), ("a.jsonl", "gzip", "gzip")])
def test_a_file_compressed_twice_is_one_loss_saying_so(tmp_path, name, outer, inner):
    """A ``.gz`` compressed once more (a download saved with its ``Content-Encoding:
    gzip``, gzip run twice) was read as lines of binary noise: its documents became a
    count of ``bad_encoding`` records that had nothing to do with them, each advising to
    re-encode the file with iconv. It is now one ``truncated_file`` entry naming both
    layers and the command that takes the outer one off, planned as read."""
    compress = {"gzip": lambda b: gzip.compress(b, mtime=0),
                "zstd": lambda b: zstandard.ZstdCompressor().compress(b)}
    folder = tmp_path / "in"
    folder.mkdir()
    body = ("\n".join(_good(300)) + "\n").encode()
    (folder / name).write_bytes(compress[outer](compress[inner](body)))
    lost = _the_one_file_lost(folder, tmp_path)
    tool = {"gzip": "gzip -dc", "zstd": "zstd -dc"}[outer]
    assert f"{name} is compressed twice ({inner} inside {outer}): take the outer layer off " \
           f"({tool} FILE > FILE2, named for the {inner} inside)" in lost["detail"], lost


def test_a_binary_file_named_gz_that_is_not_gzip_is_one_loss_saying_so(tmp_path):
    """Neither gzip nor text (bzip2 bytes named ``.jsonl.gz``): not read as lines of binary
    noise, but one ``truncated_file`` entry whose detail says what the file is."""
    import bz2

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl.gz").write_bytes(bz2.compress(("\n".join(_good(6)) + "\n").encode()))
    (tmp_path / "in" / "b.jsonl").write_text("\n".join(_good(2, "b")) + "\n")
    quarantine = Quarantine()
    docs = list(read_documents(str(tmp_path / "in"), quarantine=quarantine))
    assert [d.id for d in docs] == ["b0", "b1"]
    (lost,) = quarantine.records()
    assert lost["reason"] == "truncated_file"
    assert "named as gzip but is bzip2 (it starts b'BZh" in lost["detail"], lost["detail"]


def _zip(data: bytes) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("part-0.jsonl", data)
    return buffer.getvalue()


def _parquet(data: bytes) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([json.loads(line) for line in data.splitlines()]),
                   buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name, make, said", [
    ("a.jsonl", lambda b: __import__("bz2").compress(b), "is not text but bzip2"),
    ("a.jsonl", lambda b: __import__("lzma").compress(b), "is not text but xz"),
    ("a.ndjson", _zip, "is not text but a zip archive"),
    ("a.jsonl", _parquet, "is not text but Parquet"),
    ("a.jsonl.gz", lambda b: __import__("lzma").compress(b), "is named as gzip but is xz"),
    ("a.jsonl.gz", lambda b: gzip.compress(__import__("bz2").compress(b)),
     "holds bzip2 inside its gzip")],
    ids=["bzip2", "xz", "zip", "parquet", "xz_named_gz", "bzip2_in_gzip"])
def test_a_file_in_a_format_no_text_reader_reads_is_one_loss_naming_it(tmp_path, name, make,
                                                                        said):
    """A JSON Lines file that is bzip2, xz, a zip archive or Parquet under a plain name
    (or inside its gzip) was read as lines of binary noise: some count of ``bad_encoding``
    records unrelated to its documents (300 documents: 18 records), each advising to
    re-encode the file with iconv. It is one ``truncated_file`` entry now, planned as read,
    naming what the file is and what to do; ``--format jsonl`` refuses it at once."""
    from prox_tasks.corpus.readers import FormatMismatch, input_files

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name).write_bytes(make(("\n".join(_good(300)) + "\n").encode()))
    lost = _the_one_file_lost(folder, tmp_path)
    assert f"{name} {said}" in lost["detail"] and "which prox does not read" in lost["detail"]
    spark = tmp_path / "part-0.json"  # a name that tells nothing: read as --format says
    spark.write_bytes((folder / name).read_bytes())
    plainly = said.replace("is named as gzip but is", "is not text but")
    with pytest.raises(FormatMismatch, match=f"part-0.json {plainly}.*which prox does not"):
        input_files(str(spark), "jsonl")


@pytest.mark.parametrize("name, make, said", [
    ("a.jsonl.bz2", lambda b: __import__("bz2").compress(b), "is not text but bzip2"),
    ("a.ndjson.xz", lambda b: __import__("lzma").compress(b), "is not text but xz"),
    ("a.jsonl.zip", _zip, "is not text but a zip archive")], ids=["bz2", "xz", "zip"])
def test_a_jsonl_file_compressed_as_prox_does_not_read_is_one_loss_not_skipped(
        tmp_path, name, make, said):
    """A ``part-0.jsonl.bz2`` in an input folder was skipped as "not JSONL, Parquet or
    WET", a log line only: its documents were left out of the run, the summary and the
    gate none the wiser. It is one counted ``truncated_file`` loss now, saying what to do;
    ``--format jsonl`` refuses it at once, as it does such a file under a plain name."""
    from prox_tasks.corpus.readers import FormatMismatch, input_files

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / name).write_bytes(make(("\n".join(_good(300)) + "\n").encode()))
    lost = _the_one_file_lost(folder, tmp_path)
    assert f"{name} {said}" in lost["detail"] and "which prox does not read" in lost["detail"]
    with pytest.raises(FormatMismatch, match=f"{name} {said}.*which prox does not"):
        input_files(str(folder), "jsonl")
    (folder / name).write_bytes(("\n".join(_good(1, "p")) + "\n").encode())  # misnamed text
    assert [d.id for d in read_documents(str(folder))] == ["p0", "b0", "b1"]


@pytest.mark.parametrize("forced", ["jsonl", "wet"])
def test_a_parquet_file_named_so_under_a_forced_text_format_says_to_drop_it(tmp_path, capsys,
                                                                           forced):
    """``prox plan --input c4.parquet --format jsonl`` advised to "name it .parquet", which
    it is, after saying prox does not read Parquet, which it does: the advice is now to drop
    --format or pass --format parquet."""
    from prox_tasks.cli import main

    path = tmp_path / "c4.parquet"
    path.write_bytes(_parquet(("\n".join(_good(3)) + "\n").encode()))
    assert main(["plan", "--input", str(path), "--output", str(tmp_path / "out"),
                 "--format", forced, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "drop --format" in err and "pass --format parquet" in err, err
    assert "name it .parquet" not in err and "does not read as text" in err
    assert main(["plan", "--input", str(path), "--output", str(tmp_path / "out"),
                 "--no-progress"]) == 0  # what the advice says works


def test_a_plan_that_counted_a_lone_cr_file_as_one_line_is_refused_not_read_short(tmp_path):
    """A folder planned when a file with lone-CR line ends was one line: the plan holds it
    as one record of the whole file's bytes. Read by that plan now, line 0 is its first
    document only, and the shard would balance with the others lost; it is refused
    (``StalePlan``) instead. A one-document Mac file planned now is read by its plan, and
    a one-record file rewritten since planning is named as changed, not as a stale plan."""
    import dataclasses

    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan
    from prox_tasks.corpus.planner import StalePlan

    text = "A line of a page that is long enough to count for something here. " * 5
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [json.dumps({"id": f"m{i}", "text": text}).encode() for i in range(5)]
    (folder / "a.jsonl").write_bytes(b"\r".join(rows) + b"\r")
    (folder / "b.jsonl").write_bytes(rows[0] + b"\r")  # one document, CR-ended
    now = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100, write=False)
    a, b = now.files
    assert (a.records, b.records) == (5, 1)
    old_a = dataclasses.replace(a, records=1, bytes=a.size)  # as the older prox scanned it
    old = Manifest(now.input_uri, now.output_uri, now.settings, [old_a, b], [
        ShardPlan(0, 1, a.size, [Segment(a.uri, "jsonl", 0, 1, 1, a.size)]),
        ShardPlan(1, 1, b.bytes, [Segment(b.uri, "jsonl", 0, 1, 1, b.bytes)])])
    with pytest.raises(StalePlan, match="prox refine --replan, prox plan --overwrite.*a.jsonl as one record"):
        list(read_shard(old, 0, Quarantine()))
    assert [d.id for d in read_shard(old, 1, Quarantine())] == ["m0"]
    (folder / "b.jsonl").write_bytes(rows[1] + b"\r" + rows[2] + b"\r")
    with pytest.raises(RuntimeError, match="changed since the manifest was planned"):
        list(read_shard(old, 1, Quarantine()))


def test_a_plan_that_read_a_multi_record_file_otherwise_is_refused_not_read_short(tmp_path):
    """An older prox read a file whose first lines end in a lone CR as 3 lines (two of them
    a record each, one holding three); it is now read as 5 records. The lone-record check
    of a stale plan did not cover it: records 0-2 read now hold 3 documents, and the last 2
    were never refined. The bytes a JSONL range reads are checked against the plan's, and the
    plan refused (``StalePlan``); a plan made now reads its file as planned."""
    import dataclasses

    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan
    from prox_tasks.corpus.planner import StalePlan, read_snapshot

    rows = [json.dumps({"id": f"m{i}", "text": "A line of a page. " * 4}).encode()
            for i in range(5)]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"\r".join(rows[:3]) + b"\n" + rows[3] + b"\n"
                                     + rows[4] + b"\n")
    now = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100, write=False)
    (a,) = now.files
    assert a.records == 5
    old_a = dataclasses.replace(a, records=3)  # as the older prox scanned it: 3 lines
    old = Manifest(now.input_uri, now.output_uri, now.settings, [old_a],
                   [ShardPlan(0, 3, a.bytes, [Segment(a.uri, "jsonl", 0, 3, 3, a.bytes)])])
    for read in (lambda: read_shard(old, 0, Quarantine()),
                 lambda: read_snapshot(old, Quarantine())):
        with pytest.raises(StalePlan, match="prox plan --overwrite.*a.jsonl records 0-2 as"):
            list(read())
    assert [d.id for d in read_shard(now, 0, Quarantine())] == [f"m{i}" for i in range(5)]


def test_overwriting_a_stale_plan_of_unchanged_files_plans_them_again(tmp_path):
    """StalePlan's way out is to plan the folder again (prox plan --overwrite, prox refine
    --replan, the DAG's reprocess=true); but the files an older prox counted otherwise are
    unchanged, so planning found the old plan 'unchanged' and kept it: every refine failed
    again with the same StalePlan. Overwriting plans the input again."""
    import dataclasses

    from prox_tasks.corpus.manifest import Manifest, Segment, ShardPlan
    from prox_tasks.corpus.planner import StalePlan
    from prox_tasks.storage import put_atomic

    rows = [json.dumps({"id": f"m{i}", "text": "A line of a page. " * 4}).encode()
            for i in range(5)]
    folder, out = tmp_path / "in", str(tmp_path / "out")
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(b"\r".join(rows[:3]) + b"\n" + rows[3] + b"\n"
                                     + rows[4] + b"\n")
    now = plan_shards(str(folder), out, target_docs=100, write=False)
    (a,) = now.files
    old = Manifest(now.input_uri, now.output_uri, now.settings,
                   [dataclasses.replace(a, records=3)],  # as the older prox scanned it
                   [ShardPlan(0, 3, a.bytes, [Segment(a.uri, "jsonl", 0, 3, 3, a.bytes)])])
    put_atomic(old.uri, old.to_json())
    with pytest.raises(StalePlan, match="prox plan --overwrite"):  # a rerun: its duplicate ids
        plan_shards(str(folder), out, target_docs=100)
    replanned = plan_shards(str(folder), out, target_docs=100, overwrite=True)
    assert replanned.id == now.id and replanned.files[0].records == 5
    assert [d.id for d in read_shard(out, 0, Quarantine())] == [f"m{i}" for i in range(5)]


def _the_one_file_lost(folder, tmp_path) -> dict:
    """Plan and read ``folder`` (its one unreadable file, and a good b.jsonl of 2 documents
    written here): the good documents read, the bad file one ``truncated_file`` entry (its
    quarantine record returned)."""
    (folder / "b.jsonl").write_text("\n".join(_good(2, "b")) + "\n")
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100)
    quarantine = Quarantine()
    docs = [d for shard in manifest.shards for d in read_shard(manifest, shard.index, quarantine)]
    assert [d.id for d in docs] == ["b0", "b1"] and manifest.total_docs == 3
    (lost,) = quarantine.records()
    assert (lost["offset"], lost["reason"]) == (0, "truncated_file")
    return lost


@pytest.mark.slow
def test_input_losses_are_counted_as_what_they_are_in_the_summary_and_the_gate(
        tmp_path, tagger_model):
    """The rows of a Parquet row group that cannot be decoded were each a ``corrupt_file``
    entry, the reason of a whole file's unread rest: ``prox refine`` left the 20 documents
    out of documents_read and said '20 input files not read to its end' of one file. A WET
    file cut inside a record's payload was one ``truncated_record`` and no input loss: the
    gate released it though the records after the cut are lost uncounted. Readers and gate
    now share one list: each row of a bad row group is a ``corrupt_row_group`` document,
    and both are input losses the gate counts."""
    import random

    from prox_tasks.quality import run_gate
    from prox_tasks.refine import refine_corpus

    folder = tmp_path / "in"
    folder.mkdir()
    rows = [{"id": f"r{i}", "text": f"text number {i} " * 20} for i in range(40)]
    path = folder / "rg.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=20, compression="none",
                   use_dictionary=False)  # fmt: skip
    text_column = pq.ParquetFile(path).metadata.row_group(0).column(1)
    data = bytearray(path.read_bytes())
    at = text_column.data_page_offset + text_column.total_compressed_size // 2
    data[at : at + 64] = b"\xff" * 64  # string lengths in the first group's page now lie
    path.write_bytes(bytes(data))
    rng = random.Random(2)
    texts = [f"page {i}\n" + "\n".join(str(rng.random()) for _ in range(300)) for i in range(4)]
    wet, three = _wet(texts), len(_wet(texts[:3]))
    (folder / "crawl.warc.wet.gz").write_bytes(wet[: three + (len(wet) - three) // 2])
    out = tmp_path / "out"
    summary = refine_corpus(str(folder), str(out), model=str(tagger_model))
    assert summary["quarantine_reasons"] == {"corrupt_row_group": 20, "truncated_record": 1}
    assert summary["files_cut"] == 0
    assert summary["documents_read"] == summary["docs_read"] == 44
    gate = run_gate(str(out))
    assert gate.metrics["input_losses"] == 21 and not gate.passed


def test_a_record_of_one_huge_line_is_scanned_as_fast_as_many_lines(tmp_path):
    """A 300 MB single-line record (too_large) took prox refine 52 s: until its first line
    end, every 64 KiB read was searched for one with a regular expression (~30 MB/s, for the
    plan and again for the read). It is found with bytes.find now (12 s in all): the one
    line is scanned no slower than the same bytes as short lines (the best of three, in
    CPU time: wall time on a loaded machine is the scheduler's share, which changes between
    the two timings: 0.62 s against 0.07 s once in 12 runs beside two busy loops)."""
    import time

    from prox_tasks.corpus import jsonl

    size = 24 << 20
    one = tmp_path / "one.jsonl"
    one.write_bytes(b'{"id": "h", "text": "' + b"word " * (size // 5) + b'"}\n')
    many = tmp_path / "many.jsonl"
    line = json.dumps({"id": "m", "text": "word " * 200}).encode() + b"\n"
    many.write_bytes(line * (size // len(line)))

    def best(path) -> float:
        times = []
        for _ in range(3):
            start = time.process_time()
            for _record in jsonl.scan(str(path), 1 << 20):
                pass
            times.append(time.process_time() - start)
        return min(times)

    assert best(one) < 2 * best(many) + 0.05


def test_files_joined_without_a_line_end_or_a_bom_inside_a_line_say_so(tmp_path):
    """``cat a.jsonl b.jsonl`` of a file whose last line has no line end joins two records
    on one line (with b's byte order mark between them when it has one); a BOM pasted inside
    a line breaks it too. Each was 'Extra data at column 25' or 'Expecting property name…',
    naming neither the cause nor the fix; the detail now names both."""
    rows = [json.dumps({"id": f"j{i}", "text": f"document {i}"}).encode() for i in range(4)]
    path = tmp_path / "cat.jsonl"
    path.write_bytes(rows[0] + rows[1] + b"\n" + rows[2] + b"\xef\xbb\xbf" + rows[3] + b"\n"
                     + b'{"id": "k",\xef\xbb\xbf "text": "x"}\n')
    quarantine = Quarantine()
    assert list(read_documents(str(path), quarantine=quarantine)) == []
    joined = ("; two JSON objects on one line: a file whose last line has no line end was "
              "joined to another (cat a.jsonl b.jsonl): end each file with a line end before "
              "joining them, e.g. sed -e '$a\\' a.jsonl")
    assert [(r["offset"], r["reason"], r["detail"]) for r in quarantine.records()] == [
        (0, "malformed_json", "Extra data at column 35" + joined),
        (1, "malformed_json", "Extra data at column 35" + joined),
        (2, "malformed_json", "Expecting property name enclosed in double quotes at column 12; "
         "a byte order mark (U+FEFF) at column 12, inside the line: remove it, e.g. "
         "sed 's/\\xef\\xbb\\xbf//g' FILE")]


def test_a_whole_number_id_too_large_for_a_float_keeps_its_digits(tmp_path):
    """A JSON id written ``123456789012345678901.0`` (a float column exported as JSON) was
    read through a float: the id ``123456789012345683968``, digits the record never had, and
    ``12345678901234567.0`` became ``12345678901234568``, the id of another record. Such an id
    keeps its own digits, the same id as the integer in Parquet or JSON."""
    from prox_tasks.corpus.duplicates import index_duplicates

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text(
        '{"id": 123456789012345678901.0, "text": "One text.", "score": 12345678901234567.0}\n'
        '{"id": 12345678901234567.00, "text": "Another text."}\n'
        '{"id": 12345678901234568, "text": "A third text."}\n')
    pq.write_table(pa.table({"id": pa.array([12345678901234567], pa.int64()),
                             "text": ["The second again."]}), folder / "b.parquet")
    docs = list(read_documents(str(folder)))
    assert [d.id for d in docs] == ["123456789012345678901", "12345678901234567",
                                    "12345678901234568", "12345678901234567"]
    assert docs[0].meta == {"score": 12345678901234567.0}  # other fields as they were read
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=100)
    assert index_duplicates(manifest)["duplicate_ids"] == 1


def test_a_float32_id_past_its_whole_numbers_is_refused_not_merged(tmp_path):
    """A Parquet ``float`` (float32) id column holds every whole number only up to
    16,777,216: the ids 16777216 and 16777217 were both read as ``"16777216"``, two rows under
    one id (the second quarantined as a duplicate of a text it is not). An id at or past that
    bound (2 ** 53 for a double) is now ``bad_id`` naming the column's type and what to do;
    smaller ones and nulls read as before, and a JSON number's own digits as before."""
    from prox_tasks.corpus.document import content_id
    from prox_tasks.corpus.duplicates import index_duplicates

    path = tmp_path / "a.parquet"
    ids = [1.0, 16777215.0, 16777216.0, 16777217.0, None]
    pq.write_table(pa.table({"id": pa.array(ids, pa.float32()),
                             "text": [f"text number {i}" for i in range(5)]}), path)
    pq.write_table(pa.table({"id": pa.array([2.0**53 - 1, 2.0**53], pa.float64()),
                             "text": ["a double's id", "another double's id"]}),
                   tmp_path / "b.parquet")
    quarantine = Quarantine()
    docs = list(read_documents(str(tmp_path), quarantine=quarantine))
    assert [d.id for d in docs][:3] == ["1", "16777215", content_id("text number 4")]
    assert [d.id for d in docs][3:] == [str(2**53 - 1)]
    bad = [(q["offset"], q["reason"], q["detail"]) for q in quarantine.records()]
    assert [b[:2] for b in bad] == [(2, "bad_id"), (3, "bad_id"), (1, "bad_id")]
    assert bad[0][2].startswith("field 'id' is 16777216 as a float32, which holds every "
                                "whole number only up to 16,777,216")
    assert bad[0][2].endswith("write the ids as integers or strings")
    assert "as a float, which holds every whole number only up to 9,007,199,254,740,992" \
        in bad[2][2]  # fmt: skip
    manifest = plan_shards(str(tmp_path), str(tmp_path / "out"), target_docs=100)
    assert index_duplicates(manifest)["duplicate_ids"] == 0


def test_prox_s_own_bad_id_message_is_said_whole(tmp_path):
    """The float32 id's message was cut at 300 characters: with a long id column name
    (``--id-field``) it lost its way out ("write the ids as integers or strings"). prox's own
    messages are said whole."""
    import numpy as np

    from prox_tasks.corpus.document import RecordError, build_document

    column = "identifier_of_the_crawled_page_" * 8
    with pytest.raises(RecordError) as refused:
        build_document({column: np.float32(2**25), "text": "x"}, "a.parquet", 0,
                       id_field=column)  # fmt: skip
    assert len(refused.value.detail) > 300
    assert refused.value.detail.endswith("write the ids as integers or strings")


def test_a_jsonl_file_compressed_as_prox_does_not_read_given_alone_is_refused_at_once(
        tmp_path, capsys):
    """``prox plan --input part-0.jsonl.bz2`` (the file alone, no --format; or a folder of
    such files only) was refused up front before 6bf3ad3 (no file of a known format);
    taken as JSON Lines since, it planned "1 document" and exited 0, the whole input one
    truncated_file loss the refine's gate failed on later. It is refused at once, saying
    what to do, as under ``--format jsonl``; a misnamed plain file is still read."""
    import bz2

    from prox_tasks.cli import main

    alone = tmp_path / "part-0.jsonl.bz2"
    alone.write_bytes(bz2.compress(("\n".join(_good(3)) + "\n").encode()))
    assert main(["plan", "--input", str(alone), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "part-0.jsonl.bz2 is not text but bzip2" in err and "bzip2 -dc" in err, err
    assert not (tmp_path / "out" / "manifest.json").exists()
    folder = tmp_path / "in"  # a folder of such files only (and a README): the same
    folder.mkdir()
    alone.rename(folder / alone.name)
    (folder / "README.md").write_text("the crawl\n")
    assert main(["plan", "--input", str(folder), "--output", str(tmp_path / "out")]) == 2
    assert "part-0.jsonl.bz2 is not text but bzip2" in capsys.readouterr().err
    alone = folder / alone.name
    alone.write_bytes(("\n".join(_good(2, "p")) + "\n").encode())  # misnamed text: read
    assert [d.id for d in read_documents(str(alone))] == ["p0", "p1"]


def test_a_name_written_twice_with_other_values_is_quarantined_not_one_value_lost(tmp_path):
    """``{"text": "a", "text": "b"}``: Python's json (and jq) kept the last value and lost the
    first without a word, other readers keep the first; which text is the document is not
    knowable. Such a record, a name repeated anywhere in it with another value, is
    quarantined as ``duplicate_key`` naming the name; one repeated with the same value loses
    nothing and is read."""
    words = json.dumps("a plain sentence of words to read " * 3)
    lines = [line.replace("WORDS", words) for line in (
        '{"id": "t", "text": "the first text", "text": "the second text"}',
        '{"id": "same", "text": WORDS, "text": WORDS}',
        '{"id": "m", "text": WORDS, "meta": {"url": "a", "url": "b"}}',
        '{"id": "b", "text": WORDS, "flag": true, "flag": 1}',  # True == 1 in Python
        '{"id": "i", "id": "j", "text": WORDS}',
        '{"id": "ok", "text": WORDS}',
    )]
    path = tmp_path / "repeats.jsonl"
    path.write_text("\n".join(lines) + "\n")
    quarantine = Quarantine()
    docs = list(read_documents(str(path), quarantine=quarantine))
    assert [d.id for d in docs] == ["same", "ok"]
    assert len(docs) + len(quarantine) == len(lines)
    by_offset = {q["offset"]: q for q in quarantine.records()}
    assert {k: q["reason"] for k, q in by_offset.items()} == {
        0: "duplicate_key", 2: "duplicate_key", 3: "duplicate_key", 4: "duplicate_key"}
    assert by_offset[0]["detail"].startswith("the name 'text' is written twice in one object, "
                                             "with other values")
    assert "'url'" in by_offset[2]["detail"] and "'flag'" in by_offset[3]["detail"]
    assert by_offset[0]["raw"].rstrip("\n") == lines[0]  # the record as written, both values
    # the rows of labels and programs are read alike
    rows_quarantine = Quarantine()
    assert [row["id"] for _, _, row in read_rows(str(path), rows_quarantine)] == ["same", "ok"]
    assert dict(rows_quarantine.reasons) == {"duplicate_key": 4}


def _flipped_gzip(rows: list[str]) -> bytes:
    data = bytearray(gzip.compress(("\n".join(rows) + "\n").encode(), compresslevel=0,
                                   mtime=0))  # fmt: skip
    data[data.index(b"document 1")] = ord("D")  # still valid deflate: only the CRC-32 tells
    return bytes(data)


def _flipped_zstd(rows: list[str]) -> bytes:
    data = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(
        ("\n".join(rows) + "\n").encode()))
    data[-1] ^= 0xFF  # the frame's checksum, read after all its blocks
    return bytes(data)


@pytest.mark.parametrize("suffix, flipped, unit", [(".jsonl.gz", _flipped_gzip, "member"),
                                                   (".jsonl.zst", _flipped_zstd, "frame")])
def test_a_compressed_file_failing_its_check_says_the_lines_read_may_be_corrupt(
        tmp_path, suffix, flipped, unit):
    """A flipped byte in a stored (uncompressed) deflate block still decodes: gzip finds it
    only at the member's trailer (CRC-32), zstd a bad frame checksum only after the frame's
    blocks, after their lines were read and published. The loss entry said only 'records
    from line N on are lost'; it now says the lines read from the member (frame) before the
    check may be corrupt too, and to fetch the file again."""
    rows = [json.dumps({"id": f"c{i}", "text": f"document {i} " * 20}) for i in range(3000)]
    path = tmp_path / f"flipped{suffix}"
    path.write_bytes(flipped(rows))
    quarantine = Quarantine()
    docs = list(read_documents(str(path), quarantine=quarantine))
    [entry] = quarantine.records()
    assert docs and entry["reason"] == "truncated_file" and entry["offset"] == len(docs)
    assert f"the lines read from this {unit} before it may be corrupt too; fetch the file " \
        "again" in entry["detail"], entry["detail"]  # fmt: skip
