"""The PROX report: a FastAPI app inside the Airflow API server, behind Airflow's own auth.

Pages (HTML, rendered by :mod:`prox_tasks.report`): ``/prox/`` every snapshot with trends by
logical date; ``/prox/snapshots/<name>`` one snapshot (gate checks, distributions, shards);
``/prox/snapshots/<name>/documents`` the document viewer; ``/prox/models/<name>/<version>``
a model's metrics. Also ``/prox/api/snapshots`` (JSON), each snapshot's Great Expectations
Data Docs at ``/prox/snapshots/<name>/docs/`` and ``gate.json`` (read through prox storage,
so ``s3://`` snapshots work too), and the pages' assets at ``/prox/static/`` (vendored: the
report never loads anything from another host). A snapshot whose catalog row names a folder
outside the report's roots (``PROX_REPORT_ROOTS``, else ``PROX_CORPUS_ROOT``) is listed but
never read: its pages answer 403 saying why (:mod:`prox_tasks.report.roots`).
"""

from __future__ import annotations

import mimetypes
from contextlib import contextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response


@contextmanager
def _catalog():
    from prox_tasks.catalog import Catalog

    catalog = Catalog()
    try:
        yield catalog
    finally:
        catalog.close()


def _roots(request: Request) -> tuple[str, str]:
    """The report's own root (``/prox`` under any base URL) and the Airflow UI's root."""
    root = request.scope.get("root_path", "").rstrip("/")
    return root, root.removesuffix("/prox")


def _page(html: str | None, what: str) -> HTMLResponse:
    if html is None:
        raise HTTPException(404, f"no {what}")
    return HTMLResponse(html)


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    """A snapshot whose catalog row names a folder outside the report's roots: 403, why."""
    return JSONResponse({"detail": str(exc)}, status_code=403)


def create_app() -> FastAPI:
    from fastapi.staticfiles import StaticFiles
    from prox_auth import NO_PUBLIC_DOCS, login_required, secure

    from prox_tasks.report import STATIC_DIR
    from prox_tasks.report.roots import OutsideRoots

    app = secure(FastAPI(title="PROX report", description="Refined snapshots, gates and releases.",
                         dependencies=login_required(), **NO_PUBLIC_DOCS))
    app.add_exception_handler(OutsideRoots, _refused)
    auth = login_required()
    # the vendored page assets (scripts, styles) are the same for everyone: no login
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", response_class=HTMLResponse, dependencies=auth)
    def report(request: Request, q: str = "", status: str = "", gate: str = "",
               date_from: str = "", date_to: str = "", page: int = 1) -> HTMLResponse:
        from prox_tasks.report import RowFilter, overview_page

        query = request.query_params
        flt = RowFilter(q, status, gate, query.get("from", date_from), query.get("to", date_to))
        with _catalog() as catalog:
            return HTMLResponse(overview_page(catalog, flt, page, *_roots(request)))

    @app.get("/snapshots/{name}", response_class=HTMLResponse, dependencies=auth)
    def snapshot(request: Request, name: str, shards: str = "") -> HTMLResponse:
        from prox_tasks.report import snapshot_page

        with _catalog() as catalog:
            return _page(snapshot_page(catalog, name, *_roots(request), shards == "all"),
                         f"snapshot {name!r}")

    @app.get("/snapshots/{name}/documents", response_class=HTMLResponse, dependencies=auth)
    def documents(request: Request, name: str, shard: int = 0, outcome: str = "all",
                  page: int = 1) -> HTMLResponse:
        from prox_tasks.report import documents_page
        from prox_tasks.report.documents import OUTCOMES, ShardNotAvailable

        if outcome not in OUTCOMES or shard < 0:
            raise HTTPException(400, f"outcome must be one of {OUTCOMES}, shard >= 0")
        with _catalog() as catalog:
            try:
                html = documents_page(catalog, name, shard, outcome, page, *_roots(request))
            except ShardNotAvailable as err:  # the viewer saying why, to pick another shard
                if err.page is None:
                    raise HTTPException(404, str(err)) from None
                return HTMLResponse(err.page, status_code=404)
            return _page(html, f"snapshot {name!r}")

    @app.get("/models/{name}/{version}", response_class=HTMLResponse, dependencies=auth)
    def model(request: Request, name: str, version: str) -> HTMLResponse:
        from prox_tasks.report import model_page

        with _catalog() as catalog:
            return _page(model_page(catalog, name, version, *_roots(request)), "such model")

    @app.get("/api/snapshots", dependencies=auth)
    def snapshots() -> JSONResponse:
        from prox_tasks.report import snapshot_rows

        with _catalog() as catalog:
            return JSONResponse(snapshot_rows(catalog))

    def _snapshot_uri(name: str) -> str:
        from prox_tasks.report.roots import check_output_uri

        with _catalog() as catalog:
            snap = catalog.get_snapshot(name)
        if snap is None:
            raise HTTPException(404, f"no snapshot {name!r}")
        return check_output_uri(snap["output_uri"])

    @app.get("/snapshots/{name}/gate.json", dependencies=auth)
    def gate_json(name: str) -> Response:
        from prox_tasks.quality import read_gate_result
        from prox_tasks.quality.gate import gate_uri
        from prox_tasks.report.roots import served_file

        output_uri = _snapshot_uri(name)
        result = read_gate_result(output_uri) \
            if served_file(gate_uri(output_uri), output_uri) else None  # fmt: skip
        if result is None:
            raise HTTPException(404, "no gate result")
        return JSONResponse(result)

    @app.get("/snapshots/{name}/docs/{path:path}", dependencies=auth)
    def data_docs(name: str, path: str) -> Response:
        from prox_tasks.quality.gate import DOCS_DIR, GATE_DIR
        from prox_tasks.report.roots import served_file
        from prox_tasks.storage import exists, join_uri, read_bytes

        # the site's own address (docs/airflow.md names it): its index, whose links are
        # relative to this folder
        path = path or "index.html"
        output_uri = _snapshot_uri(name)
        uri = join_uri(output_uri, GATE_DIR, DOCS_DIR, path)
        # served_file first: nothing is looked up outside the snapshot (a `..`, a link out)
        if not served_file(uri, output_uri) or not exists(uri):
            raise HTTPException(404, "not found")
        try:
            body = read_bytes(uri)
        except (IsADirectoryError, FileNotFoundError):  # a folder of the Data Docs
            raise HTTPException(404, "not found") from None
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return Response(body, media_type=kind)

    return app
