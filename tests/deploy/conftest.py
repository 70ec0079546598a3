"""Servers for the live-deployment tests, one each per session, all on loopback.

Each fixture skips the test with the reason when its server cannot run here (CI installs
Debian's ``postgresql`` and ``redis-server``: see ``.ci/run``).
"""

from __future__ import annotations

import uuid

import pytest

from tests.dags.airflow_env import REPO  # noqa: F401  (sets Airflow's environment first)
from tests.deploy.deployment import s3_env
from tests.deploy.postgres import PostgresServer, PostgresUnavailable
from tests.deploy.redis import RedisServer, RedisUnavailable
from tests.storage.s3server import FaultyMotoServer


@pytest.fixture(scope="session")
def postgres():
    """A :class:`~tests.deploy.postgres.PostgresServer` (metadata DBs and catalogs)."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as why:
        pytest.skip(f"live deployment tests need PostgreSQL: {why}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_broker():
    """A :class:`~tests.deploy.redis.RedisServer` (the Celery broker)."""
    try:
        server = RedisServer().start()
    except RedisUnavailable as why:
        pytest.skip(f"Celery deployment tests need Redis: {why}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server over HTTP (``endpoint_url``)."""
    server = FaultyMotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket, ``s3://<name>``; this process's prox storage points at the server."""
    from prox_tasks.storage import S3Settings, configure_s3, get_client

    with pytest.MonkeyPatch.context() as env:
        for name, value in s3_env(s3_server.endpoint_url).items():
            env.setenv(name, value)
        configure_s3(S3Settings(endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                                addressing_style="path"))
        bucket = f"prox-{uuid.uuid4().hex[:12]}"
        get_client().create_bucket(Bucket=bucket)
        yield f"s3://{bucket}"
        configure_s3(None)

