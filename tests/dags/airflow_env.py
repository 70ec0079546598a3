"""A throwaway Airflow installation for the DAG and plugin tests.

Imported by the conftests before anything imports Airflow: Airflow reads its configuration
at import time, so AIRFLOW_HOME and friends must be set first. One temporary AIRFLOW_HOME
(SQLite metadata DB) per test session, removed when the session ends; its metadata DB is
migrated once, in the session's process (:func:`migrate_once`).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from prox_tasks.storage.tempfiles import tagged_tempdir

REPO = Path(__file__).resolve().parents[2]
# named after this process: a killed session's (no atexit ran) is removed by the next's
HOME = Path(tagged_tempdir("prox-airflow-"))


def _remove_home(owner: int = os.getpid()) -> None:
    """The installation lives as long as the session: removed when the session's process
    exits (not when a process forked from it does), else every run left one in $TMPDIR."""
    if os.getpid() == owner:
        shutil.rmtree(HOME, ignore_errors=True)


atexit.register(_remove_home)
PROX_HOME = HOME / "prox"
USER, PASSWORD = "admin", "prox-test-password"
(HOME / "passwords.json").write_text(f'{{"{USER}": "{PASSWORD}"}}')

ENV = {
    "AIRFLOW_HOME": str(HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    # SQLite is shared by several Airflow processes in the deployment tests: wait for locks.
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}?timeout=60",
    "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(HOME / "passwords.json"),
    # one secret for every process of the session, whichever airflow.cfg a process read
    # first (the in-process API app signs and checks tokens with it)
    "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
    "PROX_HOME": str(PROX_HOME),
    "PROX_RETRY_DELAY_S": "1",
    "PROX_MAX_RETRY_DELAY_S": "2",
    "PROX_RETRIES": "2",
    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
}
os.environ.update(ENV)
os.environ.pop("PROX_CATALOG_URL", None)


def airflow_cli(*args: str, timeout: float = 300, check: bool = True, env: dict | None = None):
    """Run ``airflow ARGS`` with this installation's environment.

    SQLite answers "database is locked" at once (no busy wait) when a read transaction must
    upgrade to a write while the scheduler writes; the CLI's transaction is rolled back whole,
    so the command is tried again (at most 5 times: a loaded machine's scheduler writes
    often). A real deployment uses PostgreSQL.
    """
    cmd = [str(Path(sys.executable).with_name("airflow")), *args]
    for attempt in range(5):
        proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, cwd=str(REPO))
        if proc.returncode == 0 or "database is locked" not in proc.stdout + proc.stderr:
            break
        time.sleep(2 + attempt * 3)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"
                           f"\n{proc.stderr[-3000:]}")
    return proc


_MIGRATED = False


def migrate_once() -> None:
    """Migrate the session's metadata DB (what ``airflow db migrate`` does) and create its
    pools, once a session, in this process: the DAG tests import Airflow here anyway (the
    DagBag, ``dag.test()``), while an Airflow CLI start for each (``airflow db migrate``,
    ``airflow pools import``) cost 18-24 s of a loaded 2-core machine."""
    global _MIGRATED
    if not _MIGRATED:
        from airflow import settings
        from airflow.utils.db import upgradedb

        if str(HOME / "airflow.db") not in str(settings.engine.url):
            raise RuntimeError(f"Airflow was imported before tests.dags.airflow_env set its "
                               f"environment: its metadata DB is {settings.engine.url}")
        upgradedb()
        settings.engine.dispose()  # no connection of this process open across the switch
        # WAL lets the services read while one of them writes (persistent in the DB file)
        with sqlite3.connect(HOME / "airflow.db") as db:
            db.execute("PRAGMA journal_mode=WAL")
        set_pools({"gpu": 2, "teacher_api": 4})
        _MIGRATED = True


def set_pools(pools: dict[str, int], env: dict | None = None) -> None:
    """Create or resize the Airflow ``pools`` (name -> slots) of the installation ``env``
    names. No ``env``: the session's own, in this process, whose Airflow is configured for
    it; another (a deployment's PostgreSQL DB): one ``airflow pools import`` (each Airflow
    CLI start costs seconds: one call, not one per pool)."""
    if env is None:
        from airflow.models.pool import Pool

        for name, slots in pools.items():
            Pool.create_or_update_pool(name, slots, f"prox {name} pool", include_deferred=False)
        return
    spec = {name: {"slots": slots, "description": f"prox {name} pool"}
            for name, slots in pools.items()}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
    try:
        airflow_cli("pools", "import", f.name, env=env)
    finally:
        os.unlink(f.name)


@contextmanager
def schemas_checked_once():
    """While inside, each distinct JSON schema is checked against its meta-schema once.

    Every ``dag.test()`` dumps the DAG's Params dozens of times while serializing it (each
    ``repr`` and ``==`` of a ParamsDict resolves every Param), and each resolve calls
    ``jsonschema.validate``, which checks the *schema* against the meta-schema before it
    checks the value: ~13 ms CPU a dump of the refine DAG's 36 Params, ~1 CPU-s a run, all
    repeating a check already made. The values are still validated each time, and a schema
    is still checked the first time it is seen (an invalid one still raises SchemaError).
    """
    import jsonschema

    checked: set[tuple[type, str]] = set()

    def once(original):
        def check_schema(cls, schema, *args, **kwargs):
            if args or kwargs:  # another format checker: not the call Param.resolve makes
                return original(schema, *args, **kwargs)
            key = (cls, json.dumps(schema, sort_keys=True, default=repr))
            if key not in checked:
                original(schema)
                checked.add(key)

        return classmethod(check_schema)

    drafts = [getattr(jsonschema, name) for name in dir(jsonschema)
              if name.startswith("Draft") and name.endswith("Validator")]
    saved = {cls: vars(cls).get("check_schema") for cls in drafts}
    try:
        for cls in drafts:
            cls.check_schema = once(cls.check_schema)
        yield
    finally:
        for cls, method in saved.items():
            if method is None:
                del cls.check_schema
            else:
                cls.check_schema = method
