"""SIGTERM as an exception: the one way a ``prox`` command and a DAG's refine task stop
when asked to.

SIGTERM is what Airflow sends a task it stops (marked failed or cleared in the UI, the task
or its DAG run; a worker shutting down; its supervisor's heartbeat refused), and what
Kubernetes and ``docker stop`` send a container. Airflow's own handler in a task process
only calls the operator's ``on_kill`` and lets the task run on until SIGKILL follows, 5 s
later: a refine killed so books nothing, and its shard stays ``running`` in the catalog.
Raised as :class:`Terminated` instead, the stop runs what Ctrl-C runs: temporary files
removed, nothing half-published, the attempt and the snapshot booked ``failed`` with why.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: What a stop says where no caller words it (``prox`` commands).
SIGTERM = "terminated (SIGTERM)"


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the same clean-up as Ctrl-C (a ``KeyboardInterrupt``, so no
    ``except Exception`` on the way swallows it); its message says who stopped the run."""

    def __init__(self, message: str = SIGTERM) -> None:
        super().__init__(message)


def stop_behind(err: BaseException | None) -> KeyboardInterrupt | None:
    """The stop (:class:`Terminated`, Ctrl-C's ``KeyboardInterrupt``) ``err`` is or wraps,
    else None. A stop raised while compiled code called back into Python (numba's
    dispatcher, a C extension) comes out of it as ``SystemError: ... returned a result
    with an exception set``, raised from the stop: booked and reported as that error, a
    stopped run said it failed and exited 1, not 143. Only that wrapping is looked
    through; an error raised while a stop was cleaned up stays that error."""
    for _ in range(8):  # a chain of compiled calls, never a cycle
        if not isinstance(err, SystemError):
            break
        err = err.__cause__ or err.__context__
    return err if isinstance(err, KeyboardInterrupt) else None


@contextmanager
def raise_on_sigterm(message: str = SIGTERM) -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` with ``message`` in this
    (the main) thread, once: a second SIGTERM while the first is cleaned up is ignored, so
    the clean-up's own catalog writes are not cut short. The handler installed before (in
    an Airflow task: Airflow's, which calls the operator's ``on_kill``) runs first; it is
    put back when the block ends. Outside the main thread nothing changes (Python runs
    signal handlers in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGTERM)
    raised = False

    def stop(signum, frame) -> None:
        nonlocal raised
        if callable(before):
            before(signum, frame)
        if not raised:
            raised = True
            raise Terminated(message)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before if before is not None else signal.SIG_DFL)
