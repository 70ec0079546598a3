"""S3 storage against moto's server over real HTTP: round trips, listing, retries, faults."""

import json

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError

from prox_tasks.connections import parse_connection
from prox_tasks.storage import (
    S3Settings,
    exists,
    get_client,
    list_uri,
    open_uri,
    put_atomic,
    read_bytes,
    read_json,
    remove,
    size_of,
)
from prox_tasks.storage.s3_client import connection_fields
from tests.storage.conftest import no_credentials

MIB = 1024 * 1024


def test_round_trip_and_listing(s3_bucket):
    put_atomic(f"{s3_bucket}/in/b.jsonl", b"b\n")
    put_atomic(f"{s3_bucket}/in/a.jsonl.gz", b"not really gzip")
    put_atomic(f"{s3_bucket}/in/_status/x.json", b"{}")
    put_atomic(f"{s3_bucket}/inbox/c.jsonl", b"c\n")
    assert read_bytes(f"{s3_bucket}/in/b.jsonl") == b"b\n"
    assert list_uri(f"{s3_bucket}/in") == [f"{s3_bucket}/in/a.jsonl.gz", f"{s3_bucket}/in/b.jsonl"]
    assert list_uri(f"{s3_bucket}/in/*.jsonl") == [f"{s3_bucket}/in/b.jsonl"]
    assert list_uri(f"{s3_bucket}/in/b.jsonl") == [f"{s3_bucket}/in/b.jsonl"]
    assert exists(f"{s3_bucket}/in/b.jsonl") and not exists(f"{s3_bucket}/in/zz")
    assert size_of(f"{s3_bucket}/in/b.jsonl") == 2
    assert remove(f"{s3_bucket}/in/b.jsonl") and not remove(f"{s3_bucket}/in/b.jsonl")


@pytest.mark.parametrize("name", ["t.txt", "t.txt.gz", "t.txt.zst"])
def test_compressed_text_round_trip(s3_bucket, name):
    uri = f"{s3_bucket}/{name}"
    text = "".join(f"line {i} ünïcode\n" for i in range(20000))
    with open_uri(uri, "wt", compression="infer") as out:
        out.write(text)
    with open_uri(uri, "rt", compression="infer") as f:
        assert f.read() == text


def test_ranged_reads_seek(s3_bucket):
    data = bytes(range(256)) * 4096  # 1 MiB: several 256 KiB ranged GETs
    put_atomic(f"{s3_bucket}/blob", data)
    with open_uri(f"{s3_bucket}/blob", "rb") as f:
        f.seek(1000)
        assert f.read(10) == data[1000:1010]
        f.seek(-5, 2)
        assert f.read() == data[-5:]
        f.seek(0)
        assert f.read() == data


def _requests(moto_server, uri: str) -> list[str]:
    """The methods of the requests for ``uri`` in moto's request log, in order."""
    path = "/" + uri.removeprefix("s3://")
    return [method for method, seen in moto_server.faults.seen if seen == path]


def test_opening_an_s3_file_sends_no_head(s3_bucket, moto_server):
    """An S3 file opened through open_uri cost a HEAD (its length and ETag) before its
    first GET: the open's ranged GET of its first 64 KiB says both now (Content-Range,
    ETag). Counted on moto's request log."""
    data = bytes(range(256)) * 4096  # 1 MiB: four 256 KiB blocks
    put_atomic(f"{s3_bucket}/small.jsonl", b'{"text": "x"}\n')
    put_atomic(f"{s3_bucket}/blob", data)
    put_atomic(f"{s3_bucket}/empty", b"")
    moto_server.faults.seen.clear()
    with open_uri(f"{s3_bucket}/small.jsonl", "rt", compression="infer") as f:
        assert f.read() == '{"text": "x"}\n'
    assert _requests(moto_server, f"{s3_bucket}/small.jsonl") == ["GET"]
    assert read_bytes(f"{s3_bucket}/blob") == data
    # the opening 64 KiB, the rest of the first block, three more blocks: the requests of
    # before (a HEAD, four GETs), none of them a HEAD
    assert _requests(moto_server, f"{s3_bucket}/blob") == ["GET"] * 5
    with open_uri(f"{s3_bucket}/blob", "rb") as f:  # the length is known: a seek from the end
        f.seek(-5, 2)
        assert f.read() == data[-5:]
    assert _requests(moto_server, f"{s3_bucket}/blob") == ["GET"] * 7
    # an empty object has no first byte to GET (416): its HEAD gives the length
    assert read_bytes(f"{s3_bucket}/empty") == b""
    assert _requests(moto_server, f"{s3_bucket}/empty") == ["GET", "HEAD"]


def test_an_s3_file_rewritten_while_read_fails_the_read(s3_bucket):
    """The later blocks are asked for with the first GET's ETag: a file rewritten while it
    is read fails instead of giving the old file's start and the new one's end."""
    data = bytes(range(256)) * 4096
    put_atomic(f"{s3_bucket}/blob", data)
    with open_uri(f"{s3_bucket}/blob", "rb") as f:
        assert f.read(10) == data[:10]
        put_atomic(f"{s3_bucket}/blob", data[::-1])
        with pytest.raises(ClientError, match="PreconditionFailed"):
            f.read()


def test_reading_a_planned_s3_input_file_sends_no_head(s3_bucket, moto_server):
    """A shard's input file on S3 was HEADed before its GET, its version checked against
    the plan's. The opening GET's ETag and Content-Range total say the same now: one GET,
    no HEAD; a file rewritten since planning is refused as before, on that GET alone, and
    one uploaded again with the same bytes (another version, the same ETag) is read."""
    from prox_tasks.corpus import plan_shards, read_shard

    uri = f"{s3_bucket}/in/part-0.jsonl"
    rows = "".join(json.dumps({"id": str(i), "text": f"doc {i}"}) + "\n" for i in range(4))
    put_atomic(uri, rows)
    manifest = plan_shards(f"{s3_bucket}/in/", f"{s3_bucket}/out", target_docs=2)
    moto_server.faults.seen.clear()
    assert [d.text for d in read_shard(manifest, 1)] == ["doc 2", "doc 3"]
    assert _requests(moto_server, uri) == ["GET"]
    put_atomic(uri, rows)  # the same bytes again: a new version, the planned ETag
    moto_server.faults.seen.clear()
    assert [d.text for d in read_shard(manifest, 0)] == ["doc 0", "doc 1"]
    assert _requests(moto_server, uri) == ["GET"]
    put_atomic(uri, rows.replace("doc 3", "DOC 3"))  # the same size, other bytes
    moto_server.faults.seen.clear()
    with pytest.raises(RuntimeError, match="part-0.jsonl changed since the manifest was planned"):
        list(read_shard(manifest, 0))
    assert _requests(moto_server, uri) == ["GET"]


def test_reading_a_planned_s3_wet_file_sends_no_head(s3_bucket, moto_server):
    """A WET file was HEADed twice more: against the plan, and for its length once warcio
    had read it (bytes left after the last record are a cut file). The open knew both."""
    from pathlib import Path

    from prox_tasks.corpus import plan_shards, read_shard

    uri = f"{s3_bucket}/crawl/x.warc.wet.gz"
    wet = Path(__file__).resolve().parents[1] / "corpus" / "data" / "whirlwind.warc.wet.gz"
    put_atomic(uri, wet.read_bytes())
    manifest = plan_shards(f"{s3_bucket}/crawl/", f"{s3_bucket}/out", target_docs=10_000)
    moto_server.faults.seen.clear()
    docs = list(read_shard(manifest, 0))
    assert len(docs) == manifest.shards[0].docs > 0
    assert "HEAD" not in _requests(moto_server, uri)


def test_failed_write_publishes_nothing(s3_bucket):
    with pytest.raises(RuntimeError), open_uri(f"{s3_bucket}/x", "wb") as out:
        out.write(b"half")
        raise RuntimeError("boom")
    assert not exists(f"{s3_bucket}/x")


@pytest.mark.parametrize("status", [503, 500])
def test_transient_errors_are_retried(s3_bucket, moto_server, status):
    put_atomic(f"{s3_bucket}/k", b"payload")
    moto_server.faults.arm(pass_requests=0, fail_requests=2, status=status)
    assert read_bytes(f"{s3_bucket}/k") == b"payload"
    assert moto_server.faults.failed == 2  # two real 5xx answers, then success
    moto_server.faults.arm(pass_requests=0, fail_requests=2, status=status)
    put_atomic(f"{s3_bucket}/k2", b"written through throttling")
    assert moto_server.faults.failed == 2
    assert read_bytes(f"{s3_bucket}/k2") == b"written through throttling"


def test_persistent_errors_surface_after_the_retries(s3_bucket, moto_server):
    moto_server.faults.arm(pass_requests=0, fail_requests=None, status=503)
    with pytest.raises(S3UploadFailedError, match="SlowDown"):
        put_atomic(f"{s3_bucket}/k", b"x")
    assert moto_server.faults.failed == 3  # max_attempts (total) in the fixture
    moto_server.faults.arm(pass_requests=0, fail_requests=None, status=503)
    with pytest.raises(ClientError, match="SlowDown"):  # a GET's error has a code (no HEAD)
        read_bytes(f"{s3_bucket}/k")
    moto_server.faults.disarm()
    assert not exists(f"{s3_bucket}/k")


def test_multipart_upload_interrupted_half_way_then_retried(s3_bucket, moto_server,
                                                           monkeypatch):
    """The store goes down after 2 parts of a 4-part upload: nothing is visible; the
    retry succeeds and the dangling upload is cleaned up (once its last part is older than
    a live writer's would be: here at once)."""
    from prox_tasks.storage import cleanup_partial, s3

    monkeypatch.setattr(s3, "LIVE_UPLOAD_S", 0)

    uri = f"{s3_bucket}/big.bin"
    data = bytes(range(256)) * (4 * 5 * MIB // 256 - 10)  # just under 4 parts of 5 MiB
    moto_server.faults.arm(pass_requests=3, fail_requests=None, status=500)  # create + 2 parts
    with pytest.raises(S3UploadFailedError, match="InternalError"):
        put_atomic(uri, data)
    assert "PUT" in moto_server.faults.failed_methods
    moto_server.faults.disarm()
    assert not exists(uri) and list_uri(s3_bucket) == []
    client, bucket = get_client(), s3_bucket[5:]
    put_atomic(uri, data)
    assert read_bytes(uri) == data
    cleanup_partial(uri)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_live_writers_multipart_upload_survives_another_writers_clean_up(s3_bucket,
                                                                         monkeypatch):
    """Two runs publish one shard at once (a nightly refresh and a manual rerun of one
    snapshot): run A's multipart upload is under way when run B starts writing the shard,
    whose writer first aborts what a killed writer left. It aborted A's live upload too, and
    A's publish failed with NoSuchUpload after the shard's work. An upload that took a part
    in the last LIVE_UPLOAD_S is now left alone; an older one is still aborted."""
    from prox_tasks.storage import cleanup_partial, s3

    uri, bucket, key = f"{s3_bucket}/out/shards/shard-00000.parquet", s3_bucket[5:], \
        "out/shards/shard-00000.parquet"  # fmt: skip
    client = get_client()
    live = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]  # run A
    part = client.upload_part(Bucket=bucket, Key=key, UploadId=live, PartNumber=1,
                              Body=b"refined by run A")  # fmt: skip
    assert cleanup_partial(uri) == 0  # run B's writer
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=live, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert read_bytes(uri) == b"refined by run A"

    dead = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]  # killed
    client.upload_part(Bucket=bucket, Key=key, UploadId=dead, PartNumber=1, Body=b"cut")
    monkeypatch.setattr(s3, "LIVE_UPLOAD_S", -60)  # its last part as if long ago
    assert cleanup_partial(uri) == 1
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_airflow_connection_fields_json_and_uri():
    conn = json.dumps({"conn_type": "aws", "login": "AK", "password": "SK",
                       "extra": {"endpoint_url": "http://minio:9000", "region_name": "eu-west-1"}})
    assert connection_fields(parse_connection("c", conn)) == {"aws_access_key_id": "AK", "aws_secret_access_key": "SK",
                                       "region_name": "eu-west-1",
                                       "endpoint_url": "http://minio:9000",
                                       # named when it does not answer
                                       "endpoint_from": "Airflow connection 'c': extra "
                                                        "endpoint_url (PROX_S3_CONN_ID)"}
    uri = "aws://AK:S%2FK@/?endpoint_url=http%3A%2F%2Fminio%3A9000&region_name=us-east-1"
    assert connection_fields(parse_connection("c", uri))["aws_secret_access_key"] == "S/K"
    assert connection_fields(parse_connection("c", uri))["endpoint_url"] == "http://minio:9000"


def test_settings_from_env_use_an_airflow_connection(monkeypatch):
    monkeypatch.setenv("PROX_S3_CONN_ID", "my_s3")
    monkeypatch.setenv("AIRFLOW_CONN_MY_S3", json.dumps(
        {"conn_type": "aws", "login": "AK", "password": "SK",
         "extra": {"endpoint_url": "http://minio:9000"}}))
    monkeypatch.setenv("PROX_S3_MAX_ATTEMPTS", "7")
    settings = S3Settings.from_env()
    assert settings.endpoint_url == "http://minio:9000"
    assert settings.aws_access_key_id == "AK" and settings.max_attempts == 7


@pytest.mark.parametrize("name", ["PROX_S3_MAX_ATTEMPTS", "PROX_S3_MULTIPART_THRESHOLD",
                                  "PROX_S3_MULTIPART_CHUNKSIZE"])
def test_a_setting_that_is_not_a_number_is_named(monkeypatch, name):
    monkeypatch.setenv(name, "64MiB")
    with pytest.raises(ValueError, match=f"{name}='64MiB' is not a whole number"):
        S3Settings.from_env()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_no_attempt_at_all_is_refused_naming_the_variable(monkeypatch, value):
    """``PROX_S3_MAX_ATTEMPTS=0`` passed to botocore, whose refusal at the first request
    (`S3: Value provided to "max_attempts": 0 must be an integer greater than or equal to
    1.`, exit 1) named no variable: a setting to fix, said as the others are."""
    monkeypatch.setenv("PROX_S3_MAX_ATTEMPTS", value)
    with pytest.raises(ValueError, match=f"PROX_S3_MAX_ATTEMPTS='{value}' is not a whole "
                                         f"number of at least 1 \\({value} is not at least 1\\)"):
        S3Settings.from_env()


def test_a_blank_s3_setting_is_its_default(monkeypatch):
    """An env file's ``PROX_S3_MAX_ATTEMPTS= `` (blank) is unset, as for every deployment
    variable (``settings.env_value``); before, the S3 settings alone failed on it."""
    monkeypatch.setenv("PROX_S3_MAX_ATTEMPTS", " ")
    monkeypatch.setenv("PROX_S3_MULTIPART_CHUNKSIZE", "\t")
    settings = S3Settings.from_env()
    assert (settings.max_attempts, settings.multipart_chunksize) == (10, 16 * MIB)


@pytest.mark.parametrize(("name", "value"), [("PROX_S3_ENDPOINT_URL", "127.0.0.1:9000"),
                                           ("PROX_S3_ENDPOINT_URL", "minio:9000"),
                                           ("AWS_ENDPOINT_URL", "127.0.0.1:9000")])
def test_an_endpoint_without_a_scheme_is_named_with_the_form_expected(monkeypatch, name,
                                                                      value):
    """botocore's own error ("Invalid endpoint: 127.0.0.1:9000") named no variable; no
    server is needed: the client is refused before any request."""
    from prox_tasks.storage import configure_s3

    for other in ("PROX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
                  "PROX_S3_CONN_ID"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv(name, value)
    configure_s3(None)  # the settings of the environment
    with pytest.raises(ValueError, match=rf"{name}='{value}' is not an endpoint URL: give "
                                         r"http://host:port"):
        exists("s3://bucket/key")


@pytest.mark.parametrize(("name", "value", "choices"), [
    ("PROX_S3_RETRY_MODE", "fast", "standard, adaptive, legacy"),
    ("PROX_S3_ADDRESSING_STYLE", "pth", "auto, path, virtual")])
def test_a_retry_mode_or_addressing_style_botocore_lacks_is_named_with_its_variable(
        monkeypatch, name, value, choices):
    """botocore's own errors ('S3 addressing style pth is invalid', 'Invalid value provided
    to "mode"') named no variable; no server is needed: refused before any request. A blank
    value (an env file's NAME=) is the default, as for the other variables."""
    from prox_tasks.storage import configure_s3
    from prox_tasks.storage.s3_client import current_settings

    monkeypatch.delenv("PROX_S3_CONN_ID", raising=False)
    monkeypatch.setenv(name, value)
    configure_s3(None)  # the settings of the environment
    with pytest.raises(ValueError, match=rf"variable {name}='{value}' is not one of {choices}"):
        exists("s3://bucket/key")
    monkeypatch.setenv(name, "")
    assert (current_settings().retry_mode, current_settings().addressing_style) == (
        "standard", "auto")


def test_configure_s3_with_an_endpoint_without_a_scheme_says_the_form_expected():
    """docs/storage.md's configure_s3(S3Settings(endpoint_url=...)) with ``127.0.0.1:9000``
    failed the first S3 call with botocore's "Invalid endpoint: 127.0.0.1:9000", where the
    same value in a variable or a connection says the form expected."""
    from prox_tasks.storage import S3Settings, configure_s3

    with pytest.raises(ValueError, match=r"S3Settings endpoint_url='127.0.0.1:9000' is not an "
                                         r"endpoint URL: give http://host:port"):
        configure_s3(S3Settings(endpoint_url="127.0.0.1:9000"))
    configure_s3(None)


@pytest.mark.parametrize(("extra", "named"), [
    ({"endpoint_url": "127.0.0.1:9000"}, "endpoint_url='127.0.0.1:9000'"),
    ({"service_config": {"s3": {"endpoint_url": "minio:9000"}}},
     "service_config.s3.endpoint_url='minio:9000'")])
def test_a_connection_endpoint_without_a_scheme_is_named_with_the_connection(
        monkeypatch, extra, named):
    """An Airflow connection's endpoint URL without its scheme went to botocore unchecked
    ("Invalid endpoint: 127.0.0.1:9000": no connection named), where the same value in
    PROX_S3_ENDPOINT_URL is refused naming the variable. The same check now names the
    connection and its extra field."""
    import re

    from prox_tasks.storage import configure_s3

    for other in ("PROX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(other, raising=False)
    monkeypatch.setenv("PROX_S3_CONN_ID", "minio")
    monkeypatch.setenv("AIRFLOW_CONN_MINIO", json.dumps(
        {"conn_type": "aws", "login": "AK", "password": "SK", "extra": extra}))
    configure_s3(None)  # the settings of the environment
    with pytest.raises(ValueError, match=re.escape(
            f"Airflow connection 'minio': extra {named} is not an endpoint URL: give "
            "http://host:port")):
        exists("s3://bucket/key")


def test_a_missing_bucket_is_an_error_not_a_missing_file(s3_bucket):
    """HEAD answers 404 for a missing key and for a missing bucket alike: a registry or an
    output in a mistyped bucket must not pass for an empty one."""
    with pytest.raises(FileNotFoundError, match="S3 bucket 'no-such-bucket' does not exist"):
        exists("s3://no-such-bucket/registry/refiner/promoted.json")
    assert not exists(f"{s3_bucket}/registry/refiner/promoted.json")  # the bucket is there
    with pytest.raises(FileNotFoundError) as missing:
        open_uri(f"{s3_bucket}/in/nothing.jsonl", "rb")
    assert missing.value.filename == f"{s3_bucket}/in/nothing.jsonl"


def test_a_write_into_a_missing_bucket_names_the_bucket_not_a_temporary_file(s3_bucket, capsys):
    """`prox label --output s3://lables/x.jsonl.gz` (a mistyped bucket) ended with boto3's
    'S3UploadFailedError: Failed to upload /tmp/prox-uploads/prox-s3-upload-… to lables/…:
    An error occurred (NoSuchBucket)…', naming a temporary file; it now says so as a read in
    that bucket does, and leaves no temporary file."""
    import os

    from prox_tasks.cli.errors import describe_error
    from prox_tasks.storage.tempfiles import upload_dir

    uri = "s3://no-such-bucket/labels/x.jsonl.gz"
    with pytest.raises(FileNotFoundError) as missing:
        put_atomic(uri, b'{"id": "a"}\n')
    assert describe_error(missing.value) == f"S3 bucket 'no-such-bucket' does not exist: {uri}"
    with pytest.raises(FileNotFoundError, match="S3 bucket 'no-such-bucket' does not exist"):
        with open_uri(uri, "wt", compression="infer") as f:
            f.write("x\n")
    assert not [n for n in os.listdir(upload_dir()) if f".{os.getpid()}." in n]


@pytest.mark.parametrize("command", ["label", "execute"])
def test_an_output_in_a_missing_bucket_fails_before_the_input_is_read(s3_bucket, tmp_path,
                                                                       capsys, s3_calls, command):
    """`prox label --output s3://lables/x.jsonl.gz` (a mistyped bucket) labeled every
    document (an LLM teacher's whole cost) and failed at the upload; it now fails first,
    the input unread (no GetObject), as does a --quarantine in a missing bucket."""
    from prox_tasks.cli import main

    put_atomic(f"{s3_bucket}/in/docs.jsonl", b'{"id": "a", "text": "one two"}\n')
    given = ["--input", f"{s3_bucket}/in/docs.jsonl"] + (["--teacher", "rules"]
                                                          if command == "label" else [])
    for output, quarantine in (("s3://no-such-bucket/x.jsonl.gz", None),
                               (str(tmp_path / "x.jsonl"), "s3://no-such-bucket/q.jsonl")):
        s3_calls.clear()
        code = main([command, *given, "--output", output]
                    + (["--quarantine", quarantine] if quarantine else []))
        err = capsys.readouterr().err.strip()
        missing = quarantine or output
        assert code == 1 and err.startswith(f"prox {command}: S3 bucket 'no-such-bucket' does "
                                            f"not exist: {missing}"), err
        assert "GetObject" not in s3_calls and s3_calls["HeadBucket"] <= 1, s3_calls
        assert not (tmp_path / "x.jsonl").exists()


def test_a_small_json_record_is_read_in_one_request(s3_bucket, tmp_path, s3_calls):
    """Status records, gate results and release marks are read once per shard and rerun:
    one GET each (a missing one: None), not a HEAD to ask, a HEAD to open and a GET."""
    from prox_tasks.corpus import read_status
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    put_atomic(f"{s3_bucket}/r/status.json", json.dumps({"docs": 3}))
    s3_calls.clear()
    assert read_json(f"{s3_bucket}/r/status.json") == {"docs": 3}
    assert read_json(f"{s3_bucket}/r/nothing.json") is None
    # a 404 asks once per process whether the bucket is there (HeadBucket): a mistyped
    # bucket must not pass for a missing record
    assert s3_calls["GetObject"] == 2 and "HeadObject" not in s3_calls
    assert s3_calls["HeadBucket"] <= 1
    with pytest.raises(FileNotFoundError, match="S3 bucket 'no-such-bucket' does not exist"):
        read_json("s3://no-such-bucket/r/status.json")
    out = f"{s3_bucket}/snap"
    refine_snapshot(str(write_input(tmp_path / "in.jsonl", 4)), out)
    s3_calls.clear()
    assert read_status(out, 0, verify=False)["docs_written"] == 4
    assert s3_calls == {"GetObject": 1}, s3_calls


def test_s3_errors_name_the_object_in_the_cli_message(s3_bucket):
    from prox_tasks.cli.errors import describe_error

    with pytest.raises(FileNotFoundError) as missing:
        size_of(f"{s3_bucket}/shards/shard-00001.parquet")
    assert describe_error(missing.value) == (
        f"no such S3 object: {s3_bucket}/shards/shard-00001.parquet")
    with pytest.raises(FileNotFoundError) as listing:  # as a read in it says it
        list_uri("s3://no-such-bucket/crawl/")
    assert describe_error(listing.value) == (
        "S3 bucket 'no-such-bucket' does not exist: s3://no-such-bucket/crawl/")


def test_a_listing_of_names_in_a_missing_bucket_says_so_not_empty(s3_bucket, tmp_path):
    """names_in (the listings of a snapshot's status records and shards) took a mistyped
    bucket for a folder with nothing in it; it now says the bucket does not exist, as a
    read in it does. A glob over a missing bucket names the glob given, not its root."""
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.storage import names_in

    with pytest.raises(FileNotFoundError) as missing:
        names_in("s3://no-such-bucket/snap/_status")
    assert describe_error(missing.value) == (
        "S3 bucket 'no-such-bucket' does not exist: s3://no-such-bucket/snap/_status")
    assert names_in(f"{s3_bucket}/snap/_status") == set()  # the bucket is there: empty
    assert names_in(tmp_path / "nothing") == set()  # a local folder not made yet
    put_atomic(f"{s3_bucket}/snap/_status/shard-00000.json", b"{}")
    assert names_in(f"{s3_bucket}/snap/_status") == {"shard-00000.json"}
    with pytest.raises(FileNotFoundError) as globbed:
        list_uri("s3://no-such-bucket/crawl/*.jsonl")
    assert describe_error(globbed.value) == (
        "S3 bucket 'no-such-bucket' does not exist: s3://no-such-bucket/crawl/*.jsonl")


def test_a_command_without_s3_credentials_says_where_to_give_them(s3_bucket, monkeypatch,
                                                                  tmp_path, capsys):
    """No credentials anywhere in the AWS chain (a real lookup: no variables, no files, no
    instance metadata): one line naming the input and the ways to give them, not botocore's
    bare 'Unable to locate credentials'."""
    from prox_tasks.cli import main
    from prox_tasks.storage import configure_s3
    from prox_tasks.storage.s3_client import current_settings

    put_atomic(f"{s3_bucket}/crawl/a.jsonl", b'{"id": "a", "text": "one two"}\n')
    no_credentials(monkeypatch, tmp_path)
    configure_s3(S3Settings(endpoint_url=current_settings().endpoint_url,
                            region_name="us-east-1", max_attempts=1, addressing_style="path"))
    code = main(["plan", "--input", f"{s3_bucket}/crawl/", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("prox plan: S3: no credentials to read or write "
                          f"{s3_bucket}/crawl/"), err
    assert "AWS_ACCESS_KEY_ID" in err and "PROX_S3_CONN_ID" in err, err
    assert len(err.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_an_unknown_s3_connection_id_says_how_to_create_it(tmp_path):
    """PROX_S3_CONN_ID naming no Airflow connection (a typo, or one never added) printed
    'KeyError: "Airflow connection 'x' is not defined (…)"': the type name, quotes, and no
    way on. A fresh `prox` process (a real Airflow lookup, found nowhere) now names the
    variable, the connection and how to create it; `prox label --conn-id` says it too,
    not as 'LookupError: missing "…"'. A setting to fix, as an endpoint without its
    scheme is: exit 2 (it was 1, a failure of the run)."""
    import os
    import subprocess
    import sys
    import uuid

    conn_id = f"prox_s3_{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(PROX_S3_CONN_ID=conn_id, AIRFLOW_HOME=str(tmp_path / "airflow"))
    (tmp_path / "d.jsonl").write_text('{"id": "a", "text": "one two"}\n')
    commands = {
        "plan": ["plan", "--input", "s3://bucket/crawl/", "--output", str(tmp_path / "o")],
        "label": ["label", "--teacher", "llm", "--model", "m", "--conn-id", conn_id,
                  "--input", str(tmp_path / "d.jsonl"), "--output", str(tmp_path / "l.jsonl")],
    }
    for command, argv in commands.items():
        proc = subprocess.run([sys.executable, "-m", "prox_tasks.cli", *argv], env=env,
                              capture_output=True, text=True, timeout=300)
        err = proc.stderr.strip().splitlines()[-1]
        named = "PROX_S3_CONN_ID=" if command == "plan" else ""
        assert proc.returncode == 2 and err.startswith(
            f"prox {command}: {named and named + repr(conn_id) + ': '}Airflow connection "
            f"{conn_id!r} is not defined"), err
        assert f"airflow connections add {conn_id}" in err, err
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in err and "Error" not in err, err


@pytest.mark.parametrize(("given_by", "named"), [
    ("PROX_S3_ENDPOINT_URL", "set by PROX_S3_ENDPOINT_URL"),
    ("AWS_ENDPOINT_URL", "set by AWS_ENDPOINT_URL"),
    ("connection", "set by Airflow connection 'minio': extra endpoint_url (PROX_S3_CONN_ID)")])
def test_a_command_whose_s3_endpoint_does_not_answer_says_what_to_check(
        monkeypatch, tmp_path, capsys, given_by, named):
    """An S3 endpoint naming a port where no server listens (a real closed port: the S3
    server not started, or a typo in the port): the line says to start the server or
    correct the endpoint, not botocore's bare 'Could not connect to the endpoint URL', and
    names the one setting the endpoint came from — a list of all three variables sent a
    user whose AWS_ENDPOINT_URL was wrong to PROX_S3_ENDPOINT_URL first."""
    from prox_tasks.cli import main
    from prox_tasks.storage import configure_s3
    from tests.ports import refused_port

    port = refused_port()  # a port nothing listens on (nor will: tests/ports.py)
    for other in ("PROX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
                  "PROX_S3_CONN_ID"):
        monkeypatch.delenv(other, raising=False)
    if given_by == "connection":
        monkeypatch.setenv("PROX_S3_CONN_ID", "minio")
        monkeypatch.setenv("AIRFLOW_CONN_MINIO", json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing",
             "extra": {"endpoint_url": f"http://127.0.0.1:{port}"}}))
    else:
        monkeypatch.setenv(given_by, f"http://127.0.0.1:{port}")
    for name, value in (("PROX_S3_MAX_ATTEMPTS", "1"), ("AWS_ACCESS_KEY_ID", "testing"),
                        ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    configure_s3(None)
    code = main(["plan", "--input", "s3://crawl/2024-22/", "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f'prox plan: S3: Could not connect to the endpoint URL: "http://127.0.0.1:{port}/'), err
    assert f"start the S3 server or correct the endpoint, {named} (docs/storage.md)" in err, err
    others = {"PROX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} - {given_by}
    assert not [o for o in others if o in err], err  # the one in effect, not a list


def test_an_s3_endpoint_down_with_none_set_lists_where_one_is_set(monkeypatch):
    """No endpoint set (AWS's) or its setting unknown: the advice lists every setting."""
    from prox_tasks.cli.errors import S3_ENDPOINT, s3_endpoint_advice
    from prox_tasks.storage import configure_s3

    for name in ("PROX_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL",
                 "PROX_S3_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    configure_s3(None)
    assert s3_endpoint_advice() == S3_ENDPOINT


def test_a_registry_in_a_missing_bucket_is_not_taken_for_an_empty_one(s3_bucket, monkeypatch,
                                                                      tmp_path):
    from prox_tasks.models import resolve_model

    monkeypatch.setenv("PROX_HOME", str(tmp_path))
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    monkeypatch.setenv("PROX_MODEL_REGISTRY", "s3://no-such-bucket/registry")
    with pytest.raises(FileNotFoundError, match="S3 bucket 'no-such-bucket' does not exist"):
        resolve_model(None)  # not the shipped default, silently
    monkeypatch.setenv("PROX_MODEL_REGISTRY", f"{s3_bucket}/registry")
    assert resolve_model(None).source == "default"  # an empty registry: the shipped model


def test_listing_a_prefix_without_a_slash_sends_no_head(s3_bucket, s3_calls):
    """list_uri and identities_in of s3://bucket/in (no trailing '/') sent a HEAD of `in`
    first to see whether it named an object, and a file named so two HEADs: the listing of
    that prefix tells, the object itself being its first key. Folder, file, siblings sharing
    the name's start (`in-old/`, `in.bak`) and a missing bucket answer as before."""
    from prox_tasks.storage import content_fingerprint, identities_in

    for key in ("in/a.jsonl", "in/b/c.jsonl", "in/_status/x.json", "in-old/d.jsonl",
                "in.bak", "inbox/e.jsonl", "file.jsonl"):
        put_atomic(f"{s3_bucket}/{key}", b"x\n")
    s3_calls.clear()
    assert list_uri(f"{s3_bucket}/in") == [f"{s3_bucket}/in/a.jsonl", f"{s3_bucket}/in/b/c.jsonl"]
    assert list_uri(f"{s3_bucket}/file.jsonl") == [f"{s3_bucket}/file.jsonl"]
    found = identities_in(f"{s3_bucket}/file.jsonl")[f"{s3_bucket}/file.jsonl"]
    assert (found.size, found.fingerprint) == (2, content_fingerprint(f"{s3_bucket}/file.jsonl"))
    assert sorted(identities_in(f"{s3_bucket}/in")) == list_uri(f"{s3_bucket}/in/")
    assert list_uri(f"{s3_bucket}/in/b/c") == [] and list_uri(f"{s3_bucket}/nothing") == []
    listings = s3_calls["ListObjectsV2"]
    assert s3_calls["HeadObject"] == 1, s3_calls  # content_fingerprint's; before: 9 (and 5 listings)
    assert listings == 7, s3_calls
    with pytest.raises(FileNotFoundError, match="S3 bucket 'no-such-bucket' does not exist"):
        list_uri("s3://no-such-bucket/in")


def test_listing_a_prefix_without_a_slash_pages_past_siblings_and_a_large_folder(
        s3_bucket, s3_calls):
    """The listing of `in` without a '/' holds keys such as `in-old/…` before `in/…` (S3
    lists in byte order): past a first page of 1,000 of them the folder is listed from
    `in/`; a folder of over 1,000 keys goes on from its first page, each key once."""
    from concurrent.futures import ThreadPoolExecutor

    bucket = s3_bucket.removeprefix("s3://")
    keys = [f"in-old/k{i:04d}" for i in range(1001)] + ["in/a", "in/b", "in/c"] + \
        [f"big/k{i:04d}" for i in range(1001)] + ["big-old"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: get_client().put_object(Bucket=bucket, Key=k, Body=b"x"), keys))
    s3_calls.clear()
    assert list_uri(f"{s3_bucket}/in") == [f"{s3_bucket}/in/{n}" for n in "abc"]
    assert list_uri(f"{s3_bucket}/big") == [f"{s3_bucket}/big/k{i:04d}" for i in range(1001)]
    assert s3_calls["ListObjectsV2"] == 2 + 2 and not s3_calls["HeadObject"], s3_calls


def test_an_object_whose_key_looks_like_a_glob_is_that_object(s3_bucket):
    """An object named ``a[1].jsonl`` named as input was 'no input files' (as a glob it
    matches ``a1.jsonl``, not itself): when no key matches the glob, the object named so
    is read; a glob that matches lists what it matches, with no request more."""
    for key in ("in/a[1].jsonl", "in/b*.jsonl", "in/bc.jsonl"):
        put_atomic(f"{s3_bucket}/{key}", b"x")
    assert list_uri(f"{s3_bucket}/in/a[1].jsonl") == [f"{s3_bucket}/in/a[1].jsonl"]
    assert list_uri(f"{s3_bucket}/in/b[c].jsonl") == [f"{s3_bucket}/in/bc.jsonl"]
    assert list_uri(f"{s3_bucket}/in/b*.jsonl") == [f"{s3_bucket}/in/b*.jsonl",
                                                   f"{s3_bucket}/in/bc.jsonl"]
    assert list_uri(f"{s3_bucket}/in/z[1].jsonl") == []


#: Multipart sizes out of S3's range, each with why: the part size (5 MiB to 5 GiB) and the
#: threshold (at least a part, at most the largest single PUT: 5 GiB).
OUT_OF_S3S_RANGE = {
    "part below 5 MiB": ("PROX_S3_MULTIPART_CHUNKSIZE", "1024", "1024 is not at least 5242880"),
    "part above 5 GiB": ("PROX_S3_MULTIPART_CHUNKSIZE", str(5 * 1024 * MIB + 1),
                         "5368709121 is more than 5368709120"),
    "threshold 0": ("PROX_S3_MULTIPART_THRESHOLD", "0", "0 is not at least 5242880"),
    "threshold below 5 MiB": ("PROX_S3_MULTIPART_THRESHOLD", "-1", "-1 is not at least 5242880"),
    "threshold above 5 GiB": ("PROX_S3_MULTIPART_THRESHOLD", str(6 * 1024 * MIB),
                              "6442450944 is more than 5368709120"),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_S3S_RANGE))
def test_a_multipart_size_out_of_s3s_range_is_refused_before_anything_is_written(
        case, s3_bucket, moto_server, tmp_path, capsys, monkeypatch):
    """``PROX_S3_MULTIPART_CHUNKSIZE=1024`` was taken: S3 refuses parts under 5 MiB only
    when the upload completes, after every part was sent; a part over 5 GiB, or a threshold
    over S3's largest single PUT (5 GiB), only once its bytes were sent; a threshold of 0 or
    less had no bound at all. Each is a setting to fix (exit 2, naming the variable and
    S3's limit), refused before any request writes to the bucket (moto over HTTP, its
    settings from the environment as a deployment's are)."""
    from prox_tasks.cli import main
    from prox_tasks.storage import configure_s3, get_client
    from prox_tasks.storage.s3_client import S3Settings
    from tests.quality.snapshot_factory import write_input

    name, value, why = OUT_OF_S3S_RANGE[case]
    src = write_input(tmp_path / "in" / "crawl.jsonl", 5)
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    monkeypatch.setenv(name, value)
    configure_s3(None)  # the environment's settings, as a deployment has them
    assert main(["plan", "--input", str(src), "--output", f"{s3_bucket}/out",
                 "--catalog", f"sqlite:///{tmp_path}/c.sqlite"]) == 2
    err = capsys.readouterr().err
    assert f"{name}={value!r} is not a whole number from 5242880 to 5368709120 ({why}" \
        in err and "5 MiB" in err and "5 GiB" in err, err
    client = get_client(S3Settings(endpoint_url=moto_server.endpoint_url, region_name="us-east-1",
                                   addressing_style="path"))
    bucket = s3_bucket.removeprefix("s3://")
    assert client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads")
