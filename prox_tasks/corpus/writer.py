"""Refined-shard writer: atomic, idempotent, and every input document accounted for.

Order of publication for shard *i* under the output folder, once every row is written to a
temporary file and counted:

1. ``_status/shard-i.json`` is removed (a record must never describe a file it did not
   checksum: a crash from here on leaves the shard "not done");
2. ``shards/shard-i.parquet`` is renamed (local) or uploaded as one object (S3) — a reader
   sees the old file or the new one, never a part;
3. ``quarantine/shard-i.jsonl.gz`` the same way (empty when nothing was quarantined);
4. ``_status/shard-i.json`` last, with the accounting and checksums.

A shard whose accounting does not balance (``read = written + quarantined``), or whose
``before_publish`` check refuses it, is not published and its old record, if any, stays:
an attempt that publishes nothing takes nothing away (another run may have published the
shard while this one refined it).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property

from prox_tasks.corpus.arrow_columns import StringColumn, bool_array, int64_array
from prox_tasks.corpus.manifest import (
    MANIFEST_NAME,
    load_manifest,
    quarantine_folder,
    quarantine_uri,
    shard_folder,
    shard_uri,
    status_uri,
)
from prox_tasks.corpus.quarantine import Quarantine
from prox_tasks.corpus.refined import COLUMNS, arrow_schema
from prox_tasks.programs.stats import error_total
from prox_tasks.storage import (
    cleanup_partial,
    exists,
    identities_in,
    join_uri,
    names_in,
    open_uri,
    parse_uri,
    put_atomic,
    read_json,
    remove,
    size_of,
)

log = logging.getLogger(__name__)

DEFAULT_ROW_GROUP_ROWS = 1000
#: A row group is also closed once its texts reach this many bytes (bounds memory).
DEFAULT_ROW_GROUP_BYTES = 32 * 1024 * 1024
#: Columns with few distinct values; the others (texts, ids, JSON) gain nothing from a
#: dictionary and would cost memory building one.
DICTIONARY_COLUMNS = ["source", "model_version", "doc_program"]


class AccountingError(RuntimeError):
    """Documents were lost or duplicated: read != written + quarantined."""


@dataclass
class ShardAccounting:
    """What one shard write did. ``balanced`` is ``read == written + quarantined``."""

    shard_index: int
    docs_read: int
    docs_written: int
    docs_kept: int
    docs_dropped: int
    docs_quarantined: int
    quarantine_reasons: dict = field(default_factory=dict)
    bytes: int = 0
    sha256: str = ""
    quarantine_sha256: str = ""
    uri: str = ""
    quarantine_uri: str = ""
    model_version: str | None = None
    #: The plan (``manifest.json``'s id) the shard was refined under: a record of a replaced
    #: plan is stale (:func:`read_status` with ``manifest_id``).
    manifest_id: str | None = None
    #: What the shard was refined with (:func:`prox_tasks.refine.step.shard_request`).
    request: dict | None = None
    #: Written documents dropped, by reason (the rows' ``drop_reason``: ``doc_program``,
    #: ``too_little_left``, ``low_quality``): junk drops apart from quality drops.
    drop_reasons: dict = field(default_factory=dict)
    #: Program errors of the written documents by kind, and the documents with any.
    program_errors: dict = field(default_factory=dict)
    docs_with_program_errors: int = 0
    #: Documents the document-quality decision judged low quality (dropped or not).
    docs_low_quality: int = 0
    #: Input problems that lost no record, by kind (``misnamed_compression``: input files
    #: compressed otherwise than their names say, read as what their bytes are; :class:`~prox_tasks.corpus.document.InputNotice`).
    input_notices: dict = field(default_factory=dict)
    #: ``missing_text`` records by the field holding a string that could be their text
    #: (:attr:`Quarantine.text_candidates <prox_tasks.corpus.quarantine.Quarantine.
    #: text_candidates>`): a summary over reused shards names it (``--text-field``). Records
    #: written before it was recorded lack the key.
    text_candidates: dict = field(default_factory=dict)
    #: normalize() calls of the written documents that matched nothing (the rows'
    #: ``stats.normalizations_unmatched``): no error, but a model writing text the pages do
    #: not hold. Records written before it was counted lack it (read as 0).
    normalizations_unmatched: int = 0
    #: The quarantine file's size as written: a file cut short or replaced since, its records
    #: of lost input gone, is damage (:func:`quarantine_damage`). Records written before it
    #: was recorded lack it (their file is checked for being there only).
    quarantine_bytes: int | None = None

    @property
    def balanced(self) -> bool:
        return self.docs_read == self.docs_written + self.docs_quarantined

    def to_dict(self) -> dict:
        return asdict(self)


#: How a float that JSON cannot hold is written: as the Protocol Buffers JSON mapping and
#: BigQuery's JSON export write it (Python's ``json`` would write the bare tokens ``NaN`` and
#: ``Infinity``, which strict parsers — jq, JavaScript, DuckDB — reject).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def strict_json(value, sort_keys: bool = True) -> str | None:
    """``value`` as strict JSON (a string is taken as JSON already): the refined meta, and a
    row the refine step sets aside (:func:`~prox_tasks.refine.limits.admitted`; its fields
    in the row's order, ``sort_keys`` False)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False, default=str,
                          allow_nan=False)
    except ValueError:  # a NaN or infinity: a Parquet input's float column holds one
        return json.dumps(_finite(value), sort_keys=sort_keys, ensure_ascii=False, default=str)


def _finite(value):
    """``value`` with every NaN and infinity (inside dicts, lists, tuples) a string of
    :data:`NON_FINITE`."""
    if isinstance(value, float):
        return NON_FINITE.get(repr(value), value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class _Batch:
    """Column buffers for one row group, built straight into Arrow's buffers
    (:mod:`prox_tasks.corpus.arrow_columns`: no pandas import, each string encoded once)."""

    def __init__(self, model_version):
        self.model_version = model_version
        self.strings = {name: StringColumn(name) for name, kind, _, _ in COLUMNS
                        if kind == "string"}  # fmt: skip
        self.dropped_flags: list[bool] = []
        self.offsets: list[int] = []
        self.seen: set[tuple[str, int]] = set()
        self.kept = self.dropped = self.rows = 0
        self.pending_rows = self.pending_bytes = 0
        self.drop_reasons: Counter = Counter()
        self.program_errors: Counter = Counter()
        self.docs_with_program_errors = self.docs_low_quality = 0
        self.normalizations_unmatched = 0

    def add(self, row: Mapping) -> None:
        doc_id, source, offset = row.get("id"), row.get("source"), row.get("offset")
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError(f"row without a string id: {doc_id!r}")
        if not isinstance(source, str) or not isinstance(offset, int):
            raise ValueError(f"row {doc_id}: source (str) and offset (int) are required")
        if (source, offset) in self.seen:
            raise AccountingError(f"document {source}#{offset} written twice (id {doc_id})")
        self.seen.add((source, offset))
        text = row.get("text")
        meta = strict_json(row.get("meta"))
        stats = row.get("stats") or {}
        self._count_outcome(json.loads(stats) if isinstance(stats, str) else stats, text)
        values = {
            "id": doc_id, "text": text,
            "doc_program": row.get("doc_program"), "chunk_program": row.get("chunk_program"),
            "stats": strict_json(stats), "source": source,
            "model_version": row.get("model_version", self.model_version), "meta": meta,
        }
        # Parquet strings are UTF-8: a lone surrogate (from a program or a meta field;
        # readers quarantine texts and ids holding one) is written as its escape
        for name, value in values.items():
            self.strings[name].append(value)
        self.dropped_flags.append(text is None)
        self.offsets.append(offset)
        self.rows += 1
        self.pending_rows += 1
        self.pending_bytes += len(text or "") + len(meta or "")
        self.kept += text is not None
        self.dropped += text is None

    def _count_outcome(self, stats: Mapping, text: str | None) -> None:
        if text is None:
            self.drop_reasons[stats.get("drop_reason") or "unknown"] += 1
        errors = stats.get("errors")
        if error_total(errors):  # the gate recounts the rows by the same reading
            self.program_errors.update(errors)
            self.docs_with_program_errors += 1
        self.docs_low_quality += bool(stats.get("low_quality"))
        self.normalizations_unmatched += int(stats.get("normalizations_unmatched") or 0)

    def flush_to(self, writer) -> None:
        import pyarrow as pa

        if self.pending_rows:
            arrays = {name: column.finish() for name, column in self.strings.items()}
            arrays["dropped"] = bool_array(self.dropped_flags)
            arrays["offset"] = int64_array(self.offsets)
            schema = arrow_schema()
            writer.write_table(pa.Table.from_arrays([arrays[n] for n in schema.names],
                                                    schema=schema))  # fmt: skip
            self.dropped_flags, self.offsets = [], []
            self.pending_rows = self.pending_bytes = 0


def planned(output_uri: str, shard_index: int) -> tuple[int | None, str | None]:
    """The shard's record count and the plan's id from ``<output_uri>/manifest.json``
    (None, None when there is no manifest)."""
    if not exists(join_uri(output_uri, MANIFEST_NAME)):
        return None, None
    manifest = load_manifest(output_uri)
    return manifest.shard(shard_index).docs, manifest.id


def write_refined_shard(output_uri: str, shard_index: int, rows: Iterable[Mapping], *,
                        quarantine: Quarantine | None = None, expected_docs: int | None = None,
                        model_version: str | None = None, request: dict | None = None,
                        manifest_id: str | None = None,
                        before_publish: Callable[[], dict | None] | None = None,
                        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
                        row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                        compression: str = "zstd") -> ShardAccounting:
    """Write refined shard ``shard_index`` under ``output_uri``; returns its accounting.

    Args:
        output_uri: The snapshot's output folder (where ``manifest.json`` lives).
        shard_index: The shard number.
        rows: Mappings with ``id``, ``text`` (None when dropped), ``doc_program``,
            ``chunk_program``, ``stats`` (dict or JSON), ``source``, ``offset`` and
            optionally ``model_version`` and ``meta``. Streamed; one row group in memory.
        quarantine: The records quarantined while reading (and refining) this shard.
        expected_docs: Records the shard holds; default from the manifest, if any.
        model_version: Default for rows without ``model_version``.
        request: What the shard was refined with, recorded in its status (a rerun with
            other settings is refused, :func:`prox_tasks.refine.step.refine_shard`).
        manifest_id: The plan's id, recorded in the status; default from the manifest.
        before_publish: Called once every row is written and counted, before anything is
            published or removed; what it raises aborts the shard (the refine step checks
            there that the folder is still claimed for its settings and not gated,
            :mod:`prox_tasks.refine.claim`); a dict it returns is the ``request`` recorded
            (the claim's form of it).
        row_group_rows: Rows per Parquet row group (at most).
        row_group_bytes: Text bytes per row group (at most, give or take one row).
        compression: Parquet compression codec.

    Raises:
        AccountingError: a document was written twice, or ``read != written + quarantined``.
    """
    import pyarrow.parquet as pq

    quarantine = quarantine if quarantine is not None else Quarantine()
    if expected_docs is None or manifest_id is None:  # the refine step passes both
        planned_docs, planned_id = planned(output_uri, shard_index)
        expected_docs = planned_docs if expected_docs is None else expected_docs
        manifest_id = manifest_id or planned_id
    data_uri, q_uri = shard_uri(output_uri, shard_index), quarantine_uri(output_uri, shard_index)
    done_uri = status_uri(output_uri, shard_index)
    for uri in (data_uri, q_uri, done_uri):
        cleanup_partial(uri)
    batch = _Batch(model_version)
    out = open_uri(data_uri, "wb")
    try:
        writer = pq.ParquetWriter(out, arrow_schema(), compression=compression,
                                  use_dictionary=DICTIONARY_COLUMNS)
        try:
            for row in rows:
                batch.add(row)
                if (batch.pending_rows >= row_group_rows
                        or batch.pending_bytes >= row_group_bytes):
                    batch.flush_to(writer)
            batch.flush_to(writer)
        finally:
            writer.close()  # before any abort, so pyarrow never writes to a closed file
        read = expected_docs if expected_docs is not None else batch.rows + len(quarantine)
        accounting = ShardAccounting(
            shard_index, read, batch.rows, batch.kept, batch.dropped, len(quarantine),
            dict(sorted(quarantine.reasons.items())), out.tell(), "", "", data_uri, q_uri,
            model_version, manifest_id, request, dict(sorted(batch.drop_reasons.items())),
            dict(sorted(batch.program_errors.items())), batch.docs_with_program_errors,
            batch.docs_low_quality, dict(sorted(quarantine.notices.items())),
            dict(sorted(quarantine.text_candidates.items())),
            normalizations_unmatched=batch.normalizations_unmatched,
        )
        if not accounting.balanced:
            raise AccountingError(
                f"shard {shard_index}: read {read} != written {batch.rows} + quarantined "
                f"{len(quarantine)}"
            )
        if before_publish is not None:
            accounting.request = before_publish() or accounting.request
    except BaseException:
        out.abort()  # nothing is published
        raise
    # removed only now, past the claim check: removed when the writer started, a record
    # another run published meanwhile (and a gate judged) was lost with this run's refusal
    remove(done_uri)
    out.close()
    accounting.sha256 = out.sha256
    accounting.quarantine_sha256 = quarantine.write(q_uri)
    accounting.quarantine_bytes = quarantine.bytes_written
    put_atomic(done_uri, json.dumps(accounting.to_dict(), indent=1, sort_keys=True) + "\n")
    return accounting


def read_status(output_uri: str, shard_index: int, manifest_id: str | None = None,
                verify: bool = True, listed: ListedFiles | None = None) -> dict | None:
    """The status record of a completed shard, or None when it is not (fully) written.

    The record's ``uri`` and ``quarantine_uri`` name the files in ``output_uri``, wherever
    they were first written. A record whose files are gone — the shard's Parquet file
    missing or of another size than it recorded (deleted, or another file copied over it),
    or its quarantine file missing — counts as absent too, with a warning, so a rerun refines the shard again instead of
    reusing what is no longer there.

    Args:
        manifest_id: The current plan's id: a record written under another plan (the output
            folder was planned again) counts as absent. Records of versions before the plan
            id was recorded are taken as they are.
        verify: Check that the files are intact (False: the caller checks them itself, as
            the release does with their checksums).
        listed: The snapshot's shard and quarantine files as one listing of each folder
            found them (:func:`listed_files`): a file the listing shows as recorded needs
            no request of its own; one it does not is asked for, as without a listing.
    """
    status = read_json(status_uri(output_uri, shard_index))
    if status is None:
        return None
    if manifest_id is not None and status.get("manifest_id") not in (None, manifest_id):
        return None
    # the record describes the files beside it: a snapshot folder copied or moved elsewhere
    # is read (and released) from its own files, not from where they were written
    status["uri"] = shard_uri(output_uri, shard_index)
    status["quarantine_uri"] = quarantine_uri(output_uri, shard_index)
    damage = _damage(status, listed) if verify else None
    if damage:
        warn_not_intact(output_uri, shard_index, damage)
        return None
    return status


def warn_not_intact(output_uri: str, shard_index: int, damage: str) -> None:
    """Say that shard ``shard_index``'s files are not intact (``damage``, as
    :func:`data_file_damage` or :func:`quarantine_damage` word it): it counts as not
    written."""
    log.warning("shard %d of %s is not intact (%s): it counts as not written",
                shard_index, output_uri, damage)


#: Shards of a call above which :func:`read_statuses` lists the ``_status`` folder to find
#: the written ones, not asks for each shard's record: a listing request returns 1,000 names.
STATUS_LISTED_ABOVE = 1_000

#: Names a listing request returns (S3's page): what one request of :func:`listed_files`
#: covers of a folder.
LISTING_PAGE = 1_000


class ListedFiles:
    """A snapshot's shard files (name: size) and quarantine files (names), each folder
    listed once, when first asked for: a run that finds no shard published lists
    neither."""

    def __init__(self, output_uri: str) -> None:
        self.output_uri = output_uri

    @cached_property
    def shard_sizes(self) -> dict[str, int]:
        """``{file name: size}`` of the ``shards`` folder, sizes from the listing itself."""
        return _sizes_in(shard_folder(self.output_uri))

    @cached_property
    def quarantined(self) -> dict[str, int]:
        """``{file name: size}`` of the ``quarantine`` folder, sizes from the listing itself."""
        return _sizes_in(quarantine_folder(self.output_uri))


def _sizes_in(folder_uri: str) -> dict[str, int]:
    """``{file name: size}`` of a snapshot folder, from one listing (on S3 a request per
    1,000 files); empty when there is no such folder (a local one not made yet)."""
    try:
        return {uri.rpartition("/")[2]: opened.size
                for uri, opened in identities_in(folder_uri).items()}
    except FileNotFoundError:
        if parse_uri(folder_uri).scheme == "s3":
            raise  # a missing prefix lists empty: only the bucket is missing
        return {}


def listed_files(output_uri: str) -> ListedFiles:
    """The shard files and quarantine files of the snapshot at ``output_uri``: its
    ``shards`` and ``quarantine`` folders listed once each (on S3 a request per 1,000
    files, sizes from the listing itself), where checking each shard's two files would be
    two requests a shard (:func:`read_status`)."""
    return ListedFiles(output_uri)


def read_statuses(output_uri: str, indexes: Iterable[int], manifest_id: str | None = None,
                  verify: bool = True, listed_above: int | None = None,
                  planned: int | None = None) -> Iterator[tuple[int, dict | None]]:
    """Each shard of ``indexes`` with its :func:`read_status` (None: not written), in order,
    read as the caller takes them (a 100,000-shard rerun holds no 100,000 records).

    Above ``listed_above`` shards (None: :data:`STATUS_LISTED_ABOVE`) the ``_status``
    folder is listed once and only the records listed are read: a new snapshot of 100,000
    shards asked for each one's (100,000 GETs on S3, ~14 ms each on moto: 23 minutes). A
    call of a few shards (a DAG task's hundred) asks for each: fewer requests than listing
    a large snapshot's records.

    With ``verify`` and ``planned`` (the shards of the whole plan: what the folders hold
    at most), the shard and quarantine folders are listed once (:func:`listed_files`) when
    that costs fewer requests than checking the call's shards' two files each (a rerun of
    500 published shards sent 1,000 HEADs on S3); unknown (None), each file is asked for.
    """
    from prox_tasks.corpus.manifest import shard_name

    indexes = list(indexes)
    limit = STATUS_LISTED_ABOVE if listed_above is None else listed_above
    listed = names_in(join_uri(output_uri, "_status")) if len(indexes) > limit else None
    files = None
    if verify and planned is not None and -(-planned // LISTING_PAGE) < len(indexes):
        files = listed_files(output_uri)
    for index in indexes:
        if listed is not None and f"{shard_name(index)}.json" not in listed:
            yield index, None
        else:
            yield index, read_status(output_uri, index, manifest_id, verify, files)


def _damage(status: dict, listed: ListedFiles | None = None) -> str | None:
    """What is wrong with the files a status record names (None: nothing found): the data
    file first (one request: its size), then the quarantine file (one: its size).

    A file ``listed`` shows as recorded costs no request. One it shows otherwise (absent,
    another size) is asked for all the same: the listing was taken before this record was
    read, and a run publishing beside this one may have written the shard since."""
    data = status.get("uri")
    if data:
        size = listed and listed.shard_sizes.get(data.rpartition("/")[2])
        if size is None or data_file_damage(status, size):
            try:
                size = size_of(data)  # one request: a missing file raises
            except FileNotFoundError:
                size = None
        if damage := data_file_damage(status, size):
            return damage
    if listed is not None and not quarantine_damage(status, listed.quarantined):
        return None
    return quarantine_damage(status)


def data_file_damage(status: dict, size: int | None) -> str | None:
    """What is wrong with the shard's data file (``status["uri"]``) of ``size`` bytes
    (None: it is missing), as its status record tells; None when nothing is. A reader that
    opens the file anyway passes the size its open found (no request of its own)."""
    data = status["uri"]
    if size is None:
        return f"{data} is missing"
    recorded = status.get("bytes") or 0
    if recorded and size != recorded:
        return f"{data} has {size} bytes, {recorded} were written"
    return None


def quarantine_damage(status: dict, listed: dict[str, int] | None = None) -> str | None:
    """What is wrong with the shard's quarantine file, as its status record tells: ``… is
    missing``, or ``… has N bytes, M were written`` (cut short or replaced since: the
    records of the input it lost are gone with it); None when nothing is. ``listed``:
    ``{name: size}`` of the quarantine folder (:attr:`ListedFiles.quarantined`, listed once
    for every shard: on S3 a request per 1,000 files), else the file is asked for (one
    request: its size)."""
    quarantine = status.get("quarantine_uri")
    if not (quarantine and status.get("quarantine_sha256")):
        return None
    if listed is not None:
        size = listed.get(quarantine.rpartition("/")[2])
    else:
        try:
            size = size_of(quarantine)
        except FileNotFoundError:
            size = None
    if size is None:
        return f"{quarantine} is missing"
    recorded = status.get("quarantine_bytes")
    if recorded is not None and size != recorded:
        return f"{quarantine} has {size} bytes, {recorded} were written"
    return None


__all__ = ["AccountingError", "ListedFiles", "ShardAccounting", "data_file_damage",
           "listed_files", "quarantine_damage", "read_status", "read_statuses", "warn_not_intact",
           "write_refined_shard"]
