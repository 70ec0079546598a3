"""S3 refusing the credentials prox sends, for real: moto's server enforcing IAM over HTTP.

A user new to a bucket meets these first: a key without the permission to write the output
(AccessDenied), a mistyped access key (InvalidAccessKeyId) or secret (SignatureDoesNotMatch).
Each must end a command with one line naming the object, the permission or setting to fix,
and nothing written.
"""

from __future__ import annotations

import pytest
from moto.core import enable_iam_authentication

from prox_tasks.storage import configure_s3, get_client, put_atomic
from prox_tasks.storage.s3_client import current_settings
from tests.storage.conftest import use_keys


@pytest.fixture
def reader_keys(s3_bucket, iam_keys):
    """Keys of an IAM user who may read and list ``s3_bucket`` but not write to it."""
    return iam_keys(s3_bucket, ["s3:GetObject", "s3:ListBucket"])


def test_a_refused_upload_names_the_object_and_the_permission_not_a_temporary_file(
        s3_bucket, moto_server, reader_keys):
    """`prox models promote default` into a bucket the key may only read ended with boto3's
    'S3UploadFailedError: Failed to upload /tmp/prox-uploads/prox-s3-upload-… to
    bucket/reg/…: An error occurred (AccessDenied) …': a temporary file, no s3:// URI and
    nothing to do."""
    from prox_tasks.cli.errors import describe_error

    use_keys(moto_server, *reader_keys)
    uri = f"{s3_bucket}/reg/refiner/v1/model.safetensors"
    with enable_iam_authentication(), pytest.raises(Exception) as refused:
        put_atomic(uri, b"weights")
    line = describe_error(refused.value)
    assert line.startswith(f"S3 PutObject failed: AccessDenied Access Denied ({uri}): the S3 "
                           "credentials in use may not do this: grant them s3:PutObject there")
    assert "prox-uploads" not in line and "AWS_PROFILE" in line


def test_a_refused_plan_says_what_to_grant_and_writes_nothing(s3_bucket, moto_server,
                                                              reader_keys, capsys):
    """`prox plan --output` a bucket the key may not write: its manifest's conditional PUT
    (storage.swap) was refused as 'S3 PutObject failed: AccessDenied Access Denied', naming
    neither the object nor what to do. prox plan is refused by its write check now, before
    the input is read; the manifest's own write, planned without it, names the manifest."""
    from prox_tasks.cli import main
    from prox_tasks.cli.errors import describe_error
    from prox_tasks.corpus import plan_shards

    put_atomic(f"{s3_bucket}/in/docs.jsonl", b'{"id": "a", "text": "one two three"}\n')
    settings = current_settings()
    use_keys(moto_server, *reader_keys)
    with enable_iam_authentication():
        assert main(["plan", "--input", f"{s3_bucket}/in/", "--output", f"{s3_bucket}/out/",
                     "--catalog", "sqlite://"]) == 1
        with pytest.raises(Exception) as refused:
            plan_shards(f"{s3_bucket}/in/", f"{s3_bucket}/out/")
    err = capsys.readouterr().err
    assert (f"prox plan: S3 PutObject failed: AccessDenied Access Denied ({s3_bucket}/out/"
            "_prox_write_check): the S3 credentials in use may not do this: grant them "
            "s3:PutObject there") in err, err
    assert describe_error(refused.value).startswith(
        f"S3 PutObject failed: AccessDenied Access Denied ({s3_bucket}/out/manifest.json): "
        "the S3 credentials in use may not do this: grant them s3:PutObject there")
    configure_s3(settings)  # the fixture's keys, which may list everything
    bucket = s3_bucket.removeprefix("s3://")
    listed = get_client().list_objects_v2(Bucket=bucket, Prefix="out/").get("KeyCount", 0)
    assert listed == 0


@pytest.mark.parametrize("wrong, code, advice", [
    ("secret", "SignatureDoesNotMatch", "the secret key does not belong to the access key"),
    ("key", "InvalidAccessKeyId", "the S3 store knows no such access key"),
])
def test_a_mistyped_key_or_secret_says_which_setting_to_check(s3_bucket, moto_server,
                                                              reader_keys, capsys, wrong,
                                                              code, advice):
    from prox_tasks.cli import main

    key_id, secret = reader_keys
    use_keys(moto_server, "AKIAXXXXXXXXXXXXXXXX" if wrong == "key" else key_id,
        "not-the-secret" if wrong == "secret" else secret)
    with enable_iam_authentication():
        assert main(["plan", "--input", f"{s3_bucket}/in/", "--output", f"{s3_bucket}/out/",
                     "--catalog", "sqlite://"]) == 1
    err = capsys.readouterr().err
    assert f"failed: {code} " in err and f"({s3_bucket}/" in err, err
    assert advice in err and "AWS_SECRET_ACCESS_KEY" in err, err


def test_credentials_without_list_parts_still_clean_up_a_killed_upload(
        s3_bucket, moto_server, iam_keys, monkeypatch):
    """A shard writer aborts the multipart uploads a killed writer left, sparing a live one
    by its last part's time (ListParts). Credentials allowed to write the shard but not
    s3:ListMultipartUploadParts failed the shard's write with AccessDenied whenever an old
    unfinished upload was there; the upload's start is what they judge it by now."""
    from prox_tasks.storage import cleanup_partial, s3

    bucket, key = s3_bucket[5:], "out/shards/shard-00000.parquet"
    dead = get_client().create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    get_client().upload_part(Bucket=bucket, Key=key, UploadId=dead, PartNumber=1, Body=b"cut")
    writer = iam_keys(s3_bucket, ["s3:GetObject", "s3:PutObject", "s3:ListBucket",
                                  "s3:ListBucketMultipartUploads", "s3:AbortMultipartUpload"])
    admin = current_settings()
    use_keys(moto_server, *writer)
    monkeypatch.setattr(s3, "LIVE_UPLOAD_S", -60)  # started as if long ago
    with enable_iam_authentication():
        assert cleanup_partial(f"{s3_bucket}/{key}") == 1
    configure_s3(admin)
    assert get_client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("command", ["plan", "refine"])
def test_an_output_the_key_may_not_write_is_refused_before_the_input_is_read(
        s3_bucket, moto_server, reader_keys, capsys, tmp_path, command):
    """`prox plan` / `prox refine` into a bucket the credentials may list and read but not
    write scanned the whole input (minutes for a large crawl) before its first write, the
    manifest's, was refused. A write into the output folder that writes nothing (a PUT on
    a condition no object meets) is tried first: the same refusal, before a byte of input."""
    from prox_tasks.cli import main
    from tests.storage.conftest import _counting

    for part in range(3):
        put_atomic(f"{s3_bucket}/in/part-{part}.jsonl",
                   b'{"id": "a%d", "text": "one two three"}\n' % part)
    use_keys(moto_server, *reader_keys)
    output = f"{s3_bucket}/out"
    args = ["--input", f"{s3_bucket}/in/", "--output", output,
            "--catalog", f"sqlite:///{tmp_path / 'catalog.sqlite'}"]
    with enable_iam_authentication(), _counting(
            "before-parameter-build.s3.GetObject", lambda params, **_: params["Key"],
            "count-input-gets") as gets:
        assert main([command, *args]) == 1
    assert not [key for key in gets if key.startswith("in/")], gets
    err = capsys.readouterr().err
    assert (f"prox {command}: S3 PutObject failed: AccessDenied Access Denied ({output}/"
            "_prox_write_check): the S3 credentials in use may not do this: grant them "
            "s3:PutObject there") in err, err


def test_the_write_check_of_an_output_folder_leaves_nothing_there(s3_bucket, moto_server,
                                                                 iam_keys):
    """Credentials that may write pass the check, and the folder stays empty: the check's PUT
    writes nothing (S3 answers its condition with 404)."""
    from prox_tasks.storage import check_writable

    use_keys(moto_server, *iam_keys(s3_bucket, ["s3:GetObject", "s3:PutObject",
                                                "s3:ListBucket"]))
    with enable_iam_authentication():
        check_writable(f"{s3_bucket}/out", folders=True)
        check_writable(f"{s3_bucket}/out/", folders=True)
        check_writable(s3_bucket, folders=True)  # the bucket's top
    bucket = s3_bucket.removeprefix("s3://")
    assert get_client().list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


@pytest.mark.parametrize("command", ["label", "execute"])
def test_a_labels_output_the_key_may_not_write_is_refused_before_the_input_is_read(
        s3_bucket, moto_server, reader_keys, capsys, command):
    """`prox label --teacher rules --output s3://crawl/labels/x.jsonl.gz` with keys that may
    read the bucket but not write it labeled every document (the llm teacher: paid calls),
    then ended "S3 PutObject failed: AccessDenied … (s3://crawl/labels/x.jsonl.quarantine.
    jsonl)". The write check of `prox plan` is tried in the output's folder first now."""
    from prox_tasks.cli import main
    from tests.storage.conftest import _counting

    put_atomic(f"{s3_bucket}/in/docs.jsonl", b'{"id": "a", "text": "one two three"}\n')
    use_keys(moto_server, *reader_keys)
    given = ["--teacher", "rules"] if command == "label" else []
    with enable_iam_authentication(), _counting(
            "before-parameter-build.s3.GetObject", lambda params, **_: params["Key"],
            "count-input-gets") as gets:
        assert main([command, *given, "--input", f"{s3_bucket}/in/docs.jsonl",
                     "--output", f"{s3_bucket}/labels/x.jsonl.gz"]) == 1
    assert not [key for key in gets if key.startswith("in/")], gets
    err = capsys.readouterr().err
    assert (f"prox {command}: S3 PutObject failed: AccessDenied Access Denied ({s3_bucket}/"
            "labels/_prox_write_check): the S3 credentials in use may not do this: grant "
            "them s3:PutObject there") in err, err
