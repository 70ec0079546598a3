"""The fork server the refine workers are started from.

:class:`~prox_tasks.refine.workers.WorkerPool` forks its workers from a server (the
``forkserver`` start method of :mod:`multiprocessing`) that has loaded what a worker needs
once (:data:`WORKER_IMPORTS`: :mod:`~prox_tasks.refine.worker_imports` imports torch, the
refine and tagger code, and runs the compiled feature kernels once). A fresh interpreter per
worker (``spawn``) imported torch again in every worker (~1.5 of its ~2.5 CPU-seconds of
start-up) and loaded the compiled feature kernels again (~0.4 CPU-s). The server has run no
network, so no math-library thread pool exists when it forks. It is started once per
process and serves every pool after; it exits with that process. Where there is no
``forkserver`` (Windows), workers are spawned.

This module imports nothing heavy: ``prox refine`` starts the server
(:func:`start_worker_imports`) before its own set-up, so the two overlap.
"""

from __future__ import annotations

import multiprocessing

#: Modules the fork server imports once for all workers (a missing one is skipped).
WORKER_IMPORTS = ["prox_tasks.refine.worker_imports"]


def worker_context():
    """The multiprocessing context workers start in: ``forkserver`` with
    :data:`WORKER_IMPORTS` preloaded where the platform has it, else ``spawn`` (never a plain
    ``fork`` of a process that may hold threads)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_IMPORTS)  # read when the server starts (once)
    return context


def start_worker_imports() -> None:
    """Start the fork server now (its imports take ~2 CPU-s): a caller that will start
    workers calls it before its own set-up, so the two overlap. Nothing where workers are
    spawned."""
    if worker_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
