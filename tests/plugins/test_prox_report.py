"""The report view inside a real Airflow API app (in-process), behind Airflow's auth."""

from __future__ import annotations

import pytest

from tests.dags.airflow_env import PASSWORD, USER


@pytest.fixture(scope="module")
def catalog_with_snapshots(tmp_path_factory):
    """Two snapshots through the real plan → refine → gate → release code (no Airflow):
    one released, one quarantined by its gate."""
    from prox_tasks.pipeline import refresh
    from prox_tasks.quality import GateFailed
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    root = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{root / 'catalog.sqlite'}"
    for name, garbage in (("crawl-2026-03-01", 0), ("crawl-2026-03-02", 8)):
        src = write_input(root / "in" / f"{name}.jsonl", 20, garbage_lines=garbage)
        snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(root),
                                             "snapshot_name": name, "catalog_url": url},
                                            name[-10:])
        refresh.plan(snapshot, 10, 1024, "unused", None)
        refine_snapshot(str(src), snapshot["output_uri"])
        try:
            refresh.gate(snapshot, {})
            refresh.release(snapshot)
        except GateFailed:
            assert garbage
    return url


@pytest.fixture(scope="module")
def client(airflow_db, catalog_with_snapshots):
    import os

    from fastapi.testclient import TestClient

    os.environ["PROX_CATALOG_URL"] = catalog_with_snapshots
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client
    os.environ.pop("PROX_CATALOG_URL")


@pytest.fixture(scope="module")
def token(client):
    r = client.post("/auth/token", json={"username": USER, "password": PASSWORD})
    assert r.status_code in (200, 201), r.text
    return r.json()["access_token"]


def test_report_requires_airflow_login(client):
    assert client.get("/prox/").status_code == 401
    assert client.get("/prox/api/snapshots").status_code == 401
    assert client.get("/prox/", headers={"Authorization": "Bearer forged"}).status_code in (401, 403)


def test_report_shows_snapshots_plots_and_gate(client, token):
    page = client.get("/prox/", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    text = page.text
    assert "crawl-2026-03-01" in text and "crawl-2026-03-02" in text
    assert text.count("<svg") == 4 and "Drop rate over time" in text
    assert "FAILED" in text and "passed" in text
    rows = {r["name"]: r for r in client.get(
        "/prox/api/snapshots", headers={"Authorization": f"Bearer {token}"}).json()}
    assert rows["crawl-2026-03-01"]["released"] and rows["crawl-2026-03-01"]["gate"] is True
    assert rows["crawl-2026-03-02"]["status"] == "quarantined"
    assert rows["crawl-2026-03-02"]["docs_quarantined"] == 8


def test_data_docs_served_behind_auth(client, token):
    url = "/prox/snapshots/crawl-2026-03-02/docs/index.html"
    assert client.get(url).status_code == 401
    page = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and "prox_documents" in page.text
    gate = client.get("/prox/snapshots/crawl-2026-03-02/gate.json",
                      headers={"Authorization": f"Bearer {token}"}).json()
    assert gate["passed"] is False
    assert client.get("/prox/snapshots/crawl-2026-03-02/docs/../../manifest.json",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_plugin_registers_listener_view_and_app(airflow_db):
    from airflow import plugins_manager

    assert plugins_manager.get_import_errors() == {}
    plugins, _ = plugins_manager._get_plugins()
    prox = {p.name: p for p in plugins}["prox"]
    assert prox.fastapi_apps[0]["url_prefix"] == "/prox"
    assert prox.external_views[0]["href"] == "prox/"
    assert type(prox.listeners[0]).__name__ == "ProxListener"
