"""The report's snapshot list: one row per snapshot, sorted by logical date, filterable."""

from __future__ import annotations

from dataclasses import dataclass

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
        status: Catalog status (``planned``, ``refined``, ``gated``, ``quarantined``,
            ``released``); empty for all.
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
    if snap.get("model_version"):
        return snap["model_version"]
    from prox_tasks.corpus import read_status

    status = read_status(snap["output_uri"], 0) if snap.get("num_shards") else None
    return (status or {}).get("model_version")


def snapshot_rows(catalog, with_gate_files: bool = True) -> list[dict]:
    """One row per snapshot, oldest logical date first: catalog status and shard totals, the
    last gate's metrics and thresholds, the model version, the run, release and ``latest``."""
    from prox_tasks.quality import read_gate_result
    from prox_tasks.release import read_latest

    releases = {r["snapshot"]: r for r in catalog.list_releases()}
    models = _model_index(catalog)
    latest_by_root: dict[str, str | None] = {}
    rows = []
    for snap in catalog.list_snapshots():
        shards = catalog.get_shards(snap["name"])
        report = catalog.latest_quality_report(snap["name"], GATE_SUITE)
        metrics = (report or {}).get("stats") or {}
        gate = read_gate_result(snap["output_uri"]) if report and with_gate_files else None
        root = release_root(snap["output_uri"])
        if root not in latest_by_root:
            latest_by_root[root] = (read_latest(root) or {}).get("name")
        done = [s for s in shards if s["status"] == "done"]
        version = _model_version(snap)
        gate_ok = None if report is None else bool(report["success"])
        rows.append({
            "name": snap["name"], "status": snap["status"], "created_at": snap["created_at"],
            "logical_date": snap.get("logical_date") or snap["created_at"][:10],
            "dag_run_id": snap.get("dag_run_id"), "model_version": version,
            "model": models.get(version or ""),
            "output_uri": snap["output_uri"], "docs_planned": snap["docs_planned"],
            "shards": len(shards), "shards_done": len(done),
            "attempts": sum(s["attempts"] or 0 for s in shards),
            "docs_kept": metrics.get("docs_kept", sum(s["docs_kept"] or 0 for s in done)),
            "docs_dropped": metrics.get("docs_dropped", sum(s["docs_dropped"] or 0 for s in done)),
            "docs_quarantined": metrics.get("docs_quarantined",
                                            sum(s["docs_quarantined"] or 0 for s in done)),
            "drop_rate": metrics.get("drop_rate"), "failure_rate": metrics.get("failure_rate"),
            "quarantine_rate": metrics.get("quarantine_rate"),
            "kept_token_ratio": metrics.get("kept_token_ratio"),
            "docs_with_program_errors": metrics.get("docs_with_program_errors"),
            "gate": gate_ok, "gate_label": {None: "not run", True: "passed",
                                            False: "failed"}[gate_ok],
            "thresholds": (gate or {}).get("thresholds") or {},
            "data_docs_uri": (report or {}).get("report_uri"),
            "released": snap["name"] in releases,
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
