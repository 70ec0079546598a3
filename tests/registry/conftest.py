"""A real moto S3 server over HTTP, with prox's storage pointed at it."""

from __future__ import annotations

import uuid

import pytest

from prox_tasks.storage import S3Settings, configure_s3, get_client
from tests.storage.conftest import s3_calls  # noqa: F401 - the S3 call counter, reused


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_root(moto_endpoint, monkeypatch):
    """A fresh bucket; returns ``s3://bucket/models``."""
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
