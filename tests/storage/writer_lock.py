"""Another writer caught between its read and its write of a small file, for tests of
callers of :func:`prox_tasks.storage.swap.replace_if`: it holds the real ``flock`` that
``replace_if`` takes on local files."""

from __future__ import annotations

import fcntl
import threading
import time
from contextlib import contextmanager
from pathlib import Path


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextmanager
def writer_in_the_middle(path: Path):
    """Hold ``replace_if``'s lock of ``path`` until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(path), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _waits_for(lock: Path) -> bool:
    """Whether some process or thread is blocked on ``flock`` of ``lock`` (a ``->`` line,
    a waiter, on its inode in /proc/locks)."""
    inode = f":{lock.stat().st_ino} "
    with open("/proc/locks") as locks:
        return any("->" in line and inode in line for line in locks)


def start_while_locked(path: Path, target, *args) -> tuple[threading.Thread, list]:
    """Run ``target(*args)`` in a thread and return once it waits for the lock of ``path``
    (held by :func:`writer_in_the_middle`); returns the thread and a list that receives what
    it raised (empty when it returned).

    A fixed sleep (0.5 s) gave the thread time to get there; on a loaded machine it could
    still be on its way, and the test then checked a writer that came after, not one caught
    in the middle. It is seen waiting now (60 s at most), or the test fails saying so.
    """
    raised: list = []

    def run() -> None:
        try:
            target(*args)
        except Exception as err:  # noqa: BLE001 - handed to the test
            raised.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not _waits_for(_lock_path(path)):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"{target.__name__} never waited for the lock of {path} "
                                 f"(ended: {not thread.is_alive()}, raised: {raised})")
        time.sleep(0.01)
    return thread, raised
