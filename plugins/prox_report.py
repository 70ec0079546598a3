"""The PROX report: a FastAPI app inside the Airflow API server, behind Airflow's own auth.

``/prox/`` shows every snapshot from the catalog — documents, drop and kept-token rates,
program failures, quarantine, gate result, release — with plots over time (inline SVG),
and serves each snapshot's Great Expectations Data Docs at ``/prox/snapshots/<name>/docs/``
(read through prox storage, so ``s3://`` snapshots work too).
"""

from __future__ import annotations

import html
import mimetypes

from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, Response

GATE_SUITE = "prox_gate"


def _get_user():
    from airflow.api_fastapi.core_api.security import get_user

    return get_user


def snapshot_rows(catalog) -> list[dict]:
    """One row per snapshot: catalog status and shard totals, last gate metrics, release."""
    releases = {r["snapshot"]: r for r in catalog.list_releases()}
    rows = []
    for snap in catalog.list_snapshots():
        shards = catalog.get_shards(snap["name"])
        report = catalog.latest_quality_report(snap["name"], GATE_SUITE)
        metrics = (report or {}).get("stats") or {}
        done = [s for s in shards if s["status"] == "done"]
        rows.append({
            "name": snap["name"], "status": snap["status"], "created_at": snap["created_at"],
            "output_uri": snap["output_uri"], "docs_planned": snap["docs_planned"],
            "shards": len(shards), "shards_done": len(done),
            "attempts": sum(s["attempts"] or 0 for s in shards),
            "docs_kept": metrics.get("docs_kept", sum(s["docs_kept"] or 0 for s in done)),
            "docs_dropped": metrics.get("docs_dropped", sum(s["docs_dropped"] or 0 for s in done)),
            "docs_quarantined": metrics.get("docs_quarantined",
                                            sum(s["docs_quarantined"] or 0 for s in done)),
            "drop_rate": metrics.get("drop_rate"), "failure_rate": metrics.get("failure_rate"),
            "kept_token_ratio": metrics.get("kept_token_ratio"),
            "docs_with_program_errors": metrics.get("docs_with_program_errors"),
            "gate": None if report is None else bool(report["success"]),
            "data_docs_uri": (report or {}).get("report_uri"),
            "released": snap["name"] in releases,
        })
    return rows


def svg_chart(title: str, points: list[tuple[str, float | None]], kind: str = "line",
              width: int = 560, height: int = 180) -> str:
    """A small SVG line or bar chart of ``(label, value)`` points (None values skipped)."""
    values = [(label, v) for label, v in points if v is not None]
    pad_l, pad_b, pad_t = 40, 40, 24
    inner_w, inner_h = width - pad_l - 10, height - pad_b - pad_t
    top = max([v for _, v in values] + [1e-9])
    parts = [f'<svg class="chart" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}"><text x="{pad_l}" y="16">'
             f"{html.escape(title)}</text>",
             f'<line x1="{pad_l}" y1="{pad_t + inner_h}" x2="{width - 10}" '
             f'y2="{pad_t + inner_h}" stroke="#888"/>',
             f'<text x="4" y="{pad_t + 8}" font-size="10">{top:.3g}</text>']
    if not values:
        parts.append(f'<text x="{pad_l + 10}" y="{pad_t + inner_h // 2}">no data yet</text>')
    step = inner_w / max(len(values), 1)
    coords = []
    for i, (label, value) in enumerate(values):
        x = pad_l + step * (i + 0.5)
        y = pad_t + inner_h * (1 - value / top)
        coords.append((x, y))
        if kind == "bar":
            parts.append(f'<rect x="{x - step * 0.3:.1f}" y="{y:.1f}" width="{step * 0.6:.1f}" '
                         f'height="{pad_t + inner_h - y:.1f}" fill="#4a7bd0"><title>'
                         f"{html.escape(label)}: {value:.4g}</title></rect>")
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#d04a4a"><title>'
                         f"{html.escape(label)}: {value:.4g}</title></circle>")
        parts.append(f'<text x="{x:.1f}" y="{height - 24}" font-size="9" text-anchor="middle">'
                     f"{html.escape(label[-10:])}</text>")
    if kind == "line" and len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#d04a4a"/>')
    parts.append("</svg>")
    return "".join(parts)


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def render(rows: list[dict]) -> str:
    """The report page."""
    ordered = sorted(rows, key=lambda r: r["created_at"])
    charts = "".join([
        svg_chart("Drop rate over time", [(r["name"], r["drop_rate"]) for r in ordered]),
        svg_chart("Kept-token ratio over time",
                  [(r["name"], r["kept_token_ratio"]) for r in ordered]),
        svg_chart("Documents with program failures",
                  [(r["name"], r["docs_with_program_errors"]) for r in ordered], kind="bar"),
        svg_chart("Quarantined input records",
                  [(r["name"], r["docs_quarantined"]) for r in ordered], kind="bar"),
    ])
    body = []
    for r in reversed(ordered):
        gate = {None: "not run", True: "passed", False: "FAILED"}[r["gate"]]
        name = html.escape(r["name"])
        docs = (f'<a href="snapshots/{name}/docs/index.html">Data Docs</a> · '
                f'<a href="snapshots/{name}/gate.json">gate.json</a>'
                if r["gate"] is not None else "")
        body.append(
            f'<tr class="gate-{gate.split()[0].lower()}"><td>{name}</td>'
            f"<td>{html.escape(r['status'])}</td><td>{r['docs_planned']}</td>"
            f"<td>{r['docs_kept']}</td><td>{r['docs_dropped']}</td>"
            f"<td>{r['docs_quarantined']}</td><td>{_pct(r['drop_rate'])}</td>"
            f"<td>{_pct(r['kept_token_ratio'])}</td><td>{_pct(r['failure_rate'])}</td>"
            f"<td>{r['shards_done']}/{r['shards']} ({r['attempts']} attempts)</td>"
            f"<td>{gate}</td><td>{'yes' if r['released'] else ''}</td><td>{docs}</td></tr>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>PROX report</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}.gate-failed{{background:#fde}}
.chart{{margin:0 1em 1em 0;border:1px solid #eee}}</style></head><body>
<h1>PROX report</h1><p>{len(rows)} snapshots in the catalog.</p><div>{charts}</div>
<table><tr><th>snapshot</th><th>status</th><th>docs</th><th>kept</th><th>dropped</th>
<th>quarantined</th><th>drop rate</th><th>kept tokens</th><th>program failures</th>
<th>shards</th><th>gate</th><th>released</th><th>reports</th></tr>{''.join(body)}</table>
</body></html>"""


def _catalog():
    from prox_tasks.catalog import Catalog

    return Catalog()


def create_app() -> FastAPI:
    app = FastAPI(title="PROX report", description="Refined snapshots, gates and releases.")
    auth = [Depends(_get_user())]

    @app.get("/", response_class=HTMLResponse, dependencies=auth)
    def report() -> str:
        catalog = _catalog()
        try:
            return render(snapshot_rows(catalog))
        finally:
            catalog.close()

    @app.get("/api/snapshots", dependencies=auth)
    def snapshots() -> JSONResponse:
        catalog = _catalog()
        try:
            return JSONResponse(snapshot_rows(catalog))
        finally:
            catalog.close()

    def _snapshot_uri(name: str) -> str:
        catalog = _catalog()
        try:
            snap = catalog.get_snapshot(name)
        finally:
            catalog.close()
        if snap is None:
            raise HTTPException(404, f"no snapshot {name!r}")
        return snap["output_uri"]

    @app.get("/snapshots/{name}/gate.json", dependencies=auth)
    def gate(name: str) -> Response:
        from prox_tasks.quality import read_gate_result

        result = read_gate_result(_snapshot_uri(name))
        if result is None:
            raise HTTPException(404, "no gate result")
        return JSONResponse(result)

    @app.get("/snapshots/{name}/docs/{path:path}", dependencies=auth)
    def data_docs(name: str, path: str) -> Response:
        from prox_tasks.quality.gate import DOCS_DIR, GATE_DIR
        from prox_tasks.storage import exists, join_uri, read_bytes

        if not path or ".." in path.split("/") or path.startswith("/"):
            raise HTTPException(404, "not found")
        uri = join_uri(_snapshot_uri(name), GATE_DIR, DOCS_DIR, path)
        if not exists(uri):
            raise HTTPException(404, "not found")
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return Response(read_bytes(uri), media_type=kind)

    return app
