"""Booking shards in the catalog: the one implementation the DAG task, ``prox refine`` and
the tests use (through :func:`prox_tasks.refine.workers.refine_shards`).

- :func:`register_plan`: the snapshot and its planned shards (a re-plan of the same
  manifest keeps the snapshot's status, except a ``failed`` one: this run tries again);
- :class:`ShardBooking`: around each shard's refine step. A shard that is refined counts one
  attempt (``running``), then is ``done`` with its accounting, or ``failed`` with the error.
  A shard that is already published and reused is not an attempt: its accounting is stored
  when the catalog lacks it, and its attempt count stays as it is. Nor is a refusal (the
  step refused a published shard before writing) or a shard that never ran because another
  failed first: the attempt counted when it was queued is taken back;
- :func:`book_failed`: a run that fails after its plan was booked leaves the snapshot
  ``failed`` with the error, not ``planned``; :func:`book_refined` (or the next plan) moves
  it on as usual.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def register_plan(catalog, name: str, manifest, **fields) -> None:
    """Record snapshot ``name`` planned by ``manifest`` with its shards; ``fields`` are more
    snapshot columns (``logical_date``, ``dag_run_id``)."""
    current = catalog.get_snapshot(name)
    kept = current and current["manifest_id"] == manifest.id and current["status"] != "failed"
    catalog.register_snapshot(name, manifest.input_uri, manifest.output_uri, manifest=manifest,
                              status=current["status"] if kept else "planned")
    catalog.update_snapshot(name, error=None, **fields)  # a former run's failure is history


def book_refined(catalog, name: str, model_versions, refined_any: bool = True) -> None:
    """Every shard of snapshot ``name`` is written: it becomes ``refined``, with the model
    versions that refined it — ``prox refine`` and the DAG's collect task alike. A released
    snapshot stays ``released`` (a rerun reused its shards); a ``gated`` or ``quarantined``
    one keeps its gate verdict when this run reused every shard (``refined_any`` false), since
    the files the gate judged did not change."""
    versions = ", ".join(sorted({str(v) for v in model_versions if v})) or None
    current = (catalog.get_snapshot(name) or {}).get("status")
    kept = {"released"} if refined_any else {"released", "gated", "quarantined"}
    catalog.update_snapshot(name, status=current if current in kept else "refined",
                            model_version=versions, error=None)


def book_failed(catalog, name: str, error: BaseException | str) -> None:
    """A run of snapshot ``name`` failed after its plan was booked: the snapshot becomes
    ``failed`` with ``error``. A refusal wrote nothing, and a released snapshot's files never
    change: both keep their status. A catalog that cannot be written is logged, not raised:
    the run's own error is what its caller must see."""
    if is_refusal(error):
        return
    try:
        if (catalog.get_snapshot(name) or {}).get("status") in (None, "released"):
            return
        catalog.fail_snapshot(name, _error_text(error))
    except Exception:  # noqa: BLE001 - the refine's error matters more than the booking's
        log.exception("could not book snapshot %s failed", name)


def _error_text(error: BaseException | str) -> str:
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error


class ShardBooking:
    """Books the shards of snapshot ``snapshot`` in ``catalog`` (a
    :class:`prox_tasks.catalog.Catalog`) as they are refined."""

    def __init__(self, catalog, snapshot: str):
        self.catalog, self.snapshot = catalog, snapshot

    def start(self, index: int, reused: bool) -> None:
        """Before shard ``index`` runs: a refine (not a reuse) is a new attempt."""
        if not reused:
            self.catalog.start_shard(self.snapshot, index)

    def finish(self, index: int, result: dict) -> None:
        """Shard ``index`` gave ``result`` (:func:`~prox_tasks.refine.step.refine_shard`'s,
        with ``wall_seconds``)."""
        booked = self.catalog.get_shard(self.snapshot, index)
        if result["status"] == "refined":
            self.catalog.finish_shard(self.snapshot, index, result["accounting"],
                                      wall_seconds=result.get("wall_seconds"))
        elif booked is None or booked["status"] != "done":  # published where nothing booked it
            self.catalog.finish_shard(self.snapshot, index, result["accounting"],
                                      wall_seconds=(booked or {}).get("wall_seconds"))

    def fail(self, index: int, error: BaseException | str) -> None:
        """Shard ``index``'s attempt failed (the error is stored). A refusal to touch a
        published shard (its snapshot was released, or another run published it with other
        settings meanwhile) wrote nothing: it is no attempt, and the shard stays ``done``
        with what its files hold."""
        if is_refusal(error):
            self.not_run(index, _error_text(error))
        else:
            self.catalog.fail_shard(self.snapshot, index, _error_text(error))

    def not_run(self, index: int, reason: str) -> None:
        """Shard ``index``, counted by :meth:`start`, was not refined (refused, or cancelled
        when another shard failed): the attempt is taken back; a published shard is booked
        ``done``, another ``failed`` with ``reason`` (not left ``running``)."""
        self.catalog.withdraw_attempt(self.snapshot, index)
        if not self._published(index):
            self.catalog.fail_shard(self.snapshot, index, reason)

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


def is_refusal(error: BaseException | str) -> bool:
    """Whether ``error`` is the refine step refusing a published shard before writing."""
    from prox_tasks.corpus.manifest import ReleasedSnapshot
    from prox_tasks.refine.step import SettingsConflict

    return isinstance(error, (ReleasedSnapshot, SettingsConflict))
