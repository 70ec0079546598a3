"""The prox Airflow plugin: the catalog listener and the report view in the UI."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from prox_listener import listener


class ProxPlugin(AirflowPlugin):
    name = "prox"
    listeners = [listener]
