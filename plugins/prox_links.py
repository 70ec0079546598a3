"""Extra links of the refine DAG's ``quality_gate`` and ``release`` tasks: the snapshot's page
in the PROX report, its Great Expectations Data Docs and its ``gate.json``.

TaskFlow tasks have no operator class of their own, so the links are the plugin's
``global_operator_extra_links``, answering only for those two tasks (every other task gets no
URL, and the UI shows no button). The API server computes them when the task's page asks:
the snapshot's name is the run's ``resolve`` result (XCom), and the URLs are relative to the
UI's own host (under ``AIRFLOW__API__BASE_URL``'s path when Airflow is served below one).
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from airflow.sdk import BaseOperatorLink

from prox_tasks.report.links import DATA_DOCS, GATE_JSON, REPORT

DAG_ID = "prox_refine_snapshot"
TASKS = ("quality_gate", "release")


def report_root() -> str:
    """The PROX report's path on the UI's host: ``/prox`` below the base URL's path."""
    base = urlparse(os.environ.get("AIRFLOW__API__BASE_URL") or "").path.rstrip("/")
    return f"{base}/prox"


def snapshot_name(ti_key) -> str | None:
    """The snapshot of the task's run: the name the run's ``resolve`` task returned."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(XComModel.get_many(
            run_id=ti_key.run_id, key="return_value", dag_ids=ti_key.dag_id,
            task_ids="resolve", map_indexes=-1, limit=1)).first()
        value = XComModel.deserialize_value(row) if row is not None else None
    return value.get("name") if isinstance(value, dict) else None


class _SnapshotLink(BaseOperatorLink):
    def get_link(self, operator, *, ti_key) -> str:
        from prox_tasks.report.links import snapshot_links

        if ti_key.dag_id != DAG_ID or ti_key.task_id not in TASKS:
            return ""
        name = snapshot_name(ti_key)
        return snapshot_links(report_root(), name)[self.name] if name else ""


class ReportLink(_SnapshotLink):
    """The snapshot's page in the PROX report (gate checks, distributions, documents)."""

    name = REPORT


class DataDocsLink(_SnapshotLink):
    """The snapshot's Great Expectations Data Docs (served offline by the report)."""

    name = DATA_DOCS


class GateJsonLink(_SnapshotLink):
    """The gate's result file, ``gate.json`` (observed values against thresholds)."""

    name = GATE_JSON


LINKS = [ReportLink(), DataDocsLink(), GateJsonLink()]
