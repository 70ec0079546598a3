"""Release a refined snapshot that passed its gate.

Order, so that a crash at any point leaves the previous release intact:

1. the gate result beside the snapshot must exist, have passed, and match the manifest;
2. every shard file must still match the checksum in its status record;
3. ``<release_root>/releases/<name>.json`` (the release record) is written;
4. the catalog records the release;
5. ``<release_root>/latest.json`` is replaced last — unless a newer partition is already
   released (a backfill of old crawls never moves ``latest`` backwards).

Releasing the same snapshot again changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from prox_tasks.release.pointer import (
    latest_uri,
    read_json,
    read_latest,
    release_record_uri,
    write_json,
)

log = logging.getLogger(__name__)

GATE_SUITE = "prox_gate"


class ReleaseRefused(RuntimeError):
    """The snapshot may not be released (no passing gate, changed files, conflict)."""


def _sha256(uri: str) -> str:
    from prox_tasks.storage import open_uri

    digest = hashlib.sha256()
    with open_uri(uri, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_releasable(output_uri: str) -> tuple[dict, list[dict]]:
    """The passing gate result and the shard status records of ``output_uri``.

    Raises:
        ReleaseRefused: no gate result, a failed gate, a gate of another plan, a missing
            shard, or a shard file whose checksum changed since it was written.
    """
    from prox_tasks.corpus import load_manifest, read_status
    from prox_tasks.quality import read_gate_result

    gate = read_gate_result(output_uri)
    if gate is None:
        raise ReleaseRefused(f"{output_uri} has no gate result; run the quality gate first")
    if not gate["passed"]:
        raise ReleaseRefused(f"{output_uri} failed its quality gate; not released")
    manifest = load_manifest(output_uri)
    if gate["metrics"].get("manifest_id") != manifest.id:
        raise ReleaseRefused(f"{output_uri}: the gate judged another plan; run it again")
    statuses = []
    for shard in manifest.shards:
        status = read_status(output_uri, shard.index)
        if status is None:
            raise ReleaseRefused(f"{output_uri}: shard {shard.index} is not written")
        if _sha256(status["uri"]) != status["sha256"]:
            raise ReleaseRefused(f"{status['uri']} changed after it was written")
        statuses.append(status)
    return gate, statuses


def release_snapshot(output_uri: str, release_root: str, name: str, *,
                     partition: str | None = None, catalog=None,
                     model: tuple[str, str] | None = None, notes: str | None = None) -> dict:
    """Release the gated snapshot at ``output_uri`` as ``name``; returns the release record.

    Args:
        output_uri: The refined snapshot (with ``manifest.json`` and ``_quality/gate.json``).
        release_root: Where ``latest.json`` and ``releases/`` live.
        name: Release (and catalog snapshot) name, e.g. ``crawl-2026-01-01``.
        partition: Sortable partition key (e.g. the crawl date); ``latest`` moves only
            forward. Default: ``name``.
        catalog: A :class:`prox_tasks.catalog.Catalog` to record the release in, or None.
        model: ``(name, version)`` of the model that wrote the programs, if registered.
        notes: Free text kept with the release.

    Raises:
        ReleaseRefused: see :func:`check_releasable`; or ``name`` was released before from
            another plan.
    """
    gate, statuses = check_releasable(output_uri)
    partition = partition or name
    record_uri = release_record_uri(release_root, name)
    record = read_json(record_uri)
    manifest_id = gate["metrics"]["manifest_id"]
    if record is not None and record["manifest_id"] != manifest_id:
        raise ReleaseRefused(f"release {name} exists for another plan ({record['manifest_id'][:12]})")
    if record is None:
        record = {
            "name": name, "partition": partition, "snapshot_uri": output_uri,
            "manifest_id": manifest_id, "docs": gate["metrics"]["docs_kept"],
            "metrics": gate["metrics"], "gate_report_uri": gate["report_uri"],
            "data_docs_uri": gate["data_docs_uri"],
            "shards": [{"uri": s["uri"], "sha256": s["sha256"], "docs": s["docs_written"]}
                       for s in statuses],
            "model": list(model) if model else None, "notes": notes,
            "released_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_json(record_uri, record)
    if catalog is not None:
        _record_in_catalog(catalog, record, model, notes)
    current = read_latest(release_root)
    if current is None or (current["partition"], current["name"]) <= (partition, name):
        if current != record:
            write_json(latest_uri(release_root), record)
        record = {**record, "latest": True}
    else:
        log.info("release %s recorded; latest stays at newer partition %s",
                 name, current["partition"])
        record = {**record, "latest": False}
    return {**record, "record_uri": record_uri, "latest_uri": latest_uri(release_root)}


def _record_in_catalog(catalog, record: dict, model, notes) -> None:
    name = record["name"]
    if any(r["release"] == name for r in catalog.list_releases()):
        catalog.update_snapshot(name, status="released")  # a re-run re-gated it
        return
    report = catalog.latest_quality_report(name, GATE_SUITE)
    if report is None or not report["success"]:
        raise ReleaseRefused(f"catalog has no passing {GATE_SUITE} report for {name}")
    if model is not None and catalog.get_model(*model) is None:
        model = None  # a model outside the registry (an ad-hoc path) is kept in the record
    catalog.register_release(name, name, record["snapshot_uri"],
                             quality_report_id=report["id"], model=model,
                             docs=record["docs"], notes=notes)
