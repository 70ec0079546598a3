"""Tables the gate validates, built from a refined snapshot's manifest, status records and
rows: one row per document, one per planned shard, one for the whole snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from prox_tasks.programs.policy import Policy, growth_allowance

#: Columns every refined row must carry for the gate to judge it.
REQUIRED_STATS = ("chars_in", "words_in")
#: Quarantine reasons that stand for records lost with a cut or corrupt input file.
LOSS_REASONS = ("truncated_file", "corrupt_file")


@dataclass
class SnapshotFrames:
    """The three pandas DataFrames, the snapshot-level metrics as a dict, and the SHA-256 of
    each shard file read (shard index as a string: the files the gate judged)."""

    documents: object
    shards: object
    snapshot: object
    metrics: dict
    shard_checksums: dict


def _document_row(row: dict, max_normalize_growth: float) -> dict:
    stats = row.get("stats") or {}
    text = row.get("text")
    chars_in = stats.get("chars_in")
    words_in = stats.get("words_in")
    normalizations = int(stats.get("normalizations_applied") or 0)
    errors = stats.get("errors") or {}
    text_chars = len(text) if text is not None else 0
    return {
        "id": row.get("id"),
        "source": row.get("source"),
        "offset": row.get("offset"),
        "dropped": bool(row.get("dropped")),
        "low_quality_drop": bool(row.get("dropped")) and stats.get("drop_reason") == "low_quality",
        "text_is_null": text is None,
        "text_chars": text_chars,
        "chars_in": chars_in,
        "words_in": words_in,
        "words_out": len(text.split()) if text else 0,
        "normalizations": normalizations,
        "program_errors": int(sum(errors.values())) if isinstance(errors, dict) else 0,
        # what the executor could not have written: growth past its normalizations' cap
        "excess_chars": (text_chars - chars_in
                         - (growth_allowance(chars_in, max_normalize_growth)
                            if normalizations else 0)
                         if isinstance(chars_in, int) else None),
        "model_version": row.get("model_version"),
    }


def build_frames(output_uri: str) -> SnapshotFrames:
    """Read the snapshot at ``output_uri`` (manifest, ``_status/``, ``shards/``) into tables.

    Every planned shard appears in the shard table, written or not; rows are read from all
    shard files present (not only completed ones) so that a stray or partial file is seen.
    A document's ``excess_chars`` is measured against the normalization growth its shard was
    refined with (the executor's cap, recorded in the shard's status).
    """
    import pandas as pd

    from prox_tasks.corpus import load_manifest, read_refined_rows, read_status

    manifest = load_manifest(output_uri)
    # one list per column, not a dict per document: a dict costs ~2 KB a document, the
    # columns ~0.2 KB (a 10M-document snapshot's gate needs GBs less)
    columns: dict[str, list] = {name: [] for name in _document_row({}, 0.0)}
    rows_per_shard, checksums = {}, {}
    for shard in manifest.shards:
        status = read_status(output_uri, shard.index, manifest.id)
        count, schema_ok = 0, None
        if status is not None:
            checksums[str(shard.index)] = status.get("sha256")
            schema_ok = _schema_matches(status["uri"])
            growth = _normalize_growth(status)
            for row in read_refined_rows(status["uri"]):
                for name, value in _document_row(row, growth).items():
                    columns[name].append(value)
                count += 1
        rows_per_shard[shard.index] = (status, count, schema_ok)
    docs = pd.DataFrame(columns)
    for column in ("chars_in", "words_in", "excess_chars"):
        docs[column] = pd.to_numeric(docs[column], errors="coerce").astype("Int64")
    for column in ("source", "model_version"):  # a few values repeated per document
        docs[column] = docs[column].astype("category")

    shard_rows = []
    for shard in manifest.shards:
        status, rows_found, schema_ok = rows_per_shard[shard.index]
        status = status or {}
        written = status.get("docs_written", 0)
        quarantined = status.get("docs_quarantined", 0)
        shard_rows.append({
            "shard_index": shard.index,
            "complete": bool(status),
            "schema_matches": bool(schema_ok),
            "docs_planned": shard.docs,
            "docs_accounted": written + quarantined,
            "docs_written": written,
            "rows_found": rows_found,
            "docs_quarantined": quarantined,
            "docs_dropped": status.get("docs_dropped", 0),
            "duplicate_ids": (status.get("quarantine_reasons") or {}).get("duplicate_id", 0),
            "input_losses": sum((status.get("quarantine_reasons") or {}).get(r, 0)
                                for r in LOSS_REASONS),
        })
    shards = pd.DataFrame(shard_rows, columns=[
        "shard_index", "complete", "schema_matches", "docs_planned", "docs_accounted", "docs_written",
        "rows_found", "docs_quarantined", "docs_dropped", "duplicate_ids", "input_losses"])

    metrics = snapshot_metrics(docs, shards, manifest.total_docs)
    metrics["manifest_id"] = manifest.id
    snapshot = pd.DataFrame([{k: v for k, v in metrics.items() if k != "manifest_id"}])
    return SnapshotFrames(docs, shards, snapshot, metrics, checksums)


def _normalize_growth(status: dict) -> float:
    """The ``max_normalize_growth`` the shard's executor ran with: its policy's, else its
    limits', else the default (a status written without its request)."""
    request = status.get("request") or {}
    for part in ("policy", "limits"):
        value = (request.get(part) or {}).get("max_normalize_growth")
        if value is not None:
            return float(value)
    return Policy.max_normalize_growth


def _schema_matches(uri: str) -> bool:
    """True when the shard file's columns and types are the documented refined schema."""
    import pyarrow.parquet as pq

    from prox_tasks.corpus import refined_schema
    from prox_tasks.storage import open_uri

    with open_uri(uri, "rb") as stream:
        schema = pq.read_schema(stream)
    expected = refined_schema()
    return [(f.name, f.type) for f in schema] == [(f.name, f.type) for f in expected]


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def snapshot_metrics(docs, shards, docs_planned: int) -> dict:
    """Counts and rates over the whole snapshot (JSON-ready)."""
    written = len(docs)
    dropped = int(docs["dropped"].sum()) if written else 0
    quarantined = int(shards["docs_quarantined"].sum()) if len(shards) else 0
    words_in = int(docs["words_in"].fillna(0).sum()) if written else 0
    words_kept = int(docs.loc[~docs["dropped"], "words_out"].sum()) if written else 0
    failed = int((docs["program_errors"] > 0).sum()) if written else 0
    low_quality = int(docs["low_quality_drop"].sum()) if written else 0
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
        # ids written more than once (across shards: each shard applies its own policy),
        # and the duplicates the shards' policy quarantined
        "duplicate_ids_written": int(docs["id"].duplicated().sum()) if written else 0,
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
