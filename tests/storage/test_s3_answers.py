"""S3 answers moto never sends, from a small real HTTP server (tests/storage/plain_s3.py):
a Content-Range without its total, a server that ignores Range."""

from __future__ import annotations

import hashlib
import random
import tracemalloc
from contextlib import contextmanager

from prox_tasks.storage import S3Settings, configure_s3, get_client, open_uri, read_bytes
from tests.storage.plain_s3 import PlainS3

KIB, MIB = 1024, 1024 * 1024
URI = "s3://bucket/blob"


@contextmanager
def plain_s3(data: bytes, **answers):
    """prox's S3 client pointed at a :class:`PlainS3` holding ``bucket/blob``."""
    with PlainS3({"bucket/blob": data}, **answers) as server:
        configure_s3(S3Settings(endpoint_url=server.endpoint_url, region_name="us-east-1",
                                aws_access_key_id="test", aws_secret_access_key="test",
                                addressing_style="path", max_attempts=2,
                                read_block_size=256 * KIB))
        try:
            yield server
        finally:
            configure_s3(None)


def _methods(server: PlainS3) -> list[str]:
    return [method for method, _path, _range in server.requests]


def test_a_content_range_without_its_total_has_the_head_say_the_length():
    """``Content-Range: bytes 0-65535/*`` was taken for a 64 KiB object: a 200 KiB file read
    as its first 64 KiB, the rest lost without a word. The length now comes from the HEAD
    (asking for the opening GET's ETag)."""
    data = random.Random(1).randbytes(200 * KIB)
    with plain_s3(data, unknown_total=True) as server:
        assert read_bytes(URI) == data
        assert _methods(server) == ["GET", "HEAD", "GET"]
        with open_uri(URI, "rb") as f:
            assert f.seek(0, 2) == len(data)
            f.seek(-5, 2)
            assert f.read() == data[-5:]


def test_a_server_that_ignores_range_is_read_as_it_comes_not_held_whole():
    """A server that ignores Range answers the opening GET with the whole object (200):
    prox read all of it into memory on open. The response is now read as the reader asks:
    an 8 MiB object read 64 KiB at a time holds about one read block (256 KiB here), in one
    GET; a read before where the response has got to GETs it again."""
    data = random.Random(2).randbytes(8 * MIB)
    with plain_s3(data, ignore_range=True) as server:
        get_client().head_object(Bucket="bucket", Key="blob")  # the client built: not counted
        server.requests.clear()
        digest = hashlib.sha256()
        tracemalloc.start()
        try:
            with open_uri(URI, "rb") as f:
                for block in iter(lambda: f.read(64 * KIB), b""):
                    digest.update(block)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
        assert peak < 2 * MIB, f"{peak / MIB:.1f} MiB held reading an 8 MiB object"
        assert _methods(server) == ["GET"]
        server.requests.clear()
        with open_uri(URI, "rb") as f:
            f.seek(3 * MIB)  # ahead of the response: passed over, no request
            assert f.read(10) == data[3 * MIB:3 * MIB + 10]
            f.seek(1000)  # behind it: the object again, from its start
            assert f.read(10) == data[1000:1010]
            f.seek(-5, 2)
            assert f.read() == data[-5:]
        assert _methods(server) == ["GET", "GET"]


def test_a_whole_object_response_broken_off_is_asked_for_again():
    """The whole-object response stays open between reads (a slow refine between two); a
    server that closes it half-way is asked again from where the reader is."""
    data = random.Random(3).randbytes(4 * MIB)
    with plain_s3(data, ignore_range=True, drop_after=MIB) as server:
        assert read_bytes(URI) == data
        assert _methods(server) == ["GET", "GET"]
        assert server.requests[1][2] is not None and server.requests[1][2].startswith("bytes=")
