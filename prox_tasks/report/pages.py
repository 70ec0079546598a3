"""The report's HTML pages (Jinja2 templates in ``templates/``, assets in ``static/``).

Every function takes an open catalog and the URL prefixes: ``root``, where the report is
served (``/prox``), and ``ui``, the Airflow UI's root (links to DAG runs and tasks).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from prox_tasks.report import charts
from prox_tasks.report.cache import read_json
from prox_tasks.report.overview import RowFilter, paginate, snapshot_rows, trend_points
from prox_tasks.wording import count

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
DAG_ID = "prox_refine_snapshot"
DROP_REASONS = {"doc_program": "the document-level program dropped it",
                "too_little_left": "the edits left too little text",
                "low_quality": "the document-quality decision dropped it",
                "empty": "the input was blank"}
DROP_LABELS = {"doc_program": "model dropped it", "too_little_left": "too little left",
               "low_quality": "low quality", "empty": "blank input"}
TRENDS = (("drop_rate", "Drop rate", "dropped documents (% of written)"),
          ("kept_token_ratio", "Kept-token ratio", "kept words (% of input words)"),
          ("failure_rate", "Program failures", "documents with errors (%)"),
          ("quarantine_rate", "Quarantined input", "quarantined records (% of input)"))
#: Shard rows a snapshot's page shows unless asked for all (2,000 rows took a browser 1.5 s).
MAX_SHARD_ROWS = 200


#: Characters a browser shows as nothing or that reorder the text around them (controls, bidi
#: overrides and isolates, zero-width marks, BOM): the viewer shows each as a marker, so a
#: reviewer sees what the corpus holds ("Price: \u202e99.1$" is not "Price: $1.99").
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e"
                     "\u2060-\u2064\u2066-\u2069\ufeff]")


def visible(text: str):
    """``text`` escaped for HTML, hidden characters as ``⟨U+202E⟩`` markers."""
    from markupsafe import Markup, escape

    if text.isprintable() or _HIDDEN.search(text) is None:  # nearly every line: as autoescape
        return escape(text)
    parts, start = [], 0
    for match in _HIDDEN.finditer(text):
        parts += [escape(text[start:match.start()]),
                  Markup(f'<span class="ctl">⟨U+{ord(match.group()):04X}⟩</span>')]
        start = match.end()
    parts.append(escape(text[start:]))
    return Markup("").join(parts)


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["visible"] = visible
    env.globals["count"] = count  # "1 document", "2 documents": one wording for the project
    return env


def _render(template: str, **context) -> str:
    context.setdefault("charts", [])
    context.setdefault("dag_id", DAG_ID)
    return _environment().get_template(template).render(**context)


def _query(params: dict):
    def build(**changes) -> str:
        return urlencode({k: v for k, v in {**params, **changes}.items() if v not in ("", None)})
    return build


def overview_page(catalog, flt: RowFilter, page: int, root: str, ui: str,
                  per_page: int = 25) -> str:
    """Every snapshot: trends over logical dates with the gate's thresholds, a table."""
    rows = snapshot_rows(catalog)
    shown = [r for r in rows if flt.keep(r)]
    points = trend_points(shown)
    charted = {p["metric"] for p in points}
    chart_list = [(f"trend-{metric}", charts.trend(points, metric, title, unit))
                  for metric, title, unit in TRENDS if metric in charted]
    # a trend without a point is said in words: an empty frame read as a chart that broke
    uncharted = [(f"trend-{metric}", title) for metric, title, _ in TRENDS
                 if metric not in charted]
    latest = next((r for r in rows if r["latest"]), None)
    table, pages = paginate(list(reversed(shown)), page, per_page)
    query = _query({"q": flt.text, "status": flt.status, "gate": flt.gate,
                    "from": flt.date_from, "to": flt.date_to})
    return _render("overview.html", root=root, ui=ui, rows=table, total=len(rows),
                   shown=len(shown), latest=latest, f=flt, charts=chart_list,
                   uncharted=uncharted,
                   statuses=sorted({r["status"] for r in rows}), page=min(max(page, 1), pages),
                   pages=pages, query=query)


def _snapshot_row(catalog, name: str) -> dict | None:
    """The snapshot's row (None: no such snapshot).

    Raises:
        prox_tasks.report.roots.OutsideRoots: Its folder is not the report's to read.
    """
    from prox_tasks.report.roots import OutsideRoots

    rows = snapshot_rows(catalog, name=name)  # this snapshot's row only
    if rows and rows[0]["refused"]:
        raise OutsideRoots(rows[0]["refused"])
    return rows[0] if rows else None


def _shards_shown(shards: list[dict], all_shards: bool) -> list[dict]:
    """At most :data:`MAX_SHARD_ROWS` shards unless ``all_shards``: those an on-call
    engineer looks for first (not done, with an error or quarantined input), then the rest,
    in index order."""
    if all_shards or len(shards) <= MAX_SHARD_ROWS:
        return shards
    first = [s for s in shards if s["status"] != "done" or s.get("error")
             or s.get("docs_quarantined")]  # fmt: skip
    chosen = {s["shard_index"] for s in first[:MAX_SHARD_ROWS]}
    rest = [s["shard_index"] for s in shards if s["shard_index"] not in chosen]
    chosen.update(rest[:MAX_SHARD_ROWS - len(chosen)])  # filled up in index order
    return [s for s in shards if s["shard_index"] in chosen]


def snapshot_page(catalog, name: str, root: str, ui: str,
                  all_shards: bool = False) -> str | None:
    """One snapshot: gate checks observed against thresholds, distributions, shards (at
    most :data:`MAX_SHARD_ROWS` unless ``all_shards``)."""
    from prox_tasks.catalog.recorded import unrecorded
    from prox_tasks.quality.gate import gate_uri
    from prox_tasks.quality.observed import observed_text, threshold_text
    from prox_tasks.report.distributions import Distributions, cached_distributions
    from prox_tasks.report.documents import folder_gone, unreadable_notice
    from prox_tasks.report.roots import NotServed

    row = _snapshot_row(catalog, name)
    if row is None:
        return None
    gate = read_json(gate_uri(row["output_uri"]), row["output_uri"]) or {}
    checks = [{**c, "observed": observed_text(c), "threshold": threshold_text(c)}
              for c in gate.get("checks", [])]
    checks.sort(key=lambda c: c["success"])
    try:
        dist = cached_distributions(row["output_uri"], row["shards"],
                                    row["docs_kept"] + row["docs_dropped"])
        notice = unreadable_notice(dist.unreadable)
    except FileNotFoundError as err:  # the folder is gone: the catalog's row still says a lot
        dist = Distributions(docs_read=0, docs_total=row["docs_kept"] + row["docs_dropped"])
        notice = str(err) if isinstance(err, NotServed) else folder_gone(row["output_uri"])
    chart_list = [
        ("dist-ratio", charts.histogram(dist.kept_token_ratio, "Kept-token ratio per document",
                                        "kept words / input words", "kept documents", True)),
        ("dist-removed", charts.columns(dist.removed_lines, "Removed lines per document",
                                        "lines removed", "kept documents")),
    ]
    if dist.drop_reasons:  # else said in words: an empty chart read as a chart that broke
        chart_list.append(("dist-drops", charts.bars({DROP_LABELS.get(k, k): v
                                                      for k, v in dist.drop_reasons.items()},
                                                     "Drop reasons", "dropped documents")))
    shards = []
    for shard in catalog.get_shards(name):
        reasons, notices = (json.loads(v or "{}") if isinstance(v, str) else v or {}
                            for v in (shard.get("quarantine_reasons"), shard.get("input_notices")))
        # input files read though not as named lost no record: listed apart from the losses
        shards.append({**shard, "unrecorded": unrecorded(shard), "reasons": ", ".join(
            [f"{k}: {v}" for k, v in reasons.items()]
            + [f"{k} (files, nothing lost): {v}" for k, v in notices.items()])})
    return _render("snapshot.html", root=root, ui=ui, r=row, checks=checks, d=dist,
                   unreadable=notice, charts=chart_list,
                   shards=_shards_shown(shards, all_shards), shards_total=len(shards))


def documents_page(catalog, name: str, shard: int, outcome: str, page: int, root: str,
                   ui: str, per_page: int = 10) -> str | None:
    """The document viewer over one shard of a snapshot.

    Raises:
        prox_tasks.report.documents.ShardNotAvailable: The shard cannot be shown; its
            ``page`` is the viewer saying why, with the shard list to pick another.
    """
    from prox_tasks.report.distributions import status_versions, written_shards
    from prox_tasks.report.documents import OUTCOMES, ShardNotAvailable, document_views

    row = _snapshot_row(catalog, name)
    if row is None:
        return None
    try:  # the shard list marks those not written yet: no documents to pick there
        written = written_shards(status_versions(row["output_uri"]), row["shards"])
    except FileNotFoundError:  # the folder is gone: the viewer says so
        written = frozenset()
    context = dict(root=root, ui=ui, r=row, shard=shard, num_shards=max(row["shards"], 1),
                   written=written,
                   outcome=outcome, outcomes=OUTCOMES, reasons=DROP_REASONS,
                   query=_query({"shard": shard, "outcome": outcome}))
    try:
        docs, matched, notice = document_views(row["output_uri"], shard, outcome, page,
                                               per_page)
    except ShardNotAvailable as err:  # a page, not a bare error: another shard is one pick away
        err.page = _render("documents.html", unavailable=str(err), docs=[], matched=0,
                           notice=None, page=1, pages=1, **context)
        raise
    pages = max(1, -(-matched // per_page))
    return _render("documents.html", docs=docs, matched=matched, notice=notice,
                   page=min(max(page, 1), pages), pages=pages, **context)


def model_page(catalog, name: str, version: str, root: str, ui: str) -> str | None:
    """A registered model's metrics and the snapshots it refined."""
    model = catalog.get_model(name, version)
    if model is None:
        return None
    metrics = model.get("metrics") or {}
    if isinstance(metrics, str):
        metrics = json.loads(metrics)
    flat = sorted(_flatten(metrics))
    refined = [r["name"] for r in snapshot_rows(catalog, with_gate_files=False)
               if r["model"] == (name, version)]
    return _render("model.html", root=root, ui=ui, m=model, metrics=flat, snapshots=refined)


def _flatten(value, prefix: str = ""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value
