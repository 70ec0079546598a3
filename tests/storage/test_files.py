"""Local-disk storage: atomic writes, listing, compression."""

import hashlib
import os

import pytest

from prox_tasks.storage import (
    cleanup_partial,
    exists,
    list_uri,
    open_uri,
    put_atomic,
    read_bytes,
)


def test_put_atomic_writes_and_returns_the_checksum(tmp_path):
    target = tmp_path / "deep" / "dir" / "x.bin"
    digest = put_atomic(str(target), b"hello")
    assert target.read_bytes() == b"hello"
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert os.listdir(target.parent) == ["x.bin"]  # no temp file left


def test_failed_write_leaves_the_old_content_and_no_temp_file(tmp_path):
    target = tmp_path / "x.txt"
    put_atomic(str(target), "old")
    with pytest.raises(RuntimeError), open_uri(str(target), "wt") as out:
        out.write("new, half written")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["x.txt"]


def test_partial_file_is_invisible_until_closed(tmp_path):
    target = tmp_path / "x.txt"
    out = open_uri(str(target), "wb")
    out.write(b"partial")
    assert not target.exists()
    assert list_uri(str(tmp_path)) == []  # the temp file is hidden
    out.close()
    assert target.read_bytes() == b"partial"


def test_cleanup_partial_removes_temps_of_a_killed_writer_not_a_live_ones(tmp_path):
    import subprocess
    import sys

    target = tmp_path / "shard.parquet"
    killed = ("import os; from prox_tasks.storage import open_uri; "
              f"w = open_uri({str(target)!r}, 'wb'); w.write(b'x'); w.flush(); os._exit(9)")
    live = open_uri(str(target), "wb")  # another run writing the same shard right now
    live.write(b"y")
    subprocess.run([sys.executable, "-c", killed], check=False)  # died mid-write
    other = open_uri(str(tmp_path / "other.parquet"), "wb")
    assert len(os.listdir(tmp_path)) == 3
    assert cleanup_partial(str(target)) == 1
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(w.temp_path)
                                                  for w in (live, other))
    live.close()
    assert target.read_bytes() == b"y"
    other.abort()


@pytest.mark.parametrize("name", ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"])
def test_compressed_text_round_trip(tmp_path, name):
    uri = str(tmp_path / name)
    with open_uri(uri, "wt", compression="infer") as out:
        out.write("é line one\nline two\n")
    with open_uri(uri, "rt", compression="infer") as f:
        assert f.read() == "é line one\nline two\n"
    raw = read_bytes(uri)
    if name.endswith(".gz"):
        assert raw[:2] == b"\x1f\x8b"
    if name.endswith(".zst"):
        assert raw[:4] == b"\x28\xb5\x2f\xfd"


def test_gzip_output_is_reproducible(tmp_path):
    for name in ("a.gz", "b.gz"):
        with open_uri(str(tmp_path / name), "wb", compression="gzip") as out:
            out.write(b"same")
    assert read_bytes(str(tmp_path / "a.gz")) == read_bytes(str(tmp_path / "b.gz"))


def test_listing_folders_globs_and_files(tmp_path):
    for rel in ["b/2.jsonl", "a/1.jsonl", "a/_SUCCESS", "a/.tmp", "c.parquet"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    base = f"file://{tmp_path}"
    assert list_uri(str(tmp_path)) == [f"{base}/a/1.jsonl", f"{base}/b/2.jsonl",
                                       f"{base}/c.parquet"]
    assert list_uri(str(tmp_path / "*" / "*.jsonl")) == [f"{base}/a/1.jsonl", f"{base}/b/2.jsonl"]
    assert list_uri(str(tmp_path / "c.parquet")) == [f"{base}/c.parquet"]
    assert f"{base}/a/_SUCCESS" in list_uri(str(tmp_path), include_hidden=True)
    assert exists(str(tmp_path / "a")) and not exists(str(tmp_path / "zz"))


def test_a_file_whose_name_looks_like_a_glob_is_that_file(tmp_path):
    """``prox plan --input 'a[1].jsonl'`` of a file named so failed with 'no input files at
    a[1].jsonl' (as a glob it matches ``a1.jsonl``, not itself), and read ``a1.jsonl``
    instead where there was one; a file of that name is that file now, a glob still a glob."""
    for name in ("a[1].jsonl", "a1.jsonl", "b?.jsonl", "bc.jsonl"):
        (tmp_path / name).write_text("x")
    base = f"file://{tmp_path}"
    assert list_uri(str(tmp_path / "a[1].jsonl")) == [f"{base}/a[1].jsonl"]
    assert list_uri(str(tmp_path / "b?.jsonl")) == [f"{base}/b?.jsonl"]
    assert list_uri(str(tmp_path / "a[12].jsonl")) == [f"{base}/a1.jsonl"]
    assert list_uri(str(tmp_path / "b[c].jsonl")) == [f"{base}/bc.jsonl"]


def test_multi_frame_zstd_is_read_whole(tmp_path):
    import zstandard

    path = tmp_path / "parts.jsonl.zst"
    frames = [zstandard.ZstdCompressor().compress(f"part {i}\n".encode()) for i in range(3)]
    path.write_bytes(b"".join(frames))  # e.g. parts concatenated with `cat`
    with open_uri(str(path), "rt", compression="infer") as f:
        assert f.read() == "part 0\npart 1\npart 2\n"


@pytest.mark.parametrize("name", ["parts.jsonl.zst", "parts.jsonl"])
def test_zstd_frames_behind_skippable_frames_are_read_whole(tmp_path, name):
    """pzstd (and seekable-zstd writers) put a skippable frame (magic 0x184D2A5?, a
    little-endian length, that many bytes: pzstd's holds the next frame's size) before
    each frame, so the file starts ``P*M\\x18``; it was taken for a file named .zst that
    is not zstd, and every record of it lost as one truncated_file. Without the .zst name
    it is read as zstd by its bytes too."""
    import struct

    import zstandard

    frames = [zstandard.ZstdCompressor().compress(f"part {i}\n".encode()) for i in range(3)]
    path = tmp_path / name
    path.write_bytes(b"".join(struct.pack("<II", 0x184D2A50 + i, 4) + struct.pack("<I", len(f))
                              + f for i, f in enumerate(frames)))
    with open_uri(str(path), "rt", compression="infer") as f:
        assert f.read() == "part 0\npart 1\npart 2\n"


def test_a_corrupt_zstd_frame_comes_after_the_good_frame_before_it(tmp_path):
    import zstandard

    from prox_tasks.storage.compressed import CorruptStreamError

    path = tmp_path / "parts.jsonl.zst"
    good = zstandard.ZstdCompressor().compress(b"part 0\npart 1\n")
    bad = bytearray(zstandard.ZstdCompressor().compress(b"part 2\n"))
    bad[:4] = b"\xff" * 4  # no zstd magic number: the decoder refuses the frame at once
    path.write_bytes(good + bytes(bad))  # one input chunk of the decoder holds both
    lines = []
    with pytest.raises(CorruptStreamError, match="zstd stream corrupt"):
        with open_uri(str(path), "rb", compression="infer") as f:
            lines.extend(f)
    assert lines == [b"part 0\n", b"part 1\n"]


def test_published_files_follow_the_umask(tmp_path):
    put_atomic(str(tmp_path / "x"), b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x").stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz", "rows.jsonl.zst"])
def test_a_read_feeds_its_digests_the_stored_and_the_decompressed_bytes(tmp_path, name):
    """What a read returns is hashed in that read (a file read anyway is not fetched again
    to be hashed): ``stored`` the file's bytes, ``content`` them decompressed."""
    from prox_tasks.storage import ReadDigests

    content = b"".join(b'{"id": %d, "text": "line %d"}\n' % (i, i) for i in range(5000))
    with open_uri(str(tmp_path / name), "wb", compression="infer") as out:
        out.write(content)
    digests = ReadDigests(hashlib.sha256(), hashlib.sha256())
    with open_uri(str(tmp_path / name), "rb", compression="infer", digests=digests) as stream:
        while stream.readline():
            pass
    assert digests.stored.hexdigest() == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert digests.content.hexdigest() == hashlib.sha256(content).hexdigest()
    with pytest.raises(ValueError, match="not written"):
        open_uri(str(tmp_path / "out.jsonl"), "wb", digests=ReadDigests(hashlib.sha256()))


@pytest.mark.parametrize("where", ["local", "s3"])
def test_move_publishes_a_staged_file_in_place_of_the_old_one(tmp_path, where, request):
    """:func:`move` (a staged part or split published under a labeling claim): the target
    holds the staged bytes whole and the staged name is gone, locally by a rename, on S3
    (moto over HTTP) by a server-side copy; a missing source and another storage are errors
    that change nothing."""
    from prox_tasks.storage import exists, move, put_atomic, read_bytes

    root = request.getfixturevalue("s3_bucket") if where == "s3" else str(tmp_path)
    staged, target = f"{root}/labels/_staged-abc-labels-00000.jsonl.gz", f"{root}/labels/x.gz"
    put_atomic(target, b"old")
    put_atomic(staged, b"new bytes")
    move(staged, target)
    assert read_bytes(target) == b"new bytes" and not exists(staged)
    with pytest.raises(FileNotFoundError):
        move(staged, target)
    assert read_bytes(target) == b"new bytes"
    with pytest.raises(ValueError, match="another storage"):
        move(target, "s3://elsewhere/x.gz" if where == "local" else str(tmp_path / "x.gz"))


def test_an_s3_move_past_the_multipart_threshold_copies_in_parts(s3_bucket, s3_calls):
    """:func:`move` on S3 was one CopyObject, which S3 refuses past 5 GiB: a seed set's split
    that large failed its publish after every label was paid for. It is boto3's managed
    copy: past the multipart threshold (5 MiB here, moto over HTTP) in UploadPartCopy parts,
    the bytes whole."""
    import os

    from prox_tasks.storage import exists, move, put_atomic, read_bytes

    data = os.urandom(6 * 1024 * 1024 + 7)
    staged, target = f"{s3_bucket}/seed/_staged-abc-train.jsonl.gz", f"{s3_bucket}/seed/train.jsonl.gz"
    put_atomic(staged, data)
    s3_calls.clear()
    move(staged, target)
    assert s3_calls["UploadPartCopy"] >= 2, dict(s3_calls)
    assert read_bytes(target) == data and not exists(staged)


def _handlers(event: str) -> int:
    """Handlers the storage layer's client runs on ``event`` (botocore has no public count:
    its emitter's own table, read only)."""
    from prox_tasks.storage import get_client

    return len(list(get_client().meta.events._emitter._handlers.prefix_search(event)))


def test_s3_moves_in_parts_leave_the_shared_client_alone_and_each_gets_its_own_etag(s3_bucket):
    """Each S3 move in parts registered a handler on the process's one client for its copy
    (a mutation boto3 does not make thread-safe) that took the CompleteMultipartUpload
    answer of any copy to its key: of two publishers racing for one key, the first was told
    the second's ETag. Moves register nothing now, however many (moto over HTTP, 5 MiB
    parts), and each returns its own copy's ETag."""
    import os
    import threading

    from prox_tasks.storage import content_fingerprint, get_client, move, put_atomic, read_bytes

    size, completed = 5 * 1024 * 1024 + 7, "after-call.s3.CompleteMultipartUpload"
    before = _handlers(completed)
    during: list[int] = []
    events = get_client().meta.events
    events.register("before-call.s3.UploadPartCopy", lambda **_: during.append(
        _handlers(completed)), unique_id="count-handlers-during-a-move")  # fmt: skip
    try:
        for n in range(3):
            put_atomic(f"{s3_bucket}/many/_staged-{n}", os.urandom(size))
            move(f"{s3_bucket}/many/_staged-{n}", f"{s3_bucket}/many/{n}")
    finally:
        events.unregister("before-call.s3.UploadPartCopy",
                          unique_id="count-handlers-during-a-move")  # fmt: skip
    assert len(during) >= 6 and set(during) == {before} and _handlers(completed) == before

    # the first move's copy completes, then (held there) the second's runs whole
    target = f"{s3_bucket}/seed/train.jsonl.gz"
    put_atomic(f"{s3_bucket}/seed/_staged-a", os.urandom(size))
    put_atomic(f"{s3_bucket}/seed/_staged-b", second := os.urandom(size))
    first_completed, second_done, held = threading.Event(), threading.Event(), []

    def hold_the_first(**_):
        if not held:
            held.append(True)
            first_completed.set()
            second_done.wait(60)

    moved: dict = {}
    events.register_last(completed, hold_the_first, unique_id="hold-the-first-move")
    try:
        first = threading.Thread(target=lambda: moved.update(
            a=move(f"{s3_bucket}/seed/_staged-a", target)))  # fmt: skip
        first.start()
        assert first_completed.wait(60)
        moved["b"] = move(f"{s3_bucket}/seed/_staged-b", target)
    finally:
        second_done.set()
        events.unregister(completed, unique_id="hold-the-first-move")
    first.join(60)
    assert content_fingerprint(target) == f"etag:{moved['b']}" != f"etag:{moved['a']}", moved
    assert read_bytes(target) == second


@pytest.mark.parametrize("size", [1024, 6 * 1024 * 1024 + 7])  # one CopyObject; in parts
def test_an_s3_move_returns_its_copys_etag(s3_bucket, size):
    """:func:`move` returns the ETag its copy answered (CopyObject's, or
    CompleteMultipartUpload's past the multipart threshold, 5 MiB here; moto over HTTP)."""
    import os

    from prox_tasks.storage import content_fingerprint, move, put_atomic

    staged, target = f"{s3_bucket}/seed/_staged-abc-train.jsonl.gz", f"{s3_bucket}/seed/train.jsonl.gz"
    put_atomic(staged, os.urandom(size))
    written = move(staged, target)
    assert content_fingerprint(target) == f"etag:{written}"
