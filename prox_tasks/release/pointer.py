"""The ``latest`` pointer: one small JSON file naming the released snapshot consumers read.

It is replaced atomically (temporary file and rename locally, one PUT on S3), so a reader
sees the previous release or the new one, never a mix; and by comparing under
:func:`prox_tasks.storage.swap.replace_if`, so two runs releasing at once cannot both compare
against the same old pointer (the later write would undo the earlier one).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from prox_tasks.storage import join_uri, read_json
from prox_tasks.storage.swap import replace_if

LATEST_NAME = "latest.json"


def latest_uri(release_root: str) -> str:
    return join_uri(release_root, LATEST_NAME)


def release_record_uri(release_root: str, name: str) -> str:
    return join_uri(release_root, "releases", f"{name}.json")


def read_latest(release_root: str) -> dict | None:
    """The current release record, or None before the first release."""
    return read_json(latest_uri(release_root))


def _encoded(record: dict) -> bytes:
    return (json.dumps(record, indent=1, sort_keys=True) + "\n").encode("utf-8")


def write_record_once(uri: str, record: dict) -> dict:
    """Write the release record ``record`` at ``uri`` unless one is there; returns the record
    stored there: this one, or the one another run wrote first. Created in one step
    (:func:`~prox_tasks.storage.swap.replace_if`): two runs releasing other snapshots under
    one name at the same moment cannot both write theirs, the later over the earlier."""
    stored: dict = {}

    def create(raw: bytes | None) -> bytes | None:
        stored.update(json.loads(raw) if raw else record)
        return None if raw else _encoded(record)

    replace_if(uri, create)
    return stored


def replace_latest(release_root: str, record: dict,
                   wins: Callable[[dict | None], bool]) -> tuple[bool, dict | None]:
    """Make ``record`` the latest release if ``wins(current latest record)``, as one step
    against concurrent releases; returns (whether it is latest, the record it was compared
    with)."""
    seen: dict = {}

    def decide(raw: bytes | None) -> bytes | None:
        current = json.loads(raw) if raw else None
        seen.update(current=current, latest=wins(current))
        return _encoded(record) if seen["latest"] and current != record else None

    replace_if(latest_uri(release_root), decide)
    return seen["latest"], seen["current"]
