"""Tables the gate validates, built from a refined snapshot's manifest, status records and
rows: per planned shard, its documents' rule counts and its accounting; one row for the
whole snapshot."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from prox_tasks.corpus.document import INPUT_LOSS_REASONS
from prox_tasks.programs.policy import Policy
from prox_tasks.quality.documents import ShardDocuments
from prox_tasks.wording import quoted_error

#: Quarantine reasons that stand for records lost with a cut or corrupt input file: the
#: readers' own list.
LOSS_REASONS = INPUT_LOSS_REASONS


@dataclass
class SnapshotFrames:
    """The three pandas DataFrames, the snapshot-level metrics as a dict, the SHA-256 of
    each shard file read (shard index as a string: the files the gate judged), and up to
    :data:`~prox_tasks.quality.documents.EXAMPLES` ids breaking each document rule."""

    documents: object
    shards: object
    snapshot: object
    metrics: dict
    shard_checksums: dict
    examples: dict
    unreadable: dict  # shard index -> why its file could not be read to its end
    #: each model version found in the status records and rows -> how many shards hold it
    model_versions: dict = field(default_factory=dict)
    #: ``missing_text`` records by the field holding a string that could be their text, over
    #: the status records (those of an earlier release hold none): the quarantine check names
    #: the most frequent
    text_candidates: dict = field(default_factory=dict)
    #: the quarantined records by reason (``empty_text``, ``malformed_json`` …), over the
    #: status records: the quarantine check names them
    quarantine_reasons: dict = field(default_factory=dict)


def build_frames(output_uri: str) -> SnapshotFrames:
    """Read the snapshot at ``output_uri`` (manifest, ``_status/``, ``shards/``) into tables.

    Every planned shard appears in the shard and documents tables, written or not; rows are
    read from every shard with a status record, one row at a time: the documents table
    holds, per shard, how many documents break each rule of
    :data:`~prox_tasks.quality.documents.DOCUMENT_RULES`, so memory does not grow with
    the documents' number (a 16-byte digest of each id is held up to ``PROX_ID_SEARCH_MB``,
    then spilled to disk: :class:`~prox_tasks.corpus.id_search.IdSearch`). A document's growth is
    measured against the normalization growth its shard was refined with (the executor's
    cap, recorded in the shard's status). Shards are read a few at once
    (:func:`~prox_tasks.storage.ahead.read_ahead`, a bounded number ahead) and taken in
    order.
    """
    import pandas as pd

    from prox_tasks.corpus import load_manifest
    from prox_tasks.corpus.writer import listed_files, warn_not_intact
    from prox_tasks.quality.documents import DOCUMENT_RULES, IdDigests
    from prox_tasks.storage.ahead import read_ahead

    manifest = load_manifest(output_uri)
    # the quarantine files, which the gate does not open, are checked against one listing
    # (on S3 a request per 1,000 files), not asked for one by one (a HEAD a shard)
    quarantined = listed_files(output_uri).quarantined
    ids = IdDigests()
    per_shard, checksums, uris, unreadable, versions = {}, {}, {}, {}, {}
    # a few shards are read while this one is taken: on S3 each shard's reads wait on the
    # network (one after another 500 shards took ~70 s more than local disk on moto); they
    # are taken in order, so every table, count and message is the one-at-a-time read's
    reads = read_ahead(lambda shard: _read_shard(output_uri, shard.index, manifest.id,
                                                 quarantined), manifest.shards)
    for shard, read in zip(manifest.shards, reads, strict=True):
        if read.damage:
            warn_not_intact(output_uri, shard.index, read.damage)
        status = read.status
        if status is not None:
            checksums[str(shard.index)] = status.get("sha256")
            uris[shard.index] = status["uri"]
            versions[shard.index] = read.versions
            if read.digests is not None:
                ids.add_digests(shard.index, read.digests)
            if read.unreadable is not None:
                unreadable[shard.index] = read.unreadable
        per_shard[shard.index] = (status, read.counted, read.schema_ok)
    for shard_index, _row in (repeats := ids.written_before()):
        per_shard[shard_index][1].broken["ids_written_before"] += 1
    examples = _examples(per_shard, repeats, uris)

    documents = pd.DataFrame(
        [{"shard_index": index, **counted.broken} for index, (_, counted, _) in
         per_shard.items()], columns=["shard_index", *DOCUMENT_RULES])
    shard_rows = []
    for shard in manifest.shards:
        status, counted, schema_ok = per_shard[shard.index]
        status = status or {}
        written = status.get("docs_written", 0)
        quarantined = status.get("docs_quarantined", 0)
        shard_rows.append({
            "shard_index": shard.index,
            "complete": bool(status),
            "schema_matches": bool(schema_ok),
            "readable": shard.index not in unreadable,
            "docs_planned": shard.docs,
            "docs_accounted": written + quarantined,
            "docs_written": written,
            "rows_found": counted.written,
            "docs_quarantined": quarantined,
            "docs_dropped": status.get("docs_dropped", 0),
            "rows_dropped": counted.dropped,
            # what refine reported (its totals, the catalog) against what the file holds: a
            # record from before the count was kept has none to disagree
            "docs_with_program_errors": _recorded(status, "docs_with_program_errors",
                                                  counted.with_program_errors),
            "rows_with_program_errors": counted.with_program_errors,
            "duplicate_ids": (status.get("quarantine_reasons") or {}).get("duplicate_id", 0),
            "input_losses": sum((status.get("quarantine_reasons") or {}).get(r, 0)
                                for r in LOSS_REASONS),
        })
    shards = pd.DataFrame(shard_rows, columns=[
        "shard_index", "complete", "schema_matches", "readable", "docs_planned", "docs_accounted", "docs_written",
        "rows_found", "docs_quarantined", "docs_dropped", "rows_dropped",
        "docs_with_program_errors", "rows_with_program_errors", "duplicate_ids", "input_losses"])

    metrics = snapshot_metrics([counted for _, counted, _ in per_shard.values()], shards,
                               manifest.total_docs, len(repeats))
    # shards refined with other settings (two runs of one folder at once): one set, or none
    metrics["refine_settings"] = len({
        json.dumps(status["request"], sort_keys=True, default=str)
        for status, _, _ in per_shard.values() if status and status.get("request") is not None})
    # one model per snapshot: shards refined by other weights (a pool restarted between
    # shards) share the settings the refine_settings check compares, not the model
    model_versions = dict(sorted(Counter(v for found in versions.values() for v in found)
                                 .items()))
    metrics["model_versions"] = len(model_versions)
    metrics["manifest_id"] = manifest.id
    # not read for their format: no shard holds them, so no check counts them; the gate
    # names them (:func:`~prox_tasks.quality.gate.run_gate`)
    metrics["input_files_skipped"] = len(manifest.skipped_files)
    snapshot = pd.DataFrame([{k: v for k, v in metrics.items() if k != "manifest_id"}])
    candidates: Counter = Counter()
    reasons: Counter = Counter()
    for status, _, _ in per_shard.values():
        candidates.update((status or {}).get("text_candidates") or {})
        reasons.update((status or {}).get("quarantine_reasons") or {})
    return SnapshotFrames(documents, shards, snapshot, metrics, checksums, examples,
                          unreadable, model_versions, dict(sorted(candidates.items())),
                          dict(sorted(reasons.items())))


def _recorded(status: dict, count: str, found: int) -> int:
    """``count`` of a shard's status record; ``found`` (what its rows hold) when the record
    has none (written before that count was recorded, or no record)."""
    value = status.get(count)
    return found if value is None else value


class _NotIntact(Exception):
    """A shard's data file is not the one its status record describes (its size)."""


@dataclass
class _ShardRead:
    """What one shard's status record and file gave (:func:`_read_shard`).

    Attributes:
        status: Its status record; None: not written, or its files not intact.
        counted: Its rows counted (those read before a failure too).
        schema_ok: Its file's schema is the refined one.
        versions: The model versions its status and rows name.
        digests: Its ids' digests (:func:`~prox_tasks.quality.documents.digest_ids`);
            None when no row could be read (the file did not open as Parquet).
        unreadable: Why its file could not be read to its end; None when it could.
        damage: Why its files are not intact (it counts as not written); None when they are.
    """

    status: dict | None
    counted: ShardDocuments = field(default_factory=ShardDocuments)
    schema_ok: bool = False
    versions: set = field(default_factory=set)
    digests: bytearray | None = None
    unreadable: str | None = None
    damage: str | None = None


def _read_shard(output_uri: str, shard_index: int, manifest_id: str,
                quarantined: dict[str, int]) -> _ShardRead:
    """Shard ``shard_index``'s status record and its file's schema and rows, counted.

    Its files are checked as :func:`~prox_tasks.corpus.read_status` checks them, the data
    file by the size its open finds (on S3 the opening GET's Content-Range; a missing file
    fails the open) rather than by a HEAD before it; the quarantine file, which the gate
    does not open, by the names and sizes its folder listed (``quarantined``) rather than
    a request each. A file that cannot be read as Parquet, or not to its
    end, is ``unreadable``: it fails a check, not the run.
    """
    import pyarrow.parquet as pq

    from prox_tasks.corpus import read_status
    from prox_tasks.corpus.refined import rows_of
    from prox_tasks.corpus.writer import data_file_damage, quarantine_damage
    from prox_tasks.quality.documents import digest_ids
    from prox_tasks.storage import open_uri

    status = read_status(output_uri, shard_index, manifest_id, verify=False)
    if status is None:
        return _ShardRead(None)

    def of_recorded_size(opened) -> None:
        if damage := data_file_damage(status, opened.size):
            raise _NotIntact(damage)

    stream = failed = None
    try:
        stream = open_uri(status["uri"], "rb", expect=of_recorded_size)
    except FileNotFoundError:
        return _ShardRead(None, damage=data_file_damage(status, None))
    except _NotIntact as err:
        return _ShardRead(None, damage=str(err))
    except Exception as err:  # an open that fails otherwise: unreadable, as a read that fails
        failed = err
    try:
        if damage := quarantine_damage(status, quarantined):
            return _ShardRead(None, damage=damage)
        # the status names the model the shard's last run loaded; its rows, the model each
        # batch was refined by (checkpointed batches of an earlier run included)
        read = _ShardRead(status, versions={str(status["model_version"])}
                          if status.get("model_version") else set())
        if failed is not None:
            read.unreadable = _why(failed)
            return read
        try:
            # one open for the schema and the rows (on S3 an open is a GET of the file's
            # start and one of its footer); a damaged footer fails here: neither its
            # schema nor its rows are read
            parquet = pq.ParquetFile(stream)
            read.schema_ok = _schema_matches(parquet.schema_arrow)
            read.digests = bytearray()
            digest_ids(_counted(rows_of(parquet), read.counted, _normalize_growth(status),
                                read.versions), read.digests)
        except Exception as err:  # a corrupt or hand-edited file fails a check, not the run
            read.unreadable = _why(err)
        return read
    finally:
        if stream is not None:
            stream.close()


def _why(err: Exception) -> str:
    """Why a shard file is unreadable, as the ``readable`` check names it."""
    return quoted_error(err)


def _counted(rows, counted, max_normalize_growth: float, versions: set):
    """The ids of ``rows``, each row counted into ``counted`` and its model version into
    ``versions`` as it passes."""
    for row in rows:
        counted.add(row, max_normalize_growth)
        if row.get("model_version"):
            versions.add(str(row["model_version"]))
        yield row.get("id")


def _examples(per_shard: dict, repeats: list, uris: dict) -> dict:
    """Up to :data:`EXAMPLES` ids per rule, in shard order; a repeated id is read back from
    its shard file (its digest is all the count kept)."""
    from prox_tasks.quality.documents import DOCUMENT_RULES, EXAMPLES, example

    out = {rule: [] for rule in DOCUMENT_RULES}
    for _, counted, _ in per_shard.values():
        for rule, found in counted.examples.items():
            out[rule].extend(found[:EXAMPLES - len(out[rule])])
    wanted: dict[int, list[int]] = {}
    for shard_index, row in repeats[:EXAMPLES]:
        wanted.setdefault(shard_index, []).append(row)
    for shard_index, rows in wanted.items():
        ids = _ids_of(uris[shard_index])
        for row in rows:
            shown = f"{example(ids[row])} (shard {shard_index})"
            if shown not in out["ids_written_before"]:
                out["ids_written_before"].append(shown)
    return {rule: found for rule, found in out.items() if found}


def _ids_of(uri: str) -> list:
    import pyarrow.parquet as pq

    from prox_tasks.storage import open_uri

    with open_uri(uri, "rb") as stream:
        return pq.read_table(stream, columns=["id"]).column("id").to_pylist()


def _normalize_growth(status: dict) -> float:
    """The ``max_normalize_growth`` the shard's executor ran with: its policy's, else its
    limits', else the default (a status written without its request)."""
    request = status.get("request") or {}
    for part in ("policy", "limits"):
        value = (request.get(part) or {}).get("max_normalize_growth")
        if value is not None:
            return float(value)
    return Policy.max_normalize_growth


def _schema_matches(schema) -> bool:
    """True when a shard file's schema (``pyarrow.Schema``) has the documented refined
    columns and types."""
    from prox_tasks.corpus import refined_schema

    expected = refined_schema()
    return [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in expected]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def snapshot_metrics(counted: list, shards, docs_planned: int, ids_written_before: int) -> dict:
    """Counts and rates over the whole snapshot (JSON-ready), from each shard's
    :class:`~prox_tasks.quality.documents.ShardDocuments`."""
    written = sum(c.written for c in counted)
    dropped = sum(c.dropped for c in counted)
    quarantined = int(shards["docs_quarantined"].sum()) if len(shards) else 0
    words_in = sum(c.words_in for c in counted)
    words_kept = sum(c.words_kept for c in counted)
    failed = sum(c.with_program_errors for c in counted)
    low_quality = sum(c.low_quality for c in counted)
    return {
        "docs_planned": int(docs_planned),
        "docs_accounted": written + quarantined,
        "docs_written": written,
        "docs_kept": written - dropped,
        "docs_dropped": dropped,
        # of them: the document-quality decision's (quality filter "drop"), apart from junk
        "docs_dropped_low_quality": low_quality,
        "docs_quarantined": quarantined,
        "docs_with_program_errors": failed,
        # normalize() calls that found nothing to replace: no error (the text is unchanged),
        # but many say the model writes text the pages do not hold
        "normalizations_unmatched": sum(c.normalizations_unmatched for c in counted),
        # ids written more than once (across shards: each shard applies its own policy),
        # and the duplicates the shards' policy quarantined
        "duplicate_ids_written": int(ids_written_before),
        "duplicate_ids_quarantined": int(shards["duplicate_ids"].sum()) if len(shards) else 0,
        # input files cut short or corrupt: records lost that no count can name
        "input_losses": int(shards["input_losses"].sum()) if len(shards) else 0,
        "shards_planned": int(len(shards)),
        "shards_complete": int(shards["complete"].sum()) if len(shards) else 0,
        "words_in": words_in,
        "words_kept": words_kept,
        "drop_rate": round(_ratio(dropped, written), 6),  # every drop, quality drops too
        "low_quality_drop_rate": round(_ratio(low_quality, written), 6),
        "failure_rate": round(_ratio(failed, written), 6),
        "quarantine_rate": round(_ratio(quarantined, docs_planned), 6),
        "kept_token_ratio": round(_ratio(words_kept, words_in), 6),
    }
