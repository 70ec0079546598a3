"""The report's snapshot list: one row per snapshot, sorted by logical date, filterable."""

from __future__ import annotations

import json
from dataclasses import dataclass

from prox_tasks.report.cache import read_json
from prox_tasks.report.roots import refusal

GATE_SUITE = "prox_gate"
#: Gate thresholds drawn beside each trend (metric -> (low, high) threshold names).
TREND_THRESHOLDS = {
    "drop_rate": ("min_drop_rate", "max_drop_rate"),
    "kept_token_ratio": ("min_kept_token_ratio", "max_kept_token_ratio"),
    "failure_rate": (None, "max_failure_rate"),
    "quarantine_rate": (None, "max_quarantine_rate"),
}


@dataclass(frozen=True)
class RowFilter:
    """Which snapshots to list.

    Attributes:
        text: Part of the snapshot name.
        status: Catalog status (``planned``, ``failed``, ``refined``, ``gated``,
            ``quarantined``, ``released``); empty for all.
        gate: ``passed``, ``failed``, ``not run``; empty for all.
        date_from: First logical date (``YYYY-MM-DD``), inclusive.
        date_to: Last logical date, inclusive.
    """

    text: str = ""
    status: str = ""
    gate: str = ""
    date_from: str = ""
    date_to: str = ""

    def keep(self, row: dict) -> bool:
        day = row["logical_date"] or ""
        return ((not self.text or self.text.lower() in row["name"].lower())
                and (not self.status or row["status"] == self.status)
                and (not self.gate or row["gate_label"] == self.gate)
                and (not self.date_from or day >= self.date_from)
                and (not self.date_to or day[:10] <= self.date_to))


def release_root(output_uri: str) -> str:
    """The release root of a snapshot written to ``<root>/snapshots/<name>``."""
    head, sep, _ = output_uri.rstrip("/").rpartition("/snapshots/")
    return head if sep else output_uri


def _model_index(catalog) -> dict[str, tuple[str, str]]:
    index = {}
    for model in catalog.list_models():
        for key in (model["version"], f"{model['name']}@{model['version']}",
                    f"{model['name']}:{model['version']}", f"{model['name']}-{model['version']}"):
            index[key] = (model["name"], model["version"])
    return index


def _model_version(snap: dict) -> str | None:
    """The catalog's model version, else the one shard 0's status file names (snapshots
    booked before the catalog recorded it)."""
    if snap.get("model_version"):
        return snap["model_version"]
    if not snap.get("num_shards"):
        return None
    from prox_tasks.corpus.manifest import status_uri

    status = read_json(status_uri(snap["output_uri"], 0), snap["output_uri"]) or {}
    return status.get("model_version")


def _stats(value) -> dict:
    if isinstance(value, str):
        return json.loads(value or "{}") or {}
    return value or {}


def snapshot_rows(catalog, with_gate_files: bool = True, name: str | None = None) -> list[dict]:
    """One row per snapshot (or only ``name``), oldest logical date first: catalog status (and
    ``error``, why its last refine failed) and
    shard totals, the last gate's metrics and thresholds, the model version, the run that
    booked its plan last (``dag_run_id``: a rerun of the date overwrites it), release (and
    ``released_by_run_id``, the run that released it; None for ``prox release`` and releases
    booked before the catalog kept it; ``released_by``, who released it as
    :func:`prox_tasks.release.origin.of_release` reads it, and ``released_at``) and
    ``latest``.

    The catalog answers in three queries whatever the number of snapshots
    (``snapshot_summary``, releases, models); files are read only for the gate thresholds
    (``with_gate_files``), the ``latest.json`` of each release root and the model of
    snapshots the catalog has none for, each once per version of the file
    (:mod:`prox_tasks.report.cache`), and never for a snapshot outside the report's roots
    (its row's ``refused`` says why: :mod:`prox_tasks.report.roots`).
    """
    from prox_tasks.quality.gate import gate_uri
    from prox_tasks.release.origin import of_release
    from prox_tasks.release.pointer import latest_uri

    summaries = catalog.report("snapshot_summary", suite=GATE_SUITE, snapshot=name)
    # the release of each snapshot, with the run that released it (None: `prox release`, or
    # booked before the catalog kept it): the snapshot's dag_run_id is the run that booked
    # its plan last
    released = {r["snapshot"]: r for r in catalog.list_releases()}
    models = _model_index(catalog) if summaries else {}
    latest_by_root: dict[str, str | None] = {}
    rows = []
    for snap in summaries:
        metrics = _stats(snap["gate_stats"])
        gate_ok = None if snap["gate_success"] is None else bool(snap["gate_success"])
        refused = refusal(snap["output_uri"])  # listed from the catalog alone: no file read
        gate = read_json(gate_uri(snap["output_uri"]), snap["output_uri"]) \
            if gate_ok is not None and with_gate_files and not refused else None  # fmt: skip
        root = None if refused else release_root(snap["output_uri"])
        if root not in latest_by_root:
            latest_by_root[root] = root and (read_json(latest_uri(root), root) or {}).get("name")
        version = snap.get("model_version") if refused else _model_version(snap)
        release = released.get(snap["name"])
        by = release and of_release(release.get("released_by"), release.get("dag_run_id"))
        rows.append({
            "name": snap["name"], "status": snap["status"], "error": snap.get("error"),
            "refused": refused,
            "created_at": snap["created_at"],
            # an undated run is listed (and charted) by the day it was created; `dated` says so
            "logical_date": snap.get("logical_date") or snap["created_at"][:10],
            "dated": bool(snap.get("logical_date")),
            "dag_run_id": snap.get("dag_run_id"), "model_version": version,
            "model": models.get(version or ""),
            "output_uri": snap["output_uri"], "docs_planned": snap["docs_planned"],
            "shards": snap["shards"], "shards_done": snap["shards_done"] or 0,
            "attempts": snap["attempts"] or 0,
            "docs_kept": metrics.get("docs_kept", snap["docs_kept"]),
            "docs_dropped": metrics.get("docs_dropped", snap["docs_dropped"]),
            "docs_quarantined": metrics.get("docs_quarantined", snap["docs_quarantined"]),
            "drop_rate": metrics.get("drop_rate"), "failure_rate": metrics.get("failure_rate"),
            "quarantine_rate": metrics.get("quarantine_rate"),
            "kept_token_ratio": metrics.get("kept_token_ratio"),
            "docs_with_program_errors": metrics.get("docs_with_program_errors"),
            "normalizations_unmatched": metrics.get("normalizations_unmatched"),
            "gate": gate_ok, "gate_label": {None: "not run", True: "passed",
                                            False: "failed"}[gate_ok],
            "thresholds": (gate or {}).get("thresholds") or {},
            "data_docs_uri": snap["gate_report_uri"],
            "released": release is not None,
            "released_by_run_id": (by or {}).get("run_id"), "released_by": by,
            "released_at": (release or {}).get("created_at"),
            "latest": latest_by_root[root] == snap["name"],
        })
    rows.sort(key=lambda r: (r["logical_date"], r["created_at"], r["name"]))
    return rows


def trend_points(rows: list[dict]) -> list[dict]:
    """Long-form points for the trend charts: one per snapshot, metric and series (the value,
    and the gate's low/high thresholds in force for that snapshot)."""
    points = []
    for row in rows:
        for metric, (low, high) in TREND_THRESHOLDS.items():
            if row.get(metric) is None:
                continue
            base = {"date": row["logical_date"][:10], "snapshot": row["name"], "metric": metric,
                    "gate": row["gate_label"], "latest": row["latest"]}
            points.append({**base, "series": "value", "value": row[metric]})
            for bound, key in (("minimum", low), ("maximum", high)):
                if key and row["thresholds"].get(key) is not None:
                    points.append({**base, "series": f"gate {bound}",
                                   "value": row["thresholds"][key]})
    return points


def paginate(items: list, page: int, per_page: int) -> tuple[list, int]:
    """One page of ``items`` (pages count from 1) and the number of pages."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 1), pages)
    return items[(page - 1) * per_page: page * per_page], pages
