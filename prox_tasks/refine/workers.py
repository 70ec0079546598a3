"""Refine a set of shards with one backend, in this process or in several worker processes.

``refine_shards`` is what ``prox refine`` and the Airflow refine task call. With one worker,
the backend is loaded once in this process and the shards are refined one after another. With
``workers`` > 1, each worker process loads its own backend once and refines whole shards; a
shard goes to exactly one worker, so no shard ever has two writers, and each shard's output is
what one worker alone would write. Workers are started once and take the next shard as they
finish one (largest shards first, so that no worker is left with a big shard at the end); the
fixed cost of a worker (process start, imports, model load) is paid once per worker, not per
shard.

Workers are forked from a fork server that has loaded what a worker needs once
(:mod:`~prox_tasks.refine.fork_server`); each takes the environment of the process that
starts the pool, as a spawned one would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from prox_tasks.corpus.manifest import ManifestPart
from prox_tasks.corpus.writer import read_statuses
from prox_tasks.refine import runner as runners
from prox_tasks.refine.booking import FinishedShards, booked_after, is_refusal
from prox_tasks.refine.claim import claim_for_options, give_up_claim
from prox_tasks.refine.collector import collect_less_often
from prox_tasks.refine.fork_server import children_allowed, die_with, worker_context
from prox_tasks.refine.step import refine_shard, reuse_published, shard_request
from prox_tasks.termination import SIGTERM, Terminated, stop_behind

log = logging.getLogger(__name__)
_WORKER: dict = {}  # in a worker process: its backend, progress queue and stop flag

#: Seconds a stopped run waits for its workers to end the shards they hold (each ends it
#: after its current batch) before it kills those still alive.
STOP_GRACE_S = 30.0
#: What a worker returns for a shard it did not start, or abandoned, once stopped.
NOT_STARTED, STOPPED = "not started", "stopped"


def set_threads(threads: int | None) -> None:
    """CPU threads of the model's math library (torch), where it is loaded."""
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


def _load(backend, model, backend_options, threads):
    from prox_tasks.inference import load_backend

    set_threads(threads)  # before the model loads (OpenMP reads it once) and after
    refiner = load_backend(backend, model, **(backend_options or {}))
    set_threads(threads)
    return refiner


def _start_worker(backend, model, backend_options, threads, progress_queue,
                  starter: int, environ: dict | None = None, stop_flag=None,
                  holding=None) -> None:
    """A worker's start (the executor's initializer): its backend loaded once, ``holding``
    (:class:`HeldShards`) told of each shard it starts."""
    try:
        die_with(starter)
        _WORKER["stop"] = stop_flag
        if environ is not None:  # the starting process's, not the fork server's (earlier)
            for name in set(os.environ) - set(environ):
                del os.environ[name]
            os.environ.update(environ)
        collect_less_often()  # as the prox command does, before the imports of the model
        _WORKER["refiner"] = _load(backend, model, backend_options, threads)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group, workers loading too
        # no shard was taken: end without the executor's 'Exception in initializer'
        # traceback under the run's own 'interrupted' line (the run books the stop)
        os._exit(130)
    _WORKER["progress"] = progress_queue
    _WORKER["holding"] = holding


def _refine_in_worker(output_uri: str, index: int, options: dict) -> dict:
    """Refine shard ``index`` in this worker, unless the pool was stopped
    (:meth:`WorkerPool.stop`): then the shard is not started, or is abandoned at its next
    batch as ``--workers 1`` abandons it on a stop (temporary file removed, checkpoints
    kept, nothing published), and this returns normally, saying so.

    The stop is a flag in shared memory read between batches, never a signal raised at an
    arbitrary point: one raised inside multiprocessing's own code (a queue's ``put``) left
    the worker stuck at its exit, and the stopped run with it."""
    stop = _WORKER.get("stop")
    if stop is not None and stop.value:
        return {"shard": index, "status": NOT_STARTED}
    queue = _WORKER["progress"]

    def report(done: int) -> None:  # after each batch: the put is over, nothing is held
        queue.put(done)
        if stop is not None and stop.value:
            raise Terminated(f"{SIGTERM}: shard {index} stopped")

    started, started_at = time.perf_counter(), time.time()
    holding = _WORKER.get("holding")
    if holding is not None:  # before the shard is touched: a worker lost from here held it
        holding.hold(index)
    try:
        result = refine_shard(output_uri, index, refiner=_WORKER["refiner"], progress=report,
                              **options)  # fmt: skip
    except BaseException as raised:
        if isinstance(stop_behind(raised), Terminated):  # also come out of compiled code
            return {"shard": index, "status": STOPPED}
        raise
    return {**result, "wall_seconds": round(time.perf_counter() - started, 3), "pid": os.getpid(),
            "started_at": round(started_at, 3)}  # fmt: skip


class HeldShards:
    """Which shard each worker process has started, in shared memory (a slot a worker,
    taken as it starts its first shard): when a worker is lost (killed, or ended by a
    Ctrl-C while it loaded its model) its shard's future says only ``BrokenProcessPool``, and
    only this tells a shard that ran (its attempt failed, :meth:`ShardBooking.stopped`) from
    one no worker started (not run: :meth:`ShardBooking.not_run`). A slot keeps the last
    shard its worker started; one that finished has its result, which the booking reads
    first.

    Args:
        context: The multiprocessing context of the pool.
        workers: Worker processes (slots).
    """

    def __init__(self, context, workers: int) -> None:
        self._slots = context.RawArray("q", [-1] * workers)
        self._taken = context.RawValue("i", 0)
        self._lock = context.Lock()  # only as a worker takes its slot, never by the pool
        self._slot: int | None = None  # in a worker: its own

    def __getstate__(self) -> dict:  # a worker's slot is its own: none when sent to it
        return {**self.__dict__, "_slot": None}

    def hold(self, index: int) -> None:
        """In a worker, before it touches shard ``index``."""
        if self._slot is None:
            with self._lock:
                self._slot = self._taken.value
                self._taken.value += 1
        if self._slot < len(self._slots):  # more workers than slots: none is started
            self._slots[self._slot] = index

    def started(self) -> set[int]:
        """The shards a worker started (read once the workers are stopped)."""
        return {index for index in self._slots if index >= 0}


class WorkerPool:
    """Worker processes, each loading its backend once, started at once: their imports and
    model loads overlap whatever the caller does meanwhile (``prox refine`` plans the
    corpus). Use as a context manager, or :meth:`close` it.

    Args:
        workers: Processes.
        threads: CPU threads per worker for the model (None: the machine's cores divided
            among the workers).
        model: Model URI.
        backend: Backend name.
        backend_options: Backend options.
    """

    def __init__(self, workers: int, threads: int | None = None, model: str | None = None,
                 backend: str | None = None, backend_options: dict | None = None) -> None:
        self.workers = workers
        # the pool starts processes as long as it lives (a submission may start one)
        self._lifted = contextlib.ExitStack()
        self._lifted.enter_context(children_allowed())
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        context = worker_context()
        self.progress: Callable[[int], None] | None = None
        self._queue = context.Queue()
        # shared memory without a lock: a worker killed while reading it holds nothing
        self._stop = context.RawValue("b", 0)
        self.held = HeldShards(context, workers)
        self._seen: set = set()  # every worker process started (see submit)
        self._killed = False  # whether stop killed a worker (see close)
        self._drain = threading.Thread(target=self._forward, daemon=True)
        self._drain.start()
        self.pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                        initargs=(backend, model, backend_options, threads,
                                                  self._queue, os.getpid(),
                                                  dict(os.environ), self._stop,
                                                  self.held))  # fmt: skip
        # the executor starts a process per submission while none is idle: all of them now,
        # from a thread, since a start waits for the fork server's imports
        self._starter = threading.Thread(target=self._start, args=(workers,), daemon=True)
        self._starter.start()

    def _start(self, workers: int) -> None:
        for _ in range(workers):
            try:
                self.submit(os.getpid)
            except RuntimeError:  # stopped (shut down) meanwhile: no other worker
                return

    def submit(self, fn, *args):
        """The executor's ``submit``, noting the worker it may have started (:meth:`stop`
        must find every worker, also one the executor let go of as it ended)."""
        future = self.pool.submit(fn, *args)
        self._note_workers()
        return future

    def _note_workers(self) -> None:
        self._seen.update(list((self.pool._processes or {}).values()))

    def _forward(self) -> None:
        while (done := self._queue.get()) is not None:
            if self.progress:
                self.progress(done)

    def stop(self, futures=(), grace: float = STOP_GRACE_S) -> None:
        """Stop the workers, boundedly: each ends the shard it holds after its current batch
        (:func:`_refine_in_worker`) and takes no other; ``futures`` no worker took are
        cancelled. Returns once every worker has ended, those still alive ``grace`` seconds
        later killed (a model call that does not return), and ``futures`` are done (or
        given up on, 10 s later)."""
        deadline = time.monotonic() + grace
        self._stop.value = 1
        # the executor's own table of its workers (by pid): the shutdown below lets go of
        # the attribute, and a worker whose start is in progress is added to it first
        processes = self.pool._processes or {}
        self._note_workers()  # those that ended cleanly are let go of by the executor
        # no other worker starts (a start in progress ends first), and what no worker took
        # is cancelled; each worker ends once its shard does
        self.pool.shutdown(wait=False, cancel_futures=True)
        # a future cancelled here is never done to wait(): the executor, shut down, does not
        # notify it, so only those a worker took are waited for
        taken = [future for future in futures if not future.cancel()]
        wait(taken, timeout=max(0.0, deadline - time.monotonic()))
        alive = []
        for process in {*self._seen, *list(processes.values())}:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                alive.append(process)
        for process in alive:
            log.warning("refine worker %d did not stop within %.0f s of the stop: killed",
                        process.pid, grace)
            process.kill()
            self._killed = True
        for process in alive:
            process.join(5)
        wait(taken, timeout=10)  # the executor fails those of a killed worker

    def close(self) -> None:
        """Stop the workers, then forward the progress they reported last."""
        self._starter.join()
        self.pool.shutdown()
        # a worker killed inside its put may hold the queue's lock (shared by every process
        # writing to it) for good: this process's put would wait for it at its exit, for ever
        if not self._killed:
            self._queue.put(None)
            self._drain.join(timeout=10)
        self._lifted.close()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def refine_shards(output_uri: str, indexes: list[int], *, workers: int = 1,
                  threads: int | None = None, model: str | None = None,
                  backend: str | None = None, backend_options: dict | None = None,
                  force: bool = False, progress: Callable[[int], None] | None = None,
                  booking=None, pool: WorkerPool | None = None,
                  settings_claimed: bool = False, manifest=None,
                  collect: Callable[[dict], None] | None = None,
                  **shard_options) -> list[dict] | None:
    """Refine shards ``indexes`` of the snapshot planned at ``output_uri``.

    Args:
        output_uri: The planned output folder.
        indexes: Shards to refine (published ones are skipped unless ``force``).
        workers: Processes, each with its own backend (1: this process).
        threads: CPU threads per worker for the model (None: the backend's default with one
            worker, else the machine's cores divided among the workers).
        model: Model URI (None: the embedded default).
        backend: Backend name.
        backend_options: Backend options.
        force: Refine published shards again, and take over the folder's settings claim
            when it names other settings (:mod:`~prox_tasks.refine.claim`).
        progress: Called with the number of documents done (after each batch).
        booking: A :class:`~prox_tasks.refine.booking.ShardBooking` that books each shard's
            attempt in the catalog (None: nothing is booked).
        pool: Already started workers (:class:`WorkerPool`, of this model and backend) to
            use instead of ``workers`` new ones; the caller closes it.
        settings_claimed: The caller claimed the folder's settings for this run already
            (:func:`~prox_tasks.refine.claim.claim_settings`: the DAG's plan task,
            :func:`~prox_tasks.refine.corpus.refine_corpus`): the claim is only checked
            here, never taken over again, so a later ``--force`` run's claim stops this one.
        manifest: The plan at ``output_uri`` already read, or the part of it holding
            ``indexes`` (:func:`~prox_tasks.corpus.manifest.load_plan`: the DAG's refine
            task); None: ``manifest.json`` is read.
        collect: Called with each shard's result as the shard ends (in no set order),
            which is then not held here: the caller folds them
            (:class:`~prox_tasks.refine.stats.RunResults`), so that a run of 100,000 shards
            holds no 100,000 results. None: they are returned.
        **shard_options: ``policy``, ``checkpoint_every``, ``limits`` of
            :func:`~prox_tasks.refine.step.refine_shard`.

    Returns:
        Without ``collect``, :func:`~prox_tasks.refine.step.refine_shard`'s result per
        shard, in ``indexes`` order, each with ``wall_seconds``; a shard refined by a worker
        process also with the worker's ``pid`` and ``started_at`` (Unix time). With
        ``collect``, None.

    Raises:
        SettingsConflict: The folder is claimed for (or its shards were refined with) other
            settings; raised before any model is loaded or shard refined.
    """
    from prox_tasks.corpus import load_manifest
    from prox_tasks.pipeline.settings import check_refine_settings

    if workers < 1:
        raise ValueError("--workers must be at least 1")
    check_refine_settings()  # this machine's: a DAG task's worker may not be the plan's
    if manifest is None:
        manifest = load_manifest(output_uri)
    backend_options, request = claim_for_options(
        output_uri, manifest, backend, backend_options, lambda options: shard_request(
            model, backend, options, shard_options.get("policy"), shard_options.get("limits"),
            shard_options.get("quality", "off")),
        take_over=force and not settings_claimed,
        runner=None if settings_claimed  # claimed for this run by its caller
        else booking.runner if booking is not None else runners.current())
    if booking is not None:  # a killed earlier attempt (an Airflow try) booked no end
        booking.book_dead(indexes)
    by_index: dict[int, dict] = {}
    try:
        _refine_claimed(output_uri, indexes, manifest, request, workers=workers,
                        threads=threads, model=model, backend=backend,
                        backend_options=backend_options, force=force, progress=progress,
                        booking=booking, pool=pool, shard_options=shard_options,
                        collect=collect or (lambda result: by_index.__setitem__(
                            result["shard"], result)))  # fmt: skip
    except BaseException as err:
        if not is_refusal(err):
            _give_up(output_uri, manifest, request)
        raise
    return None if collect else [by_index[i] for i in indexes]


def _give_up(output_uri: str, manifest, request: dict) -> None:
    """A run that failed gives its claim up when nothing of its plan was published
    (:func:`~prox_tasks.refine.claim.give_up_claim`); its own error is what the caller
    must see, not this one's."""
    try:
        if isinstance(manifest, ManifestPart):  # whether any shard of the plan is published
            manifest = manifest.whole()
        give_up_claim(output_uri, manifest, request)
    except Exception:  # noqa: BLE001 - the refine's error matters more
        log.exception("could not give up the settings claim of %s", output_uri)


def _refine_claimed(output_uri: str, indexes: list[int], manifest, request: dict, *,
                    workers: int, threads, model, backend, backend_options, force: bool,
                    progress, booking, pool, shard_options: dict, collect) -> None:
    """The shards of :func:`refine_shards` once the folder is claimed for ``request``, each
    result passed to ``collect`` as its shard ends."""
    options = {**shard_options, "force": force, "request": request}
    pending = list(indexes) if force else []
    # every finished shard, reused or refined, here or in a worker, booked in groups
    with FinishedShards(booking) as finished:
        if not force:
            # a published shard is reported skipped from the record read here, read once
            # (its files checked once), and let go: a rerun of 100,000 shards holds no
            # records
            # the plan's folders listed once where that is fewer requests than two a
            # published shard (a DAG task's part knows the whole plan's size too)
            for index, done in read_statuses(output_uri, indexes, manifest.id,
                                             planned=manifest.planned):
                if done is None:
                    pending.append(index)
                else:
                    collect(finished.add(_skipped(output_uri, index, done, manifest, request,
                                                  progress)))
        if pool is None and (workers == 1 or len(pending) <= 1):
            # the plan read once for every shard of this call, not once per shard
            _in_process(output_uri, pending, threads, model, backend, backend_options,
                        progress, {**options, "manifest": manifest}, booking, collect,
                        finished)
            return
        _largest_first(pending, manifest)
        own = pool is None
        if own:
            pool = WorkerPool(min(workers, len(pending)), threads, model, backend,
                              backend_options)
        pool.progress = progress
        try:
            _refine_pool(pool, output_uri, pending, manifest, options, booking, collect,
                         finished)
        finally:
            if own:  # a caller's pool forwards the last progress when the caller closes it
                pool.close()


def published_among(indexes: list[int], pending: list[int]) -> list[int]:
    """``indexes`` not in ``pending``, in their order: a set of ``pending`` looked up, not
    the list (``in`` a list made it quadratic: 130 s at 100,000 shards)."""
    waiting = set(pending)
    return [i for i in indexes if i not in waiting]


def _largest_first(pending: list[int], manifest) -> None:
    """Sort ``pending`` largest shard first: a worker takes the next shard when it finishes
    one, so none is left with a big shard at the end."""
    sizes = {s.index: (s.bytes, s.docs) for s in manifest.shards}
    pending.sort(key=lambda i: sizes.get(i, (0, 0)), reverse=True)


def _refine_pool(pool: WorkerPool, output_uri: str, pending: list[int], manifest,
                 options: dict, booking, collect, finished: FinishedShards) -> None:
    """Refine ``pending`` in the pool's workers, in that order. Two shards a worker are
    submitted at a time, the next as one ends, and each result goes to ``collect`` and is
    let go as it comes: submitting all at once held every shard's part of the plan in the
    executor, and every future its result, until the last shard ended. A shard's attempt
    is booked as it is submitted: booking every shard's first took ~5 ms a shard of catalog
    writes (8 minutes at 100,000 shards) before any worker had one, and as long again to
    book them not run when the run stopped; a shard never sent stays as it was."""
    window = 2 * pool.workers
    futures: dict = {}  # submitted and not yet collected: future -> shard
    submitted = 0
    sending = None  # booked running, not yet in futures (a submit waits for workers)
    try:
        while submitted < len(pending) or futures:
            while submitted < len(pending) and len(futures) < window:
                index = sending = pending[submitted]
                if booking is not None:
                    booking.start(index, False)
                # each shard is sent with its part of the plan (its segments and input
                # files: a few hundred bytes), so no worker reads manifest.json: at 100,000
                # shards that is 29 MB and ~230 MB of Python objects per worker
                futures[pool.submit(_refine_in_worker, output_uri, index,
                                    {**options, "manifest": manifest.part([index])})] = index
                submitted, sending = submitted + 1, None
            # what finished meanwhile is booked by its own thread (FinishedShards)
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                break
            for future in done:
                # booked with its group before it leaves futures: a stop in between books
                # it twice (the second finds it done), never not at all
                result = finished.add(future.result())
                del futures[future]
                collect(result)
        else:
            return
    except BaseException as err:  # Ctrl-C, or SIGTERM: Airflow killing or timing out
        with booked_after(booking, err):
            finished.book()
        # the workers too (a SIGTERM to this process alone, docker stop or kill PID, reaches
        # no worker): each ends its shard at its next batch; bounded, see WorkerPool.stop
        pool.stop(futures)
        with booked_after(booking, err):
            _book_interrupted(booking, futures, err, pool.held.started())
            if sending is not None and booking is not None:  # stopped as it was sent
                booking.not_run(sending, f"not run: interrupted by {err!r}")
        raise
    error = failed[0].exception()
    with booked_after(booking, error):
        finished.book()
    for future in futures:
        future.cancel()
    wait(futures)
    if booking is not None:
        with booked_after(booking, error):
            for future, index in futures.items():
                _book_outcome(booking, index, future, error)
    raise error


def _book_interrupted(booking, futures: dict, error: BaseException,
                      started: set[int]) -> None:
    """Book the shards sent to workers and not collected when this process was interrupted,
    once the workers have stopped (:meth:`WorkerPool.stop`): one no worker took or started
    was not run — also one lost with a worker that never started it (Ctrl-C while the
    workers loaded their model: ``started``, :meth:`HeldShards.started`, does not hold it,
    and no worker raised on it: one that did ran, though its worker started another since) —
    one finished is done, one stopped (abandoned, or lost with its worker) is booked as the
    output folder has it — ``done`` when it was published before the stop reached it, else
    its attempt failed with ``error``. None is left ``running`` in the catalog. (Those
    collected were booked then; those not sent were not started.)"""
    if booking is None:
        return
    from concurrent.futures.process import BrokenProcessPool

    for future, index in futures.items():
        ended = future.done() and not future.cancelled()
        result = future.result() if ended and future.exception() is None else None
        # a shard a worker raised on ran, whichever shard that worker started next
        raised = ended and not isinstance(future.exception(), BrokenProcessPool | type(None))
        if future.cancelled() or (result or {}).get("status") == NOT_STARTED or (
                result is None and not raised and index not in started):
            booking.not_run(index, f"not run: interrupted by {error!r}")
        elif result is not None and result.get("status") != STOPPED:
            booking.finish(index, result)
        else:
            booking.stopped(index, error)


def _book_outcome(booking, index: int, future, first_error: BaseException) -> None:
    if future.cancelled():
        booking.not_run(index, f"not run: shard refining stopped after {first_error!r}")
    elif future.exception() is not None:
        booking.fail(index, future.exception())
    else:
        booking.finish(index, future.result())


def _skipped(output_uri: str, index: int, done: dict, manifest, request: dict,
             progress) -> dict:
    # a published shard, its record ``done`` read already: no model, no second read
    return {**reuse_published(output_uri, index, done, manifest.shard(index).docs, request,
                              progress), "wall_seconds": 0.0}


def _timed_shard(output_uri, index, **kwargs) -> dict:
    started = time.perf_counter()
    result = refine_shard(output_uri, index, **kwargs)
    return {**result, "wall_seconds": round(time.perf_counter() - started, 3)}


def _in_process(output_uri, pending, threads, model, backend, backend_options, progress,
                options, booking, collect, finished: FinishedShards) -> None:
    """Refine ``pending`` (none published when the call began) in this process, with one
    backend loaded for all of them; none loaded when there is none (every shard of the
    call was published: loading a model can take a minute, vLLM's). Each shard's attempt is
    booked as it starts, its end with ``finished``'s group (the pool's booking)."""
    try:
        refiner = _load(backend, model, backend_options, threads) if pending else None
    except BaseException as err:  # every pending shard's attempt failed with it
        # a stop (Ctrl-C, SIGTERM) while loading ran no shard: no attempt to book (the
        # snapshot is booked failed with it by the caller), as for a shard never sent
        if stop_behind(err) is None:
            with booked_after(booking, err):
                for index in pending if booking is not None else ():
                    booking.start(index, False)
                    booking.fail(index, err)
        raise
    try:
        for index in pending:
            if booking is not None:
                booking.start(index, False)
            try:
                result = _timed_shard(output_uri, index, refiner=refiner, model=model,
                                      backend=backend, backend_options=backend_options,
                                      progress=progress, **options)  # fmt: skip
            except BaseException as raised:
                err = stop_behind(raised) or raised  # a stop come out of compiled code
                if booking is not None:
                    with booked_after(booking, err):
                        finished.book()  # the shards before it first, as they ended
                    with booked_after(booking, err):
                        booking.fail(index, err)
                if err is raised:
                    raise
                raise err from raised
            collect(finished.add(result))
    finally:
        if refiner is not None:
            refiner.close()
