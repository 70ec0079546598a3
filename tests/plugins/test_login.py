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


def _signed(claims: dict, key: str, header: dict, algorithm: str = "HS512") -> str:
    import jwt

    return jwt.encode(claims, key, algorithm=algorithm, headers=header)


def _tokens(api_server) -> dict[str, str]:
    """Login tokens as the API server checks them: one it issued, the same claims re-signed
    (still valid: the check is of the claims and key, not of who signed), and the ways one
    goes wrong — expired, signed with another key (a forged one, or one issued before the
    JWT secret was rotated), unsigned (``alg: none``), or an Execution API task token signed
    with the same secret (a worker's, for another audience)."""
    import base64
    import json
    import os
    import time

    import jwt

    issued = api_server.token()
    header = jwt.get_unverified_header(issued)
    claims = jwt.decode(issued, options={"verify_signature": False})
    secret = os.environ["AIRFLOW__API_AUTH__JWT_SECRET"]
    now = int(time.time())
    body, none_header = (base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
                         .decode() for part in ({**claims, "exp": now + 600},
                                                {"alg": "none", "typ": "JWT"}))
    return {
        "issued": issued,
        "re-signed": _signed({**claims, "iat": now, "nbf": now, "exp": now + 600}, secret,
                             header),
        "expired": _signed({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600},
                           secret, header),
        "forged": _signed({**claims, "exp": now + 600}, secret + "-not-the-key", header),
        "unsigned": f"{none_header}.{body}.",
        "task token": _signed({**claims, "exp": now + 600, "aud": "urn:airflow.apache.org:task",
                               "sub": "0190c9d4-0000-7000-8000-000000000000"}, secret, header),
        "garbled": issued[:-6] + ("AAAAAA" if not issued.endswith("AAAAAA") else "BBBBBB"),
    }


VALID = ("issued", "re-signed")


def test_only_a_valid_login_token_is_accepted(api_server):
    """The plugin takes Airflow's own check of the login token (signature with the API's
    key first, then expiry and audience): a valid one reads the report, an expired, forged,
    unsigned, tampered or task token does not — as a Bearer token or as the UI's cookie."""
    for kind, token in _tokens(api_server).items():
        bearer = api_server.request("GET", "/prox/api/snapshots", auth=False,
                                    headers={"Authorization": f"Bearer {token}"})
        cookie = api_server.request("GET", "/prox/api/snapshots", auth=False,
                                    cookies={"_token": token})
        for how, r in (("bearer", bearer), ("cookie", cookie)):
            if kind in VALID:
                assert r.status_code == 200 and r.json() == [], (kind, how, r.text[:200])
            else:
                assert r.status_code in (401, 403), (kind, how, r.status_code, r.text[:200])
                assert r.headers["content-type"].startswith("application/json")


def test_a_browser_whose_login_is_refused_is_sent_to_the_login_page(api_server):
    """An engineer's browser holding a cookie the API server refuses — expired overnight, or
    signed before the JWT secret changed (``airflow standalone`` restarted without one set) —
    is sent to the login page, as one with no cookie is, not shown a JSON error."""
    for kind, token in _tokens(api_server).items():
        r = api_server.request("GET", "/prox/", auth=False, headers=HTML,
                               cookies={"_token": token})
        if kind in VALID:
            assert r.status_code == 200 and "PROX report" in r.text, (kind, r.text[:200])
        else:
            assert r.status_code == 303, (kind, r.status_code, r.text[:200])
            assert "login" in urlsplit(r.headers["location"]).path, kind
