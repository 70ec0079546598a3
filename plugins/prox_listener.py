"""Listener: records each refine task's shards into the catalog as the task runs.

Airflow calls these hooks in the task's own process. A refine task starting counts one
attempt per shard (``running``); success stores the shard's accounting from its status
record; failure stores the error. A listener must never fail the task it observes, so
every hook catches and logs its own errors.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

DAG_ID = "prox_refine_snapshot"
TASK_ID = "refine_shard"


def _batch(task_instance) -> dict | None:
    if task_instance.dag_id != DAG_ID or task_instance.task_id != TASK_ID:
        return None
    task = getattr(task_instance, "task", None)
    batch = (getattr(task, "op_kwargs", None) or {}).get("batch")
    return batch if isinstance(batch, dict) and "shards" in batch else None


def _record(task_instance, action: str, error: BaseException | str | None = None) -> None:
    batch = _batch(task_instance)
    if batch is None:
        return
    try:
        from prox_tasks.catalog import Catalog
        from prox_tasks.corpus import read_status

        catalog = Catalog(batch.get("catalog_url"))
        try:
            for index in batch["shards"]:
                if action == "running":
                    catalog.start_shard(batch["snapshot"], index)
                elif action == "success":
                    status = read_status(batch["output_uri"], index)
                    if status is not None:
                        shard = catalog.get_shard(batch["snapshot"], index) or {}
                        catalog.finish_shard(batch["snapshot"], index, status,
                                             wall_seconds=_elapsed(shard))
                elif read_status(batch["output_uri"], index) is None:
                    catalog.fail_shard(batch["snapshot"], index, f"{type(error).__name__}: "
                                       f"{error}" if isinstance(error, BaseException) else
                                       str(error))
        finally:
            catalog.close()
    except Exception:  # noqa: BLE001 - observing must not break the observed task
        log.exception("prox listener could not record %s of %s", action, batch.get("label"))


def _mask_secrets(task_instance) -> None:
    """Secrets of the worker's environment (catalog password, API keys) hidden in the log
    of every prox task, as ``prox`` hides them in its output."""
    if not str(getattr(task_instance, "dag_id", "")).startswith("prox_"):
        return
    try:
        from prox_tasks.redaction import mask_in_airflow

        mask_in_airflow()
    except Exception:  # noqa: BLE001 - observing must not break the observed task
        log.exception("prox listener could not register secrets with the log masker")


def _elapsed(shard: dict) -> float | None:
    from datetime import UTC, datetime

    started = shard.get("started_at")
    if not started:
        return None
    return round((datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds(), 3)


class ProxListener:
    """Task-instance hooks (Airflow 3 listener API)."""

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        _mask_secrets(task_instance)
        _record(task_instance, "running")

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        _record(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        _record(task_instance, "failed", error)


listener = ProxListener()
