"""Catalog URLs to test on: SQLite always; PostgreSQL when a server is available.

PostgreSQL comes from ``PROX_TEST_POSTGRES_URL`` (a server URL whose user may create
databases), or else a throw-away server started here (:mod:`tests.deploy.postgres`).
When neither is available the PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.corpus.conftest import sample_rows  # noqa: F401  (fixture)
from tests.deploy.postgres import PostgresServer, PostgresUnavailable


@pytest.fixture(scope="session")
def postgres_server():
    """A SQLAlchemy URL of a PostgreSQL server (its ``postgres`` database)."""
    url = os.environ.get("PROX_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as why:
        pytest.skip(f"{why} (or set PROX_TEST_POSTGRES_URL) to run the catalog tests on it")
    yield server.url
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path):
    """A fresh, empty catalog database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/catalog.sqlite"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = request.getfixturevalue("postgres_server")
    name = f"prox_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
