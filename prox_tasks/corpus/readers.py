"""Streaming readers over files, folders, prefixes and globs of JSONL, Parquet and WET."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import re
import stat
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from prox_tasks.corpus import jsonl, parquet_format, wet
from prox_tasks.corpus.document import (
    DEFAULT_ID_FIELD,
    DEFAULT_MAX_DOC_BYTES,
    BadRecordError,
    Document,
    InputNotice,
    RecordError,
)
from prox_tasks.corpus.partitions import partition_root, with_partitions
from prox_tasks.corpus.quarantine import Quarantine
from prox_tasks.storage import list_uri, parse_uri, to_uri
from prox_tasks.storage.compressed import OTHER_FORMAT_NAMES
from prox_tasks.wording import count, shown

log = logging.getLogger(__name__)

FORMATS = {"jsonl": jsonl, "parquet": parquet_format, "wet": wet}


class FormatMismatch(ValueError):
    """The input's files cannot be read as the format asked (``--format``, the ``format``
    Param) or cannot be told by their names: a retry would read the same files the same way,
    so the DAG tasks fail at once on it (:func:`prox_tasks.pipeline.errors.cannot_succeed`)
    and ``prox`` exits 2 (:func:`prox_tasks.cli.errors.setting_errors`)."""


@dataclass(frozen=True)
class ReadOptions:
    """How rows become documents.

    Attributes:
        text_field: The field holding the text (``text``, ``raw_content``, …).
        id_field: The field holding the id; a content hash is used when it is absent.
        max_doc_bytes: Larger texts are quarantined as ``too_large``.
        format: ``"jsonl"``, ``"parquet"``, ``"wet"``, or ``None`` to tell by extension.
        partition_root: The folder whose ``column=value`` sub-folders reach ``meta``
            (:func:`~prox_tasks.corpus.partitions.partition_root`); None: none do.
    """

    text_field: str = "text"
    id_field: str = DEFAULT_ID_FIELD
    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    format: str | None = None
    partition_root: str | None = None


#: Documents of a file read, at most, before an id field named otherwise that none of them
#: holds is refused (:class:`IdFieldMissing`); held back until one holds it, so a refused
#: read has handed none of them on (to a paid teacher, say).
ID_FIELD_PROBE_DOCS = 100
#: Records of a file held back, at most, while none is a document with or without the field
#: (a run of bad records at a file's start is not held in memory whole).
ID_FIELD_PROBE_RECORDS = 10 * ID_FIELD_PROBE_DOCS


class IdFieldMissing(ValueError):
    """The id field named (``--id-field``, the ``id_field`` Param), not the default, is in
    none of a file's first documents: every id would be its text's hash, the snapshot's
    ids all changed without a word (a typo: ``URL`` for ``url``); or the file is WET, whose
    records have no fields (:func:`refuse_id_field_of_wet`). A setting to fix: exit 2, the
    DAG task fails without retries."""


def refuse_id_field_of_wet(source: str, options: ReadOptions) -> None:
    """Refuse an id field named otherwise than the default for WET file ``source``: a WET
    document's id is its record's WARC-Record-ID (docs/storage.md), so the field named
    would be ignored without a word (the ids not what the user asked for).

    Raises:
        IdFieldMissing: ``options.id_field`` is not the default.
    """
    if options.id_field != DEFAULT_ID_FIELD:
        raise IdFieldMissing(
            f"{source} is WET, whose records have no fields: a WET document's id is its "
            f"WARC-Record-ID, not the id field {options.id_field!r} (--id-field, the "
            f"id_field Param); leave it out for WET input (or give the default "
            f"{DEFAULT_ID_FIELD!r})")


def check_id_field(records: Iterator[tuple], source: str, options: ReadOptions
                   ) -> Iterator[tuple]:
    """``records`` (a format module's ``(offset, item, raw)``), those of file ``source`` from
    its start, once a document among its first :data:`ID_FIELD_PROBE_DOCS` holds
    ``options.id_field`` (or the file ends first with one holding it); the default field is
    not checked: a row without it gets its text's hash. A document without the field named
    is a ``missing_id`` record (:func:`~prox_tasks.corpus.document.missing_id`), here and
    past the first ones: quarantined, never given its text's hash.

    Raises:
        IdFieldMissing: none of them holds it (nor any document of a shorter file), naming
            the fields they hold, before any record is handed on.
    """
    if options.id_field == DEFAULT_ID_FIELD:
        yield from records
        return
    held, fields, documents, found = [], {options.text_field: None}, 0, False
    for record in records:
        held.append(record)
        item = record[1]
        if isinstance(item, Document):
            found = True
            break
        if isinstance(item, RecordError) and item.reason == "missing_id":
            documents += 1  # a document but for its id
            fields.update(dict.fromkeys(item.fields))
            if documents >= ID_FIELD_PROBE_DOCS:
                break
        if len(held) >= ID_FIELD_PROBE_RECORDS:  # bad records alone: judged on what came
            break
    if documents and not found:
        names = ", ".join(repr(str(name)[:40]) for name in itertools.islice(fields, 12))
        more = ", …" if len(fields) > 12 else ""
        raise IdFieldMissing(
            f"none of the first {count(documents, 'document')} read of {source} has the id "
            f"field {options.id_field!r} (--id-field, the id_field Param; their fields: "
            f"{names}{more}): every id would be its text's hash; name the field the rows "
            f"hold their id in, or leave it out for the default {DEFAULT_ID_FIELD!r} (a "
            "row without it gets its text's hash)")
    yield from held
    yield from records


def probe_id_field(uri: str, fmt: str, options: ReadOptions) -> None:
    """Read the first documents of file ``uri`` for :func:`check_id_field` alone (a plan,
    which otherwise counts records without reading their fields, refuses before it writes).

    Raises:
        IdFieldMissing: as :func:`check_id_field`.
    """
    if options.id_field != DEFAULT_ID_FIELD:
        next(iter(read_file(uri, options, Quarantine(), fmt=fmt)), None)


def detect_format(uri: str) -> str | None:
    """The format of ``uri`` from its extension, or None when unknown. A JSON Lines name
    compressed so as prox does not read (``x.jsonl.bz2``: :func:`unread_compression`) is
    JSON Lines: read, it is one counted loss saying what to do (its bytes tell what it is),
    where skipped as of no known format its documents were left out with a log line only."""
    name = uri.lower()
    suffix = unread_compression(name)
    if suffix is not None:
        found = detect_format(name.removesuffix(suffix))
        return "jsonl" if found == "jsonl" else None
    for fmt in ("wet", "parquet", "jsonl"):  # ".warc.wet.gz" before a plain ".gz" check
        if name.endswith(FORMATS[fmt].EXTENSIONS):
            return fmt
    return None


def unread_compression(uri: str) -> str | None:
    """The suffix of ``uri`` that names a compression or archive prox does not read
    (``.bz2``, ``.xz``, ``.lz4``, ``.zip``, ``.7z``), or None."""
    return next((s for s in OTHER_FORMAT_NAMES if uri.lower().endswith(s)), None)


def input_files(uri: str, fmt: str | None = None, exclude: Collection[str] = ()
                ) -> list[tuple[str, str]]:
    """``(file URI, format)`` for every readable file ``uri`` names, sorted: the files of
    :func:`input_listing`, without those it skips."""
    return input_listing(uri, fmt, exclude)[0]


def input_listing(uri: str, fmt: str | None = None, exclude: Collection[str] = (),
                  warn: bool = True) -> tuple[list[tuple[str, str]], list[dict]]:
    """``(file URI, format)`` for every readable file ``uri`` names, sorted, and the files
    it skips for their format, each ``{"uri", "reason"}`` (the reason says how to read it).

    A folder's docs files (:func:`without_docs_files`: README, LICENSE) are left out
    silently; files of unknown format in a folder are skipped with a warning (notes, manifests; the
    plan lists them: :attr:`~prox_tasks.corpus.manifest.Manifest.skipped_files`); a single
    file of unknown format is an error. A file named as a crawl's WARC or WAT
    (:func:`crawl_file_advice`) is taken as of no readable format, with a forced ``fmt``
    too. ``exclude``: the command's own output files
    (:func:`listed_inputs`). ``warn`` False: the skipped files are not logged, their caller
    says them (the planner, once for all, with the plan that lists them).

    Raises:
        FormatMismatch: a file is not in the forced ``fmt``, or a single file's name shows
            no format.
        FileNotFoundError: no file to read.
        UnreadableInput: a local file to be read cannot be opened (one skipped for its
            format is not read, so not checked).
    """
    files, skipped = [], []
    listed = listed_inputs(uri, exclude)
    check_readable([p for p in listed if fmt or detect_format(p) or len(listed) == 1])
    # every file that would be read named as compressed so as prox cannot read (a file given
    # alone, a folder of .jsonl.bz2): the whole input would be losses, found by the
    # refine's gate, where such names were refused at once; so their content is checked
    read = [p for p in listed if detect_format(p) and not crawl_file_advice(p)]
    all_unread = bool(read) and all(unread_compression(p) for p in read)
    for path in listed:
        # a crawl's WARC or WAT file holds no text a forced format reads (--format wet: no
        # conversion record, one truncated_file entry the gate fails on later): refused by
        # its name as without --format, with what to give instead
        crawl = crawl_file_advice(path)
        # a forced format the name does not show, or shows compressed so as prox cannot read
        if not crawl and ((fmt and detect_format(path) != fmt)
                          or ((fmt or all_unread) and unread_compression(path))):
            _check_content(path, fmt or detect_format(path))
        found = None if crawl else fmt or detect_format(path)
        if found is None:
            if len(listed) == 1:
                raise FormatMismatch(crawl or compressed_parquet_advice(path)
                                     or compressed_wet_advice(path)
                                     or f"cannot tell the format of {shown(path)}; pass --format "
                                     "(format=): jsonl, parquet or wet")
            reason = crawl or skipped_reason(path)
            if warn:
                log.warning("skipping %s",
                            f"a crawl file: {crawl}" if crawl else f"{shown(path)}: {reason}")
            skipped.append({"uri": path, "reason": reason})
            continue
        files.append((path, found))
    if not files:
        raise NoInputFiles(f"no input files at {shown(uri)}"
                           f"{_skipped_note([s['uri'] for s in skipped]) or NAMES_NOTHING}")
    return files, skipped


#: The stems (any case, before the first dot) of a folder's own documentation: a dataset's
#: README, its license and notices, as the bundled sample and most published datasets hold.
_DOCS_STEMS = frozenset({"readme", "license", "licence", "copying", "notice", "authors",
                         "changelog", "changes", "citation", "contributing"})
#: The suffixes such a file has (or none: ``LICENSE``); ``README.jsonl`` is data by its name.
_DOCS_SUFFIXES = frozenset({"", ".md", ".markdown", ".txt", ".rst", ".adoc", ".cff"})


def is_docs_file(path: str) -> bool:
    """Whether ``path`` is named as a folder's documentation (``README.md``, ``LICENSE``,
    ``NOTICE.txt``, ``CITATION.cff``), which the input listing leaves out of a folder
    silently (:func:`input_listing`): a file a data team expects beside its data, not a file
    of no known format to rename or read with ``--format``."""
    name = path.rpartition("/")[2].lower()
    stem, dot, suffix = name.partition(".")
    return stem in _DOCS_STEMS and (dot + suffix) in _DOCS_SUFFIXES


def skipped_reason(path: str) -> str:
    """Why ``path``, of no format its name shows, is not read, and how to read it. A
    ``.json`` is not read as JSON Lines by default: in a data folder one is as often a
    single JSON document (a schema, a stats file) as Spark's JSON Lines, and read as records
    it would be a bogus bad record; its user says which it is."""
    compressed = compressed_parquet_advice(path) or compressed_wet_advice(path)
    if compressed is not None:
        return f"not read: {compressed}"
    if path.lower().endswith((".json", ".json.gz", ".json.zst")):
        return ("not read: a .json name (Spark's df.write.json() writes JSON Lines so); "
                "if it is JSON Lines, rename it .jsonl or pass --format (format=) jsonl")
    return ("not read: not JSONL, Parquet or WET by its name; rename it (.jsonl, .parquet, "
            ".warc.wet.gz) or pass --format (format=) if it is one")


#: What a user whose input names no file checks (the end of a "no … files at URI"): said
#: another way by a caller that knows the setting the input came from (:func:`checked_as`).
CHECK_INPUT = "check the input's path"
#: Why an input names no file at all, and what to do (the end of a "no … files at URI").
NAMES_NOTHING = f": an empty folder, or a path, prefix or glob that names no file: {CHECK_INPUT}"


def checked_as(err: BaseException, advice: str) -> str:
    """``err``'s message (an input that names no file) with ``advice`` as its way out: in
    place of the readers' own :data:`CHECK_INPUT` where it ends with it, else after it. The
    seed DAG said "…: check the input's path: check input_uri", the advice twice."""
    said = str(err)
    if said.endswith(CHECK_INPUT):
        return said[: -len(CHECK_INPUT)] + advice
    return f"{said}: {advice}"


#: Common Crawl's other files, by name (less a ``.gz``/``.zst``): what they hold instead of
#: the text a WET's conversion records do, and what to read for it.
_CRAWL_FILES = {
    ".warc": ("a WARC (response records: HTML), not a WET (conversion records: text)",
              "give its WET conversion (the crawl's .warc.wet.gz of that segment), or use "
              "it as the HTML of those WET records: prox label --input WET --warc {path}"),
    ".wat": ("a WAT (metadata records: JSON), not a WET (conversion records: text)",
             "give its WET conversion (the crawl's .warc.wet.gz of that segment)"),
}


#: What a Parquet file compressed whole is to do: no Parquet reader reads one.
_DECOMPRESS_PARQUET = "decompress it and read that (a Parquet file compresses its own pages)"


def compressed_parquet_advice(path: str) -> str | None:
    """``path is Parquet compressed whole …``: why ``path``, named as Parquet compressed as
    a whole file (``part-0.parquet.gz``), is not read, and what to do; None for any other
    name. Taken for a file of no known format, it was told to pass ``--format``, which reads
    it no better."""
    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd", *OTHER_FORMAT_NAMES):
        if name.endswith(suffix) and name.removesuffix(suffix).endswith(parquet_format.EXTENSIONS):
            return (f"{path} is Parquet compressed whole ({suffix}), which prox does not read: "
                    f"{_DECOMPRESS_PARQUET}")
    return None


#: The suffixes of a zstd-compressed file, which warcio (the WARC reader) does not read.
_ZSTD = (".zst", ".zstd")


def compressed_wet_advice(path: str) -> str | None:
    """``path is a zstd-compressed WET file …``: why ``path``, named as a WET compressed with
    zstd (``x.warc.wet.zst``), is not read, and what to do; None for any other name. Taken
    for a file of no known format, it was told to rename it or pass ``--format``, which reads
    it no better."""
    name = path.lower()
    for suffix in _ZSTD:
        if name.endswith(suffix) and name.removesuffix(suffix).endswith(wet.EXTENSIONS):
            return f"{path} is {wet.zstd_not_read('WET')}"
    return None


def crawl_file_advice(path: str) -> str | None:
    """``path is …``: why ``path``, named as a crawl's WARC or WAT file, is not read, and what
    to give instead; None for any other name. ``--format wet`` reads no text from one either
    (:mod:`prox_tasks.corpus.wet`: no conversion record)."""
    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd"):
        name = name.removesuffix(suffix)
    for ext, (what, todo) in _CRAWL_FILES.items():
        if name.endswith(ext):
            # zstd: --warc reads it no better than --input, so what to do about that too
            zstd = (f"; it is {wet.zstd_not_read(ext[1:].upper())}"
                    if path.lower().endswith(_ZSTD) else "")
            return f"{path} is {what}, which prox reads: {todo.format(path=path)}{zstd}"
    return None


def _skipped_note(skipped: list[str], named: int = 2) -> str:
    """Why a listing that found files has none to read: Spark writes JSON Lines as
    ``part-00000.json``, which only a forced format reads. The way out comes first: a
    command's one-line error is cut at 400 characters."""
    if not skipped:
        return ""
    crawl = [advice for advice in map(crawl_file_advice, skipped) if advice]
    if len(crawl) == len(skipped):  # --format wet would read no text from them either
        return f": {len(crawl):,} crawl {'file' if len(crawl) == 1 else 'files'}: {crawl[0]}"
    compressed = [advice for advice in map(compressed_parquet_advice, skipped) if advice]
    if len(compressed) == len(skipped):  # --format parquet would read them no better
        return f": {count(len(compressed), 'file')} of Parquet compressed whole: {compressed[0]}"
    zstd = [advice for advice in map(compressed_wet_advice, skipped) if advice]
    if len(zstd) == len(skipped):  # --format wet would read them no better
        return f": {count(len(zstd), 'WET file')} compressed with zstd: {zstd[0]}"
    more = f" and {len(skipped) - named:,} more" if len(skipped) > named else ""
    return (f": pass --format (format=) jsonl, parquet or wet to read the {len(skipped):,} "
            f"{'file' if len(skipped) == 1 else 'files'} of no known format it skipped "
            f"({', '.join(map(shown, skipped[:named]))}{more})")


class UnreadableInput(OSError):
    """Local input files that cannot be opened: a link to nothing, a file without read
    permission for the user running prox. Named all at once, before planning (the open of
    the first would fail the run naming it alone, a link as 'No such file'). A setting to
    fix (:func:`prox_tasks.cli.errors.setting_errors`: exit 2; a DAG task fails without
    retries, :func:`prox_tasks.pipeline.errors.cannot_succeed`): a retry lists the same files,
    unreadable until someone fixes them or moves them out of the input."""


def unreadable_files(paths: Collection[str]) -> list[str]:
    """Each local file of ``paths`` that cannot be opened for reading, with why: a symbolic
    link whose target does not exist or that leads back to itself (a loop of links), a
    named pipe, socket or device (not a file: opening a pipe waits for a writer for ever),
    or a file the user running prox may not read. S3 objects are left to their read (a
    listing names only objects that exist)."""
    found = []
    for uri in paths:
        location = parse_uri(uri)
        if location.scheme != "file":
            continue
        path = location.path
        try:
            mode = os.stat(path).st_mode  # follows links
        except OSError as err:
            if os.path.islink(path):
                leads = "which leads back to itself: a loop of links" \
                    if err.errno == errno.ELOOP else "which does not exist"  # fmt: skip
                found.append(f"{shown(uri)} (a link to {shown(os.readlink(path))}, {leads})")
            continue  # gone since listed: nothing left to read
        if not stat.S_ISREG(mode):
            found.append(f"{shown(uri)} ({_kind_of(mode)}, not a file prox can read)")
        elif not os.access(path, os.R_OK):
            found.append(f"{shown(uri)} (no read permission)")
    return found


#: What a listed path that is not a regular file is, in words.
_NOT_A_FILE = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket",
               stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
               stat.S_IFDIR: "a folder"}  # (a planned file replaced by one)


def _kind_of(mode: int) -> str:
    """What a path of ``st_mode`` ``mode`` that is no regular file is, in words."""
    return _NOT_A_FILE.get(stat.S_IFMT(mode), "not a regular file")


def not_a_file(uri: str) -> str | None:
    """What the local path ``uri`` is when it is there but no regular file (a named pipe, a
    folder, …: :data:`_NOT_A_FILE`), in words; None for a regular file, a path not there,
    and S3 (an object is a file)."""
    location = parse_uri(uri)
    if location.scheme != "file":
        return None
    try:
        mode = os.stat(location.path).st_mode  # follows links
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _kind_of(mode)


def check_readable(paths: Collection[str], named: int = 3, given: str = "the input",
                   noun: str = "input", then: str = "") -> None:
    """Raise :class:`UnreadableInput` naming the files of ``paths`` that cannot be read
    (:func:`unreadable_files`); the way out first, as a command's error is cut at 400
    characters. ``given`` names where the files come from, ``noun`` what each is (the
    input's by default; ``--warc`` names its WARC files); ``then``, what must follow moving
    the files out (a plan that lists them: planning again)."""
    found = unreadable_files(paths)
    if not found:
        return
    more = f" and {len(found) - named:,} more" if len(found) > named else ""
    raise UnreadableInput(
        f"make {given} readable by the user running prox (chmod a+r; restore a link's "
        f"target) or move the {'file' if len(found) == 1 else 'files'} out of {given}"
        f"{then}: "
        f"{len(found):,} {noun} {'file' if len(found) == 1 else 'files'} cannot be read: "
        f"{', '.join(found[:named])}{more}")


class NoInputFiles(FileNotFoundError):
    """The input names no file to read (an empty folder, a path, prefix or glob that matches
    nothing, files of other formats or docs files only): an input to fix or deliver, which
    running the same command again cannot get past (``prox`` exits 2, a DAG task fails
    without retries; waiting for a partition is the sensor's and ``--partition-marker``'s
    job). Still a FileNotFoundError for the callers that catch one."""


class EmptyInput(ValueError):
    """The input's files hold no record at all: nothing to label or refine, so nothing is
    published (a nightly job over an empty delivery fails instead of reporting 0). An input
    to fix or deliver, as :class:`NoInputFiles` (``prox`` exits 2); an empty file beside
    files with records is no error (nothing of it to read)."""


def empty_input(uri: str, files: Collection[str]) -> EmptyInput:
    """The :class:`EmptyInput` error naming ``files`` (the files ``uri`` names)."""
    names = ", ".join(files) or uri
    return EmptyInput(f"the input holds no records: {names} "
                      f"{'is' if len(files) == 1 else 'are'} empty (no document, not even a "
                      "bad one); nothing written: deliver the data or check --input")


class NoDocuments(ValueError):
    """The input held records but every one was quarantined: nothing to label, sample,
    execute or refine, so nothing is published, released or gated (a nightly job fails
    instead of reporting 0 documents); each record is in the quarantine with its reason.

    Its message (``str``) is ``prox``'s, naming ``--text-field``; :meth:`worded` gives it as
    the DAG's user reads it, naming the ``text_field`` Param (docs/airflow.md: a DAG's
    errors name its Params).

    Attributes:
        likeliest: The field most ``missing_text`` records hold a string in, and how many
            (:func:`~prox_tasks.corpus.document.likeliest_text_field`), or None.
    """

    def __init__(self, message: str, likeliest: tuple[str, int] | None = None) -> None:
        self.message, self.likeliest = message, likeliest
        super().__init__(self.worded("cli"))

    def worded(self, caller: str) -> str:
        """The message for ``caller`` (``cli`` or ``dag``): the field to read the text from,
        as that user sets it."""
        from prox_tasks.setting_names import setting_name

        if self.likeliest is None:
            return self.message
        field, holding = self.likeliest
        # the field bare, as typed, as the quarantine's detail names it
        give = (f"set {setting_name('text_field', caller)} to {field}" if caller == "dag"
                else f"{setting_name('text_field', caller)} {field}")
        return (f"{self.message}; {holding:,} of them hold a string in {field!r}: {give} if "
                "it is the text")


def no_documents(uri: str, quarantine: Quarantine, quarantine_uri: str,
                 advice: str | None = None) -> NoDocuments:
    """The :class:`NoDocuments` error for input ``uri`` whose every record is in
    ``quarantine``, which is written to ``quarantine_uri`` first (nothing lost); worded by
    :func:`all_quarantined`."""
    quarantine.write(quarantine_uri)
    return all_quarantined(uri, len(quarantine), quarantine.reasons, quarantine_uri,
                           quarantine.text_candidates, advice)


def all_quarantined(uri: str, records: int, reasons: Mapping[str, int], quarantine_uri: str,
                    text_candidates: Mapping[str, int] | None = None,
                    advice: str | None = None) -> NoDocuments:
    """The :class:`NoDocuments` error for input ``uri`` whose ``records`` were all
    quarantined (counted by reason in ``reasons``) into ``quarantine_uri``: ``no documents in
    IN: all its 2 records were quarantined (1 malformed_json, 1 missing_text), each with its
    reason and detail in Q: fix the input, or how it is read (…)``, then ``advice`` (None:
    the field the ``missing_text`` records hold a string in, from ``text_candidates``, if
    any, named as :meth:`NoDocuments.worded` names it to each caller: ``--text-field
    raw_content``, or ``set the text_field Param to raw_content``). The one wording of ``prox label``, ``prox execute`` and ``prox
    refine`` (and the DAGs)."""
    from prox_tasks.corpus.document import likeliest_text_field
    from prox_tasks.wording import by_reason

    said = (f"all its {count(records, 'record')} were" if records > 1
            else "its one record was")
    message = (f"no documents in {uri}: {said} quarantined ({by_reason(reasons)}), each with "
               f"its reason and detail in {quarantine_uri}: fix the input, or how it is read "
               "(text and id fields, format)")
    if advice is not None:
        return NoDocuments(f"{message}; {advice}")
    # what to pass, as the command (--text-field) or the DAGs (text_field) take it
    likeliest = likeliest_text_field(text_candidates or {})
    return NoDocuments(message, tuple(likeliest) if likeliest else None)


#: What a file of each format starts with (after decompression for JSONL and WET).
_STARTS = {"parquet": (b"PAR1",), "wet": (b"WARC/",), "jsonl": (b"{", b"")}


def _check_content(path: str, fmt: str) -> None:
    """Raise :class:`FormatMismatch` when ``path`` does not start as a ``fmt`` file does: a wrong
    ``--format`` would read a whole file as one bad record, or dump it into the log."""
    from prox_tasks.storage import open_uri
    from prox_tasks.storage.compressed import NotText

    try:
        with open_uri(path, "rb", compression=None if fmt == "parquet" else "infer") as fh:
            if fmt == "jsonl":  # as the reader reads it: UTF-16/32 transcoded, a BOM skipped
                from prox_tasks.corpus.encodings import utf8_stream
                from prox_tasks.corpus.jsonl import UTF8_BOM

                head = utf8_stream(fh).read(64).removeprefix(UTF8_BOM).lstrip()
            else:
                head = fh.read(64).lstrip()
    except NotText as err:  # what it is, found on opening it (bzip2, Parquet, …)
        raise FormatMismatch(str(err)) from None
    if fmt == "jsonl" and head[:1] == b"[":  # a JSON export: one array of all the rows
        raise FormatMismatch(f"{path} is one JSON array, not JSON Lines (one object a line; it "
                             f"starts {head[:16]!r}): convert it, e.g. jq -c '.[]' FILE > "
                             "FILE.jsonl, and read that")
    compressed = compressed_parquet_advice(path) if fmt == "parquet" else None
    if compressed and not head.startswith(_STARTS[fmt]):  # x.parquet.gz, gzipped whole
        raise FormatMismatch(compressed)
    if not head.startswith(_STARTS[fmt]) or (fmt == "jsonl" and head and head[:1] != b"{"):
        raise FormatMismatch(f"{path} is not a {fmt} file (it starts {head[:16]!r}); check "
                         "--format (format=), or leave it out to go by the file's name")


def listed_inputs(uri: str, exclude: Collection[str] = ()) -> list[str]:
    """The files ``uri`` names, without a refined output folder's files
    (:func:`without_refined_outputs`) and without ``exclude`` — the files the command
    reading them writes (``prox execute``/``prox label`` writing into their input folder),
    each skipped with a warning, so a rerun does not read its last output as input. Its
    callers check the files they will read (:func:`check_readable`), not those they skip
    for their format (a README link to nothing fails no run)."""
    from prox_tasks.storage import real_uris

    listed = without_refined_outputs(list_uri(uri))
    # links followed: an input file that is a link to the output is the output
    own = set(real_uris([e for e in exclude if e]))
    kept = [p for p, real in zip(listed, real_uris(listed)) if real not in own] if own else listed
    for path in sorted(set(listed) - set(kept)):
        log.warning("skipping %s: this command's own output", path)
    return without_docs_files(uri, kept)


def without_docs_files(uri: str, listed: list[str]) -> list[str]:
    """``listed`` (the files ``uri`` names) without a folder's docs files
    (:func:`is_docs_file`: a dataset's README or LICENSE beside its data, as the bundled
    sample's README.md): not data and nothing to do about, so left out without a notice
    (logged at debug), whatever the format read; every reader of a folder lists through
    here. A file named alone is kept (read as asked: an error naming it, if it is no data),
    and so is one named so that starts as data does (:func:`_starts_as_data`: a JSON Lines
    table named ``changes`` or ``authors.txt``, read with ``--format jsonl``), not lost.

    Raises:
        FileNotFoundError: ``uri`` names docs files only.
    """
    docs = [p for p in listed
            if is_docs_file(p) and to_uri(p) != to_uri(uri) and not _starts_as_data(p)]
    if not docs:
        return listed
    log.debug("leaving out %s: %s", count(len(docs), "docs file"), ", ".join(docs))
    kept = [p for p in listed if p not in set(docs)]
    if not kept:
        named = ", ".join(d.rpartition("/")[2] for d in docs[:3])
        raise NoInputFiles(f"no input files at {shown(uri)}: only "
                           f"{count(len(docs), 'docs file')} ({named}), no data: "
                           f"{CHECK_INPUT}")
    return kept


#: How a file of a format prox reads starts (JSON Lines, Parquet, WET), after blanks.
_DATA_STARTS = (b"{", b"PAR1", b"WARC/")


def _starts_as_data(path: str) -> bool:
    """Whether ``path``, named as a docs file (:func:`is_docs_file`), starts as data does
    (:data:`_DATA_STARTS`): then it is data named so, not a README, and is listed as any
    other file (read, or skipped with its reason), never left out unseen. One small read;
    a folder holds a few such files at most."""
    from prox_tasks.storage import open_uri

    try:
        with open_uri(path, "rb", compression=None) as fh:
            head = fh.read(64).removeprefix(b"\xef\xbb\xbf").lstrip()
    except OSError:  # gone since listed, or unreadable: the docs file it is named as
        return False
    return head.startswith(_DATA_STARTS)


def without_refined_outputs(paths: list[str]) -> list[str]:
    """``paths`` without the refined shards, quarantine files and manifest of a refined output
    folder among them (a folder holding ``manifest.json`` and ``shards/``), as when the output of
    ``prox refine`` sits inside its input folder, and without every file of a seed set's
    folder (``params.json`` or ``manifest.json`` beside ``sample/sample-NNNNN.jsonl.gz``):
    they are prox's output, not more input."""
    names = set(paths)
    outputs = {p[: -len("/manifest.json")] for p in paths if p.endswith("/manifest.json")}
    outputs = {o for o in outputs if any(p.startswith(o + "/shards/") for p in names)}
    # its manifest.json too: listed as a file of no known format, it was said to be input
    # to rename or read with --format jsonl, in the summary and the gate's warning
    skipped = tuple(f"{o}/{part}" for o in outputs
                    for part in ("shards/", "quarantine/", "manifest.json"))
    # a seed set's folder (prox label --seed-set, the seed DAG) inside the input: its
    # sample, labels and splits are the input's documents again; read, they changed the
    # input's digest, so the seed set's own rerun was refused as over a rewritten input
    seed_sets = {m.group(1) for p in paths if (m := _SEED_SAMPLE.match(p))
                 and ({f"{m.group(1)}/params.json", f"{m.group(1)}/manifest.json"} & names)}
    skipped += tuple(f"{s}/" for s in seed_sets)
    kept = [p for p in paths if not p.startswith(skipped)] if skipped else paths
    for folder in sorted(outputs):
        log.warning("skipping %s/shards, /quarantine and /manifest.json: a refined output "
                    "folder", folder)
    for folder in sorted(seed_sets):
        log.warning("skipping %s: a seed set's folder", folder)
    return kept


#: A seed set's sample shard's name: stem, digits of its index, suffix
_SAMPLE_STEM, _SAMPLE_DIGITS, _SAMPLE_SUFFIX = "sample-", 5, ".jsonl.gz"


def sample_shard_name(index: int) -> str:
    """The name of a seed set's sample shard ``index``, ``sample-NNNNN.jsonl.gz``: the one
    :mod:`prox_tasks.labeling.sampling` writes into ``<folder>/sample/`` and
    :func:`without_refined_outputs` knows a seed set's folder by."""
    return f"{_SAMPLE_STEM}{index:0{_SAMPLE_DIGITS}d}{_SAMPLE_SUFFIX}"


#: A seed set's sample shard (:func:`sample_shard_name`), ``<folder>/sample/…``
_SEED_SAMPLE = re.compile(rf"(.+)/sample/{re.escape(_SAMPLE_STEM)}\d{{{_SAMPLE_DIGITS},}}"
                          rf"{re.escape(_SAMPLE_SUFFIX)}$")


def jsonl_files(uri: str, exclude: Collection[str] = ()) -> list[str]:
    """The JSONL files ``uri`` names, sorted: a file named by itself is JSONL whatever its
    name (``.ndjson``, none); in a folder, prefix or glob only the files named like JSONL
    (``.jsonl``/``.ndjson``, plain, ``.gz`` or ``.zst``), the others skipped with a warning.
    ``exclude``: the command's own output files (:func:`listed_inputs`)."""
    listed = listed_inputs(uri, exclude)
    if len(listed) == 1 and to_uri(listed[0]) == to_uri(uri):
        check_readable(listed)
        return listed
    files = [path for path in listed if detect_format(path) == "jsonl"]
    for path in sorted(set(listed) - set(files)):
        log.warning("skipping %s: not a JSONL file", path)
    if not files:
        others = len(listed)
        raise NoInputFiles(
            f"no JSONL files at {shown(uri)}" + (NAMES_NOTHING if not others else
            f": {count(others, 'file')} of other names skipped (JSONL is read from .jsonl or "
            ".ndjson, plain, .gz or .zst, in a folder; name a file alone to read it whatever "
            "its name)"))
    check_readable(files)
    return files


def read_file(uri: str, options: ReadOptions, quarantine: Quarantine | None,
              start: int = 0, end: int | None = None, fmt: str | None = None, *,
              expect=None, sizes=None, at: int | None = None) -> Iterator[Document]:
    """Documents of records ``[start, end)`` of one file; bad ones go to ``quarantine``;
    ``expect`` checks the file as opened, before a record is read
    (:func:`~prox_tasks.storage.open_uri`); ``sizes`` (JSONL only) is called with each
    record's bytes as planning counted them; ``at`` (JSONL, WET): the byte offset record
    ``start`` begins at, as planning recorded it (read from there, not from the file's
    start). The ``column=value`` folders of its path below ``options.partition_root``
    (Hive partitions) reach each document's ``meta`` (:mod:`~prox_tasks.corpus.partitions`)."""
    source = to_uri(uri)
    found = fmt or options.format or detect_format(source) or "jsonl"
    if found == "wet":  # before a byte is read: every shard of it, not the first only
        refuse_id_field_of_wet(source, options)
    module = FORMATS[found]
    records = module.read(source, options, start, end, expect=expect,
                          **({} if sizes is None else {"sizes": sizes}),
                          **({} if at is None else {"at": at}))
    if start == 0:  # a file read from its start: its first documents tell its fields
        records = check_id_field(records, source, options)
    docs = (item for _offset, item in _routed(source, records, quarantine))
    yield from with_partitions(docs, source, options.partition_root,
                               (options.text_field, options.id_field))


def _routed(source: str, records, quarantine: Quarantine | None) -> Iterator[tuple[int, object]]:
    """``(offset, item)`` of the good records; each :class:`RecordError` goes to
    ``quarantine`` (or raises :class:`BadRecordError` without one), each
    :class:`InputNotice` is counted there (without one, its warning was logged)."""
    for offset, item, raw in records:
        if isinstance(item, InputNotice):
            if quarantine is not None:
                quarantine.note(item.kind)
        elif isinstance(item, RecordError):
            if quarantine is None:
                raise BadRecordError(source, offset, item)
            quarantine.add(source, offset, item.reason, item.detail, raw, item.doc_id,
                           raw_size=item.size, text_candidate=item.text_candidate,
                           encoding=item.encoding)
        else:
            yield offset, item


def read_documents(uri: str, text_field: str = "text", id_field: str = "id",
                   quarantine: Quarantine | None = None, *, format: str | None = None,
                   max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES,
                   exclude: Collection[str] = (), skipped: list | None = None,
                   warn: bool = True) -> Iterator[Document]:
    """Stream the documents at ``uri`` (a file, folder, prefix or glob), files in sorted order.

    Bad records (malformed JSON, wrong encoding, missing/empty text, too large) go to
    ``quarantine`` with their reason. Without a quarantine the first bad record raises
    :class:`BadRecordError`: nothing is ever skipped silently. ``skipped``, a list, is given
    the files of a folder not read for their format (:func:`input_listing`'s ``{"uri",
    "reason"}``), for the command to say them beside its counts. ``warn`` False: those
    files are not logged (a pass over an input another pass of the same command read and
    said them).
    """
    options = ReadOptions(text_field, id_field, max_doc_bytes, format, partition_root(uri))
    files, not_read = input_listing(uri, format, exclude, warn=warn)
    if skipped is not None:
        skipped.extend(not_read)
    for path, fmt in files:
        yield from read_file(path, options, quarantine, fmt=fmt)


def read_rows(uri: str, quarantine: Quarantine | None = None, *,
              max_bytes: int = DEFAULT_MAX_DOC_BYTES,
              exclude: Collection[str] = (), digests=None,
              id_field: str = "id") -> Iterator[tuple[str, int, dict]]:
    """``(source, line, row)`` for every JSON object in the JSONL files at ``uri`` (a file,
    folder, prefix or glob; local or S3; plain, ``.gz`` or ``.zst``).

    The one JSONL reader for rows that are not corpus documents (labels, programs to run,
    gold texts): each line is decoded on its own, and a bad one goes to ``quarantine`` with
    its reason (the same reasons as :func:`read_documents`); without a quarantine it raises
    :class:`BadRecordError`.

    Args:
        uri: Where the rows are.
        quarantine: Collects bad lines.
        max_bytes: A line over about 4x this is ``too_large`` (never held whole).
        exclude: The reading command's own output files, skipped (:func:`listed_inputs`).
        digests: Fed the bytes of the files read, in order
            (:class:`prox_tasks.storage.ReadDigests`): a file's digest taken in the read
            that yields its rows, not by fetching it again.
        id_field: The rows' id, a whole number too large for a float read as the digits
            written (:func:`~prox_tasks.corpus.jsonl.read_id_exactly`), as documents' are.
    """
    for path in jsonl_files(uri, exclude):
        source = to_uri(path)
        records = jsonl.read_rows(source, max_bytes, digests=digests, id_field=id_field)
        for offset, row in _routed(source, records, quarantine):
            yield source, offset, row
