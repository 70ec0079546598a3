"""Fixtures: a real moto S3 server over HTTP with prox's storage pointed at it."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest

from prox_tasks.storage import S3Settings, configure_s3, get_client
from tests.storage.s3server import FaultyMotoServer


@pytest.fixture(scope="session")
def moto_server():
    server = FaultyMotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto_server, monkeypatch):
    """A fresh bucket; returns ``s3://bucket``. Retries are fast so fault tests stay short."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    configure_s3(
        S3Settings(
            endpoint_url=moto_server.endpoint_url,
            region_name="us-east-1",
            max_attempts=3,
            addressing_style="path",
            multipart_threshold=5 * 1024 * 1024,
            multipart_chunksize=5 * 1024 * 1024,
            max_concurrency=1,
            read_block_size=256 * 1024,
        )
    )
    moto_server.faults.disarm()
    bucket = f"prox-{uuid.uuid4().hex[:12]}"
    get_client().create_bucket(Bucket=bucket)
    yield f"s3://{bucket}"
    moto_server.faults.disarm()
    configure_s3(None)


@pytest.fixture
def iam_keys(moto_server):
    """``iam_keys(bucket_uri, actions)``: keys of a new IAM user of the moto server allowed
    only ``actions`` (``s3:GetObject``, …) on that bucket and its objects. The server checks
    them only inside moto's ``enable_iam_authentication()``: S3 itself refusing a request
    (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch) over HTTP."""
    import json

    import boto3

    iam = boto3.client("iam", endpoint_url=moto_server.endpoint_url, region_name="us-east-1")

    def make(bucket_uri: str, actions: list[str]) -> tuple[str, str]:
        bucket = bucket_uri.removeprefix("s3://").split("/", 1)[0]
        user = f"user-{uuid.uuid4().hex[:12]}"
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="only", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions,
                           "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
        }))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    return make


def use_keys(moto_server, key_id: str, secret: str) -> None:
    """Point prox's storage at the moto server with these keys (``s3_bucket``'s teardown
    resets the settings)."""
    configure_s3(S3Settings(endpoint_url=moto_server.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret,
                            max_attempts=1, addressing_style="path"))


def no_credentials(monkeypatch, tmp_path) -> None:
    """This process's environment as a host's without S3 credentials: nothing in the
    environment, no shared files, no instance metadata (botocore's real chain finds none)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@contextmanager
def _counting(event: str, key, unique_id: str):
    """A Counter of ``key(**kwargs)`` over each ``event`` of the storage layer's client while
    the context is open.

    The hook runs in whichever thread sends the request, and the storage layer sends from
    pools (a registry's records, a plan's parts): a bare ``counts[k] += 1`` is a read
    (Counter.__missing__, Python code a thread switch can fall in) and a write, so two
    threads' first requests could count one and an exact count failed by chance. The
    increment takes a lock.
    """
    import collections
    import threading

    from prox_tasks.storage import get_client

    counts, lock = collections.Counter(), threading.Lock()

    def hook(**kwargs):
        name = key(**kwargs)
        with lock:
            counts[name] += 1

    events = get_client().meta.events
    events.register(event, hook, unique_id=unique_id)
    try:
        yield counts
    finally:
        events.unregister(event, unique_id=unique_id)


@contextmanager
def first_gets_meet(key_part: str, parties: int = 2, timeout: float = 20):
    """Assert that the first ``parties`` GetObject requests for keys holding ``key_part``
    are in flight at once while the context is open: each waits at a barrier for the
    others, which reads made one after another never pass (the barrier times out, and the
    context fails on exit). For code that reads several objects at once (storage.ahead);
    the hook is on the storage layer's client, so what it counts was really sent.
    """
    import threading

    from prox_tasks.storage import get_client

    barrier, met, lock = threading.Barrier(parties, timeout=timeout), [], threading.Lock()

    def meet(params, **_):
        if key_part not in params["Key"]:
            return
        with lock:
            first = len(met) < parties
            met.append(threading.get_ident())
        if first:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                met.append("alone")

    events = get_client().meta.events
    unique_id = f"first-gets-meet-{id(barrier)}"
    events.register("before-parameter-build.s3.GetObject", meet, unique_id=unique_id)
    try:
        yield met
    finally:
        events.unregister("before-parameter-build.s3.GetObject", unique_id=unique_id)
    assert "alone" not in met and len(set(met[:parties])) == parties, (
        f"the first {parties} GETs of *{key_part}* keys did not meet (read one at a time): {met}")


@pytest.fixture
def count_gets():
    """GetObject requests by key while the fixture is active (a botocore event hook on the
    storage layer's client: what the code under test really sent to the S3 server)."""
    with _counting(
        "before-parameter-build.s3.GetObject", lambda params, **_: params["Key"], "count-gets"
    ) as counts:
        yield counts


@pytest.fixture
def s3_calls():
    """S3 API calls by operation name (``GetObject``, ``HeadObject``, ...) while the fixture
    is active: what this process's storage client really sent."""
    with _counting("before-call.s3", lambda model, **_: model.name, "count-s3-calls") as sent:
        yield sent
