"""Listener: hides the worker's secrets in the log of every prox task.

Airflow calls the hook in the task's own process when a task starts; it hands the
environment's secrets (catalog password, API keys) to Airflow's log masker, as ``prox`` hides
them in its own output, and filters prox's own log lines as ``prox`` does (secrets redacted,
terminal controls of a file name or id shown as escapes: ``\x1b[2J``). Shards are booked in the catalog by the refine task itself
(:mod:`prox_tasks.refine.booking`), not here. A listener must never fail the task it
observes, so the hook catches and logs its own errors.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)


def _mask_secrets(task_instance) -> None:
    """Secrets of the worker's environment (catalog password, API keys) hidden in the log
    of every prox task, as ``prox`` hides them in its output."""
    if not str(getattr(task_instance, "dag_id", "")).startswith("prox_"):
        return
    try:
        from prox_tasks.redaction import PROX_LOGGERS, filter_log_handlers, mask_in_airflow

        mask_in_airflow(*_conf_urls(task_instance))
        filter_log_handlers(PROX_LOGGERS)  # Airflow's own lines: its handlers' as they are
    except Exception:  # noqa: BLE001 - observing must not break the observed task
        log.exception("prox listener could not register secrets with the log masker")


def _conf_urls(task_instance) -> list[str]:
    """The URL-valued entries of the run's conf (a ``catalog_url`` Param with a password)."""
    try:
        conf = task_instance.get_template_context()["dag_run"].conf or {}
    except Exception:  # noqa: BLE001 - no run context: the environment's secrets only
        return []
    return [v for v in conf.values() if isinstance(v, str) and "://" in v]


class ProxListener:
    """Task-instance hooks (Airflow 3 listener API)."""

    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        _mask_secrets(task_instance)


listener = ProxListener()
