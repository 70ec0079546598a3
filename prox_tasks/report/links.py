"""Where a snapshot's pages live in the PROX report: one place for the report's own links and
the Airflow extra links of the ``quality_gate`` and ``release`` tasks."""

from __future__ import annotations

from urllib.parse import quote

REPORT = "PROX report"
DATA_DOCS = "Data Docs"
GATE_JSON = "gate.json"


def snapshot_links(report_root: str, name: str) -> dict[str, str]:
    """The snapshot page, its Data Docs and its ``gate.json`` under ``report_root`` (the
    report's URL, e.g. ``/prox``), by link name."""
    page = f"{report_root.rstrip('/')}/snapshots/{quote(name, safe='')}"
    return {REPORT: page, DATA_DOCS: f"{page}/docs/index.html", GATE_JSON: f"{page}/gate.json"}
