"""One writer per training work folder: an OS file lock beside it.

Two identical trainings (``prox train`` twice, or the training DAG's task beside a ``prox
train``) resolve the same work folder (:meth:`prox_tasks.training.run.TrainJob.resolved_work_dir`)
and would overwrite each other's epoch checkpoints and artifact. :func:`work_folder_lock`
takes an exclusive ``flock`` on a hidden file beside the folder (``.<folder>.lock``, as
:mod:`prox_tasks.storage.swap` locks beside its target) for the whole run; a second run
waits for it, saying who holds it. The kernel releases a ``flock`` when its process ends,
killed or not, so a dead trainer never leaves a lock that blocks.

The holder removes the lock file when it is done (a successful run leaves nothing under
``$TMPDIR/prox-train``); a waiter that then gets the lock of the removed file sees that the
path no longer names it and locks the file at the path again, so two runs never hold locks
on two different files for one folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


def lock_path(work: Path) -> Path:
    """The lock file of work folder ``work``: ``.<name>.lock`` beside it."""
    return work.parent / f".{work.name}.lock"


@contextmanager
def work_folder_lock(work: Path) -> Iterator[None]:
    """Hold the lock of work folder ``work`` for the ``with`` block; wait while another
    process holds it, after saying so (a warning naming its process and when it started).

    On leaving, the lock file is removed, then released.
    """
    path = lock_path(work)
    path.parent.mkdir(parents=True, exist_ok=True)
    said = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said:
                    log.warning(
                        "work folder %s is in use by another training of the same seed "
                        "set and settings (%s): waiting for it to end (its lock goes "
                        "when it ends, or dies); its model, once published, is then "
                        "returned instead of training it again",
                        work,
                        _holder(fd),
                    )
                    said = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _names(path, fd):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed that file before releasing it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(
            fd,
            f"pid {os.getpid()} on {os.uname().nodename}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n".encode(),
        )
        yield
    finally:
        try:
            os.unlink(path)  # before the release: a waiter then sees its file is gone
        except FileNotFoundError:
            pass
        os.close(fd)


@contextmanager
def lock_if_free(work: Path) -> Iterator[bool]:
    """Hold the lock of work folder ``work`` for the ``with`` block if no process holds it
    (True), without waiting; False when one does (or let it go just now). On leaving, the
    lock file is removed, then released, as :func:`work_folder_lock` leaves it."""
    path = lock_path(work)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # its parent went with the folder
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    if not _names(path, fd):  # its holder removed that file as it ended: look next time
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the open file ``fd`` (not removed, nor replaced)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it in the lock file."""
    try:
        said = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        said = ""
    return said or "a process that has not said which"
