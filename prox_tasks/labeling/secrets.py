"""Endpoint credentials for the ``llm`` teacher, and keeping them out of every output.

The API key comes from an environment variable (``api_key_env``) or from an Airflow
connection (:mod:`prox_tasks.connections`: Airflow's own lookup where it is installed, else
``AIRFLOW_CONN_<CONN_ID>``): its host/port/schema give the base URL, its password (or
``extra.api_key``) the key. The key
is never an argument, so it cannot land in a DAG file, a command line or a manifest;
:func:`prox_tasks.redaction.redact` scrubs it from anything written or raised.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from prox_tasks.connections import get_connection


def connection_endpoint(conn_id: str) -> tuple[str | None, str | None]:
    """``(base_url, api_key)`` of the Airflow connection ``conn_id``
    (:func:`prox_tasks.connections.get_connection`): ``extra.base_url``, else its
    host/port/schema (scheme: the host's, ``extra.scheme``, an ``http``/``https``
    connection type, else https); its password, else ``extra.api_key``.

    Raises:
        KeyError: No such connection (the message never holds a value).
    """
    conn = get_connection(conn_id)
    extra = conn.extra
    scheme = extra.get("scheme") or (conn.conn_type if conn.conn_type in ("http", "https")
                                     else "https")  # fmt: skip
    base_url = extra.get("base_url")
    if not base_url and conn.host:
        host = conn.host.rstrip("/") if "://" in conn.host else f"{scheme}://{conn.host}"
        if conn.port and urlparse(host).port is None:
            host += f":{conn.port}"
        base_url = host + ("/" + conn.schema.strip("/") if conn.schema else "")
    return base_url, conn.password or extra.get("api_key")


def resolve_endpoint(
    base_url: str | None, api_key_env: str | None = "OPENAI_API_KEY", conn_id: str | None = None
) -> tuple[str, str | None]:
    """The base URL and API key to use: explicit URL, else the connection's; key from the
    connection, else from ``api_key_env`` (None when neither has one: local servers).

    Raises:
        ValueError: When no base URL is known, or it is no ``http(s)://host…`` URL (every
            request would fail, each retried, to the same end).
        KeyError: ``conn_id`` names no connection.
    """
    conn_url = conn_key = None
    if conn_id:
        conn_url, conn_key = connection_endpoint(conn_id)
    url = base_url or conn_url
    # the operator fixes the connection, not a URL they never typed: name it
    from_conn = f" (from Airflow connection {conn_id!r})" if conn_id and not base_url else ""
    if not url:
        if conn_id:
            raise ValueError(f"the llm teacher's Airflow connection {conn_id!r} gives no base "
                             "URL (no host, no extra.base_url): set its host (and port, "
                             "schema) or extra.base_url, or give base_url")  # fmt: skip
        raise ValueError("the llm teacher needs a base URL (base_url or an Airflow connection)")
    where = urlparse(url)
    if where.scheme not in ("http", "https") or not where.hostname:
        from prox_tasks.redaction import redact

        raise ValueError(f"the llm teacher's base URL {redact(url)!r}{from_conn} is not an "
                         "http:// or https:// URL with a host (e.g. http://127.0.0.1:8000/v1)")  # fmt: skip
    key = conn_key or (os.environ.get(api_key_env) if api_key_env else None)
    return url.rstrip("/"), key
