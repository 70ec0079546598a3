"""The plugin behind the real ``airflow api-server`` (a process on loopback): nothing is
served without Airflow's login, and a browser is sent to the login page instead of a 401."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.dags.services import CORE_SERVICES, airflow_services

pytestmark = pytest.mark.slow
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("login")
    with airflow_services({"PROX_CATALOG_URL": f"sqlite:///{root / 'catalog.sqlite'}"},
                          core=CORE_SERVICES[:1]) as service:
        yield service


@pytest.mark.parametrize("path", ["/prox/", "/prox/api/snapshots", "/prox/openapi.json",
                                  "/prox/snapshots/x/gate.json"])
def test_nothing_without_login(api_server, path):
    r = api_server.request("GET", path, auth=False)
    assert r.status_code == 401, (path, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/prox/docs", "/prox/redoc"])
def test_no_public_api_docs(api_server, path):
    assert api_server.request("GET", path, auth=False).status_code in (401, 404)
    assert api_server.request("GET", path).status_code == 404  # not served at all


def test_browser_not_logged_in_is_sent_to_the_login_page(api_server):
    r = api_server.request("GET", "/prox/", auth=False, headers=HTML)
    assert r.status_code == 303, r.text[:300]
    target = urlsplit(r.headers["location"])
    assert target.path.startswith("/auth/") and "login" in target.path
    assert parse_qs(target.query)["next"] == [f"{api_server.url}/prox/"]
    login = api_server.request("GET", r.headers["location"], auth=False, headers=HTML)
    assert login.status_code == 200 and "<html" in login.text.lower()


def test_logged_in_sees_the_report_and_schema(api_server):
    page = api_server.request("GET", "/prox/", headers=HTML)
    assert page.status_code == 200 and "PROX report" in page.text
    schema = api_server.request("GET", "/prox/openapi.json").json()
    assert "/api/snapshots" in schema["paths"]
