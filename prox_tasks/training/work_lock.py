"""One writer per training work folder: an OS file lock beside it.

Two identical trainings (``prox train`` twice, or the training DAG's task beside a ``prox
train``) resolve the same work folder (:meth:`prox_tasks.training.run.TrainJob.resolved_work_dir`)
and would overwrite each other's epoch checkpoints and artifact. :func:`work_folder_lock`
takes an exclusive ``flock`` on a hidden file beside the folder (``.<folder>.lock``, as
:mod:`prox_tasks.storage.swap` locks beside its target) for the whole run; a second run
waits for it, saying who holds it. The kernel releases a ``flock`` when its process ends,
killed or not, so a dead trainer never leaves a lock that blocks.

The holder removes the lock file when it is done (a successful run leaves nothing under
``$PROX_TMPDIR/prox-train``); a waiter that then gets the lock of the removed file sees that the
path no longer names it and locks the file at the path again, so two runs never hold locks
on two different files for one folder.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prox_tasks.storage.atomic import named_os_errors

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

    def say_who_holds_it(fd: int) -> None:
        nonlocal said
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

    while (fd := _lock(path, wait=say_who_holds_it)) is None:
        pass  # the holder removed that file before releasing it: lock the new one
    with _holding(path, fd):
        os.ftruncate(fd, 0)
        with named_os_errors(str(path)):  # a full disk says where: os.write names no file
            os.write(
                fd,
                f"pid {os.getpid()} on {os.uname().nodename}, since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n".encode(),
            )
        yield


@contextmanager
def lock_if_free(work: Path) -> Iterator[bool]:
    """Hold the lock of work folder ``work`` for the ``with`` block if no process holds it
    (True), without waiting; False when one does (or let it go just now). On leaving, the
    lock file is removed, then released, as :func:`work_folder_lock` leaves it."""
    path = lock_path(work)
    try:
        fd = _lock(path, wait=None)
    except FileNotFoundError:  # its parent went with the folder
        fd = None
    if fd is None:  # held, or its holder removed that file as it ended: look next time
        yield False
        return
    with _holding(path, fd):
        yield True


def _lock(path: Path, wait: Callable[[int], None] | None) -> int | None:
    """Open the lock file at ``path`` (created if need be) and lock it: its descriptor, held
    and still named by ``path``; None when ``path`` no longer names it once locked (its
    holder removed it as it ended: the caller locks the new one, or looks next time), or
    when another process holds it and ``wait`` is None. Else ``wait(fd)`` is called before
    waiting for the holder to let it go.

    Raises:
        FileNotFoundError: The folder of ``path`` does not exist.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if wait is None:
                os.close(fd)
                return None
            wait(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        if _names(path, fd):
            return fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


@contextmanager
def _holding(path: Path, fd: int) -> Iterator[None]:
    """Keep the lock ``fd`` on ``path`` for the ``with`` block, then remove the file and
    release it: removed first, so a waiter that gets the lock then sees its file is gone."""
    try:
        yield
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
