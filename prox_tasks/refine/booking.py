"""Booking shards in the catalog: the one implementation the DAG task, ``prox refine`` and
the tests use (through :func:`prox_tasks.refine.workers.refine_shards`).

- :func:`register_plan`: the snapshot and its planned shards (a re-plan of the same
  manifest keeps the snapshot's status);
- :class:`ShardBooking`: around each shard's refine step. A shard that is refined counts one
  attempt (``running``), then is ``done`` with its accounting, or ``failed`` with the error.
  A shard that is already published and reused is not an attempt: its accounting is stored
  when the catalog lacks it, and its attempt count stays as it is.
"""

from __future__ import annotations


def register_plan(catalog, name: str, manifest, **fields) -> None:
    """Record snapshot ``name`` planned by ``manifest`` with its shards; ``fields`` are more
    snapshot columns (``logical_date``, ``dag_run_id``)."""
    current = catalog.get_snapshot(name)
    status = current["status"] if current and current["manifest_id"] == manifest.id else "planned"
    catalog.register_snapshot(name, manifest.input_uri, manifest.output_uri, manifest=manifest,
                              status=status)
    if fields:
        catalog.update_snapshot(name, **fields)


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
                            model_version=versions)


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
        settings meanwhile) wrote nothing: the shard stays ``done`` with what its files hold."""
        if _is_refusal(error) and self._published(index):
            return
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        self.catalog.fail_shard(self.snapshot, index, text)

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


def _is_refusal(error: BaseException | str) -> bool:
    """Whether ``error`` is the refine step refusing a published shard before writing."""
    from prox_tasks.corpus.manifest import ReleasedSnapshot
    from prox_tasks.refine.step import SettingsConflict

    return isinstance(error, (ReleasedSnapshot, SettingsConflict))
