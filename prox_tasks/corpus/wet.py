"""Common Crawl WET files (WARC ``conversion`` records holding extracted text), via warcio.

A record's offset is its index among the file's ``conversion`` records; ``warcinfo`` and
other record types are not documents. The id is the WARC-Record-ID (``urn:uuid:…``).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator

from prox_tasks.corpus.document import (
    FILE_LOSS_REASONS,
    Document,
    MisplacedOffset,
    RecordError,
    content_id,
    not_utf8,
)
from prox_tasks.storage import open_uri
from prox_tasks.storage.compressed import CorruptStreamError
from prox_tasks.wording import shortened


def broken() -> tuple[type[BaseException], ...]:
    """What a cut or damaged WET file raises while it is read (bad input, not a storage
    fault). warcio is imported here, on first use: every reader module is imported by
    every command, and warcio's imports (fsspec, email) cost ~60 ms a process."""
    from warcio.exceptions import ArchiveLoadFailed

    return (ArchiveLoadFailed, EOFError, zlib.error, gzip.BadGzipFile, CorruptStreamError,
            ValueError)


def archive_records(stream):
    """warcio's ``ArchiveIterator`` over ``stream``, reading a ``request``, ``response`` or
    ``revisit`` record without a ``WARC-Target-URI`` header (one the WARC standard requires
    there, some writers leave out) as any other: warcio raised ``AttributeError`` on it
    (``'NoneType' object has no attribute 'startswith'``), which ended the file's reading
    and the command, naming neither. Its HTTP headers are read when its ``Content-Type`` says
    ``application/http`` (a response's page is then read as with its URI), else none;
    ``WARC-Target-URI`` stays absent (no URL)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.recordloader import ArcWarcRecordLoader

    class WithoutTargetUri(ArcWarcRecordLoader):
        def _ensure_target_uri_format(self, rec_headers):
            uri = super()._ensure_target_uri_format(rec_headers)
            if uri is not None:
                return uri
            # what warcio reads the HTTP headers by: an http: URI (only for that, not kept)
            typed = (rec_headers.get_header("Content-Type") or "").strip().lower()
            return "http:" if typed.startswith("application/http") else ""

    found = ArchiveIterator(stream)
    found.loader = WithoutTargetUri(verify_http=False, arc2warc=False)  # warcio's defaults
    consume = found._consume_blanklines

    def blank_lines():  # their size, which warcio does not keep: _cut_at_line_end
        line, found.blank_bytes = consume()
        return line, found.blank_bytes

    found._consume_blanklines = blank_lines
    return found


EXTENSIONS = (".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz")
HEADERS = {
    "url": "WARC-Target-URI",
    "date": "WARC-Date",
    "language": "WARC-Identified-Content-Language",
    "refers_to": "WARC-Refers-To",
    "digest": "WARC-Block-Digest",
}


def _conversions(uri: str, expect=None, first: int = 0, at: int | None = None):
    """``(number, record)`` per conversion record (:func:`records`). A file of WARC records
    none of which is a conversion record (a crawl's WARC or WAT file under a WET name) ends
    with one ``truncated_file`` entry saying so: its records would otherwise be no document
    at all, and a folder's other files refined as if it were empty."""
    others: Counter[str] = Counter()
    found = False
    for number, record in records(uri, "conversion", "WET", expect=expect, others=others,
                                  first=first, at=at):
        found = True
        yield number, record
    if not found and others:
        kinds = ", ".join(f"{n} {rec_type}" for rec_type, n in others.most_common(3))
        yield 0, RecordError("truncated_file", f"no conversion record among its "
                             f"{others.total()} WARC records ({kinds}): a WARC or WAT file, "
                             "not WET; read the crawl's .warc.wet.gz files")


def records(uri: str, rec_type: str, kind: str = "WARC", *, expect=None,
            others: Counter | None = None, first: int = 0, at: int | None = None):
    """``(number, record)`` per record of type ``rec_type`` of a WARC-format file (``kind``
    names it in messages); a file that breaks off (a cut gzip member, a record header cut
    short, a record that is not WARC, such as plain text) ends with
    ``(number, RecordError("truncated_file"))``. Each record's ``offset`` is where it starts
    in the file (its gzip member's first byte in a ``.warc.gz``): :func:`record_at` reads it
    again from there. ``others`` counts the records of other types, by type, ``warcinfo``
    left out. With ``at`` (such an offset, of the record of type ``rec_type`` numbered
    ``first``) the read starts there, the records before it not read: a ``.warc.gz`` is
    one gzip member a record (warcio reads no other), so a member's first byte is a place
    to start from.

    Raises:
        MisplacedOffset: No record of type ``rec_type`` starts at ``at``.
    """
    number = first if at else 0
    misplaced = MisplacedOffset(f"{uri}: no {rec_type} record starts at byte {at:,}: the plan "
                                "does not match the file; plan it again (prox plan --overwrite, "
                                "prox refine --replan)") if at else None  # fmt: skip
    with open_uri(uri, "rb", expect=expect) as stream:  # storage errors propagate
        if at:
            stream.seek(at)
        else:
            unread = _unread_compression(stream, kind)
            if unread is not None:
                yield number, RecordError("truncated_file", unread)
                return
        found = archive_records(stream)
        while True:
            last = None  # (start, warcio's error count) of the last record read
            try:
                for record in found:
                    last = (found.offset, found.err_count)
                    if misplaced is not None:  # the first record read: the one planned there
                        if record.format != "warc" or record.rec_type != rec_type:
                            raise misplaced
                        misplaced = None
                    if record.format != "warc":  # plain text or HTML lines warcio took for ARC
                        yield number, RecordError("truncated_file", _not_warc(
                            record, number, found.offset, kind))  # fmt: skip
                        return
                    # an uncompressed file: only there does a Content-Length too long read
                    # on over the records after it (a gzip member ends the record)
                    record.plain = found.reader.decompressor is None
                    if record.rec_type == rec_type:
                        record.offset = found.offset  # the record's start, before it is read
                        record.delimited = _delimited(found)
                        yield number, record
                        number += 1
                        continue
                    if others is not None and record.rec_type != "warcinfo":
                        others[record.rec_type] += 1
                    ran_over = runs_over(record)  # a request's: the response after it gone
                    if ran_over is not None:
                        yield number, ran_over
                        number += 1
                break
            except broken() as err:
                if misplaced is not None:  # not even a record where the plan says one starts
                    raise misplaced from err
                # the last record's Content-Length ended inside it (warcio counted an error
                # past it; the record itself is reported, bad_record) and what is left of it
                # is no record: in a .gz the next record starts at the next gzip member
                after = (_next_member(stream, last[0]) if last is not None
                         and (found.err_count > last[1] or _cut_at_line_end(found))
                         else None)
                if after is None:
                    yield number, RecordError("truncated_file", f"{kind} file breaks off after "
                                              f"{number} records: {type(err).__name__}: "
                                              f"{shortened(str(err))}")
                    return
                stream.seek(after)
                found = archive_records(stream)
        size = stream.seek(0, io.SEEK_END)  # the open knew the length: no HEAD (S3) for it
    # warcio ends quietly where a cut gzip member begins: bytes it never parsed are a loss
    if found.offset < size and not _empty_members(uri, found.offset):
        yield number, RecordError("truncated_file", f"{size - found.offset} bytes after "
                                  f"{number} records could not be read (cut or damaged)")


def zstd_not_read(kind: str) -> str:
    """``a zstd-compressed WET file, which prox does not read (…): decompress it …``: why a
    zstd-compressed file of WARC records (``kind``: WET, WARC) is not read, and what to do;
    said of its bytes when read, and of its name when a folder's listing skips it."""
    return (f"a zstd-compressed {kind} file, which prox does not read (its WARC reader, "
            "warcio, reads gzip, one member a record, and plain WARC): decompress it "
            "(zstd -d) or compress it with gzip instead")


def _unread_compression(stream, kind: str) -> str | None:
    """Why the file ``stream`` reads (at its start, left there) is no WARC file warcio can
    read, or None: warcio reads gzip and plain WARC only, and took a ``.warc.zst`` (or a
    bzip2, xz, … file) for a file that breaks off at once, its first line binary noise."""
    from prox_tasks.storage.compressed import other_format, sniff_compression

    head = stream.read(64)
    stream.seek(0)
    peek = io.BufferedReader(io.BytesIO(head))
    if sniff_compression(peek) == "zstd":
        return zstd_not_read(kind)
    other = other_format(head)
    if other is not None and other[0] != "Parquet":
        return f"{other[0]}, not a {kind} file prox reads: {other[1]}"
    return None


def _delimited(found) -> Callable[[], bool]:
    """For the record ``found`` (a warcio ``ArchiveIterator``) is at: whether it ends where
    its Content-Length says, followed by the blank lines that end a WARC record. warcio
    checks that only on moving to the next record, with a warning on stderr and its
    ``err_count``: by then the record's payload, cut at a Content-Length that is too short,
    would have been taken for all of it."""
    errors = found.err_count

    def check() -> bool:
        found.read_to_end()  # what warcio does before the next record: once a record
        return found.err_count == errors and not _cut_at_line_end(found)

    return check


#: The bytes of the blank lines a WARC writer ends a record with: CRLF CRLF, as the
#: standard has it, or LF LF.
_RECORD_ENDS = (4, 2)


def _cut_at_line_end(found) -> bool:
    """Whether the record ``found`` (a warcio ``ArchiveIterator`` from
    :func:`archive_records`) has read to its end is cut at one of its own line ends: its
    Content-Length ended just before a line end of its text, so warcio took that line end for
    the blank lines ending the record (counting no error) and the record's next line, no
    WARC header, for the next record's. Blank lines other than the two a writer ends a record
    with before such a line say so; a record ended right and followed by what is no WARC (a
    file's damaged tail) is not cut. (A text cut before a blank line of its own, or before a
    CRLF, ends as a record does: not told.)"""
    following = found.next_line
    return (bool(following) and not following.startswith(b"WARC/")
            and getattr(found, "blank_bytes", None) not in _RECORD_ENDS)


def _next_member(stream, start: int) -> int | None:
    """Where the gzip member that starts at byte ``start`` of ``stream`` ends (the next
    member's first byte), or None when none starts there or it breaks off (not gzip, cut)."""
    stream.seek(start)
    member = zlib.decompressobj(wbits=31)  # one gzip member, its output left unkept
    read = start
    try:
        while not member.eof:
            chunk = stream.read(1 << 16)
            if not chunk:
                return None
            read += len(chunk)
            member.decompress(chunk, 1 << 16)
            while member.unconsumed_tail and not member.eof:  # output bounded, not kept
                member.decompress(member.unconsumed_tail, 1 << 16)
    except zlib.error:
        return None
    return read - len(member.unused_data)


def _empty_members(uri: str, offset: int) -> bool:
    """Whether the bytes from ``offset`` on are whole gzip members holding nothing (a
    ``.gz`` of an empty file): nothing lost there, unlike a cut member."""
    try:
        with open_uri(uri, "rb") as stream:
            stream.seek(offset)
            with gzip.GzipFile(fileobj=stream) as members:
                return members.read(1) == b""
    except (OSError, EOFError, zlib.error):
        return False


def record_at(stream, offset: int):
    """The WARC record that starts at byte ``offset`` of a seekable binary ``stream`` (a local
    file or an S3 range reader), as :func:`records` gave that offset: one record is read,
    not the file; its ``plain`` as :func:`records` gives it."""
    stream.seek(offset)
    found = archive_records(stream)
    record = next(iter(found))
    record.plain = found.reader.decompressor is None
    return record


def _not_warc(record, number: int, offset: int, kind: str = "WET") -> str:
    """Why a record warcio parsed as some other format (ARC) ends a WARC file's reading."""
    first = " ".join(value for _, value in record.rec_headers.headers)
    # bounded by its quote of the first line (80 characters), not cut whole: the way out stays
    return (f"not a WARC record at byte {offset} after {number} records (warcio read it as "
            f"{record.format.upper()}; first line {first!r:.80}): not a {kind} file, or corrupt"
            )


def scan(uri: str, max_doc_bytes: int, *, expect=None) -> Iterator[tuple[int, int, int | None]]:
    """``(offset, bytes, byte offset)`` of every conversion record (its Content-Length;
    where it starts in the file, for :func:`read`'s ``at``); ``expect`` checks the file as
    opened (:func:`~prox_tasks.storage.open_uri`)."""
    for number, record in _conversions(uri, expect):
        if isinstance(record, RecordError):
            yield number, 0, None
        else:
            yield number, _length(record) or 0, record.offset


#: Where a WARC record's header begins, after the blank lines that end the one before it.
_NEXT_RECORD = re.compile(rb"\r?\n\r?\nWARC/1\.[01]\r?\n")


def records_within(payload: bytes) -> int:
    """How many WARC record headers ``payload`` holds: the records that a record without a
    Content-Length header ran on over (warcio reads it to the end of its gzip member or,
    uncompressed, of the file), or one with a Content-Length too long, in a plain file (only
    there: in a ``.gz`` the record's gzip member ends it, and headers its payload holds are
    text, a page quoting WARC records)."""
    return records_within_blocks([payload])


#: Bytes of the longest match of :data:`_NEXT_RECORD`, less one: what a block keeps of the
#: one before it, so a header split between them is found.
_HEADER_OVERLAP = len(b"\r\n\r\nWARC/1.0\r\n") - 1


def records_within_blocks(blocks) -> int:
    """:func:`records_within` of the payload ``blocks`` (an iterable of bytes) make together,
    read one block at a time (a payload whose size alone is kept is never held whole)."""
    found, tail = 0, b""
    for block in blocks:
        data = tail + block
        # a header ending inside the tail ended inside the block before: counted there
        found += sum(1 for match in _NEXT_RECORD.finditer(data) if match.end() > len(tail))
        tail = data[-_HEADER_OVERLAP:]
    return found


def runs_over(record) -> RecordError | None:
    """Why a record not read for its text (a request, a metadata record; a response no
    teacher reads: a PDF, an image) took in the records after it, or None (its payload holds
    no record). Without a Content-Length header warcio reads it on to the end of its gzip
    member or, uncompressed, of the file; with one too long, in an uncompressed file, on
    over the records its length covers: either way those records were never seen. A
    ``bad_record`` entry whose ``raw`` holds them (up to :data:`_RAW_KEPT` bytes)."""
    record_id = (record.rec_headers.get_header("WARC-Record-ID") or "").strip("<>") or None
    if record.rec_headers.get_header("Content-Length") is not None:
        if not record.plain:  # in a .gz its member ends it: records in it are its bytes
            return None
        # read in blocks, the first MiB kept: a PDF's payload is never held whole
        kept: list[bytes] = []

        def blocks():
            for block in iter(lambda: record.raw_stream.read(1 << 16), b""):
                if sum(map(len, kept)) < _RAW_KEPT:
                    kept.append(block)
                yield block

        after = records_within_blocks(blocks())  # a cut file: broken(), as any record's read
        if not after:
            return None
        error = RecordError("bad_record", f"a {record.rec_type} record ({record_id}) whose "
                            "Content-Length runs on past the record's end, over the "
                            f"{after:,} WARC {'record' if after == 1 else 'records'} after "
                            "it (their headers are in this entry's raw): written with a wrong "
                            "length; the file's writer must write it again", record_id)
        error.raw = b"".join(kept)[:_RAW_KEPT]
        error.records_after = after  # for a message of its own (prox label --warc)
        return error
    payload = record.content_stream().read()  # a cut file: broken(), as any record's read
    after = records_within(payload)
    if not after:
        return None
    error = RecordError("bad_record", f"a {record.rec_type} record without a Content-Length "
                        f"header runs on over the {after:,} WARC "
                        f"{'record' if after == 1 else 'records'} after it (their headers are "
                        "in this entry's raw), which cannot be delimited without it; the "
                        "file's writer must write it again", record_id)
    error.raw = payload
    return error


#: Bytes kept as ``raw`` of a record whose Content-Length ran on over the records after it:
#: the quarantine keeps no more of a record's raw.
_RAW_KEPT = 1 << 20


def _undelimited(payload: bytes, doc_id: str | None) -> RecordError | None:
    """Why the ``payload`` of a record without a Content-Length header is not its own, or
    None when it is (a ``.warc.gz`` member holding that record alone ends it). warcio reads
    such a record to the end of its gzip member or, uncompressed, of the file: the records
    after it were published inside its text, WARC headers and all; and a gzip member cut
    inside the header leaves a record with no length and no payload, which was quarantined
    as a blank page (``empty_text``)."""
    if not payload.strip():
        return RecordError("truncated_record", "no Content-Length header and no payload: the "
                           "record is cut inside its header (a cut file or gzip member)", doc_id)
    after = records_within(payload)
    if not after:
        return None
    return RecordError("bad_record", f"no Content-Length header: its payload runs on over the "
                       f"{after:,} WARC {'record' if after == 1 else 'records'} after it "
                       "(their headers are in this entry's raw), which cannot be delimited "
                       "without it; the file's writer must write it again", doc_id)


def _length(record) -> int | None:
    """The record's Content-Length (0 when absent), or None when it is not a whole
    number >= 0 (warcio then reads the record as empty)."""
    try:
        length = int(record.rec_headers.get_header("Content-Length") or 0)
    except ValueError:
        return None
    return length if length >= 0 else None


def read(uri: str, options, start: int = 0, end: int | None = None, *, expect=None,
         at: int | None = None):
    """Yield ``(offset, Document | RecordError, raw)`` for records in ``[start, end)``;
    ``expect`` checks the file as opened (:func:`~prox_tasks.storage.open_uri`); ``at``:
    the byte offset record ``start`` begins at (:func:`scan` gives it), read from there.

    A record whose payload is shorter than its Content-Length (the file was cut inside it)
    is ``truncated_record``: never published as a document cut short."""
    for number, record in _conversions(uri, expect, start, at):
        if end is not None and number >= end:
            return
        if number < start:
            continue
        if isinstance(record, RecordError):
            yield number, record, record.raw
            if record.reason in FILE_LOSS_REASONS:  # the file's rest: nothing after it
                return
            continue
        headers = record.rec_headers
        doc_id = (headers.get_header("WARC-Record-ID") or "").strip("<>") or None
        length = _length(record)
        if length is None:  # not "blank": the payload warcio hands out is not the record's
            value = headers.get_header("Content-Length")
            yield number, RecordError("bad_record", f"Content-Length {value!r:.60} is not a "
                                      "byte count: the record cannot be delimited", doc_id), None
            continue
        if length > options.max_doc_bytes:
            yield number, RecordError("too_large", f"{length} bytes", doc_id, length), None
            continue
        try:
            payload = record.content_stream().read()
        except broken() as err:
            yield number, RecordError("truncated_record", f"{type(err).__name__}: {shortened(str(err))}",
                                      doc_id), None
            continue
        if headers.get_header("Content-Length") is None:  # warcio then reads on to the end
            undelimited = _undelimited(payload, doc_id)
            if undelimited is not None:
                yield number, undelimited, payload
                continue
        if len(payload) < length:
            yield number, RecordError("truncated_record", f"payload of {len(payload)} bytes, "
                                      f"Content-Length {length}: the file is cut", doc_id), payload
            continue
        if not record.delimited():  # a short Content-Length: never published cut short
            yield number, RecordError("bad_record", f"Content-Length {length} ends inside the "
                                      "record: its payload goes on past it (written with a wrong "
                                      "length); the file's writer must write it again", doc_id
                                      ), payload  # fmt: skip
            continue
        # a long Content-Length, in a plain file: in a .gz the member ends the record, and a
        # text quoting WARC records (a page on the format, its <pre>) is no record run over
        if record.plain and (after := records_within(payload)):
            yield number, RecordError("bad_record", f"Content-Length {length} runs on past the "
                                      f"record's end, over the {after:,} WARC "
                                      f"{'record' if after == 1 else 'records'} after it "
                                      "(their headers are in this entry's raw; written with a "
                                      "wrong length): the file's writer must write it again",
                                      doc_id), payload  # fmt: skip
            continue
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, RecordError("bad_encoding", not_utf8(err), doc_id), payload
            continue
        if not text.strip():
            yield number, RecordError("empty_text", "blank conversion record", doc_id), payload
            continue
        meta = {key: headers.get_header(name) for key, name in HEADERS.items()
                if headers.get_header(name) is not None}
        yield number, Document(doc_id or content_id(text), text, uri, number, meta), None
