"""Fixtures: a real moto S3 server over HTTP with prox's storage pointed at it."""

from __future__ import annotations

import uuid

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
def count_gets():
    """GetObject requests by key while the fixture is active (a botocore event hook on the
    storage layer's client: what the code under test really sent to the S3 server)."""
    import collections

    from prox_tasks.storage import get_client

    counts = collections.Counter()

    def hook(params, **_):
        counts[params["Key"]] += 1

    events = get_client().meta.events
    events.register("before-parameter-build.s3.GetObject", hook, unique_id="count-gets")
    yield counts
    events.unregister("before-parameter-build.s3.GetObject", unique_id="count-gets")


@pytest.fixture
def s3_calls():
    """S3 API calls by operation name (``GetObject``, ``HeadObject``, ...) while the fixture
    is active: what this process's storage client really sent."""
    import collections

    from prox_tasks.storage import get_client

    sent = collections.Counter()

    def hook(model, **_):
        sent[model.name] += 1

    events = get_client().meta.events
    events.register("before-call.s3", hook, unique_id="count-s3-calls")
    yield sent
    events.unregister("before-call.s3", unique_id="count-s3-calls")
