"""Corpus I/O on S3 (moto's server over HTTP): every format, shards, interrupted uploads."""

import json
import random
from pathlib import Path

import pytest
from boto3.exceptions import S3UploadFailedError

from prox_tasks.corpus import (
    ManifestConflict,
    Quarantine,
    plan_shards,
    read_documents,
    read_refined_rows,
    read_shard,
    read_status,
    shard_uri,
    write_documents,
    write_refined_shard,
)
from prox_tasks.storage import exists, get_client, list_uri, put_atomic, read_bytes
from tests.corpus.conftest import refine_rows, write_jsonl
from tests.storage.s3server import is_part_upload


def _fields(docs):
    return [(d.id, d.text, d.offset, d.meta) for d in docs]


@pytest.mark.parametrize("name", ["d.jsonl", "d.jsonl.gz", "d.jsonl.zst", "d.parquet"])
def test_every_format_round_trips_through_s3(s3_bucket, tmp_path, sample_rows, name):
    local, remote = str(tmp_path / name), f"{s3_bucket}/in/{name}"
    write_documents(local, sample_rows)
    write_documents(remote, sample_rows)
    remote_docs = list(read_documents(remote))
    assert _fields(remote_docs) == _fields(read_documents(local))
    assert remote_docs[0].source == remote and len(remote_docs) == len(sample_rows)


def test_wet_from_s3(s3_bucket, wet_file):
    with open(wet_file, "rb") as f:
        put_atomic(f"{s3_bucket}/crawl/x.warc.wet.gz", f)
    assert _fields(read_documents(f"{s3_bucket}/crawl/")) == _fields(read_documents(wet_file))


def _write_all(out):
    for index in range(3):
        quarantine = Quarantine()
        rows = refine_rows(read_shard(out, index, quarantine))
        write_refined_shard(out, index, rows, quarantine=quarantine)


def test_same_shards_on_file_and_s3(s3_bucket, tmp_path, sample_rows):
    inp = write_jsonl(tmp_path / "in.jsonl", [*sample_rows, {"id": "bad", "text": " "}])
    local, remote = str(tmp_path / "out"), f"{s3_bucket}/out"
    assert plan_shards(inp, local, 14).id != plan_shards(inp, remote, 14).id  # outputs differ
    _write_all(local)
    _write_all(remote)
    for index in range(3):
        assert read_bytes(shard_uri(remote, index)) == Path(shard_uri(local, index)[7:]).read_bytes()
        assert read_status(remote, index)["sha256"] == read_status(local, index)["sha256"]
    assert list(read_refined_rows(remote)) == list(read_refined_rows(local))
    # Input on S3 too: the same documents (only their source URIs differ).
    write_jsonl(tmp_path / "copy.jsonl", [*sample_rows, {"id": "bad", "text": " "}])
    with open(tmp_path / "copy.jsonl", "rb") as f:
        put_atomic(f"{s3_bucket}/snap/in.jsonl", f)
    manifest = plan_shards(f"{s3_bucket}/snap/", f"{s3_bucket}/out2", 14)
    docs = [d for s in manifest.shards for d in read_shard(manifest, s.index, Quarantine())]
    assert [(d.id, d.text, d.offset) for d in docs] == [
        (d.id, d.text, d.offset) for d in read_documents(inp, quarantine=Quarantine())]


def _big_rows(n=40, size=300_000):
    rng = random.Random(7)  # incompressible text: a 12 MB shard, three 5 MiB parts
    for i in range(n):
        text = rng.randbytes(size // 2).hex()
        yield {"id": f"d{i}", "text": text, "source": "file:///in.jsonl", "offset": i,
               "stats": {}, "doc_program": "keep_doc()"}


def test_upload_interrupted_half_way_leaves_no_shard_and_the_retry_succeeds(
        s3_bucket, moto_server, tmp_path, monkeypatch):
    from prox_tasks.storage import s3

    # the retry aborts the broken upload as if its last part were older than a live one's
    monkeypatch.setattr(s3, "LIVE_UPLOAD_S", 0)
    out = f"{s3_bucket}/out"
    # The store fails every part upload after the first: the shard upload breaks half-way.
    moto_server.faults.arm(pass_requests=1, fail_requests=None, status=500, match=is_part_upload)
    with pytest.raises(S3UploadFailedError):
        write_refined_shard(out, 0, _big_rows(), expected_docs=40, compression="none")
    assert moto_server.faults.failed >= 1
    moto_server.faults.disarm()
    assert not exists(shard_uri(out, 0)) and read_status(out, 0) is None
    assert list_uri(out) == []  # nothing visible under the output

    acc = write_refined_shard(out, 0, _big_rows(), expected_docs=40, compression="none")
    assert acc.bytes > 10 * 1024 * 1024 and acc.docs_written == 40
    local = str(tmp_path / "out")
    write_refined_shard(local, 0, _big_rows(), expected_docs=40, compression="none")
    assert read_bytes(shard_uri(out, 0)) == Path(shard_uri(local, 0)[7:]).read_bytes()
    bucket = s3_bucket[len("s3://"):]
    assert get_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_throttled_shard_write_is_retried(s3_bucket, moto_server, tmp_path, sample_rows):
    inp = write_jsonl(tmp_path / "in.jsonl", sample_rows)
    out = f"{s3_bucket}/out"
    plan_shards(inp, out, 100)
    moto_server.faults.arm(pass_requests=0, fail_requests=2, status=503)
    quarantine = Quarantine()
    acc = write_refined_shard(out, 0, refine_rows(read_shard(out, 0, quarantine)),
                              quarantine=quarantine)
    assert moto_server.faults.failed == 2 and acc.docs_written == 40
    assert read_status(out, 0)["sha256"] == acc.sha256


def test_an_s3_input_rewritten_to_the_same_size_makes_another_plan(s3_bucket, tmp_path,
                                                                   sample_rows):
    uri = f"{s3_bucket}/crawl/in.jsonl"
    body = write_jsonl(tmp_path / "in.jsonl", sample_rows)
    data = Path(body).read_bytes()
    put_atomic(uri, data)
    first = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 14)
    assert first.files[0].fingerprint.startswith("etag:")
    put_atomic(uri, data)  # uploaded again, the same bytes: the same plan, read as planned
    assert plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 14).id == first.id
    assert len(list(read_shard(first, 0, Quarantine()))) == 14
    i = data.index(b'"text": "') + 9
    put_atomic(uri, data[:i] + data[i:i + 8].swapcase() + data[i + 8:])  # same size
    assert plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 14, write=False).id != first.id
    with pytest.raises(RuntimeError, match="changed since the manifest was planned"):
        list(read_shard(first, 0, Quarantine()))


def test_planning_unchanged_s3_input_again_reads_none_of_it(s3_bucket, tmp_path, sample_rows,
                                                            count_gets):
    """A retried plan task, or a rerun, finds its plan and the input unchanged (listing and
    HEADs): it does not download the crawl partition again to rebuild the same plan."""
    for part in range(3):
        put_atomic(f"{s3_bucket}/crawl/part-{part}.jsonl",
                   Path(write_jsonl(tmp_path / f"{part}.jsonl", sample_rows)).read_bytes())
    first = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 20)
    count_gets.clear()
    again = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 20)
    assert again.to_json() == first.to_json()
    assert not [k for k in count_gets if k.startswith("crawl/")], count_gets
    put_atomic(f"{s3_bucket}/crawl/part-3.jsonl", b'{"id": "new", "text": "one more"}\n')
    with pytest.raises(ManifestConflict):  # a file more: planned again, and it differs
        plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 20)
    assert count_gets["crawl/part-3.jsonl"] >= 1


def test_a_rerun_reads_the_folder_s_plan_once_for_its_settings(s3_bucket, tmp_path,
                                                              sample_rows, count_gets, capsys):
    """A rerun naming no size and no read settings (``prox plan``, ``prox refine``, the DAG's
    plan) took the plan's targets (planned_targets) and its read settings (planned_reading)
    from the folder's manifest.json by two GETs of one object, which holds every file and
    shard of the plan (MBs for a large crawl), and plan_shards' check that the plan is
    unchanged by a third. It is read once for all three: plan_shards takes the plan read."""
    from prox_tasks.cli import main

    put_atomic(f"{s3_bucket}/crawl/part-0.jsonl",
               Path(write_jsonl(tmp_path / "0.jsonl", sample_rows)).read_bytes())
    args = ["plan", "--input", f"{s3_bucket}/crawl/", "--output", f"{s3_bucket}/out"]
    assert main([*args, "--target-docs", "15", "--text-field", "text"]) == 0
    count_gets.clear()
    assert main(args) == 0, capsys.readouterr().err  # as planned: 15 a shard, text
    assert count_gets["out/manifest.json"] == 1, count_gets
    # prox refine re-opening it (refine.corpus.plan), naming no size either: one GET too
    count_gets.clear()
    from prox_tasks.refine.corpus import plan as refine_plan

    assert refine_plan(f"{s3_bucket}/crawl/", f"{s3_bucket}/out").reused
    assert count_gets["out/manifest.json"] == 1, count_gets


def test_planning_takes_each_file_s_identity_from_the_listing_not_a_head(
        s3_bucket, tmp_path, sample_rows, s3_calls):
    """A crawl of F files on S3: the plan took each file's size, ETag and version by three
    HEADs (3 F requests), and a rerun on the unchanged folder a HEAD a file (F) — 10,000
    files cost 10,000 HEADs to find out nothing changed. The listing that names the files
    gives all three: no HEAD a file either time, and the plan is the same plan (its id
    stands on size and ETag, as before)."""
    files = 6
    for part in range(files):
        put_atomic(f"{s3_bucket}/crawl/part-{part}.jsonl",
                   Path(write_jsonl(tmp_path / f"{part}.jsonl", sample_rows)).read_bytes())
    s3_calls.clear()
    first = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 20)
    assert s3_calls["HeadObject"] <= 1, s3_calls  # the manifest's own, not the crawl's
    assert all(f.fingerprint.startswith("etag:") and f.version for f in first.files)
    s3_calls.clear()
    again = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 20)
    assert again.to_json() == first.to_json()
    assert s3_calls["HeadObject"] == 0, s3_calls
    # the listing's identity is the one a read checks: the planned shards read as planned
    assert len(list(read_shard(first, 0, Quarantine()))) == first.shards[0].docs
    # a file rewritten, same size: the listing's ETag says so, and the rerun plans again
    data = read_bytes(f"{s3_bucket}/crawl/part-2.jsonl")
    i = data.index(b'"text": "') + 9
    put_atomic(f"{s3_bucket}/crawl/part-2.jsonl", data[:i] + data[i:i + 8].swapcase() + data[i + 8:])
    with pytest.raises(ManifestConflict, match="input file rewritten: .*part-2.jsonl"):
        plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", 20)


@pytest.mark.parametrize("name", ["d.jsonl.gz", "d.parquet", "x.warc.wet.gz"])
@pytest.mark.parametrize("on_s3", [False, True], ids=["local", "s3"])
def test_a_planned_file_is_checked_on_its_own_open_in_every_format(
        on_s3, name, request, tmp_path, sample_rows, wet_file):
    """The check that a shard's input file is the one planned is made on the read's open
    (an S3 open's ETag, a local open's stat; pyarrow's own open of a local Parquet file by a
    stat): a file uploaded or touched again with the same bytes is read, one changed since
    planning is refused before a record is read, by read_shard and read_snapshot alike."""
    import os

    from prox_tasks.corpus.planner import read_snapshot

    folder = f"{request.getfixturevalue('s3_bucket')}/in" if on_s3 else str(tmp_path / "in")
    local = tmp_path / name
    if name.endswith(".wet.gz"):
        local.write_bytes(Path(wet_file).read_bytes())
    else:
        write_documents(str(local), sample_rows)
    put_atomic(f"{folder}/{name}", local.read_bytes())
    manifest = plan_shards(folder, str(tmp_path / "out"), target_docs=10_000)
    want = [d.id for d in read_shard(manifest, 0, Quarantine())]
    assert len(want) == manifest.shards[0].docs > 0
    if on_s3:
        put_atomic(f"{folder}/{name}", local.read_bytes())  # another version, the same ETag
    else:
        os.utime(f"{folder}/{name}", (1, 1))  # another modification time, the same bytes
    assert [d.id for d in read_shard(manifest, 0, Quarantine())] == want
    put_atomic(f"{folder}/{name}", local.read_bytes()[:-1])
    for read in (lambda: read_shard(manifest, 0, Quarantine()),
                 lambda: read_snapshot(manifest, Quarantine())):
        with pytest.raises(RuntimeError, match=f"{name} changed since the manifest was planned"):
            next(iter(read()))


def test_replacing_a_plan_removes_its_outputs_by_listing_not_a_head_a_file(
        s3_bucket, tmp_path, s3_calls):
    """Replacing a plan of S shards (prox plan --overwrite, reprocess with a changed input)
    removed each shard's status record, file and quarantine file with a HEAD and a DELETE
    each, present or not: 600,000 requests at 100,000 shards. Each folder is listed once
    and what is there deleted 1,000 a request; status records still go first, and a file
    that is not the old plan's stays."""
    from prox_tasks.corpus.manifest import quarantine_uri, shard_uri, status_uri

    shards = 30
    rows = "".join(f'{{"id": "{i}", "text": "document {i}"}}\n' for i in range(shards))
    put_atomic(f"{s3_bucket}/crawl/part-0.jsonl", rows)
    out = f"{s3_bucket}/out"
    old = plan_shards(f"{s3_bucket}/crawl/", out, target_docs=1)
    for i in range(0, shards, 2):  # half of the shards were refined
        for uri_of in (status_uri, shard_uri, quarantine_uri):
            put_atomic(uri_of(out, i), b"x")
    put_atomic(f"{out}/shards/notes.txt", b"not the plan's")
    s3_calls.clear()
    new = plan_shards(f"{s3_bucket}/crawl/", out, target_docs=2, overwrite=True)
    assert new.id != old.id
    assert list_uri(f"{out}/_status") == [] and list_uri(f"{out}/quarantine") == []
    assert list_uri(f"{out}/shards") == [f"{out}/shards/notes.txt"]
    # before: 95 HEADs and 45 DELETEs; now 8 HEADs (none a shard file) and 3 DeleteObjects
    assert s3_calls["HeadObject"] <= 10, s3_calls
    assert s3_calls["DeleteObject"] + s3_calls["DeleteObjects"] <= 6, s3_calls


def test_writing_an_unchanged_plan_s_parts_again_puts_only_what_is_not_there(
        s3_bucket, s3_calls):
    """A retried plan task (or a rerun of an unchanged plan) rewrote every part of the plan:
    1,021 PUTs for a plan of 1,021 work items whose parts were all there. The parts folder is
    listed once and only a missing part, or one not holding its bytes, is written again."""
    from prox_tasks.corpus.manifest import load_part, part_uri

    rows = "".join(f'{{"id": "{i}", "text": "document {i}"}}\n' for i in range(12))
    put_atomic(f"{s3_bucket}/crawl/part-0.jsonl", rows)
    manifest = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", target_docs=1)
    batches = [[i, i + 1] for i in range(0, 12, 2)]
    manifest.write_parts(batches)
    lost = part_uri(manifest.output_uri, manifest.id, batches[0])
    get_client().delete_object(Bucket=s3_bucket.removeprefix("s3://"),
                               Key=lost.removeprefix(s3_bucket + "/"))
    put_atomic(part_uri(manifest.output_uri, manifest.id, batches[1]), b"{}\n")  # one stale
    s3_calls.clear()
    uris = manifest.write_parts(batches)
    assert s3_calls["PutObject"] == 2, s3_calls  # before: 6
    assert s3_calls["ListObjectsV2"] == 1 and not s3_calls["HeadObject"], s3_calls
    assert uris == [part_uri(manifest.output_uri, manifest.id, b) for b in batches]
    for batch in batches:
        assert [s.index for s in load_part(manifest.output_uri, manifest.id, batch).shards] \
            == batch


def test_a_part_uploaded_in_parts_holding_its_bytes_is_not_written_again(s3_bucket, s3_calls):
    """A plan part whose ETag is not the MD5 of its bytes (moto's multipart upload gives
    ``<md5 of the parts' MD5s>-1``, as S3 does; SSE-KMS and some S3-compatible stores give
    other non-MD5 ETags) was taken for a stale part and PUT again on every rerun of the plan.
    Such a part is now read and compared: one holding its bytes stays, one that does not is
    written again."""
    from prox_tasks.corpus.manifest import part_uri

    rows = "".join(f'{{"id": "{i}", "text": "document {i}"}}\n' for i in range(8))
    put_atomic(f"{s3_bucket}/crawl/part-0.jsonl", rows)
    manifest = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", target_docs=1)
    batches = [[i, i + 1] for i in range(0, 8, 2)]
    manifest.write_parts(batches)
    bucket, client = s3_bucket.removeprefix("s3://"), get_client()
    first, second = (part_uri(manifest.output_uri, manifest.id, b) for b in batches[:2])

    def upload_in_parts(uri: str, data: bytes) -> None:
        key = uri.removeprefix(s3_bucket + "/")
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1,
                                  Body=data)["ETag"]
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload,
            MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
        assert "-" in client.head_object(Bucket=bucket, Key=key)["ETag"]  # not an MD5

    upload_in_parts(first, read_bytes(first))  # its own bytes
    stale = read_bytes(second).replace(b'"docs": 1', b'"docs": 9', 1)  # same size
    upload_in_parts(second, stale)
    s3_calls.clear()
    manifest.write_parts(batches)
    assert s3_calls["PutObject"] == 1, s3_calls  # before: 2 (the part holding its bytes too)
    assert s3_calls["ListObjectsV2"] == 1, s3_calls
    assert read_bytes(second) != stale
    assert "-" in client.head_object(Bucket=bucket, Key=first.removeprefix(s3_bucket + "/"))[
        "ETag"]  # left as it was


@pytest.mark.parametrize("on_s3", [False, True], ids=["local", "s3"])
def test_a_folder_named_with_or_without_its_trailing_slash_is_the_same_plan(
        on_s3, request, tmp_path, sample_rows):
    """`prox plan --input in/ --output out/` (a shell's completion adds the slash), then
    `prox refine --input in --output out`: the same plan, reused, not a ManifestConflict
    "differs in plan X != Y" (the URIs are in the plan's id; the plan's own spelling is kept,
    so the id of a plan already written does not change). A plan that does differ says how."""
    root = request.getfixturevalue("s3_bucket") if on_s3 else str(tmp_path)
    for name, rows in (("a.jsonl", sample_rows[:20]), ("b.jsonl", sample_rows[20:])):
        put_atomic(f"{root}/in/{name}", "".join(f"{json.dumps(r)}\n" for r in rows))
    first = plan_shards(f"{root}/in/", f"{root}/out/", target_docs=7)
    for inp, out in ((f"{root}/in", f"{root}/out"), (f"{root}/in/", f"{root}/out"),
                     (f"{root}/in", f"{root}/out/")):
        again = plan_shards(inp, out, target_docs=7)
        assert (again.id, again.to_json()) == (first.id, first.to_json()), (inp, out)
    with pytest.raises(ManifestConflict, match=r"differs in target_docs 7 -> 8$"):
        plan_shards(f"{root}/in", f"{root}/out", target_docs=8)
    put_atomic(f"{root}/in/c.jsonl", f"{json.dumps(sample_rows[0] | {'id': 'new'})}\n")
    with pytest.raises(ManifestConflict, match=r"differs in input file added: .*/in/c\.jsonl$"):
        plan_shards(f"{root}/in", f"{root}/out", target_docs=7)


def test_a_refine_into_a_bucket_that_does_not_exist_books_no_name(s3_bucket, tmp_path,
                                                                  sample_rows, capsys):
    """``prox refine --output s3://mistyped-bucket/snapshots/crawl-…`` failed reading the
    folder's manifest and booked the snapshot name (``crawl-…``, the folder's) as a failed run
    of that folder, so the rerun into the right bucket was booked as ``crawl-…-<digest>``. The
    missing bucket now fails first, nothing booked, and the rerun gets the folder's name."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.cli import main

    src = tmp_path / "in.jsonl"
    write_jsonl(src, sample_rows[:6])
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = ["refine", "--json", "--input", str(src), "--catalog", url, "--no-progress"]
    assert main([*args, "--output", "s3://no-such-bucket/snapshots/crawl-2026-01-31"]) == 1
    assert "S3 bucket 'no-such-bucket' does not exist" in capsys.readouterr().err
    assert Catalog(url).get_snapshot("crawl-2026-01-31") is None
    assert main([*args, "--output", f"{s3_bucket}/snapshots/crawl-2026-01-31"]) == 0
    assert json.loads(capsys.readouterr().out)["snapshot"] == "crawl-2026-01-31"


def test_an_s3_key_with_a_dot_or_dot_dot_part_is_read_not_left_out_as_hidden(s3_bucket):
    """S3 keeps a key's ``.`` and ``..`` parts verbatim (``in/../a.jsonl``, a path joined by
    hand): an object of the prefix like any other, read by its key as written. Taken for a
    hidden name (Hadoop's temp files start with a dot), each was left out of the listing,
    the plan and the refine without a word: its documents lost uncounted."""
    keys = ["in/../a.jsonl", "in/./b.jsonl", "in/c.jsonl", "in/.tmp/d.jsonl", "in/_e.jsonl"]
    for key in keys:
        bucket = s3_bucket.removeprefix("s3://")
        body = json.dumps({"id": key, "text": f"The text of {key} in a few words."}) + "\n"
        get_client().put_object(Bucket=bucket, Key=key, Body=body.encode())
    manifest = plan_shards(f"{s3_bucket}/in/", f"{s3_bucket}/out/", target_docs=100)
    quarantine = Quarantine()
    docs = list(read_shard(manifest, 0, quarantine))
    assert sorted(d.id for d in docs) == ["in/../a.jsonl", "in/./b.jsonl", "in/c.jsonl"]
    assert manifest.total_docs == 3 and len(quarantine) == 0
