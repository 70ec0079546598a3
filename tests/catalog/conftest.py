"""Catalog URLs to test on: SQLite always; PostgreSQL when a server is available.

PostgreSQL comes from ``PROX_TEST_POSTGRES_URL`` (a server URL whose user may create
databases), or else a throw-away cluster started here with Debian's ``initdb``/``pg_ctl``
(package ``postgresql``; as root the server runs as the ``postgres`` user). When neither is
available the PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid

import pytest

from tests.corpus.conftest import sample_rows  # noqa: F401  (fixture)


def _pg_bindir() -> str | None:
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(shutil.which("initdb")))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A SQLAlchemy URL of a PostgreSQL server (its ``postgres`` database)."""
    url = os.environ.get("PROX_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL not available: set PROX_TEST_POSTGRES_URL or install Debian's "
                    "`postgresql` package (initdb/pg_ctl) to run the catalog tests on it")
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("PostgreSQL: running as root without `runuser` to drop to postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = tempfile.mkdtemp(prefix="prox-pg-")  # short path: the socket lives here
    if as_user:
        shutil.chown(root, "postgres")
    data, port = os.path.join(root, "data"), _free_port()
    try:
        subprocess.run([*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "prox",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True)
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-w", "-t", "60",
                        "-l", os.path.join(root, "log"), "-o",
                        f"-k {root} -p {port} -c listen_addresses='' -c fsync=off", "start"],
                       check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as err:
        shutil.rmtree(root, ignore_errors=True)
        detail = err.stderr.decode(errors="replace")[-300:] if getattr(err, "stderr", None) else err
        pytest.skip(f"PostgreSQL could not be started here: {detail}")
    yield f"postgresql+psycopg2://prox@/postgres?host={root}&port={port}"
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


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
