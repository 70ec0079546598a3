"""A catalog of real refined snapshots and the real Airflow API app serving the report."""

import pytest

from tests.dags.airflow_env import PASSWORD, USER
from tests.dags.conftest import airflow_db  # noqa: F401 (sets the Airflow environment first)

# Out of date order on purpose: the report must sort by logical date, not insertion order.
SNAPSHOTS = (("crawl-2026-03-03", 0), ("crawl-2026-03-01", 0), ("crawl-2026-03-02", 8))


def report_programs(i: int) -> tuple[str, str]:
    """Every 5th document dropped; the rest lose their navigation line, every 3rd has a
    word normalized."""
    if i % 5 == 4:
        return "drop_doc()", ""
    chunk = "remove_lines(line_start=0, line_end=0)"
    if i % 3 == 0:
        chunk += '\nnormalize(source_str="gamma", target_str="GAMMA")'
    return "keep_doc()", chunk


@pytest.fixture(scope="session")
def catalog_with_snapshots(tmp_path_factory):
    """Three snapshots through the real plan → refine → gate → release code (no Airflow):
    two released, one quarantined by its gate."""
    from prox_tasks.pipeline import refresh
    from prox_tasks.quality import GateFailed
    from tests.quality.snapshot_factory import refine_snapshot, write_input

    root = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{root / 'catalog.sqlite'}"
    for name, garbage in SNAPSHOTS:
        src = write_input(root / "in" / f"{name}.jsonl", 20, garbage_lines=garbage)
        snapshot = refresh.resolve_snapshot({"input_uri": str(src), "output_root": str(root),
                                             "snapshot_name": name, "catalog_url": url},
                                            name[-10:], f"scheduled__{name[-10:]}T00:00:00+00:00")
        refresh.plan(snapshot, 10, 1024, "default", None)
        refine_snapshot(str(src), snapshot["output_uri"], programs=report_programs)
        try:
            refresh.gate(snapshot, {})
            refresh.release(snapshot)
        except GateFailed:
            assert garbage
    return url


@pytest.fixture(autouse=True)
def _report_catalog(request, monkeypatch):
    """The report reads ``PROX_CATALOG_URL``, which every test starts without."""
    if "catalog_with_snapshots" in request.fixturenames or "report_app" in request.fixturenames \
            or "client" in request.fixturenames:
        monkeypatch.setenv("PROX_CATALOG_URL", request.getfixturevalue("catalog_with_snapshots"))


@pytest.fixture(scope="session")
def report_app(airflow_db, catalog_with_snapshots):  # noqa: F811
    from airflow.api_fastapi.app import create_app

    return create_app()


@pytest.fixture(scope="session")
def client(report_app):
    from fastapi.testclient import TestClient

    with TestClient(report_app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def token(client):
    r = client.post("/auth/token", json={"username": USER, "password": PASSWORD})
    assert r.status_code in (200, 201), r.text
    return r.json()["access_token"]
