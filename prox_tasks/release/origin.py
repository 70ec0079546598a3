"""Who released a snapshot: an Airflow DAG run, or ``prox release`` run by a user on a host.

Kept as ``released_by`` in the release record (``releases/<name>.json``) and in the
catalog's ``releases`` row, one of:

- ``{"origin": "dag_run", "dag_id": ..., "run_id": ...}``: the DAG's release task;
- ``{"origin": "cli", "user": ..., "host": ...}``: ``prox release``.

Records and rows written before it was kept have none; :func:`of_release` reads them as
``{"origin": "unknown"}`` (or as a DAG run when the catalog row names its run: migration
0009 kept the run before its origin).
"""

from __future__ import annotations

import getpass
import os
import socket

DAG_RUN = "dag_run"
CLI = "cli"
UNKNOWN = "unknown"


def dag_run(dag_id: str | None, run_id: str | None) -> dict | None:
    """The origin of a release made by Airflow run ``run_id`` of ``dag_id`` (None when
    there is no run: the caller is no DAG run)."""
    if not run_id:
        return None
    return {"origin": DAG_RUN, "dag_id": dag_id, "run_id": run_id}


def cli() -> dict:
    """The origin of a release made by ``prox release`` in this process: its user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # a container's uid with no passwd entry and no $USER
        user = f"uid {os.getuid()}"
    return {"origin": CLI, "user": user, "host": socket.gethostname()}


def of_release(released_by: dict | None, dag_run_id: str | None = None) -> dict:
    """The origin of a release as recorded (``released_by``), else as the catalog's older
    ``dag_run_id`` column names it, else ``{"origin": "unknown"}`` (a release recorded
    before either was kept)."""
    if released_by and released_by.get("origin"):
        return released_by
    return dag_run(None, dag_run_id) or {"origin": UNKNOWN}
