"""Release a refined snapshot that passed its gate.

Order, so that a crash at any point leaves the previous release intact:

1. the gate result beside the snapshot must exist, have passed, and match the manifest;
2. every shard file must still match the checksum in its status record;
3. the output folder is marked released (``_released.json``: its files may not change from
   now on), then ``<release_root>/releases/<name>.json`` (the release record) is written; a
   run that finds the name released from another plan takes its mark back;
4. the catalog records the release;
5. ``<release_root>/latest.json`` is replaced last when the release is at least as new as
   the current one (:func:`moves_latest`).

Which release is ``latest`` (the order): a release's ``partition`` is the crawl date it
covers (``YYYY-MM-DD``, the run's logical date) or None (a manual run without a logical
date, e.g. a ``hotfix-1``). Dated releases are ordered by date; on the same date the one
released last wins. An undated release never replaces a dated ``latest`` — it is recorded
(``releases/<name>.json``, the catalog) and consumers can read it there — so a manual run
never blocks the nightly runs after it; it becomes ``latest`` only while no dated release
exists. A backfill of old crawls never moves ``latest`` backwards. To publish a manual run
as ``latest``, trigger it with a logical date.

Releasing the same snapshot again changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, date, datetime

from prox_tasks.release.pointer import (
    latest_uri,
    release_record_uri,
    replace_latest,
    write_record_once,
)
from prox_tasks.storage import read_json
from prox_tasks.storage.ahead import READERS, read_ahead

log = logging.getLogger(__name__)

GATE_SUITE = "prox_gate"
#: Shards whose record and file a release reads at once (the gate reads as many).
RELEASE_READERS = READERS


class ReleaseRefused(RuntimeError):
    """The snapshot may not be released (no passing gate, changed files, conflict)."""


def check_partition(partition: str | None) -> str | None:
    """``partition`` when it is None or a date ``YYYY-MM-DD``.

    Raises:
        ValueError: any other value (a partition orders releases by date).
    """
    if partition is None:
        return None
    try:
        if date.fromisoformat(partition).isoformat() == partition:
            return partition
    except (TypeError, ValueError):
        pass
    raise ValueError(f"invalid partition {partition!r}: a crawl date YYYY-MM-DD, or none for "
                     "an undated (manual) release")


def _dated(partition) -> str | None:
    """The date of a stored partition; None for undated ones (and for records written
    before partitions were dates, e.g. ``"hotfix-1"``)."""
    try:
        return check_partition(partition)
    except ValueError:
        return None


def moves_latest(current: dict | None, partition: str | None) -> bool:
    """Whether a release of ``partition`` replaces ``current`` as ``latest`` (module docs):
    dated by date (same date: the newer release), undated only over undated."""
    if current is None:
        return True
    now_dated = _dated(current.get("partition"))
    if partition is None:
        return now_dated is None
    return now_dated is None or partition >= now_dated


def model_of(statuses: list[dict]) -> str | None:
    """The model version the shards were refined with (their status records); several
    versions (shards refined at different times) are joined with ``,`` in sorted order."""
    versions = sorted({str(s["model_version"]) for s in statuses if s.get("model_version")})
    return ",".join(versions) or None


def _sha256(uri: str) -> str:
    from prox_tasks.storage import open_uri

    digest = hashlib.sha256()
    with open_uri(uri, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _checked_status(output_uri: str, index: int, manifest_id: str, verify_files: bool) -> dict:
    """Shard ``index``'s status record, its file's SHA-256 and its quarantine file's size
    checked (``verify_files``).

    Raises:
        ReleaseRefused: the shard is not written, or its file or quarantine file is
            missing or changed.
    """
    from prox_tasks.corpus import read_status

    status = read_status(output_uri, index, manifest_id, verify=False)
    if status is None:
        raise ReleaseRefused(f"{output_uri}: shard {index} is not written; refine "
                             "it (prox refine, or the DAG's refine_shard task), then gate "
                             "the snapshot again")
    if verify_files:
        try:
            digest = _sha256(status["uri"])
        except FileNotFoundError:
            raise ReleaseRefused(f"{status['uri']} is missing; refine the snapshot "
                                 "again") from None
        if digest != status["sha256"]:
            raise ReleaseRefused(f"{status['uri']} changed after it was written; refine the "
                                 "snapshot again (prox refine --force, or the DAG's "
                                 "reprocess Param), then gate it again")
        from prox_tasks.corpus.writer import quarantine_damage

        # the quarantine holds the records of the input the shard left out: cut short or
        # replaced since the gate, those records are lost, as the gate itself judges
        if damage := quarantine_damage(status):
            raise ReleaseRefused(f"{damage}; the records of the input it quarantined are "
                                 "lost: refine the snapshot again (prox refine --force, or "
                                 "the DAG's reprocess Param), then gate it again")
    return status


def check_releasable(output_uri: str, verify_files: bool = True) -> tuple[dict, list[dict]]:
    """The passing gate result and the shard status records of ``output_uri``;
    ``verify_files``: each shard file is read whole to check its SHA-256.

    Raises:
        ReleaseRefused: no gate result, a failed gate, a gate of another plan, a missing
            shard, a shard file whose checksum changed since it was written, a quarantine
            file missing or of another size than written, or a shard
            written again since the gate judged it.
    """
    from prox_tasks.corpus import load_manifest
    from prox_tasks.quality import read_gate_result

    gate = read_gate_result(output_uri)
    if gate is None:
        from prox_tasks.corpus.manifest import MANIFEST_NAME
        from prox_tasks.storage import exists, join_uri

        if not exists(join_uri(output_uri, MANIFEST_NAME)):
            raise ReleaseRefused(f"{output_uri} is no snapshot folder (no {MANIFEST_NAME}); "
                                 "check the path")
        raise ReleaseRefused(f"{output_uri} has no gate result; run the quality gate first")
    if not gate["passed"]:
        checks = gate.get("checks") or []
        failed = sum(not c.get("success", True) for c in checks)
        raise ReleaseRefused(f"{output_uri} failed its quality gate ({failed} of {len(checks)} "
                             f"checks, listed in {gate.get('report_uri') or 'gate.json'}); not "
                             "released: fix what they name, then gate it again")
    manifest = load_manifest(output_uri)
    if gate["metrics"].get("manifest_id") != manifest.id:
        raise ReleaseRefused(f"{output_uri}: the gate judged another plan; run it again")
    judged_checksums = gate.get("shard_checksums") or {}

    def checked(index: int) -> dict:
        status = _checked_status(output_uri, index, manifest.id, verify_files)
        # a gate result written before the gate kept checksums is trusted as before
        if judged_checksums.get(str(index), status["sha256"]) != status["sha256"]:
            raise ReleaseRefused(f"{output_uri}: shard {index} was refined again after the "
                                 "gate judged it; run the quality gate again")
        return status

    # a shard's record and file are read while others are: on S3 each is a request or more
    # that waits on the network, one shard after another 500 shards took 32 s on moto
    # against 3 s on local disk (bench/nightly_scale.py). Taken in order, so that a refusal
    # names the first shard in order, as one at a time did, and stops the reads soon.
    statuses = list(read_ahead(checked, (shard.index for shard in manifest.shards),
                               RELEASE_READERS))
    return gate, statuses


def release_snapshot(output_uri: str, release_root: str, name: str, *,
                     partition: str | None = None, catalog=None,
                     notes: str | None = None, released_by: dict | None = None,
                     option: str = "--name") -> dict:
    """Release the gated snapshot at ``output_uri`` as ``name``; returns the release record.

    Args:
        output_uri: The refined snapshot (with ``manifest.json`` and ``_quality/gate.json``).
        release_root: Where ``latest.json`` and ``releases/`` live.
        name: Release (and catalog snapshot) name, e.g. ``crawl-2026-01-01``; one path
            component (:func:`prox_tasks.storage.names.check_name`).
        partition: The crawl date ``YYYY-MM-DD`` the release covers, or None (undated); see
            the module docs for which release is ``latest``.
        catalog: A :class:`prox_tasks.catalog.Catalog` to record the release in, or None.
        notes: Free text kept with the release.
        released_by: Who releases it (:mod:`prox_tasks.release.origin`: the DAG run of the
            release task, or ``prox release``'s user and host), kept in the release record
            and booked in ``catalog``; None: not known. A release made before is left as it
            was: it keeps who released it.

    The release names the model that refined it (``model``: the version in the shards'
    status records; the catalog links the registered model of that version). ``new`` says
    whether this call completed the release (False: it was completed before, and is left as
    it was; a retry after a crash midway completes it and says True); ``moved_latest``
    whether this call pointed ``latest.json`` at it (``latest`` without ``moved_latest``:
    it pointed there already).

    Raises:
        prox_tasks.storage.names.InvalidName: ``name`` is not a safe path component.
        ValueError: ``partition`` is not a date.
        ReleaseRefused: see :func:`check_releasable`; or ``name`` was released before from
            another plan.
        prox_tasks.catalog.SnapshotNameTaken: ``catalog`` books ``name`` for another folder.
    """
    from prox_tasks.corpus.manifest import mark_released, release_completed
    from prox_tasks.storage import to_uri
    from prox_tasks.storage.names import check_name

    check_name(name, "release name")
    partition = check_partition(partition)
    # the record and latest.json are read from elsewhere: never relative
    output_uri, release_root = to_uri(output_uri), to_uri(release_root)
    # a release a crash interrupted (after its record was written) is finished by the retry,
    # which reports it as new: the DAG's Asset event is sent once the release is whole. A
    # release completed before has had its shards' bytes checked: a rerun of the date does
    # not download the whole snapshot again only to be told it was released.
    completed = release_completed(output_uri, name)
    gate, statuses = check_releasable(output_uri, verify_files=not completed)
    if catalog is not None:  # before anything is written: a refused release leaves no trace
        _check_catalog_gate(catalog, name, output_uri, option)
    model = model_of(statuses)
    record_uri = release_record_uri(release_root, name)
    record = read_json(record_uri)
    manifest_id = gate["metrics"]["manifest_id"]
    new = not completed
    if record is not None and record["manifest_id"] != manifest_id:
        _refuse_other_plan(output_uri, name, manifest_id, record)
    # marked before the record is published: from the moment consumers can read the release,
    # its files may not be refined or judged again (a crash between the two would otherwise
    # leave a record of a folder still open to --force or a stricter gate)
    mark_released(output_uri, {"name": name, "record_uri": record_uri,
                               "manifest_id": manifest_id})
    if record is None:
        record = {
            "name": name, "partition": partition, "snapshot_uri": output_uri,
            "manifest_id": manifest_id, "docs": gate["metrics"]["docs_kept"],
            "metrics": gate["metrics"], "gate_report_uri": gate["report_uri"],
            "data_docs_uri": gate["data_docs_uri"],
            # a shard's "docs" counts its rows, kept and dropped (text null); "kept" (added
            # later: older records lack it) the kept ones, which the top-level "docs" sums
            "shards": [{"uri": s["uri"], "sha256": s["sha256"], "docs": s["docs_written"],
                        "kept": s["docs_kept"]} for s in statuses],
            "model": model, "notes": notes,
            "released_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # added later: records written before lack it (origin.of_release reads them)
            "released_by": released_by,
        }
        # another run may have released this name since it was read: its record stays
        record = write_record_once(record_uri, record)
    if record["manifest_id"] != manifest_id:  # lost the race for the name: not released
        _refuse_other_plan(output_uri, name, manifest_id, record)
    if catalog is not None:
        _record_in_catalog(catalog, record, notes, released_by)
    is_latest, current = replace_latest(
        release_root, record, lambda current: moves_latest(current, record["partition"]))
    # whether this call moved latest.json (a rerun finds it naming this release already)
    moved_latest = is_latest and current != record
    if is_latest:
        record = {**record, "latest": True}
    else:
        log.info("release %s (partition %s) recorded; latest stays at %s (partition %s)",
                 name, record["partition"] or "none", current["name"], current["partition"])
        record = {**record, "latest": False}
    mark_released(output_uri, {**record, "record_uri": record_uri}, completed=True)
    return {**record, "record_uri": record_uri, "latest_uri": latest_uri(release_root),
            "new": new, "moved_latest": moved_latest}


def _refuse_other_plan(output_uri: str, name: str, manifest_id: str, record: dict) -> None:
    """Refuse releasing ``output_uri`` as ``name``, released from another plan: the mark this
    run (or a run of it killed after marking) wrote is taken back first, so the folder is not
    left frozen by a release that never happened."""
    from prox_tasks.corpus.manifest import unmark_released

    unmark_released(output_uri, name, manifest_id)
    raise ReleaseRefused(f"release {name} exists for another plan ({record['manifest_id'][:12]})")


def catalog_refusal(catalog, name: str, output_uri: str) -> str | None:
    """Why ``catalog`` would refuse to record release ``name`` of ``output_uri``
    (:func:`_check_catalog_gate`: no passing gate of ``name`` there, or ``name`` booked for
    another folder), or None when it takes it."""
    from prox_tasks.catalog.catalog import SnapshotNameTaken
    from prox_tasks.storage import to_uri

    try:
        _check_catalog_gate(catalog, name, to_uri(output_uri))
    except (ReleaseRefused, SnapshotNameTaken) as why:
        return str(why)
    return None


def _check_catalog_gate(catalog, name: str, output_uri: str, option: str = "--name") -> None:
    """Refuse a release the catalog has no passing gate report for (made before: fine), and
    one whose name the catalog books for another folder: that folder's row, gate report and
    status are not this snapshot's. ``option``: what names ``name`` (``prox release``'s
    ``--name``, else a DAG's Param: its gate is the run's quality_gate task)."""
    catalog.check_snapshot_name(name, output_uri, option)
    if catalog.release_booked(name):
        return
    report = catalog.latest_quality_report(name, GATE_SUITE)
    booked = catalog.booked_as(output_uri) if report is None else None
    if booked is not None and booked != name and option == "--name":
        # the folder is booked (and gated) under another name, and a release is booked under
        # its snapshot's name: `prox gate --name NAME` of this folder is refused there, so
        # the way on is the name the catalog books it under
        raise ReleaseRefused(
            f"catalog books {output_uri} as snapshot {booked!r}, not {name!r}, and records a "
            f"release under its snapshot's name: release it with --name {booked}")
    if report is None or not report["success"]:
        # a gate run without a name (`prox gate --snapshot`) judges the folder but records
        # nothing: the catalog only learns of a gate run with the snapshot's name
        how = (f"prox gate --snapshot {output_uri} --name {name} --catalog URL; the DAG's "
               "quality_gate task records it too" if option == "--name" else
               "clear this run's quality_gate task, which records it, then this release")
        raise ReleaseRefused(
            f"catalog has no passing {GATE_SUITE} report for {name} "
            f"({'its latest gate there failed' if report else 'no gate recorded there'}): "
            f"gate it into that catalog first ({how})")


def _record_in_catalog(catalog, record: dict, notes, released_by: dict | None) -> None:
    name = record["name"]
    if record.get("partition") and not (catalog.get_snapshot(name) or {}).get("logical_date"):
        # a snapshot refined outside Airflow (prox refine) has no logical date: the PROX
        # report dated it by the day it was refined, not the partition latest.json names
        catalog.update_snapshot(name, logical_date=record["partition"])
    if catalog.release_booked(name):
        catalog.update_snapshot(name, status="released")  # a re-run re-gated it
        return
    report = catalog.latest_quality_report(name, GATE_SUITE)  # passing: checked before writing
    # a model outside the registry (an ad-hoc path, the embedded default) has no catalog
    # row: the release record still names its version
    model = catalog.model_by_version(record["model"]) if record.get("model") else None
    from sqlalchemy.exc import IntegrityError

    try:
        catalog.register_release(name, name, record["snapshot_uri"],
                                 quality_report_id=report["id"],
                                 model=(model["name"], model["version"]) if model else None,
                                 docs=record["docs"], notes=notes,
                                 # as the record says (a run completing another's release);
                                 # a record written before released_by was kept knows no
                                 # releaser: not this caller's (its run id booked, as 0009 did)
                                 released_by=record.get("released_by"),
                                 dag_run_id=None if "released_by" in record
                                 else (released_by or {}).get("run_id"))
    except (ValueError, IntegrityError):
        # another release of this snapshot (a retried DAG task beside a prox release) booked
        # it since it was looked up above: booked once, as this one would have booked it
        if not catalog.release_booked(name):
            raise
