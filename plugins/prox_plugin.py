"""The prox Airflow plugin: the catalog listener, and the PROX report in the UI.

- ``listeners``: :mod:`prox_listener` records refine tasks' shard attempts and accounting.
- ``fastapi_apps``: :mod:`prox_report` served by the API server at ``/prox/`` (Airflow's
  login required: the UI's session cookie or a Bearer token).
- ``external_views``: a "PROX report" entry in the UI's Browse menu showing that page.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from prox_listener import listener
from prox_report import create_app


class ProxPlugin(AirflowPlugin):
    name = "prox"
    listeners = [listener]
    fastapi_apps = [{"app": create_app(), "url_prefix": "/prox", "name": "PROX report"}]
    external_views = [{"name": "PROX report", "href": "prox/", "destination": "nav",
                       "category": "browse", "url_route": "prox_report"}]
