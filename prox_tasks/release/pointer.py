"""The ``latest`` pointer: one small JSON file naming the released snapshot consumers read.

It is replaced atomically (temporary file and rename locally, one PUT on S3), so a reader
sees the previous release or the new one, never a mix.
"""

from __future__ import annotations

import json

from prox_tasks.storage import exists, join_uri, open_uri, put_atomic

LATEST_NAME = "latest.json"


def latest_uri(release_root: str) -> str:
    return join_uri(release_root, LATEST_NAME)


def release_record_uri(release_root: str, name: str) -> str:
    return join_uri(release_root, "releases", f"{name}.json")


def read_json(uri: str) -> dict | None:
    if not exists(uri):
        return None
    with open_uri(uri, "rt") as f:
        return json.load(f)


def read_latest(release_root: str) -> dict | None:
    """The current release record, or None before the first release."""
    return read_json(latest_uri(release_root))


def write_json(uri: str, record: dict) -> str:
    return put_atomic(uri, json.dumps(record, indent=1, sort_keys=True) + "\n")
