"""The PROX report: what refining did to each snapshot, as HTML pages and JSON.

Served by the Airflow plugin (``plugins/prox_report.py``) at ``/prox/``; no Airflow import
here. Charts are Vega-Lite specifications rendered by the vendored Vega-Lite
(``static/vendor/``, BSD-3-Clause), so the pages work without internet access.
"""

from prox_tasks.report.overview import RowFilter, snapshot_rows, trend_points
from prox_tasks.report.pages import (
    STATIC_DIR,
    documents_page,
    model_page,
    overview_page,
    snapshot_page,
)

__all__ = ["STATIC_DIR", "RowFilter", "documents_page", "model_page", "overview_page",
           "snapshot_page", "snapshot_rows", "trend_points"]
