"""A shard reads its input from where its first record starts (Segment.byte_offset), not
from the file's start: plain JSONL (every kind of line end) and WET."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os

import pytest

from prox_tasks.corpus import Quarantine, load_manifest, plan_shards, read_documents, read_shard
from prox_tasks.corpus.manifest import Manifest
from prox_tasks.corpus.planner import StalePlan, read_snapshot
from tests.corpus.conftest import wet_bytes


def bytes_read(read) -> int:
    """Bytes the process read (``rchar`` of /proc/self/io: every read call, the real file
    reads) while ``read()`` ran."""

    def rchar() -> int:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("rchar"))

    before = rchar()
    read()
    return rchar() - before


def documents(manifest: Manifest, shard: int) -> list[tuple]:
    quarantine = Quarantine()
    docs = [(d.source, d.offset, d.id, d.text) for d in read_shard(manifest, shard, quarantine)]
    return docs + [("quarantined", len(quarantine))]


def without_offsets(manifest: Manifest) -> Manifest:
    """``manifest`` as a plan made before offsets were recorded."""
    shards = [dataclasses.replace(s, segments=[dataclasses.replace(g, byte_offset=None)
                                               for g in s.segments]) for s in manifest.shards]
    return dataclasses.replace(manifest, shards=shards)


def test_the_last_shard_of_a_large_file_reads_from_its_first_record(tmp_path):
    text = "a line of text, repeated to make a document of about a kilobyte. " * 16
    rows = [{"id": f"d{i}", "text": text} for i in range(4000)]  # ~4.3 MB
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = plan_shards(str(tmp_path / "big.jsonl"), str(tmp_path / "out"), target_docs=200)
    assert len(manifest.shards) == 20
    last = manifest.shards[-1]
    list(read_shard(manifest, 0))  # imports and the first open paid before measuring
    read = bytes_read(lambda: list(read_shard(manifest, last.index)))
    # the shard's own bytes and the file's head (its line ends), not the 19 shards before
    assert read < last.bytes + 200_000, f"read {read:,} bytes for a shard of {last.bytes:,}"
    assert bytes_read(lambda: list(read_shard(without_offsets(manifest), last.index))) > \
        path.stat().st_size * 0.9  # fmt: skip


LINE_ENDS = {
    "lf": lambda lines: "\n".join(lines) + "\n",
    "crlf": lambda lines: "\r\n".join(lines) + "\r\n",
    "cr": lambda lines: "\r".join(lines) + "\r",
    # a Mac file appended to a Unix one: lone CRs between records after an LF first line
    "mixed": lambda lines: "\n".join(lines[:3]) + "\n" + "\r".join(lines[3:]) + "\r",
    "cr double": lambda lines: "\r\r\n".join(lines) + "\r\r\n",
}


@pytest.mark.parametrize("ends", sorted(LINE_ENDS))
@pytest.mark.parametrize("long_first", [False, True], ids=["", "first line past the head"])
def test_every_record_is_read_once_by_its_shard_whatever_the_line_ends(tmp_path, ends,
                                                                       long_first):
    first = {"id": "first", "text": "x" * (100_000 if long_first else 10)}
    lines = [json.dumps(first)]
    for i in range(60):
        row = json.dumps({"id": f"d{i}", "text": f"text of document {i} " * (i % 7 + 1)})
        lines.append(row)
        if i % 9 == 4:
            lines.append("")  # a blank line: no record
        if i % 13 == 6:
            lines.append("\ufeff" + json.dumps({"id": f"bom{i}", "text": "after a BOM"}))
        if i % 17 == 3:
            lines.append("{not json")  # quarantined by its shard
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(LINE_ENDS[ends](lines).encode())
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(LINE_ENDS[ends](lines[:20]).encode()))
    manifest = plan_shards(str(folder), str(tmp_path / "out"), target_docs=7)
    offsets = {g.file.rsplit("/", 1)[1]: g.byte_offset for s in manifest.shards
               for g in s.segments if g.start}  # fmt: skip
    assert offsets["a.jsonl"] and offsets["b.jsonl.gz"] is None  # gzip: no offset to seek
    old = without_offsets(manifest)
    seen = []
    for shard in manifest.shards:
        docs = documents(manifest, shard.index)
        assert docs == documents(old, shard.index)  # as read from the file's start
        seen += [d[:2] for d in docs[:-1]]
    everything = [(d.source, d.offset) for d in read_documents(str(folder),
                                                                quarantine=Quarantine())]
    assert seen == everything and len(set(seen)) == len(seen)
    assert [(s, d.source, d.offset) for s, d in read_snapshot(manifest, Quarantine())] == \
        [(s, d.source, d.offset) for s, d in read_snapshot(old, Quarantine())]  # fmt: skip


def test_the_offset_is_not_part_of_the_plan_id_and_an_old_plan_reads_as_before(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": f"t{i}"}) + "\n" for i in range(30)))
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=10)
    assert [s.segments[0].byte_offset for s in manifest.shards] == [0, 240, 500]
    old = without_offsets(manifest)
    assert old.compute_id() == manifest.id
    # a manifest.json written before offsets: no such key; it loads, keeps its id, reads
    assert "byte_offset" not in old.to_json()
    (tmp_path / "out" / "manifest.json").write_text(old.to_json())
    loaded = load_manifest(str(tmp_path / "out"))
    assert loaded.id == manifest.id and loaded.shards[2].segments[0].byte_offset is None
    assert documents(loaded, 2) == documents(manifest, 2)
    # planning again over it keeps it (the same plan), as before offsets
    assert plan_shards(str(path), str(tmp_path / "out"), target_docs=10).id == manifest.id


def test_a_file_rewritten_since_planning_is_refused_not_read_from_its_offset(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"id": f"d{i:02d}", "text": f"text {i:02d}"} for i in range(30)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=10)
    # the same size, other records: the offsets still fall on line starts
    path.write_text("".join(json.dumps({**r, "id": r["id"].upper()}) + "\n" for r in rows))
    with pytest.raises(RuntimeError, match="changed since the manifest was planned"):
        list(read_shard(manifest, 2))


def test_an_offset_that_is_no_line_start_is_refused(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": f"t{i}"}) + "\n" for i in range(30)))
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=10)
    manifest.shards[2].segments[0].byte_offset += 3  # an edited plan
    with pytest.raises(StalePlan, match="byte 503 is not where a line starts"):
        list(read_shard(manifest, 2))


@pytest.mark.parametrize("name", ["a.warc.wet.gz", "a.warc.wet"])
def test_a_wet_shard_reads_from_where_its_first_record_starts(tmp_path, name):
    texts = [f"{i} " + os.urandom(1000).hex() for i in range(300)]
    path = tmp_path / name
    path.write_bytes(wet_bytes(texts, compress=name.endswith(".gz")))
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=30)
    offsets = [s.segments[0].byte_offset for s in manifest.shards]
    assert len(offsets) == 10 and offsets == sorted(set(offsets))
    data = path.read_bytes()
    for at in offsets:  # each a record's first byte (its gzip member's)
        assert (gzip.decompress(data[at:]) if name.endswith(".gz") else data[at:]).startswith(
            b"WARC/1.")
    old = without_offsets(manifest)
    for shard in manifest.shards:
        assert documents(manifest, shard.index) == documents(old, shard.index)
    list(read_shard(manifest, 0))
    read = bytes_read(lambda: list(read_shard(manifest, 9)))
    assert read < len(data) / 4, f"read {read:,} of {len(data):,} bytes for a tenth of them"
    manifest.shards[9].segments[0].byte_offset = offsets[9] + 1
    with pytest.raises(StalePlan, match="no conversion record starts at byte"):
        list(read_shard(manifest, 9))


def test_a_parquet_shard_reads_no_row_group_before_its_rows(tmp_path):
    """Parquet needs no offset: the footer says which row groups hold a shard's rows. Row
    group 0's pages overwritten with garbage show that a later shard never reads them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    rows = [{"id": f"d{i}", "text": f"text of row {i} " * 10} for i in range(500)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100, compression="none")
    group = pq.ParquetFile(path).metadata.row_group(0)
    data = bytearray(path.read_bytes())
    for i in range(group.num_columns):
        column = group.column(i)
        start = column.dictionary_page_offset or column.data_page_offset
        data[start:start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    with pytest.raises(OSError):  # the garbage is where a read of row group 0 trips
        pq.ParquetFile(path).read_row_group(0)
    # write=False: the plan's duplicate-id pass reads every row group
    manifest = plan_shards(str(path), str(tmp_path / "out"), target_docs=100, write=False)
    assert [s.segments[0].byte_offset for s in manifest.shards] == [None] * 5
    assert [d.id for d in read_shard(manifest, 3)] == [f"d{i}" for i in range(300, 400)]


@pytest.mark.parametrize("name", ["a.jsonl", "a.warc.wet.gz"])
def test_shards_of_an_s3_object_read_from_their_offsets(s3_bucket, tmp_path, name):
    from prox_tasks.storage import put_atomic

    if name.endswith(".jsonl"):
        data = "".join(json.dumps({"id": f"d{i}", "text": f"text {i} " * 50}) + "\r\n"
                       for i in range(300)).encode()  # fmt: skip
    else:
        data = wet_bytes([f"{i} " + os.urandom(500).hex() for i in range(300)])
    put_atomic(f"{s3_bucket}/in/{name}", data)
    manifest = plan_shards(f"{s3_bucket}/in/{name}", f"{s3_bucket}/out", target_docs=30)
    assert all(s.segments[0].byte_offset for s in manifest.shards[1:])
    old = without_offsets(manifest)
    for shard in manifest.shards:
        assert documents(manifest, shard.index) == documents(old, shard.index)
    old.write()  # a plan made before offsets: its next run adds them, the same plan
    assert plan_shards(f"{s3_bucket}/in/{name}", f"{s3_bucket}/out", target_docs=30).id == \
        manifest.id  # fmt: skip
    assert load_manifest(f"{s3_bucket}/out").to_json() == manifest.to_json()


def test_a_plan_made_before_offsets_gets_them_on_its_next_run_under_the_same_id(tmp_path):
    """A folder planned before offsets were recorded kept that plan on every rerun and
    replan (the same id), so its late shards read their files from the start for ever. Its
    next plan (a rerun, a retried plan task, --replan) now records them, once, in the same
    plan: the same id, its shards kept; a compressed file is not read for it."""
    folder = tmp_path / "in"
    folder.mkdir()
    rows = "".join(json.dumps({"id": f"a{i}", "text": f"text {i}"}) + "\r\n" for i in range(40))
    (folder / "a.jsonl").write_text(rows)
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(rows.replace("a", "b").encode()))
    (folder / "c.warc.wet.gz").write_bytes(wet_bytes([f"page {i}" for i in range(40)]))
    out = tmp_path / "out"
    fresh = plan_shards(str(folder), str(tmp_path / "fresh"), target_docs=10)
    old = without_offsets(fresh)
    out.mkdir()
    (out / "manifest.json").write_text(dataclasses.replace(old, output_uri=fresh.output_uri
                                                           .replace("fresh", "out"), id="")
                                       .to_json())
    before = load_manifest(str(out))
    assert "byte_offset" not in (out / "manifest.json").read_text()

    again = plan_shards(str(folder), str(out), target_docs=10)
    assert again.id == before.id
    offsets = [[g.byte_offset for g in s.segments] for s in again.shards]
    assert offsets == [[g.byte_offset for g in s.segments] for s in fresh.shards]
    assert offsets[3][0] > 0 and offsets[7] == [None] and offsets[11][0] > 0
    written = load_manifest(str(out))
    assert written.id == before.id and written.to_json() == again.to_json()
    for shard in again.shards:
        assert documents(written, shard.index) == documents(before, shard.index)
    # once: the next run finds them and reads no input file
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert bytes_read(lambda: plan_shards(str(folder), str(out), target_docs=10)) < 20_000
    assert (out / "manifest.json").stat().st_mtime_ns == stamp
    # a replan of an old plan (--overwrite: the input scanned again) records them too
    (out / "manifest.json").write_text(before.to_json())
    assert plan_shards(str(folder), str(out), target_docs=10, overwrite=True).id == before.id
    assert load_manifest(str(out)).to_json() == again.to_json()


def test_offsets_are_not_added_to_an_old_plan_from_a_file_other_than_planned(tmp_path):
    """The offsets an old plan gets are checked against the file: one rewritten since (even
    to the same size) or counted otherwise than the plan counted it is refused as
    StalePlan, never given offsets that are not its records'."""
    from prox_tasks.corpus.planner import with_offsets

    path = tmp_path / "a.jsonl"
    rows = [{"id": f"d{i:02d}", "text": f"text {i:02d}"} for i in range(30)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    old = without_offsets(plan_shards(str(path), str(tmp_path / "out"), target_docs=10))
    old.write()
    recounted = dataclasses.replace(old, id="", shards=[
        dataclasses.replace(s, segments=[dataclasses.replace(g, bytes=g.bytes + 1)
                                         for g in s.segments]) for s in old.shards])
    with pytest.raises(StalePlan, match="as 30 records of"):
        with_offsets(recounted)
    path.write_text("".join(json.dumps({**r, "id": r["id"].upper()}) + "\n" for r in rows))
    with pytest.raises(StalePlan, match="a.jsonl changed since the manifest was planned"):
        with_offsets(old)
    assert "byte_offset" not in (tmp_path / "out" / "manifest.json").read_text()
