"""Booking shards in the catalog: the one implementation the DAG task, ``prox refine`` and
the tests use (through :func:`prox_tasks.refine.workers.refine_shards`).

- :func:`register_plan`: the snapshot and its planned shards (a re-plan of the same
  manifest keeps the snapshot's status, except a ``failed`` one: this run tries again);
- :class:`ShardBooking`: around each shard's refine step. A shard that is refined counts one
  attempt (``running``), then is ``done`` with its accounting, or ``failed`` with the error.
  A shard that is already published and reused is not an attempt: its accounting is stored
  when the catalog lacks it, and its attempt count stays as it is. Nor is a refusal (the
  step refused a published shard before writing) or a shard that never ran because another
  failed first: the attempt counted when it was queued is taken back, and a shard that never
  ran is ``planned`` again (pending, its ``error`` saying ``not run: …``), not ``failed``;
- :func:`book_failed`: a run that fails after its plan was booked leaves the snapshot
  ``failed`` with the error, not ``planned`` (:func:`failure_booked` around a refine task:
  a refusal before any shard ran too); :func:`book_refined` (or the next plan) moves
  it on as usual. :func:`book_unplanned`: one that fails before (while planning: no input
  files, a bad file) books a new snapshot ``failed``, so the failed night is listed. A run whose plan another run booked since (a ``--force`` rerun) books
  nothing over that run's status;
- :class:`FinishedShards`: the finished shards of a run, booked together (a group's
  accountings in one transaction) within a second of their end, whether a worker or the
  run's own process refined them;
- :func:`book_dead`: a run killed outright (SIGKILL, out of memory, a lost worker), or
  one that ended with the catalog unreachable, booked nothing at its end; the next run (its plan) or Airflow try (its shards) books its
  ``running`` attempts failed once its process is known dead
  (:mod:`~prox_tasks.refine.runner`), and its snapshot failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prox_tasks.refine import runner as runners

log = logging.getLogger(__name__)

#: What a shard's attempt whose process ended without booking its end is booked failed
#: with. Killed outright is one cause; a run that ended because the catalog was unreachable
#: (PostgreSQL stopped) could not book it either, and its own log says so: the message
#: claims neither.
DIED = ("this attempt's end was not booked ({why}): its refine process was killed (SIGKILL, "
        "out of memory, or a lost worker) or could not reach the catalog as it ended")


def register_plan(catalog, name: str, manifest, runner: dict | None = None, *,
                  option: str = "--name", run: bool = True, **fields) -> None:
    """Record snapshot ``name`` planned by ``manifest`` with its shards, booked by ``runner``
    (:func:`~prox_tasks.refine.runner.current`; default this process); ``fields`` are more
    snapshot columns (``logical_date``, ``dag_run_id``). Attempts of runs known dead are
    booked failed first (:func:`book_dead`). A snapshot planned alike before keeps its
    status (a refined or gated one is not ``planned`` again), unless it failed. ``option``:
    what names the snapshot, said when the name is booked for another folder (``prox refine
    --name``; the DAG's Param). ``run``: False for a plan booked by no run (``prox plan
    --name``): the snapshot's runner and error stay as they are (the run that refines it
    books itself), and no dead run is looked for.

    Raises:
        prox_tasks.catalog.SnapshotNameTaken: ``name`` belongs to another output folder.
    """
    if run:
        runner = runner or runners.current()
        book_dead(catalog, name, runner)
    current = catalog.get_snapshot(name)
    kept = current and current["manifest_id"] == manifest.id and current["status"] != "failed"
    catalog.register_snapshot(name, manifest.input_uri, manifest.output_uri, manifest=manifest,
                              status=current["status"] if kept else "planned", option=option)
    if run:
        # a former run's failure is history; this run's end is booked over its status, a
        # replaced run's not (book_failed)
        catalog.update_snapshot(name, error=None, runner=runner, **fields)


def book_refined(catalog, name: str, model_versions, refined_any: bool = True,
                 runner: dict | None = None) -> None:
    """Every shard of snapshot ``name`` is written: it becomes ``refined``, with the model
    versions that refined it — ``prox refine`` and the DAG's collect task alike. A released
    snapshot stays ``released`` (a rerun reused its shards); a ``gated`` or ``quarantined``
    one keeps its gate verdict when this run reused every shard (``refined_any`` false), since
    the files the gate judged did not change. A snapshot whose plan another run booked since
    (a ``--force`` rerun started after this one, as :func:`book_failed`) is that run's:
    nothing is booked over its status (``runner``: this run's, default this process)."""
    versions = ", ".join(sorted({str(v) for v in model_versions if v})) or None
    snapshot = catalog.get_snapshot(name) or {}
    if _replaced(snapshot, runner):
        log.warning("snapshot %s: not booked refined: another run booked it since", name)
        return
    current = snapshot.get("status")
    kept = {"released"} if refined_any else {"released", "gated", "quarantined"}
    catalog.update_snapshot(name, status=current if current in kept else "refined",
                            model_version=versions, error=None)


def _replaced(snapshot: dict, runner: dict | None) -> bool:
    """Whether another run than ``runner``'s (default this process; an Airflow task's: its
    DAG run) booked ``snapshot``'s plan last: its status is that run's to book."""
    booked_by = runners.run_key(snapshot.get("runner"))
    return booked_by is not None and booked_by != runners.run_key(runner or runners.current())


class RunReplaced(RuntimeError):
    """Another run booked a snapshot's plan since this run did: gating and releasing the
    snapshot are that run's."""


def refuse_if_replaced(catalog, name: str, runner: dict | None, step: str) -> None:
    """Refuse ``step`` (``collect``, the gate, the release) of a run (``runner``'s; an
    Airflow task's: its DAG run) whose plan of snapshot ``name`` another run booked since
    (:func:`_replaced`): the folder holds, or will hold, that run's shards.

    Raises:
        RunReplaced: Naming the run that replaced it.
    """
    snapshot = catalog.get_snapshot(name) or {}
    if _replaced(snapshot, runner):
        raise RunReplaced(
            f"snapshot {name} was planned again by another run "
            f"({runners.run_key(snapshot.get('runner'))}) since this run planned it: its "
            f"gate and release are that run's, so this run's {step} is refused (it gates "
            "and releases nothing). Follow that run; to refine with this run's settings, "
            "trigger a new run (reprocess, or another snapshot name)")


#: Statuses of a snapshot whose refining ended with every shard written.
FINISHED = ("refined", "gated", "quarantined", "released")


def take_back_completed(catalog, name: str, runner: dict | None, manifest_id: str,
                        same_settings: Callable[[], bool]) -> str | None:
    """Book snapshot ``name``'s plan as ``runner``'s run (an Airflow task's: its DAG run)
    again when the run that booked it since is a ``prox refine`` process that finished
    refining this run's plan (``manifest_id``) with this run's settings (``same_settings``:
    the folder's claim holds them). That rerun gates and releases nothing, and the folder
    holds what this run would have written: this run's gate and release go on with it. A
    later DAG run, another plan, other settings (``--force`` took the claim over) or a
    rerun still refining are left to :func:`refuse_if_replaced`.

    Returns:
        The run that completed the snapshot (:func:`~prox_tasks.refine.runner.run_key`),
        None when this run was not replaced or that run's work is not this run's.
    """
    snapshot = catalog.get_snapshot(name) or {}
    other = snapshot.get("runner") or {}
    if (not _replaced(snapshot, runner) or other.get("airflow")
            or snapshot.get("manifest_id") != manifest_id
            or snapshot.get("status") not in FINISHED or not same_settings()):
        return None
    completed_by = runners.run_key(other)
    catalog.update_snapshot(name, runner=runner or runners.current())
    log.warning("snapshot %s was completed by another run (%s) with this run's plan and "
                "settings: its shards are what this run refines, so this run goes on with "
                "them (its gate and release)", name, completed_by)
    return completed_by


def book_failed(catalog, name: str, error: BaseException | str,
                runner: dict | None = None, planned_refusal: bool = False) -> None:
    """A run of snapshot ``name`` failed after its plan was booked: the snapshot becomes
    ``failed`` with ``error``. A refusal wrote nothing, and a released snapshot's files never
    change: both keep their status — but for ``planned_refusal``, a refusal of a snapshot
    still ``planned`` (a DAG run's refine task: the run cannot go on, and its own words are
    why, not a guess of book_unfinished's). So does a snapshot whose plan another run booked
    since (a ``--force`` rerun started after this one; not this run's ``runner``, default
    this process, nor of its Airflow DAG run): its status is that run's. A catalog that
    cannot be written is logged, not raised: the run's own error is what its caller must
    see."""
    _mark_end_booked(error)
    if is_refusal(error) and not planned_refusal:
        return
    try:
        snapshot = catalog.get_snapshot(name) or {}
        if snapshot.get("status") in (None, "released"):
            return
        if is_refusal(error) and snapshot.get("status") != "planned":
            return
        if _replaced(snapshot, runner):
            log.warning("snapshot %s: not booked failed (%s): another run booked it since",
                        name, _error_text(error))
            return
        # a DAG run's error as its user reads it (a Param, not the command's option)
        caller = "dag" if (runner or {}).get("airflow") else "cli"
        catalog.fail_snapshot(name, _error_text(error, caller))
    except Exception as fault:  # noqa: BLE001 - the refine's error matters more than the booking's
        _booking_failed(name, fault)


#: Set on a run's error once :func:`book_failed` booked (or tried to book) its end.
_END_BOOKED = "_prox_end_booked"


def _mark_end_booked(error: BaseException | str) -> None:
    """Mark ``error`` as one whose run's end :func:`book_failed` booked: its plan was booked,
    so it is no failure before the plan (:func:`book_unplanned` books nothing of it).
    ``prox refine`` calls book_unplanned on every failure no shard of it explains: with the
    catalog unreachable, book_unplanned cannot read that the plan is there, and it logged
    'could not book snapshot … failed' a second time."""
    if isinstance(error, BaseException):
        try:
            setattr(error, _END_BOOKED, True)
        except AttributeError:  # an exception type without attributes: logged twice at worst
            pass


def _booking_failed(name: str, fault: Exception) -> None:
    """Log that snapshot ``name`` could not be booked ``failed`` (``fault``: the catalog
    unreachable, 'database is locked') as one line, its traceback only when INFO is logged
    (``prox -v``, an Airflow task's log): the run's own error follows on stderr, and a
    PostgreSQL gone mid-run buried it under tracebacks (two a booking, each ~230 lines)."""
    driver = getattr(fault, "orig", None)  # a SQLAlchemy error's: without the SQL it ran
    said = _one_line(driver if isinstance(driver, BaseException) else fault)
    log.error("could not book snapshot %s failed: %s", name, said,
              exc_info=fault if log.isEnabledFor(logging.INFO) else None)


@contextmanager
def failure_booked(catalog, name: str, runner: dict | None = None) -> Iterator[None]:
    """Book snapshot ``name`` ``failed`` (:func:`book_failed`, as ``runner``'s run) when the
    block raises, whatever raised it — a shard's error, or a refusal before any shard ran (a
    refine worker without the ``backend=openai`` pool, a model it cannot load): a run that
    fails must not stay ``planned`` in the catalog, a refusal included (other settings
    than the plan task claimed: a worker naming other served models). The error is raised
    on."""
    try:
        yield
    except BaseException as err:  # a retry that succeeds, then collect, move it on
        book_failed(catalog, name, err, runner, planned_refusal=True)
        raise


def book_unplanned(catalog, name: str, input_uri: str, output_uri: str,
                   error: BaseException) -> bool:
    """A run of a new snapshot ``name`` failed before its plan was booked (while planning:
    no input files, an unreadable file): book it ``failed`` with ``error`` and no plan, so
    an operator listing the catalog sees the failed run (the next run's plan books it as
    usual). A snapshot the catalog knows keeps its row: this run wrote no plan over its
    folder's. A refusal is no failed run (:func:`book_failed`). A catalog that cannot be
    written is logged, not raised. Nor does a run whose end :func:`book_failed` booked
    already (its plan was booked: not even tried when the catalog is unreachable, where it
    would log the same fault again). Returns whether it booked the snapshot."""
    from prox_tasks.storage import to_uri

    if is_refusal(error) or getattr(error, _END_BOOKED, False):
        return False
    try:
        if catalog.get_snapshot(name) is not None:
            return False
        catalog.register_snapshot(name, to_uri(input_uri), to_uri(output_uri), status="failed")
        catalog.fail_snapshot(name, _error_text(error))
        return True
    except Exception as fault:  # noqa: BLE001 - the refine's error matters more than the booking's
        _booking_failed(name, fault)
        return False


@contextmanager
def booked_after(booking: ShardBooking | None, error: BaseException) -> Iterator[None]:
    """Around what a run books as it fails or is stopped with ``error`` (the shards it
    finished, the attempt it stopped): a catalog fault there ('database is locked', the
    catalog unreachable) is logged, not raised over ``error`` — the user must see
    'terminated (SIGTERM)' or the shard's error, not the catalog's. What it could not
    book, the next run books (:func:`book_dead`: this process is dead by then)."""
    try:
        yield
    except Exception as fault:  # noqa: BLE001 - the run's own error is the one raised
        log.error("snapshot %s: booking the run's end (%s) failed: %s",
                  getattr(booking, "snapshot", "?"), _one_line(error), _one_line(fault))


def _one_line(error: BaseException | str) -> str:
    """:func:`_error_text` on one line (a driver's message spans several)."""
    return " ".join(_error_text(error).split())


def _error_text(error: BaseException | str, caller: str = "cli") -> str:
    """``Type: message``, the message as ``caller`` (``cli``, ``dag``) reads it
    (:func:`~prox_tasks.setting_names.said_to`); a bare Ctrl-C (``KeyboardInterrupt()``, no
    message) says what it was, not ``KeyboardInterrupt: `` with nothing after it."""
    from prox_tasks.setting_names import said_to

    if not isinstance(error, BaseException):
        return error
    said = said_to(error, caller) or ("interrupted (Ctrl-C)"
                                      if isinstance(error, KeyboardInterrupt) else "")
    return f"{type(error).__name__}: {said}" if said else type(error).__name__


def book_dead(catalog, name: str, runner: dict | None = None,
              indexes: list[int] | None = None, run_ended: bool = False) -> int:
    """Book failed every ``running`` attempt of snapshot ``name`` whose runner is known dead
    (:func:`~prox_tasks.refine.runner.why_dead`, as seen by ``runner``, default this
    process) with :data:`DIED`; the snapshot too (:func:`book_failed`, when that run booked
    its plan), unless ``runner`` is of the same run (an Airflow retry goes on). ``indexes``:
    only those shards (a DAG task's own: not every shard of the snapshot in every task).
    ``run_ended``: every refine task of ``runner``'s DAG run has ended, so its attempts
    still ``running`` are dead too (:func:`~prox_tasks.refine.runner.why_ended`), and the
    snapshot is booked failed. Returns the attempts booked."""
    me = runner or runners.current()
    dead, runs = 0, {}
    wanted = None if indexes is None else set(indexes)
    # one query of the running attempts only: each DAG task (a hundred shards of a
    # 100,000-shard snapshot) read every shard's row, O(shards x tasks) rows for a run
    shards = [s for s in catalog.get_shards(name, status="running")
              if wanted is None or s["shard_index"] in wanted]
    for shard in shards:
        why = runners.why_dead(shard.get("runner"), me) \
            or (run_ended and runners.why_ended(shard.get("runner"), me))  # fmt: skip
        if why and catalog.fail_running_shard(name, shard["shard_index"], shard["runner"],
                                              DIED.format(why=why)):
            dead += 1
            log.warning("snapshot %s, shard %d: %s", name, shard["shard_index"],
                        DIED.format(why=why))
            runs.setdefault(runners.run_key(shard["runner"]),
                            (shard["runner"], f"shard {shard['shard_index']}: {DIED.format(why=why)}"))
    for key, (dead_runner, error) in runs.items():
        if run_ended or key != runners.run_key(me):
            book_failed(catalog, name, error, dead_runner)
    return dead


class ShardBooking:
    """Books the shards of snapshot ``snapshot`` in ``catalog`` (a
    :class:`prox_tasks.catalog.Catalog`) as they are refined, each attempt by ``runner``
    (:func:`~prox_tasks.refine.runner.current`; default this process)."""

    def __init__(self, catalog, snapshot: str, runner: dict | None = None):
        self.catalog, self.snapshot = catalog, snapshot
        self.runner = runner or runners.current()
        self._started: set[int] = set()  # the shards this booking counted an attempt of

    def book_dead(self, indexes: list[int]) -> int:
        """Book the attempts of shards ``indexes`` by runs known dead failed
        (:func:`book_dead`): before this run books its own, e.g. those of the Airflow try
        before this one."""
        return book_dead(self.catalog, self.snapshot, self.runner, indexes)

    def start(self, index: int, reused: bool) -> None:
        """Before shard ``index`` runs: a refine (not a reuse) is a new attempt."""
        if not reused:
            self.catalog.start_shard(self.snapshot, index, self.runner)
            self._started.add(index)

    def finish(self, index: int, result: dict) -> None:
        """Shard ``index`` gave ``result`` (:func:`~prox_tasks.refine.step.refine_shard`'s,
        with ``wall_seconds``): :meth:`finish_many` of one."""
        self.finish_many([result])

    def finish_many(self, results: list[dict]) -> None:
        """Shards gave ``results`` (each with its ``shard``), booked in one read and one
        transaction (a shard each took ~5-10 ms on SQLite: 10 minutes at 100,000 shards).
        A shard this run started that another run booked since (a ``--force`` rerun refined
        it meanwhile) is that run's: this run's figures are not booked over it.

        Raises:
            ValueError: A shard's accounting does not balance (a status record edited or
                damaged: the writer publishes none that does not): the others are booked
                ``done`` all the same, and that one ``failed`` with why
                (:meth:`_finish_each`).
        """
        booked = self.catalog.get_shards_of(self.snapshot, [r["shard"] for r in results])
        finished = []
        for result in results:
            index, row = result["shard"], booked.get(result["shard"])
            if index in self._started and not self._mine(index, row or {}):
                self._left(index, f"{result['status']} by this run")
            elif result["status"] == "refined":
                finished.append((index, result["accounting"], result.get("wall_seconds")))
            elif row is None or row["status"] != "done":  # published where nothing booked it
                finished.append((index, result["accounting"], (row or {}).get("wall_seconds")))
        try:
            self.catalog.finish_shards(self.snapshot, finished)
        except ValueError:  # one does not balance, and nothing of the group was booked
            self._finish_each(finished)

    def _finish_each(self, finished: list[tuple]) -> None:
        """Book each of ``finished`` (``(index, accounting, wall_seconds)``) alone: those
        that balance ``done``, each that does not ``failed`` with the catalog's refusal —
        not left ``running`` (or ``planned``) with the whole group until a later run.

        Raises:
            ValueError: Naming the shards that do not balance.
        """
        unbalanced = []
        for entry in finished:
            try:
                self.catalog.finish_shards(self.snapshot, [entry])
            except ValueError as err:
                unbalanced.append(entry[0])
                error = (f"{err}; its status record does not account for every document: "
                         "refine the shard again (--force, the DAG's reprocess Param)")
                if entry[0] in self._started:  # this run's attempt, unless another's since
                    self.fail(entry[0], error)
                else:  # a published shard this run reuses
                    self.catalog.fail_shard(self.snapshot, entry[0], error)
        raise ValueError(f"snapshot {self.snapshot}: shards {unbalanced} do not balance "
                         "(docs_read != docs_written + docs_quarantined) and were booked "
                         "failed: refine them again with --force (the DAG's reprocess Param)")

    def fail(self, index: int, error: BaseException | str) -> None:
        """Shard ``index``'s attempt failed (the error is stored). A refusal to touch a
        published shard (its snapshot was released, or another run published it with other
        settings meanwhile) wrote nothing: it is no attempt, and the shard stays ``done``
        with what its files hold. A shard another run booked since (a ``--force`` rerun)
        is that run's: nothing is booked over it."""
        if is_refusal(error):
            self._withdrawn(index, _error_text(error), self.catalog.fail_shard)
        elif not self.catalog.fail_running_shard(self.snapshot, index, self.runner,
                                                 _error_text(error)):
            self._left(index, error)

    def stopped(self, index: int, error: BaseException | str) -> None:
        """Shard ``index``'s attempt was stopped (SIGTERM, Ctrl-C) where this run could not
        see how far it got (a worker process): ``done`` from its status record when it was
        published before the stop reached it, else :meth:`fail` with ``error``."""
        if not (self._mine(index) and self._published(index)):
            self.fail(index, error)

    def not_run(self, index: int, reason: str) -> None:
        """Shard ``index``, counted by :meth:`start`, never ran (cancelled before a worker
        started it: another shard failed, or the run was stopped): the attempt is taken back;
        a published shard is booked ``done``, another ``planned`` again with ``reason`` (not
        left ``running``, nor ``failed``: nothing of it failed). Not a shard another run
        booked since."""
        self._withdrawn(index, reason, self.catalog.shard_not_run)

    def _withdrawn(self, index: int, reason: str, book_unpublished) -> None:
        """Take back the attempt :meth:`start` counted of shard ``index``, which wrote
        nothing: a published shard is booked ``done``, another with ``book_unpublished``
        (the catalog's ``fail_shard``: a refusal; ``shard_not_run``: never ran)."""
        if not self._mine(index):
            self._left(index, reason)
            return
        self.catalog.withdraw_attempt(self.snapshot, index)
        if not self._published(index):
            book_unpublished(self.snapshot, index, reason)

    def failures_booked(self):
        """:func:`failure_booked` as this booking's runner: around everything a refine task
        does after its plan was booked."""
        return failure_booked(self.catalog, self.snapshot, self.runner)

    def _mine(self, index: int, booked: dict | None = None) -> bool:
        """Whether shard ``index`` (``booked``: its row, already read) is still
        ``running`` as this booking started it."""
        if booked is None:
            booked = self.catalog.get_shard(self.snapshot, index) or {}
        return booked.get("status") == "running" and booked.get("runner") == self.runner

    def _left(self, index: int, what: BaseException | str) -> None:
        log.warning("snapshot %s, shard %d: not booked (%s): another run booked it since",
                    self.snapshot, index, _error_text(what))

    def _published(self, index: int) -> bool:
        """Book shard ``index`` ``done`` from its status record, if it has one."""
        from prox_tasks.corpus import read_status

        snapshot = self.catalog.get_snapshot(self.snapshot)
        status = snapshot and read_status(snapshot["output_uri"], index, snapshot["manifest_id"])
        if not status:
            return False
        booked = self.catalog.get_shard(self.snapshot, index)
        self.catalog.finish_shard(self.snapshot, index, status,
                                  wall_seconds=(booked or {}).get("wall_seconds"))
        return True


#: Finished shards booked in one catalog transaction (:meth:`ShardBooking.finish_many`), unless
#: the first of them has waited :data:`BOOKED_WITHIN` seconds.
BOOKED_TOGETHER = 200
#: Seconds a finished shard waits at most to be booked (give or take a transaction).
BOOKED_WITHIN = 1.0


class FinishedShards:
    """Finished shards' results, booked by ``booking`` (a :class:`ShardBooking`; None: not
    booked) in groups: once :data:`BOOKED_TOGETHER` wait, or once the first of them has
    waited :data:`BOOKED_WITHIN` seconds, and whatever waits when the context ends, an
    error's too. The one implementation of ``refine_shards``' paths, this process's and the
    workers'.

    A thread books the groups that are due, whatever the run does meanwhile: a shard that
    ended before an hour-long one — refined by a worker, or by this process, which is
    refining that one — is not left ``running`` in the catalog meanwhile. A booking that
    raised (the catalog unreachable, an accounting that does not balance) is raised where
    the run adds its next result, or at the end. A run killed meanwhile leaves the shards
    it published and did not book ``running``: the next run books those attempts dead
    (:func:`book_dead`), then ``done`` from their status records as it finds them
    published."""

    def __init__(self, booking: ShardBooking | None) -> None:
        self.booking = booking
        self.waiting: list[dict] = []
        self._first_at = 0.0  # when the first result of those waiting was added
        # guards the rest, held for moments only: a run adding a result never waits on a
        # catalog transaction, where a stop (SIGTERM, Ctrl-C) would drop that result
        self._due = threading.Condition()
        self._booking = threading.Lock()  # held while a group is booked: one at a time
        self._ended = False
        self._error: BaseException | None = None  # what the thread's booking raised
        self._thread: threading.Thread | None = None

    def add(self, result: dict) -> dict:
        """Book ``result`` with its group; returns it.

        Raises:
            Exception: What booking an earlier group raised (``result`` waits all the
                same: it is booked with what waits when the context ends).
        """
        if self.booking is None:
            return result
        with self._due:
            if not self.waiting:
                self._first_at = time.monotonic()
            self.waiting.append(result)
            full = len(self.waiting) >= BOOKED_TOGETHER
            if self._thread is None:
                self._thread = threading.Thread(target=self._book_when_due, daemon=True,
                                                name="prox-shard-booking")
                self._thread.start()
            else:
                self._due.notify()
            self._raise_error()
        if full:
            self.book()
        return result

    def _book_when_due(self) -> None:
        while True:
            with self._due:
                while not self._ended and self._error is None:
                    left = self._first_at + BOOKED_WITHIN - time.monotonic()
                    if self.waiting and left <= 0:
                        break
                    self._due.wait(left if self.waiting else None)
                else:
                    return
            try:
                self.book()
            except Exception as err:  # noqa: BLE001 - raised where the run adds
                with self._due:
                    self._error = err

    def book(self) -> None:
        """Book what waits now (after the group being booked, if any): before the run
        books the shards it stops. A group whose booking was cut short (a stop, the
        catalog unreachable) waits again, to be booked when the context ends: booking it
        twice books nothing twice (:meth:`ShardBooking.finish_many`)."""
        if self.booking is None:
            return
        with self._booking:
            with self._due:
                waiting, self.waiting = self.waiting, []
                first_at = self._first_at
            if not waiting:
                return
            try:
                self.booking.finish_many(waiting)
            except ValueError:  # the others booked, the unbalanced ones failed
                raise
            except BaseException:
                with self._due:
                    self.waiting[:0] = waiting
                    self._first_at = first_at
                raise

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> FinishedShards:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        with self._due:
            self._ended = True
            self._due.notify()
        try:
            if self._thread is not None:
                self._thread.join()
        finally:  # a stop while the thread books a group: what waits is booked all the same
            if self.booking is not None:
                self._book_rest(exc)

    def _book_rest(self, exc: BaseException | None) -> None:
        try:
            if exc is None:
                self.book()
            else:
                with booked_after(self.booking, exc):
                    self.book()
        finally:
            with self._due:
                if exc is None:
                    self._raise_error()
                elif self._error is not None:  # the run's own error is the one raised
                    log.error("snapshot %s: booking finished shards failed: %s",
                              self.booking.snapshot, _error_text(self._error))


def is_refusal(error: BaseException | str) -> bool:
    """Whether ``error`` is the refine step refusing to publish before writing (a released
    or gated snapshot, other settings)."""
    from prox_tasks.corpus.manifest import ReleasedSnapshot
    from prox_tasks.refine.claim import GatedSnapshot
    from prox_tasks.refine.step import SettingsConflict

    return isinstance(error, (ReleasedSnapshot, SettingsConflict, GatedSnapshot))
