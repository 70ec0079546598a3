"""The prox Airflow plugin: the log-masking listener, and the PROX report in the UI.

- ``listeners``: :mod:`prox_listener` hides the worker's secrets in prox tasks' logs.
- ``fastapi_apps``: :mod:`prox_report` served by the API server at ``/prox/``; every route
  needs Airflow's login (the UI's session cookie or a Bearer token) and a browser that is
  not logged in is sent to the login page (:mod:`prox_auth`).
- ``external_views``: a "PROX report" entry in the UI's Browse menu showing that page.
- ``global_operator_extra_links``: :mod:`prox_links`, the refine DAG's ``quality_gate`` and
  ``release`` tasks link to the snapshot's report page, Data Docs and ``gate.json``.

Shards are booked in the catalog by the refine task itself
(:mod:`prox_tasks.refine.booking`), not by a listener.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from prox_links import LINKS
from prox_listener import listener
from prox_report import create_app


class ProxPlugin(AirflowPlugin):
    name = "prox"
    listeners = [listener]
    global_operator_extra_links = LINKS
    fastapi_apps = [{"app": create_app(), "url_prefix": "/prox", "name": "PROX report"}]
    external_views = [{"name": "PROX report", "href": "prox/", "destination": "nav",
                       "category": "browse", "url_route": "prox_report"}]
