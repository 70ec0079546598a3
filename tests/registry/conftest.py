"""The session's real moto S3 server over HTTP (tests/storage's), with prox's storage
pointed at it."""

from __future__ import annotations

import uuid

import pytest

from prox_tasks.storage import S3Settings, configure_s3, get_client
from tests.storage.conftest import moto_server, s3_calls  # noqa: F401 - reused fixtures


@pytest.fixture(scope="session")
def moto_endpoint(moto_server):  # noqa: F811 - the fixture imported above
    """The server's URL: one moto server a session (it had a second of its own here)."""
    return moto_server.endpoint_url


@pytest.fixture
def s3_root(moto_endpoint, moto_server, monkeypatch):  # noqa: F811
    """A fresh bucket; returns ``s3://bucket/models``."""
    moto_server.faults.disarm()  # a fault another test armed is not this test's
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    configure_s3(S3Settings(endpoint_url=moto_endpoint, region_name="us-east-1",
                            addressing_style="path", max_attempts=2))  # fmt: skip
    bucket = f"prox-{uuid.uuid4().hex[:12]}"
    get_client().create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/models"
    configure_s3(None)
