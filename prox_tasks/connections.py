"""Airflow connections, looked up and parsed in one place.

:func:`get_connection` reads a connection exported as ``AIRFLOW_CONN_<CONN_ID>`` (JSON or URI
form, parsed here: no Airflow import, which takes seconds). Otherwise, where Airflow is
installed, it asks Airflow itself: inside a task through the Task SDK
(``airflow.sdk.Connection.get``), elsewhere (a ``prox`` command on a machine with an Airflow
configuration; ``Connection.get_connection_from_secrets``) through its secrets backends — the metadata database (connections added in
the UI or with ``airflow connections add``) and any configured backend. Airflow is imported
only inside :func:`get_connection`, never at module import.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlparse


@dataclass(frozen=True)
class ConnectionInfo:
    """The fields of an Airflow connection prox reads."""

    conn_id: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    port: int | None = None
    extra: dict = field(default_factory=dict, repr=False)


class ConnectionNotFound(KeyError):
    """No Airflow connection of that id. Its message says where it was looked for and how
    to create it, never a value; printed as written (a KeyError's ``str`` quotes it). A
    KeyError still, for the callers that take a missing connection as "none configured"."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _not_found(conn_id: str, where: str) -> ConnectionNotFound:
    return ConnectionNotFound(
        f"Airflow connection {conn_id!r} is not defined ({where}): create it with `airflow "
        f"connections add {conn_id} --conn-type …` (or in the Airflow UI), or export "
        f"{env_var(conn_id)} (JSON or URI)")


def env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def parse_connection(conn_id: str, raw: str) -> ConnectionInfo:
    """A connection from its ``AIRFLOW_CONN_*`` value (JSON or URI form)."""
    if raw.lstrip().startswith("{"):
        conn = json.loads(raw)
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        port = conn.get("port")
        return ConnectionInfo(conn_id, conn.get("conn_type"), conn.get("host"),
                              conn.get("login"), conn.get("password"), conn.get("schema"),
                              int(port) if port else None, dict(extra))  # fmt: skip
    parsed = urlparse(raw)
    extra = {}
    for key, value in parse_qsl(parsed.query):
        extra[key] = json.loads(value) if key == "__extra__" else value
    extra = extra.pop("__extra__", None) or extra
    scheme = parsed.scheme.replace("-", "_") or None
    return ConnectionInfo(
        conn_id, scheme, unquote(parsed.hostname) if parsed.hostname else None,
        unquote(parsed.username) if parsed.username else None,
        unquote(parsed.password) if parsed.password else None,
        unquote(parsed.path.lstrip("/")) or None, parsed.port, extra,
    )  # fmt: skip


def _in_task() -> bool:
    """Whether this process is an Airflow task's (the Task SDK talks to its supervisor):
    Airflow's own test for it (``airflow.models.Connection.get_connection_from_secrets``)."""
    import sys

    return hasattr(sys.modules.get("airflow.sdk.execution_time.task_runner"), "SUPERVISOR_COMMS")


@functools.lru_cache(maxsize=64)
def _from_airflow(conn_id: str) -> ConnectionInfo:
    # in a task, the Task SDK's lookup: the old one does the same there, with a
    # DeprecationWarning in the task's log (every failed task's, as the alert looks it up)
    if _in_task():
        from airflow.sdk import Connection

        lookup = Connection.get
    else:
        from airflow.models.connection import Connection

        lookup = Connection.get_connection_from_secrets
    try:
        conn = lookup(conn_id)
    except Exception as err:  # the SDK's and core's AirflowNotFoundException differ
        if type(err).__name__ != "AirflowNotFoundException":
            raise
        raise _not_found(conn_id, f"not in {env_var(conn_id)}, Airflow's database or "
                         "secrets backend") from None
    return ConnectionInfo(conn_id, conn.conn_type, conn.host, conn.login, conn.password,
                          conn.schema, conn.port, dict(conn.extra_dejson or {}))  # fmt: skip


def airflow_installed() -> bool:
    return importlib.util.find_spec("airflow") is not None


def get_connection(conn_id: str, named_by: str | None = None) -> ConnectionInfo:
    """The Airflow connection ``conn_id`` (see the module docs for where it is looked up;
    Airflow is asked once per process and connection). ``named_by``: the setting that
    gave ``conn_id`` (``PROX_S3_CONN_ID``), named when there is no such connection.

    Raises:
        ConnectionNotFound: No such connection (a KeyError; the message names where it was
            looked for and how to create it, never a value).
    """
    try:
        raw = os.environ.get(env_var(conn_id))
        if raw:
            return parse_connection(conn_id, raw)
        if airflow_installed():
            return _from_airflow(conn_id)
        raise _not_found(conn_id, f"{env_var(conn_id)} is unset and Airflow is not installed")
    except ConnectionNotFound as err:
        if named_by is None:
            raise
        raise ConnectionNotFound(f"{named_by}={conn_id!r}: {err}; or correct {named_by}") \
            from None
