"""A throw-away PostgreSQL server on loopback from Debian's binaries (``initdb``, ``pg_ctl``).

Used by the catalog tests (a catalog on PostgreSQL) and the deployment tests (Airflow's
metadata DB and the prox catalog). As root the server runs as the ``postgres`` user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from prox_tasks.storage.tempfiles import tagged_tempdir
from tests.ports import PortTaken, port_taken, start_on_free_port


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries here, or the server would not start (the message says why)."""


def pg_bindir() -> str | None:
    """Folder of ``initdb``/``pg_ctl``: on PATH, else the newest ``/usr/lib/postgresql/N``."""
    if shutil.which("initdb") and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(shutil.which("initdb")))
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class PostgresServer:
    """A PostgreSQL cluster listening on 127.0.0.1 (trust auth, user ``prox``, no fsync).

    ``start()`` raises :class:`PostgresUnavailable` with the reason when it cannot run.
    """

    def __init__(self, user: str = "prox"):
        self.user = user  # the superuser initdb makes (the compose file's is ``airflow``)
        self.root = self.data = None
        self.port = 0
        self._as_user: list[str] = []
        self._bindir = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server's ``postgres`` database."""
        return self.database_url("postgres")

    def database_url(self, name: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{name}"

    def start(self) -> PostgresServer:
        self._bindir = pg_bindir()
        if self._bindir is None:
            raise PostgresUnavailable("PostgreSQL not available: install Debian's `postgresql` "
                                      "package (initdb/pg_ctl)")
        if os.geteuid() == 0:
            if not shutil.which("runuser"):
                raise PostgresUnavailable("running as root without `runuser` to drop to postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        # short path: the socket lives here; named after this process, so that a killed
        # test process's is removed by the next start (its orphaned server, missing its
        # data folder's lock file, then shuts itself down)
        self.root = tagged_tempdir("prox-pg-")
        if self._as_user:
            shutil.chown(self.root, "postgres")
        self.data = os.path.join(self.root, "data")
        try:
            self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.user, "-E", "UTF8",
                      "--no-sync")
            # on a free port; on another when it was taken meanwhile (tests/ports.py)
            self.port = start_on_free_port(self._start_on)
        except (subprocess.CalledProcessError, OSError, PortTaken) as err:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
            detail = (err.stderr.decode(errors="replace")[-300:]
                      if getattr(err, "stderr", None) else err)
            raise PostgresUnavailable(f"PostgreSQL could not be started here: {detail}") from err
        return self

    def _start_on(self, port: int) -> int:
        """Start the server on ``port``; returns it.

        Raises:
            PortTaken: another server took ``port`` before this one bound it.
        """
        log = os.path.join(self.root, "log")
        try:
            self._run("pg_ctl", "-D", self.data, "-w", "-t", "60", "-l", log, "-o",
                      f"-k {self.root} -p {port} -c listen_addresses=127.0.0.1 "
                      "-c fsync=off -c max_connections=300", "start")
        except subprocess.CalledProcessError as err:
            with open(log, errors="replace") as said:
                if port_taken(said.read()):
                    raise PortTaken(f"PostgreSQL's port {port} was taken") from err
            raise
        return port

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (a copy of database ``template`` if given: no session
        may be connected to it); returns its SQLAlchemy URL."""
        copy = f' TEMPLATE "{template}"' if template else ""
        self._sql(f'CREATE DATABASE "{name}"{copy}')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def require_password(self, password: str) -> str:
        """Give user ``prox`` ``password`` and make the server ask for it over TCP (scram),
        as a team's server does; returns the ``postgres`` database's URL with it."""
        self._sql(f"ALTER ROLE prox PASSWORD '{password}'")
        self.ask_for_passwords()
        return f"postgresql+psycopg2://prox:{password}@127.0.0.1:{self.port}/postgres"

    def ask_for_passwords(self) -> None:
        """Make the server ask every login over TCP for its password (scram), as a team's
        server does; the socket stays trusted."""
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as hba:
            hba.write("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self._run("pg_ctl", "-D", self.data, "reload")

    def stop(self) -> None:
        if self.root is None:
            return
        subprocess.run([*self._as_user, f"{self._bindir}/pg_ctl", "-D", self.data, "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _sql(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_user, f"{self._bindir}/{tool}", *args], check=True,
                       capture_output=True)
