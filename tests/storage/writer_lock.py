"""Another writer caught between its read and its write of a small file, for tests of
callers of :func:`prox_tasks.storage.swap.replace_if`: it holds the real ``flock`` that
``replace_if`` takes on local files."""

from __future__ import annotations

import fcntl
import threading
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def writer_in_the_middle(path: Path):
    """Hold ``replace_if``'s lock of ``path`` until the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start_while_locked(target, *args) -> tuple[threading.Thread, list]:
    """Run ``target(*args)`` in a thread, give it time to reach the lock; returns the thread
    and a list that receives what it raised (empty when it returned)."""
    raised: list = []

    def run() -> None:
        try:
            target(*args)
        except Exception as err:  # noqa: BLE001 - handed to the test
            raised.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.5)
    return thread, raised
