"""prox_refine_snapshot (``dag.test()``) on S3 that its credentials may not write, or without
credentials at all: moto's server over HTTP enforcing IAM, and botocore's real credential
chain finding nothing. Neither can succeed on a retry: the run fails once, at its first
task that meets it, saying what to set."""

from __future__ import annotations

import pytest
from moto.core import enable_iam_authentication

from prox_tasks.storage import configure_s3, get_client, put_atomic
from prox_tasks.storage.s3_client import current_settings
from tests.dags.refine_dag import refine_world, run, tis
from tests.storage.conftest import iam_keys, no_credentials, use_keys  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def world(tmp_path_factory, parsed_dagbag):
    """This module's crawl, corpus and catalog (:func:`refine_world`)."""
    return refine_world(tmp_path_factory, parsed_dagbag)


def _keys_in(s3_bucket: str) -> list[str]:
    bucket = s3_bucket.removeprefix("s3://")
    return [o["Key"] for o in get_client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_an_output_root_the_credentials_may_not_write_fails_at_resolve_once(
        world, moto_server, s3_bucket, iam_keys, capfd):  # noqa: F811
    """An S3 ``output_root`` its credentials may read and list but not write: the run read
    and planned nothing it could write, and failed (retried) only at plan's manifest
    write. ``resolve`` now tries the write ``prox plan`` and ``prox refine`` try (a
    conditional PUT that writes nothing) and fails once, naming output_root."""
    admin = current_settings()
    use_keys(moto_server, *iam_keys(s3_bucket, ["s3:GetObject", "s3:ListBucket"]))
    root = f"{s3_bucket}/corpus"
    with enable_iam_authentication():
        dag_run = run(world, "read-only", output_root=root)
    configure_s3(admin)
    assert dag_run.state == "failed"
    ti = tis(dag_run)
    assert (ti[("resolve", -1)].state, ti[("resolve", -1)].try_number) == ("failed", 1)
    assert ti[("plan", -1)].state == "upstream_failed"
    logged = capfd.readouterr()
    said = logged.out + logged.err
    assert f"output_root {root!r} cannot be written" in said, said
    assert (f"AccessDenied Access Denied ({root}/snapshots/read-only/_prox_write_check): the "
            "S3 credentials in use may not do this: grant them s3:PutObject there") in said
    assert _keys_in(s3_bucket) == []


def _no_credentials(monkeypatch, tmp_path) -> None:
    """This process's S3 client as a worker's without credentials (botocore's chain finds
    none); its other settings from its environment, as a task process reads them."""
    no_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", current_settings().endpoint_url)
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    monkeypatch.setenv("PROX_S3_MAX_ATTEMPTS", "1")
    configure_s3(None)


@pytest.mark.parametrize("given", ["nothing", "connection", "key only"])
def test_an_s3_input_without_credentials_fails_once_naming_what_to_set(
        world, s3_bucket, monkeypatch, tmp_path, capfd, given):
    """A worker without S3 credentials: `plan`'s read of an S3 input raised botocore's
    NoCredentialsError (PartialCredentialsError for a key without its secret), retried with
    backoff though no retry can find credentials. It fails once now, saying which variables
    or which connection (PROX_S3_CONN_ID's) to set."""
    put_atomic(f"{s3_bucket}/crawl/2026-01-05.jsonl", world["crawl"].read_bytes())
    _no_credentials(monkeypatch, tmp_path)
    if given == "connection":  # the settings from a connection without keys
        monkeypatch.setenv("PROX_S3_CONN_ID", "aws_prox")
        monkeypatch.setenv("AIRFLOW_CONN_AWS_PROX", '{"conn_type": "aws"}')
    if given == "key only":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    name = f"no-keys-{given.replace(' ', '-')}"
    dag_run = run(world, name, input_uri=f"{s3_bucket}/crawl/{{ds}}.jsonl")
    assert dag_run.state == "failed"
    ti = tis(dag_run)
    assert (ti[("plan", -1)].state, ti[("plan", -1)].try_number) == ("failed", 1)
    logged = capfd.readouterr()
    said = logged.out + logged.err
    if given == "key only":
        assert "S3: Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY" in said
    else:
        assert ("S3: no credentials to read or write "
                f"{s3_bucket}/crawl/2026-01-05.jsonl") in said, said
    if given == "connection":
        assert ("the Airflow connection 'aws_prox' (PROX_S3_CONN_ID) holds no access key: "
                "set its login and password") in said, said
    else:
        assert ("give credentials as the AWS chain takes them (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role) in the environment of "
                "every Airflow worker, or name an Airflow connection holding them in "
                "PROX_S3_CONN_ID") in said, said


def test_a_waiting_run_without_credentials_fails_once_at_wait_for_partition(
        world, s3_bucket, monkeypatch, tmp_path, capfd):
    """The partition sensor's first look lists the S3 input on the worker: without
    credentials it raised botocore's bare "Unable to locate credentials" and was retried
    with backoff (found walking docs/airflow.md's backfill command, `--dag-run-conf
    '{"input_uri": "s3://crawl/{ds}/"}'`, on a worker without S3 keys:
    wait_for_partition up_for_retry). It fails once now, saying what to set, as plan does."""
    put_atomic(f"{s3_bucket}/crawl/2026-01-05/part.jsonl", world["crawl"].read_bytes())
    _no_credentials(monkeypatch, tmp_path)
    dag_run = run(world, "no-keys-waiting", input_uri=f"{s3_bucket}/crawl/{{ds}}/",
                  wait_for_partition=True)
    assert dag_run.state == "failed"
    ti = tis(dag_run)
    wait = ti[("wait_for_partition", -1)]
    assert (wait.state, wait.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    said = logged.out + logged.err
    assert f"S3: no credentials to read or write {s3_bucket}/crawl/2026-01-05/" in said, said
    assert "in the environment of every Airflow worker" in said, said
