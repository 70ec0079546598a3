"""Read, decide, replace: one small file that concurrent writers update by comparing.

A pointer such as a release root's ``latest.json`` is replaced only when the new content wins
against the current one, and two runs releasing at the same moment must not both compare
against the same old content (the later write would then undo the earlier one, moving the
pointer backwards). :func:`replace_if` makes the read and the write one step per writer:

- local files: an exclusive ``flock`` on a hidden lock file beside the target, held from the
  read to the atomic replace (processes of one machine, or a filesystem that honours locks);
- S3: a conditional PUT — ``If-Match`` the ETag that was read (``If-None-Match: *`` when
  there was no object) — retried from the read when another writer got in first.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable

from prox_tasks.storage.files import put_atomic
from prox_tasks.storage.uri import Location, parse_uri

#: S3 answers a lost race with 412 (the ETag moved) or 409 (a concurrent conditional write).
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}

Decide = Callable[[bytes | None], bytes | None]


class ContendedError(RuntimeError):
    """Other writers replaced the file every time this one tried."""


def replace_if(uri: str | os.PathLike, decide: Decide, attempts: int = 50) -> bool:
    """Replace the file at ``uri`` with ``decide(current)`` unless that returns None.

    Args:
        uri: A path, ``file://`` or ``s3://`` URI of a small file.
        decide: Given the current content (None when there is no file), the new content or
            None to leave it. On S3 it may be called again after a lost race, with the
            content the winner wrote.
        attempts: Conditional writes tried on S3 before giving up.

    Returns:
        Whether the file was replaced.

    Raises:
        ContendedError: S3 only: ``attempts`` conditional writes in a row lost their race.
    """
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        return _replace_s3(loc, decide, attempts)
    return _replace_local(loc, decide)


def _replace_local(loc: Location, decide: Decide) -> bool:
    import fcntl

    directory, name = os.path.split(loc.path)
    os.makedirs(directory or ".", exist_ok=True)
    with open(os.path.join(directory, f".{name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the lock file is closed
        try:
            with open(loc.path, "rb") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        new = decide(current)
        if new is None:
            return False
        put_atomic(loc.path, new)
        return True


def _replace_s3(loc: Location, decide: Decide, attempts: int) -> bool:
    from botocore.exceptions import ClientError

    from prox_tasks.storage.s3 import about, is_missing
    from prox_tasks.storage.s3_client import get_client

    client = get_client()
    uri = f"s3://{loc.bucket}/{loc.path}"
    for attempt in range(attempts):
        try:
            with about(uri):  # an error names the file (manifest.json, promoted.json, …)
                obj = client.get_object(Bucket=loc.bucket, Key=loc.path)
                current, condition = obj["Body"].read(), {"IfMatch": obj["ETag"]}
        except ClientError as err:
            if not is_missing(err):
                raise
            current, condition = None, {"IfNoneMatch": "*"}
        new = decide(current)
        if new is None:
            return False
        try:
            with about(uri):
                client.put_object(Bucket=loc.bucket, Key=loc.path, Body=new, **condition)
            return True
        except ClientError as err:
            if err.response.get("Error", {}).get("Code", "") not in _LOST_RACE:
                raise
        time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # let the winner's write settle
    raise ContendedError(f"{uri}: {attempts} conditional writes in a "
                         "row lost to other writers")
