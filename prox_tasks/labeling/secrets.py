"""Endpoint credentials for the ``llm`` teacher, and keeping them out of every output.

The API key comes from an environment variable (``api_key_env``) or from an Airflow
connection exported as ``AIRFLOW_CONN_<CONN_ID>`` (JSON or URI form; no Airflow import):
its host/port/schema give the base URL, its password (or ``extra.api_key``) the key. The key
is never an argument, so it cannot land in a DAG file, a command line or a manifest;
:class:`Redactor` scrubs it from anything written or raised.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qsl, unquote, urlparse

REDACTED = "***"


class Redactor:
    """Replaces secrets in text (and in nested dicts/lists) with ``***``."""

    def __init__(self, *secrets: str | None) -> None:
        # longest first, so a secret that contains another is replaced whole
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, value):
        if isinstance(value, str):
            for secret in self.secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self(v) for v in value)
        return value


def connection_endpoint(conn_id: str) -> tuple[str | None, str | None]:
    """``(base_url, api_key)`` of the Airflow connection ``conn_id`` from the environment.

    Raises:
        KeyError: When ``AIRFLOW_CONN_<CONN_ID>`` is unset (the message names the variable,
            never a value).
    """
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    raw = os.environ.get(var)
    if not raw:
        raise KeyError(f"Airflow connection {conn_id!r}: {var} is unset")
    if raw.lstrip().startswith("{"):
        conn = json.loads(raw)
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra) if extra else {}
        host, port, schema = conn.get("host"), conn.get("port"), conn.get("schema")
        scheme = conn.get("conn_type") if conn.get("conn_type") in ("http", "https") else None
        key = conn.get("password") or extra.get("api_key")
    else:
        parsed = urlparse(raw)
        extra = dict(parse_qsl(parsed.query))
        host, port = parsed.hostname, parsed.port
        schema = parsed.path.lstrip("/") or None
        scheme = parsed.scheme if parsed.scheme in ("http", "https") else None
        key = unquote(parsed.password) if parsed.password else extra.get("api_key")
    base_url = extra.get("base_url")
    if not base_url and host:
        if "://" in host:
            base_url = host.rstrip("/")
        else:
            base_url = f"{scheme or 'https'}://{host}{f':{port}' if port else ''}"
        if schema:
            base_url += "/" + schema.strip("/")
    return base_url, key


def resolve_endpoint(
    base_url: str | None, api_key_env: str | None = "OPENAI_API_KEY", conn_id: str | None = None
) -> tuple[str, str | None]:
    """The base URL and API key to use: explicit URL, else the connection's; key from the
    connection, else from ``api_key_env`` (None when neither has one: local servers).

    Raises:
        ValueError: When no base URL is known.
    """
    conn_url = conn_key = None
    if conn_id:
        conn_url, conn_key = connection_endpoint(conn_id)
    url = base_url or conn_url
    if not url:
        raise ValueError("the llm teacher needs a base URL (base_url or an Airflow connection)")
    key = conn_key or (os.environ.get(api_key_env) if api_key_env else None)
    return url.rstrip("/"), key
