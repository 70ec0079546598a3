"""Read, decide, replace: one small file that concurrent writers update by comparing.

A pointer such as a release root's ``latest.json`` is replaced only when the new content wins
against the current one, and two runs releasing at the same moment must not both compare
against the same old content (the later write would then undo the earlier one, moving the
pointer backwards). :func:`replace_if` makes the read and the write one step per writer:

- local files: an exclusive ``flock`` on a hidden lock file beside the target, held from the
  read to the atomic replace (processes of one machine, or a filesystem that honours locks);
- S3: a conditional PUT — ``If-Match`` the ETag that was read (``If-None-Match: *`` when
  there was no object) — retried from the read when another writer got in first.

:func:`replace_if_aged` also tells ``decide`` how long ago the file was last written, by the
storage's clock (a lease judged by the writer's own clock depends on every host's clock
agreeing); :func:`pinned` keeps the file as read while its caller publishes something else;
:func:`remove_if` removes the file only while ``decide`` says so of what it holds (on S3 a
DeleteObject ``If-Match`` the ETag read).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

from prox_tasks.storage.files import put_atomic
from prox_tasks.storage.uri import Location, parse_uri

#: S3 answers a lost race with 412 (the ETag moved) or 409 (a concurrent conditional write).
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}

Decide = Callable[[bytes | None], bytes | None]
#: ``decide`` given the file's age too: seconds since it was last written (None: no file).
DecideAged = Callable[[bytes | None, float | None], bytes | None]


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
    return replace_if_aged(uri, lambda current, _age: decide(current), attempts)


def replace_if_aged(uri: str | os.PathLike, decide: DecideAged, attempts: int = 50) -> bool:
    """:func:`replace_if`, ``decide`` also given the file's age: seconds since it was last
    written by the storage's clock — on S3 its ``LastModified`` against the ``Date`` of the
    same response (both the server's), locally now against its mtime (this host's clock, or
    a network filesystem's server's) — never a time a writer recorded in it."""
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        return _replace_s3(loc, decide, attempts)
    return _replace_local(loc, decide)


@contextmanager
def _locked(loc: Location) -> Iterator[tuple[bytes | None, float | None]]:
    """The local file at ``loc`` (content, age) read under its lock, held for the block."""
    import fcntl

    directory, name = os.path.split(loc.path)
    os.makedirs(directory or ".", exist_ok=True)
    with open(os.path.join(directory, f".{name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the lock file is closed
        try:
            with open(loc.path, "rb") as f:
                current, mtime = f.read(), os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            current, mtime = None, None
        yield current, None if mtime is None else max(0.0, time.time() - mtime)


def _replace_local(loc: Location, decide: DecideAged) -> bool:
    with _locked(loc) as (current, age):
        new = decide(current, age)
        if new is None:
            return False
        put_atomic(loc.path, new)
        return True


def _get_s3(client, loc: Location) -> tuple[bytes | None, float | None, dict]:
    """(content, age, the condition a PUT replacing exactly it takes) of the object at
    ``loc``; the age by the server's clock (its ``Date`` less ``LastModified``)."""
    from botocore.exceptions import ClientError

    from prox_tasks.storage.s3 import about, is_missing

    try:
        with about(f"s3://{loc.bucket}/{loc.path}"):  # an error names the file
            obj = client.get_object(Bucket=loc.bucket, Key=loc.path)
            current = obj["Body"].read()
    except ClientError as err:
        if not is_missing(err):
            raise
        return None, None, {"IfNoneMatch": "*"}
    return current, _server_age(obj), {"IfMatch": obj["ETag"]}


def _server_age(response: dict) -> float:
    """Seconds between an S3 object's ``LastModified`` and the response's ``Date`` (both
    the server's clock, to the second); this host's clock when a server sends no Date."""
    modified = response["LastModified"].timestamp()
    date = (response.get("ResponseMetadata", {}).get("HTTPHeaders") or {}).get("date")
    try:
        now = parsedate_to_datetime(date).timestamp() if date else time.time()
    except (TypeError, ValueError):  # a Date header that is no date: this host's clock
        now = time.time()
    return max(0.0, now - modified)


def _replace_s3(loc: Location, decide: DecideAged, attempts: int) -> bool:
    from botocore.exceptions import ClientError

    from prox_tasks.storage.s3 import about
    from prox_tasks.storage.s3_client import get_client

    client = get_client()
    uri = f"s3://{loc.bucket}/{loc.path}"
    for attempt in range(attempts):
        current, age, condition = _get_s3(client, loc)
        new = decide(current, age)
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
    raise ContendedError(f"{uri}: {attempts} conditional writes in a row lost to other writers")


def remove_if(uri: str | os.PathLike, decide: Callable[[bytes], bool], attempts: int = 50) -> bool:
    """Remove the file at ``uri`` only while ``decide(current)`` says so of its content: the
    read and the delete one step per writer, as :func:`replace_if`'s read and write (locally
    under the file's lock; on S3 a DeleteObject ``If-Match`` the ETag read, read and decided
    again when another writer replaced it meanwhile).

    Returns:
        Whether it was removed (on S3 also when it went between the read and the delete: what
        ``decide`` chose is not there any more); False when there is no file or ``decide``
        keeps it.

    Raises:
        ContendedError: S3 only: ``attempts`` conditional deletes in a row lost their race.
    """
    loc = parse_uri(uri)
    if loc.scheme != "s3":
        with _locked(loc) as (current, _age):
            if current is None or not decide(current):
                return False
            os.remove(loc.path)
            return True
    from prox_tasks.storage.s3 import remove_if_etag
    from prox_tasks.storage.s3_client import get_client

    client = get_client()
    for attempt in range(attempts):
        current, _age, condition = _get_s3(client, loc)
        if current is None or not decide(current):
            return False
        if remove_if_etag(loc, condition["IfMatch"].strip('"')):
            return True
        time.sleep(random.uniform(0, 0.05 * (attempt + 1)))  # replaced meanwhile: decide again
    raise ContendedError(f"s3://{loc.bucket}/{loc.path}: {attempts} conditional deletes in a row "
                         "lost to other writers")  # fmt: skip


class Pinned:
    """A small file as :func:`pinned` read it.

    Attributes:
        current: Its content (None: no file).
        age: Seconds since it was last written, by the storage's clock (None: no file).
        changed: Set as the block ends on S3: whether the file was written during the block
            (its ETag moved, or it appeared or went). Always False locally: no writer of
            :func:`replace_if` could write it meanwhile.
    """

    def __init__(self, current: bytes | None, age: float | None) -> None:
        self.current, self.age, self.changed = current, age, False


@contextmanager
def pinned(uri: str | os.PathLike) -> Iterator[Pinned]:
    """Read the small file at ``uri`` and keep it as read while the block publishes
    something else that is only to be published while the file says so (a labeling claim
    still this run's).

    Locally the block runs under the file's lock: a :func:`replace_if` of it (a takeover)
    waits for the block to end, so it lands before the read or after the publish, never
    between. S3 has no lock, and a conditional PUT compares only the object it writes: as
    the block ends the object's ETag is read again, and :attr:`Pinned.changed` says whether
    another writer wrote it meanwhile (the caller then reads it again, and undoes its
    publish if it must). The block must not :func:`replace_if` the same file (locally: a
    second lock of this process waits for the first for ever).
    """
    loc = parse_uri(uri)
    if loc.scheme != "s3":
        with _locked(loc) as (current, age):
            yield Pinned(current, age)
        return
    from prox_tasks.storage.s3_client import get_client

    client = get_client()
    current, age, condition = _get_s3(client, loc)
    held = Pinned(current, age)
    yield held
    _, _, now = _get_s3(client, loc)  # a GET: the ETag moved, or the object came or went
    held.changed = now != condition
