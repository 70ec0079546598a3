"""Shard planning: split a snapshot into shards of a target size, deterministically."""

from __future__ import annotations

import bisect
import json
import logging
from collections import Counter
from collections.abc import Iterator, Mapping

from prox_tasks.corpus.document import DEFAULT_MAX_DOC_BYTES, Document, MisplacedOffset
from prox_tasks.corpus.manifest import (
    PARTS_FOLDER,
    UNREADABLE_PLAN,
    InputFile,
    Manifest,
    Segment,
    ShardPlan,
    check_output_folder,
    load_manifest,
    quarantine_uri,
    refuse_if_released,
    released_as,
    replan_way_out,
    shard_uri,
    status_uri,
)
from prox_tasks.corpus.partitions import planned_partition_root
from prox_tasks.corpus.quarantine import Quarantine
from prox_tasks.corpus.readers import (
    FORMATS,
    ReadOptions,
    check_readable,
    empty_input,
    input_listing,
    not_a_file,
    probe_id_field,
    read_file,
    refuse_id_field_of_wet,
)
from prox_tasks.storage import (
    Opened,
    compression_of,
    content_fingerprint,
    exists,
    identities_in,
    identity_of,
    join_uri,
    list_uri,
    names_in,
    remove_all,
    same_uri,
    to_uri,
)
from prox_tasks.storage.swap import replace_if
from prox_tasks.wording import count, of_no_known_format, shown

log = logging.getLogger(__name__)

DEFAULT_TARGET_DOCS = 10_000


#: The plan's settings that say how records are read (the others: its shard targets).
READ_SETTINGS = ("text_field", "id_field", "format", "max_doc_bytes")

#: A plan not read yet (``plan=`` of :func:`plan_shards`, :func:`planned_settings`,
#: :func:`unchanged_plan`): each reads the folder's ``manifest.json`` itself.
NOT_READ = object()


def read_plan(output_uri: str) -> Manifest | None:
    """The plan in ``output_uri``'s ``manifest.json``; None when there is none, or none
    readable (edited or corrupt: planning again says what to do with it). Read once by a
    command and passed on as ``plan=``: on S3 the manifest (every file and shard of the
    plan, MBs for a large crawl) is a GET each time it is read."""
    try:
        return load_manifest(output_uri)
    except (FileNotFoundError, *UNREADABLE_PLAN):
        return None


def read_settings(text_field: str = "text", id_field: str = "id", format: str | None = None,
                  max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES) -> dict:
    """The :data:`READ_SETTINGS` of a plan, as :func:`plan_shards` records them."""
    return {"text_field": text_field, "id_field": id_field, "format": format,
            "max_doc_bytes": max_doc_bytes}


class ManifestConflict(RuntimeError):
    """The output folder already holds a manifest of a different plan.

    Attributes:
        uri: That manifest.
        differences: What differs, for a person (:func:`plan_differences`): a command that
            offers its own way out words the error itself (``prox refine --replan``).
    """

    def __init__(self, message: str, uri: str = "", differences: str = ""):
        super().__init__(message)
        self.uri, self.differences = uri, differences


class StalePlan(RuntimeError):
    """The plan no longer holds an input file: it changed or is gone since planning
    (:func:`changed_since_planning`), or the plan counted it as an older prox read it, so
    refining by it would publish a part of the file as if it were all of it
    (:func:`read_the_old_way`). A retry reads the same; planning again mends it."""


def read_the_old_way(planned: InputFile) -> bool:
    """Whether ``planned``'s counts came from a prox that could not read the file it now
    reads: that prox recorded the whole file as one record where the file is now read
    record by record — one of no bytes, the ``truncated_file`` entry at line 0 (a
    ``.gz``/``.zst`` holding plain text or the other compression, before
    ``misnamed_compression``; a ``.zst`` starting with a skippable frame, as pzstd writes
    it), or one line of the whole file (lines that end in a lone carriage return, before
    :mod:`~prox_tasks.corpus.line_ends`). Only a lone record costs a look at the file's
    first record: a file whose first record still has the planned size is read by its
    plan, and one rewritten since planning is not taken for this (its reader says it
    changed)."""
    if planned.records != 1 or planned.format != "jsonl":
        return False
    from contextlib import closing

    from prox_tasks.corpus.document import InputNotice
    from prox_tasks.corpus.jsonl import iter_lines

    class Rewritten(Exception):
        pass

    def unchanged(found: Opened) -> None:
        try:
            _check_unchanged(planned, found)
        except RuntimeError:
            raise Rewritten from None

    try:
        with closing(iter_lines(planned.uri, 1 << 16, expect=unchanged)) as records:
            for _number, line, size in records:
                if not isinstance(line, InputNotice):  # its first record (a loss: no bytes)
                    return size != planned.bytes
    except Rewritten:
        return False
    return False


#: The way out of a plan that no longer holds its input (:class:`StalePlan`).
REPLAN = ("plan the folder again (prox refine --replan, prox plan --overwrite; the DAG's "
          "reprocess=true) or use a new output folder")


def stale_plan(planned: InputFile, counted: str = "as one record", output_uri: str = ""
               ) -> StalePlan:
    """The :class:`StalePlan` error for ``planned``, which the plan of the snapshot at
    ``output_uri`` ``counted`` so (the way out first: a command's one-line error is cut at
    400 characters; a released snapshot's is a new output folder, as its plan is not
    replaced)."""
    way_out = replan_way_out(output_uri, REPLAN) if output_uri else REPLAN
    return StalePlan(
        f"{way_out}: the plan was made by an older prox that "
        f"counted {planned.uri} {counted}; this prox reads that file otherwise (its "
        "compression or format not as named, a .zst that starts with a skippable frame, lines "
        "that end in a lone CR, a byte order mark alone at its end), so the plan's counts and shards do not hold its documents")


def plan_shards(input_uri: str, output_uri: str, target_docs: int | None = None,
                target_bytes: int | None = None, *, text_field: str = "text",
                id_field: str = "id", format: str | None = None,
                max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES, write: bool = True,
                overwrite: bool = False, progress=None,
                plan: Manifest | None | object = NOT_READ) -> Manifest:
    """Split the files at ``input_uri`` into shards and record them in a manifest.

    Files are taken in sorted order and their records in file order; a shard closes once
    it holds ``target_docs`` records or ``target_bytes`` bytes (uncompressed record bytes),
    whichever comes first. The same input and settings always give the same manifest.

    Args:
        input_uri: A file, folder, prefix or glob.
        output_uri: The folder the refined shards (and ``manifest.json``) go to.
        target_docs: Records per shard (default 10,000 when neither target is given).
        target_bytes: Bytes per shard.
        write: Write ``<output_uri>/manifest.json`` (atomically), and the snapshot's
            duplicate ids (:mod:`prox_tasks.corpus.duplicates`; one more read of the input).
        overwrite: Replace an existing manifest of a different plan instead of raising
            :class:`ManifestConflict`; the input is scanned again even when unchanged (the
            way out of a :class:`StalePlan`: an older prox's counts of the same files).
        progress: A bar advanced by one per record scanned (``update``), or None.
        plan: The folder's plan as the caller just read it (:func:`read_plan`, None: no
            readable plan there), to tell whether it is unchanged without reading it again;
            default: read here.
    """
    check_output_folder(output_uri, "the output")  # not a file: its plan is not found
    if target_docs is None and target_bytes is None:
        target_docs = DEFAULT_TARGET_DOCS
    if (target_docs is not None and target_docs < 1) or (target_bytes is not None and target_bytes < 1):
        raise ValueError("targets must be positive")
    settings = {"target_docs": target_docs, "target_bytes": target_bytes,
                **read_settings(text_field, id_field, format, max_doc_bytes)}
    # not with overwrite: a plan an older prox counted otherwise (StalePlan, which names
    # overwrite as the way out) lists the same unchanged files, and would be kept
    unchanged = unchanged_plan(input_uri, output_uri, settings, plan=plan) \
        if write and not overwrite else None  # fmt: skip
    if unchanged is not None:  # a retried or rerun plan: the crawl is not read again
        from prox_tasks.corpus.duplicates import index_duplicates

        unchanged = with_offsets(unchanged)  # once, for a plan made before offsets
        index_duplicates(unchanged)  # nothing to do when its list was written
        unchanged.reused = True
        return unchanged
    files, shards = [], [ShardPlan(0)]
    # each file's identity as listed before it is scanned (on S3 from the listing: no HEAD
    # a file): a file rewritten during the plan then fails its shards' read check, instead
    # of its new identity vouching for counts of its old bytes
    listed = identities_in(input_uri)
    # the files skipped are said once, below, not also one line each as listed
    listing, skipped = input_listing(input_uri, format, warn=False)
    # before the scan: a path naming a partition column twice (PartitionConflict) is
    # refused at once, not after hours of reading the crawl
    root = planned_partition_root(input_uri, [path for path, _fmt in listing])
    # an id field named that the first file's rows lack (a typo): refused before the scan,
    # as the shards' reads would refuse it after the plan is written
    options = ReadOptions(text_field, id_field, max_doc_bytes, format)
    probe_id_field(*listing[0], options)
    for path, fmt in listing:  # WET files further down the folder too: no field to read
        if fmt == "wet":
            refuse_id_field_of_wet(path, options)
    for path, fmt in listing:
        found = listed.get(path) or identity_of(path)
        # a local file's hash before its scan too: taken after, the bytes of a file
        # rewritten meanwhile (same size) vouched for counts of the old ones
        fingerprint = found.fingerprint or content_fingerprint(path)
        records = total = 0
        segment = None
        for offset, nbytes, at in FORMATS[fmt].scan(path, max_doc_bytes):
            shard = shards[-1]
            if shard.docs and ((target_docs and shard.docs >= target_docs)
                               or (target_bytes and shard.bytes >= target_bytes)):
                shard = ShardPlan(len(shards))
                shards.append(shard)
                segment = None
            if segment is None:
                segment = Segment(path, fmt, offset, offset + 1, 0, 0, at)
                shard.segments.append(segment)
            segment.end, segment.docs, segment.bytes = offset + 1, segment.docs + 1, segment.bytes + nbytes
            shard.docs, shard.bytes = shard.docs + 1, shard.bytes + nbytes
            records, total = records + 1, total + nbytes
            if progress is not None:
                progress.update(1)
        files.append(InputFile(path, fmt, found.size, records, total, fingerprint,
                               found.version))
    if not any(f.records for f in files):  # before a manifest of nothing is written
        raise empty_input(input_uri, [f.uri for f in files])
    if not shards[-1].docs:
        shards.pop()
    # the folder's plan read again, not ``plan``: after a scan (hours, for a large crawl) a
    # plan another run wrote meanwhile is the one to spell the URIs as
    uris = _spelled_as_planned(input_uri, output_uri) if write else \
        (to_uri(input_uri), to_uri(output_uri))  # fmt: skip
    manifest = Manifest(*uris, settings, files, shards,
                        partition_root=root,
                        skipped_files=skipped,
                        markers_left_out=markers_left_out(input_uri, len(listed)))
    if skipped:
        log.warning("%s: %s%s not read (the plan's skipped_files lists them): %s",
                    input_uri, count(len(skipped), "file"),
                    of_no_known_format([s["uri"] for s in skipped]),
                    "; ".join(f"{shown(s['uri'])} ({s['reason']})" for s in skipped[:3])
                    + (" …" if len(skipped) > 3 else ""))
    if write:
        from prox_tasks.corpus.duplicates import index_duplicates

        manifest.reused = _write(manifest, overwrite)
        index_duplicates(manifest)  # every shard applies the duplicate-id policy snapshot-wide
    return manifest


def _spelled_as_planned(input_uri: str, output_uri: str) -> tuple[str, str]:
    """The canonical input and output URIs, written as the plan already in the output folder
    writes them where they name the same folder but for a trailing slash (``in/`` and
    ``in``): the URIs are part of the plan's id, and a rerun spelled otherwise is the same
    plan, not a :class:`ManifestConflict` (nor, overwritten, a plan whose shards are all
    refined again)."""
    spelled = to_uri(input_uri), to_uri(output_uri)
    try:
        existing = load_manifest(output_uri)
    except (FileNotFoundError, *UNREADABLE_PLAN):
        return spelled
    return tuple(planned if same_uri(planned, uri) else uri for planned, uri in
                 zip((existing.input_uri, existing.output_uri), spelled, strict=True))


def markers_left_out(input_uri: str, listed: int) -> int:
    """How many names starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc``: Hadoop's
    markers and temp files) a folder input holds beside the ``listed`` files its listing
    gave; logged once. One listing more, made when a plan is made, and when a plan made
    before they were recorded is re-opened (not every re-opening of an unchanged plan)."""
    hidden = max(0, len(list_uri(input_uri, include_hidden=True)) - listed)
    if hidden:
        log.info("%s: %s starting with . or _ left out (markers, temp files)", input_uri,
                 count(hidden, "name"))
    return hidden


#: The read settings a command that does not give them takes from the folder's plan
#: (``max_doc_bytes``, a limit too, is kept with the snapshot's refine settings instead).
PLANNED_READING = ("text_field", "id_field", "format")


def planned_settings(output_uri: str, targets: Mapping[str, int | None] | None,
                     given: Mapping[str, str | None],
                     plan: Manifest | None | object = NOT_READ) -> tuple[dict, dict]:
    """The shard targets and the read settings of a command planning, or re-opening, the plan
    at ``output_uri``, each as the command gives it, else as that plan has it: a rerun naming
    none plans as planned (``prox refine`` after ``prox plan --target-docs 300 --text-field
    raw_content``, a scheduled run into a snapshot planned with ``format=jsonl``), where it
    was refused as another plan. One that gives another value still is
    (:class:`ManifestConflict`). The folder's ``manifest.json`` (every file and shard of the
    plan: MBs for a large crawl, a GET on S3) is read once for both, and only when something
    is left to it.

    Args:
        output_uri: The snapshot's folder.
        targets: The shard targets the command names (``target_docs``, ``target_bytes``),
            returned as given; None for none: the plan's (:data:`DEFAULT_TARGET_DOCS` when the
            folder holds no readable plan).
        given: The read settings of :data:`PLANNED_READING` the command names; the others
            are the plan's (``text``, ``id``, by the files' names when it holds none).
        plan: The folder's plan as the caller read it (:func:`read_plan`), passed on to
            :func:`plan_shards` too: one GET of ``manifest.json`` for both; default: read
            here when something is left to it.

    Returns:
        ``(targets, reading)``: ``reading`` holds each of :data:`PLANNED_READING`.
    """
    reading = {**read_settings(), **given}
    left = [key for key in PLANNED_READING if key not in given]
    existing = None
    if plan is not NOT_READ:
        existing = plan
    elif targets is None or left:  # no plan, or one planning reports on: None
        existing = read_plan(output_uri)
    if targets is None and existing is None:  # a new folder
        targets = {"target_docs": DEFAULT_TARGET_DOCS, "target_bytes": None}
    elif targets is None:
        targets = {key: existing.settings.get(key) for key in ("target_docs", "target_bytes")}
    if existing is not None and left:
        kept = {key: existing.settings.get(key, reading[key]) for key in left}
        if any(kept[key] != reading[key] for key in left):  # said: not the default it looks like
            log.info("%s: read as planned: %s", output_uri,
                     ", ".join(f"{key} {value!r}" for key, value in kept.items()))
        reading.update(kept)
    return dict(targets), {key: reading[key] for key in PLANNED_READING}


def unchanged_plan(input_uri: str, output_uri: str, settings: dict,
                   compare: tuple[str, ...] | None = None,
                   plan: Manifest | None | object = NOT_READ) -> Manifest | None:
    """The manifest at ``output_uri`` when planning ``input_uri`` with ``settings`` again
    would write it unchanged: it planned the same input with the same ``settings`` (only
    the keys in ``compare``, when given), and the input lists the same files, none rewritten
    since (a file whose version — a stat, an S3 HEAD — changed is compared by its size and
    fingerprint). None otherwise, and then the input must be scanned. ``plan``: the folder's
    plan as the caller read it (:func:`read_plan`); default: read here.
    """
    existing = read_plan(output_uri) if plan is NOT_READ else plan
    if existing is None:
        return None
    keys = compare if compare is not None else {*settings, *existing.settings}
    if (not same_uri(existing.input_uri, input_uri) or not same_uri(existing.output_uri, output_uri)
            or any(existing.settings.get(k) != settings.get(k) for k in keys)):
        return None
    # a plan reused says nothing new: its skipped_files, in the command's summary line
    listed, skipped = input_listing(input_uri, settings.get("format"), warn=False)
    if [(f.uri, f.format) for f in existing.files] != list(listed):
        return None
    found = identities_in(input_uri)  # the listing's, not a HEAD a file (S3)
    for planned in existing.files:
        if planned.fingerprint is None:  # a plan from before fingerprints: scan again
            return None
        if read_the_old_way(planned):  # its counts are not what a scan gives now
            return None
        if planned.uri not in found or not _same_file(planned, found[planned.uri]):
            return None
    # a plan made before they were recorded, or a README added since: the same plan, its
    # listing recorded anew; its markers counted once (one listing more), as when planned
    unrecorded = existing.markers_left_out is None
    if existing.skipped_files != skipped or unrecorded:
        existing.skipped_files = skipped
        if unrecorded:
            existing.markers_left_out = markers_left_out(input_uri, len(found))
        _record_listing(existing)
    return existing


def _record_listing(manifest: Manifest) -> None:
    """Write ``manifest``'s :attr:`~prox_tasks.corpus.manifest.Manifest.skipped_files` and
    ``markers_left_out`` into its ``manifest.json`` when that holds the same plan (they are
    not part of its id); a plan replaced meanwhile, or a released snapshot's, is left as it
    is."""
    if released_as(manifest.output_uri):
        return
    data = manifest.to_json().encode()

    def decide(current: bytes | None) -> bytes | None:
        try:
            written = Manifest.from_dict(json.loads(current)) if current else None
        except UNREADABLE_PLAN:  # edited or corrupt: not this plan's to mend
            return None
        return data if written is not None and written.id == manifest.id else None

    replace_if(manifest.uri, decide)


#: The formats a read can start at a record's byte offset in (:attr:`Segment.byte_offset`).
OFFSET_FORMATS = ("jsonl", "wet")


def _offsets_recorded(manifest: Manifest) -> int:
    return sum(g.byte_offset is not None for s in manifest.shards for g in s.segments)


def with_offsets(manifest: Manifest) -> Manifest:
    """``manifest``, and when it is a plan made before segments recorded their
    :attr:`~prox_tasks.corpus.manifest.Segment.byte_offset` (none does), the same plan with
    them, written over its ``manifest.json`` under the same id: its late shards then seek
    instead of reading their file from its start, for ever (a rerun or replan of it keeps
    it). Each plain JSONL or WET file with a segment past its first record is scanned once,
    checked on its open to be the file planned, and its records counted as the plan counted
    them, segment by segment; a file that cannot be read from an offset (compressed JSONL,
    UTF-16) is left without. A released snapshot is left as it is.

    Raises:
        StalePlan: A file changed since planning, or is counted otherwise than the plan
            counted it: the plan's offsets would not be its records' (plan it again).
    """
    if _offsets_recorded(manifest):  # a plan of this prox: what could be recorded was
        return manifest
    segments: dict[str, list[Segment]] = {}
    for shard in manifest.shards:
        for segment in shard.segments:
            segments.setdefault(segment.file, []).append(segment)
    wanted = [f for f in manifest.files if f.format in OFFSET_FORMATS and any(
        g.start for g in segments.get(f.uri, ()))
        and not (f.format == "jsonl" and compression_of(f.uri))]  # fmt: skip
    if not wanted or released_as(manifest.output_uri):
        return manifest
    found = {}
    for planned in wanted:
        found.update(_scanned_offsets(planned, segments[planned.uri],
                                      manifest.settings["max_doc_bytes"]))
    if not found:
        return manifest
    filled = Manifest.from_dict(json.loads(manifest.to_json()))
    for shard in filled.shards:
        for segment in shard.segments:
            segment.byte_offset = found.get((segment.file, segment.start))
    _write_offsets(filled)
    return filled


def _scanned_offsets(planned: InputFile, segments: list[Segment], max_doc_bytes: int
                     ) -> dict[tuple[str, int], int]:
    """``{(file, segment start): byte offset}`` of the file ``planned`` (its ``segments``,
    in file order) as a scan of it now finds them; empty when it cannot be read from an
    offset.

    Raises:
        StalePlan: ``planned`` is not the file planned, or its records are counted otherwise.
    """
    from contextlib import closing

    def unchanged(found: Opened) -> None:
        _check_unchanged(planned, found)  # a released plan gets no offsets

    starts = [segment.start for segment in segments]
    counted = [[0, 0] for _ in segments]
    offsets, records, total = {}, 0, 0
    scan = FORMATS[planned.format].scan(planned.uri, max_doc_bytes, expect=unchanged)
    with closing(scan):
        for number, size, at in scan:
            if not records and at is None:  # not readable from an offset: no scan further
                return {}
            i = bisect.bisect_right(starts, number) - 1
            if i < 0 or number >= segments[i].end:  # a record the plan has in no segment
                raise stale_plan(planned, f"as {planned.records:,} records (record {number} "
                                          "is in none of its shards now)")
            counted[i][0] += 1
            counted[i][1] += size
            if number == starts[i] and at is not None:
                offsets[planned.uri, number] = at
            records, total = records + 1, total + size
    if (records, total) != (planned.records, planned.bytes) or any(
            (g.docs, g.bytes) != tuple(c) for g, c in zip(segments, counted, strict=True)):
        raise stale_plan(planned, f"as {planned.records:,} records of {planned.bytes:,} bytes "
                                  f"(it holds {records:,} of {total:,} now)")
    return offsets


def _write_offsets(filled: Manifest) -> None:
    """Write ``filled`` over its ``manifest.json`` when that holds the same plan with fewer
    offsets (a plan made before them); a plan replaced meanwhile is left as it is."""
    data = filled.to_json().encode()

    def decide(current: bytes | None) -> bytes | None:
        if current is None:
            return None
        try:
            written = Manifest.from_dict(json.loads(current))
        except UNREADABLE_PLAN:  # edited or corrupt: not this plan's to mend
            return None
        if written.id != filled.id or _offsets_recorded(written) >= _offsets_recorded(filled):
            return None
        return data

    replace_if(filled.uri, decide)


def _unreadable(manifest: Manifest, err: BaseException) -> ManifestConflict:
    # the way out first: a command's one-line error is cut at 400 characters
    return ManifestConflict(
        f"{manifest.uri} holds no readable plan: use a new output folder or overwrite it "
        f"(prox plan --overwrite); it is edited or corrupt ({_reason(err)})", manifest.uri,
        f"unreadable plan ({_reason(err)})")


def _reason(err: BaseException) -> str:
    """What reading an unreadable plan met, without :class:`UnreadablePlan`'s way out
    (planning names its own)."""
    return getattr(err, "reason", None) or str(err)


def _write(manifest: Manifest, overwrite: bool) -> bool:
    """Write ``manifest`` into its folder; True when the folder already held this plan
    (nothing written but offsets it lacked)."""
    replaced = None
    if exists(manifest.uri):
        try:
            existing = load_manifest(manifest.uri)
        except UNREADABLE_PLAN as err:
            if not overwrite:
                raise _unreadable(manifest, err) from err
            existing = None
        if existing is not None and existing.id == manifest.id:
            # the same plan, planned again (--replan, --overwrite): with the offsets one
            # made before they were recorded lacks
            if _offsets_recorded(manifest) > _offsets_recorded(existing) and \
                    not released_as(manifest.output_uri):
                _write_offsets(manifest)
            return True
        if not overwrite:
            raise _conflict(manifest, existing)
        refuse_if_released(manifest.output_uri, "replacing its plan")
        from prox_tasks.refine.claim import claim_for_new_plan

        # first: a run still refining the old plan publishes nothing more from now on
        claim_for_new_plan(manifest.output_uri, manifest.id)
        # an unreadable plan's shards are not known: whatever the folder holds goes
        _remove_outputs(existing, manifest.output_uri)
        replaced = _UNREADABLE if existing is None else existing.id

    def decide(current: bytes | None) -> bytes | None:
        # a plan written meanwhile by a concurrent run (another `prox plan`, `prox refine`,
        # a retried plan task) is compared, never overwritten unseen
        if current is not None:
            try:
                written = Manifest.from_dict(json.loads(current))
            except UNREADABLE_PLAN as err:
                if replaced is _UNREADABLE:  # the unreadable one this call overwrites
                    return manifest.to_json().encode()
                raise _unreadable(manifest, err) from err
            if written.id == manifest.id:
                return None
            if written.id != replaced:
                raise _conflict(manifest, written)
        return manifest.to_json().encode()

    replace_if(manifest.uri, decide)
    return False


def _conflict(manifest: Manifest, existing: Manifest) -> ManifestConflict:
    # the way out first: a command's one-line error is cut at 400 characters
    differences = plan_differences(existing, manifest)
    return ManifestConflict(
        f"{manifest.uri} holds another plan: use a new output folder or overwrite it "
        f"(prox plan --overwrite); it differs in {differences}", manifest.uri, differences
    )


def plan_differences(old: Manifest, new: Manifest, files_named: int = 1) -> str:
    """What makes plan ``new`` another plan than ``old``, for a person: ``target_docs 10
    -> 20``, ``input file added: …``, ``input file rewritten: …`` (the ids when nothing
    else differs)."""
    parts = [f"{key} {old.settings.get(key)!r} -> {new.settings.get(key)!r}"
             for key in sorted({*old.settings, *new.settings})
             if old.settings.get(key) != new.settings.get(key)]
    if old.input_uri != new.input_uri:  # its files differ too: no need to list them
        return "; ".join([f"input {old.input_uri} -> {new.input_uri}", *parts])
    before, after = {f.uri: f for f in old.files}, {f.uri: f for f in new.files}
    rewritten = sorted(uri for uri in before.keys() & after.keys()
                       if (before[uri].size, before[uri].fingerprint, before[uri].format)
                       != (after[uri].size, after[uri].fingerprint, after[uri].format))
    # the same bytes counted otherwise: a plan of an older reader (read_the_old_way)
    recounted = sorted(uri for uri in before.keys() & after.keys() if uri not in rewritten
                       and before[uri].records != after[uri].records)
    for what, uris in (("added", sorted(after.keys() - before.keys())),
                       ("gone", sorted(before.keys() - after.keys())), ("rewritten", rewritten),
                       ("read otherwise than planned (same bytes, other record count: a "
                        "plan of an older prox)", recounted)):
        if uris:
            more = f" and {len(uris) - files_named:,} more" if len(uris) > files_named else ""
            parts.append(f"input {'files' if len(uris) > 1 else 'file'} {what}: "
                         f"{', '.join(uris[:files_named])}{more}")
    return "; ".join(parts) or f"plan {old.id[:12]} != {new.id[:12]}"


#: ``replaced`` in :func:`_write` when the plan overwritten could not be read.
_UNREADABLE = object()


def _remove_outputs(replaced: Manifest | None, output_uri: str) -> None:
    """Remove what was refined under a replaced plan: its shards would otherwise be reused
    (or read beside the new plan's) though they hold other documents. Status records go
    first, so an interrupted removal never leaves a shard that looks done. Then the old
    plan's parts (:meth:`Manifest.write_part`): its work items' tasks read the manifest
    instead and refuse (:class:`~prox_tasks.corpus.manifest.PlanReplaced`).

    Each folder is listed once and only the old plan's files found there are removed, 1,000
    a request on S3: a HEAD and a DELETE for each of a 100,000-shard plan's three files a
    shard (600,000 requests, whether the shard was refined or not) made replacing such a
    plan take hours.

    ``replaced`` None: a plan that could not be read (edited or corrupt), whose shards are
    not known: every status record, shard, quarantine file and plan part goes."""
    for uri_of in (status_uri, shard_uri, quarantine_uri):
        folder = uri_of(output_uri, 0).rpartition("/")[0]
        found = names_in(folder)
        planned = (uri_of(output_uri, s.index) for s in replaced.shards) if replaced \
            else (join_uri(folder, name) for name in sorted(found))  # fmt: skip
        remove_all([uri for uri in planned if uri.rpartition("/")[2] in found])
    remove_all(list_uri(join_uri(output_uri, PARTS_FOLDER, *([replaced.id] if replaced else []))))


def _options(manifest: Manifest) -> ReadOptions:
    s = manifest.settings
    return ReadOptions(s["text_field"], s["id_field"], s["max_doc_bytes"], s["format"],
                       manifest.partition_root)


def _same_file(planned: InputFile, found: Opened) -> bool:
    """Whether the file ``found`` (its open's, a listing's, a stat's or HEAD's identity) is
    the one planned: the same size and — when its version moved — the bytes of its recorded
    fingerprint (a copy or a touch with the same bytes passes; on S3 the ETag ``found``
    holds says so, locally the file is hashed)."""
    if found.size != planned.size:
        return False
    if planned.version is None or found.version == planned.version:
        return True  # a plan from before versions: checked by size
    return (found.fingerprint or content_fingerprint(planned.uri)) == planned.fingerprint


def _check_unchanged(planned: InputFile, found: Opened, output_uri: str = "") -> None:
    """Raise :class:`StalePlan` when the file ``found`` is not the one planned
    (:func:`_same_file`): a retry reads the same bytes (a DAG task fails at once), and the
    error names the way out for the snapshot at ``output_uri``."""
    if not _same_file(planned, found):
        raise changed_since_planning(planned, "changed", output_uri)


def changed_since_planning(planned: InputFile, how: str, output_uri: str = "") -> StalePlan:
    """The :class:`StalePlan` error for the input file ``planned``, which ``how`` (changed,
    is gone) since the plan of the snapshot at ``output_uri`` was made: the way out first,
    as :func:`stale_plan` words it, then restoring the file as planned."""
    way_out = replan_way_out(output_uri, REPLAN) if output_uri else REPLAN
    return StalePlan(f"{way_out}: {planned.uri} {how} since the manifest was planned (or "
                     "restore the file as it was planned)")


def _refuse_stale(planned: InputFile, output_uri: str) -> None:
    """Raise :class:`StalePlan` when the plan of the snapshot at ``output_uri`` counted
    ``planned`` the old way (:func:`read_the_old_way`)."""
    if read_the_old_way(planned):
        raise stale_plan(planned, output_uri=output_uri)


def _read_planned(planned: InputFile, options: ReadOptions, quarantine: Quarantine | None,
                  start: int, end: int, fmt: str, planned_bytes: int,
                  at: int | None = None, output_uri: str = "",
                  planned_records: int | None = None) -> Iterator[Document]:
    """Records ``[start, end)`` of a planned file, read from byte ``at`` where the plan
    recorded where record ``start`` begins (:attr:`Segment.byte_offset`; the check below
    is made before the read moves there), refused (:func:`_check_unchanged`) when it
    is not the file planned. The check is made on the read's own open, before a record is
    read: on S3 the opening GET's ETag and length, no HEAD, and the later reads ask for
    that ETag, so the bytes read are the ones checked; :class:`StalePlan` when the plan
    counted it the old way — a lone record up front (:func:`read_the_old_way`), and for
    JSONL, once the range is read, records not holding the ``planned_bytes`` the plan
    counted in it, or not the ``planned_records`` records (a reader that splits the file
    otherwise now: the plan's ranges would miss records, or hold one no more read), or when no record starts at ``at`` (an edited plan); ``output_uri``, the
    snapshot's folder, for the way out it names (:func:`stale_plan`)."""
    _refuse_stale(planned, output_uri)
    # before the open: a file replaced by a named pipe since planning held the refine task
    # on the open, waiting for a writer, until its execution timeout; one replaced by a
    # folder failed it with a bare "[Errno 21] Is a directory", retried in vain. Not the
    # file planned: the plan's way out (UnreadableInput's "move the file out of the input",
    # followed, was refused next as a planned file gone)
    replaced_by = not_a_file(planned.uri)
    if replaced_by is not None:
        raise changed_since_planning(planned, f"was replaced by {replaced_by}", output_uri)
    # no read permission, a link to nothing: made readable in place, or moved out of the
    # input and the folder planned again (moved out alone, it was refused next as gone)
    check_readable([planned.uri], then=" and " + (replan_way_out(output_uri, REPLAN)
                                                  if output_uri else REPLAN))
    read = [0, 0]  # bytes, records

    def count(size: int) -> None:
        read[0] += size
        read[1] += 1

    try:
        yield from read_file(planned.uri, options, quarantine, start, end, fmt,
                             expect=lambda found: _check_unchanged(planned, found, output_uri),
                             sizes=count if fmt == "jsonl" else None, at=at)
    except MisplacedOffset as err:  # an edited plan: what planning again mends
        raise StalePlan(str(err)) from err
    except FileNotFoundError as err:  # removed since planning: a retry will not find it
        raise changed_since_planning(planned, "is gone", output_uri) from err
    if fmt == "jsonl" and read[0] != planned_bytes:
        raise stale_plan(planned, f"records {start}-{end - 1} as {planned_bytes:,} bytes "
                                  f"(they hold {read[0]:,} now)", output_uri)
    if fmt == "jsonl" and planned_records is not None and read[1] != planned_records:
        raise stale_plan(planned, f"records {start}-{end - 1} as {planned_records:,} records "
                                  f"(they hold {read[1]:,} now)", output_uri)


def check_shard_inputs(manifest: Manifest, shard_index: int) -> None:
    """Raise what :func:`read_shard` raises on reaching an input file of the shard that is
    gone or changed since planning, for every file up front (a reader that must not stop
    half-way, the report's, checks first).

    Raises:
        FileNotFoundError: An input file is gone.
        StalePlan: An input file changed since planning, or the plan counted it as an
            older prox read it.
    """
    files = {f.uri: f for f in manifest.files}
    for segment in manifest.shard(shard_index).segments:
        _check_unchanged(files[segment.file], identity_of(segment.file), manifest.output_uri)
        _refuse_stale(files[segment.file], manifest.output_uri)


def read_shard(manifest_or_uri: Manifest | str, shard_index: int,
               quarantine: Quarantine | None = None) -> Iterator[Document]:
    """Stream one shard's documents; bad records go to ``quarantine`` (else raise).

    Raises:
        StalePlan: when an input file changed or is gone since planning, the plan counted
            an input file as an older prox read it, or records
            no record's start where a segment starts (:attr:`Segment.byte_offset`).
    """
    manifest = (manifest_or_uri if isinstance(manifest_or_uri, Manifest)
                else load_manifest(manifest_or_uri))
    options, files = _options(manifest), {f.uri: f for f in manifest.files}
    for segment in manifest.shard(shard_index).segments:
        yield from _read_planned(files[segment.file], options, quarantine, segment.start,
                                 segment.end, segment.format, segment.bytes,
                                 segment.byte_offset, manifest.output_uri, segment.docs)


def read_snapshot(manifest: Manifest, quarantine: Quarantine | None = None
                  ) -> Iterator[tuple[int, Document]]:
    """``(shard index, document)`` of every shard's documents in shard then record order,
    as :func:`read_shard` shard after shard gives them, but each input file opened once
    (a shard of a compressed file, which has no ``byte_offset``, passes over the records
    before it: such a file of ``n`` shards read shard by shard is read about ``n / 2``
    times).

    Raises:
        StalePlan: when an input file changed or is gone since planning.
    """
    options, files = _options(manifest), {f.uri: f for f in manifest.files}
    by_file: dict[str, list[tuple[Segment, int]]] = {}
    planned_bytes: Counter[str] = Counter()
    planned_records: Counter[str] = Counter()
    for shard in manifest.shards:
        for segment in shard.segments:
            by_file.setdefault(segment.file, []).append((segment, shard.index))
            planned_bytes[segment.file] += segment.bytes
            planned_records[segment.file] += segment.docs
    for uri, segments in by_file.items():  # planned in file order: shard order too
        ends = [segment.end for segment, _shard in segments]
        first = segments[0][0]
        for doc in _read_planned(files[uri], options, quarantine, first.start, ends[-1],
                                 first.format, planned_bytes[uri], first.byte_offset,
                                 manifest.output_uri, planned_records[uri]):
            yield segments[bisect.bisect_right(ends, doc.offset)][1], doc
