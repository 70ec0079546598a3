"""Airflow's login in front of the prox plugin's FastAPI app.

- Every route, the OpenAPI schema included, needs Airflow's login (the UI's session cookie
  or a ``Bearer`` token) — :func:`login_required` as the app's dependency.
- FastAPI's own ``/docs`` and ``/redoc`` pages are not served (they would load Swagger's
  scripts from a CDN and describe the API to anyone); ``/openapi.json`` is, behind login.
- A browser that is not logged in (it asks for ``text/html``) is redirected to Airflow's
  login page, which sends it back afterwards; so is one whose session cookie Airflow refuses
  (expired: 401; signed with another key, e.g. before the JWT secret changed: 403). API
  clients get Airflow's JSON 401 or 403 as before.
- The token itself is checked by Airflow (``get_user``: the signature with the API's key,
  then expiry and audience; a revoked token is refused), never by the plugin.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException

#: FastAPI arguments that switch off its unauthenticated documentation routes.
NO_PUBLIC_DOCS = {"docs_url": None, "redoc_url": None, "openapi_url": None}


def login_required() -> list:
    """The dependency list that makes a route (or the whole app) need Airflow's login."""
    from airflow.api_fastapi.core_api.security import get_user

    return [Depends(get_user)]


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _login_refused(request: Request, exc: HTTPException) -> bool:
    """Whether ``exc`` is Airflow refusing the browser's login: no or an expired session
    (401), or a session cookie it cannot verify (403: the plugin itself answers no 403 as an
    HTTPException; a Bearer token is an API client's, which gets the JSON answer)."""
    return exc.status_code == 401 or (exc.status_code == 403
                                      and "authorization" not in request.headers)


async def _login_redirect(request: Request, exc: HTTPException):
    if _wants_html(request) and _login_refused(request, exc):
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)),
                                status_code=303)
    return await http_exception_handler(request, exc)


def secure(app: FastAPI) -> FastAPI:
    """Serve ``/openapi.json`` behind login and send browsers to the login page on 401.

    ``app`` must be built with :data:`NO_PUBLIC_DOCS` and :func:`login_required`.
    """
    @app.get("/openapi.json", include_in_schema=False, dependencies=login_required())
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    app.add_exception_handler(HTTPException, _login_redirect)
    return app
