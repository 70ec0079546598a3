"""The fork server the refine workers are started from.

:class:`~prox_tasks.refine.workers.WorkerPool` forks its workers from a server (the
``forkserver`` start method of :mod:`multiprocessing`) that has loaded what a worker needs
once (:data:`WORKER_IMPORTS`: :mod:`~prox_tasks.refine.worker_imports` imports torch, the
refine and tagger code, and runs the compiled feature kernels once). A fresh interpreter per
worker (``spawn``) imported torch again in every worker (~1.5 of its ~2.5 CPU-seconds of
start-up) and loaded the compiled feature kernels again (~0.4 CPU-s). The server has run no
network, so no math-library thread pool exists when it forks. It is started once per
process and serves every pool after; it exits with that process. Where there is no
``forkserver`` (Windows), workers are spawned. Its socket is in a folder of prox's
(:func:`_own_socket_folder`), not multiprocessing's ``pymp-*`` in the system temp folder,
which a process ended by ``os._exit`` (every Airflow task's) or a kill left behind.

This module imports nothing heavy: ``prox refine`` starts the server
(:func:`start_worker_imports`) before its own set-up, so the two overlap.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select

#: Modules the fork server imports once for all workers (a missing one is skipped).
WORKER_IMPORTS = ["prox_tasks.refine.worker_imports"]


def worker_context():
    """The multiprocessing context workers start in: ``forkserver`` with
    :data:`WORKER_IMPORTS` preloaded where the platform has it, else ``spawn`` (never a plain
    ``fork`` of a process that may hold threads)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    _own_socket_folder()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_IMPORTS)  # read when the server starts (once)
    return context


#: multiprocessing's temp folder (the fork server's socket) as prox names it.
SOCKET_PREFIX = "prox-mp-"
#: The longest name multiprocessing gives a socket there (``listener-XXXXXXXX``).
_SOCKET_NAME = 17


def _own_socket_folder() -> None:
    """Give multiprocessing, in this process, a temp folder of prox's
    (:func:`~prox_tasks.storage.tempfiles.socket_dir`: in ``PROX_TMPDIR``, swept once its
    process is gone), unless it made its own already.

    multiprocessing makes ``pymp-*`` in the system temp folder for the fork server's socket
    and removes it at the interpreter's normal exit only: an Airflow task's process ends by
    ``os._exit`` and a killed ``prox refine`` by nothing, so each run with workers left one
    (with its ``listener-*`` socket). The folder is removed at a normal exit as
    multiprocessing removes its own (same finalizer, same priority)."""
    import shutil
    from multiprocessing import process, util

    from prox_tasks.storage.tempfiles import socket_dir

    config = process.current_process()._config
    if config.get("tempdir") is not None:
        return
    folder = socket_dir(SOCKET_PREFIX, _SOCKET_NAME)
    if folder is not None:
        config["tempdir"] = folder
        util.Finalize(None, util._remove_temp_dir, args=(shutil.rmtree, folder),
                      exitpriority=-100)


def start_worker_imports() -> None:
    """Start the fork server now (its imports take ~2 CPU-s): a caller that will start
    workers calls it before its own set-up, so the two overlap. Nothing where workers are
    spawned."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def die_with(starter: int) -> None:
    """In a worker: be killed when the process that started the pool (pid ``starter``)
    exits, so that a killed ``prox refine`` or Airflow task leaves no worker behind still
    writing a shard its retry is refining (Linux >= 5.3; elsewhere nothing).

    Neither the worker's parent (the fork server) nor its pipes tell: multiprocessing hands
    each forked worker the fork server's liveness pipe, so the server outlives the starter
    as long as a worker does. A thread waits on the starter's pidfd instead.
    """
    import signal
    import threading

    try:
        pidfd = os.pidfd_open(starter)
    except ProcessLookupError:  # already gone
        os.kill(os.getpid(), signal.SIGKILL)
    except (AttributeError, OSError):  # no pidfd on this system
        return

    def wait_then_die() -> None:
        select.select([pidfd], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=wait_then_die, name="die-with-starter", daemon=True).start()


@contextlib.contextmanager
def children_allowed():
    """Let this process start workers, for as long as the block runs, where multiprocessing
    takes it for a process it may not start children from.

    A task of Airflow's Celery workers runs in a fork (Airflow's task supervisor) of a
    Celery pool process, and multiprocessing still takes it for that pool process: a
    daemonic one (billiard, Celery's multiprocessing, marks its pool processes so and makes
    them multiprocessing's current process), whose authentication key refuses to be sent to
    a child — "daemonic processes are not allowed to have children", then "Pickling an
    AuthenticationString object is disallowed". For the block, multiprocessing takes this
    process for what it is to prox, a main process of its own. A daemonic process's children
    would be left orphaned when it is killed; prox's workers die with the process that
    started them (:func:`die_with`).
    """
    from multiprocessing import process

    current = process.current_process()
    if isinstance(current, process.BaseProcess) and not current.daemon:
        yield
        return
    process._current_process = _ThisProcess()
    try:
        yield
    finally:
        process._current_process = current


class _ThisProcess(multiprocessing.process.BaseProcess):
    """This process as multiprocessing's main process: its own identity and key."""

    def __init__(self) -> None:  # what multiprocessing's main process object holds
        self._identity = ()
        self._name = "MainProcess"
        self._parent_pid = None
        self._popen = None
        self._closed = False
        self._config = {"authkey": multiprocessing.process.AuthenticationString(os.urandom(32)),
                        "semprefix": "/mp"}
