"""JSON Lines whose lines end in a carriage return alone, read as lines.

Classic Mac OS, and exporters that follow it (Excel's "for Macintosh" formats, some
FileMaker and old CMS dumps), end lines in ``\\r`` alone. Split on ``\\n`` bytes, such a
file is one line: all its records counted as one and quarantined whole. JSON Lines allows
``\\n`` and ``\\r\\n`` only, but no record can hold a raw ``\\r`` inside a string (JSON
forbids control characters there), so a file whose *first* line ends in a lone CR is read
with every lone CR taken for a line end (:func:`lf_lines`). In a file whose first line ends
in ``\\n`` or ``\\r\\n`` (a Mac file appended to a Unix one, ``cat a.jsonl mac.jsonl``), a
lone CR is a line end only between two records: after a ``}`` and before a ``{``, with at
most blanks beside it — where no JSON value holds one (a CR elsewhere may be whitespace
inside a record). Either way each byte stays a byte, so line numbers and sizes are the
same for every read of the file: the plan's, each shard's, each worker's.
"""

from __future__ import annotations

import io
import logging
import re

from prox_tasks.corpus.document import MisplacedOffset

log = logging.getLogger(__name__)

#: Bytes looked at to tell a file's line ends before any is read (a longer first line is
#: told as it streams).
HEAD_BYTES = 1 << 16
_LONE_CR = re.compile(rb"\r(?!\n)")
_LINE_END = re.compile(rb"[\r\n]+")
#: The blanks and lone CRs between two records in a file whose lines end in ``\\n``: a
#: ``}`` then a ``{`` with only these between never occur inside one JSON value. Bounded,
#: so that a match never spans more than :data:`_BETWEEN` blanks, whatever the chunks.
_BETWEEN = 64
_CR_BETWEEN_RECORDS = re.compile(rb"\}[ \t\r]{1,%d}(?=\{)" % _BETWEEN)
#: Files warned about, once per process (a file is opened by the plan, each shard, digests).
_warned: set[str] = set()


def first_line_end(data: bytes, more: bool) -> str | None:
    """``"cr"`` when the first run of line-end bytes in ``data`` is CRs alone, ``"lf"`` when
    it holds a ``\\n`` (``\\n``, ``\\r\\n``, and ``\\r\\r\\n``, which ``unix2dos`` run
    twice can write: lines read as ever), None when ``data`` holds none yet or ends inside
    that run (``more``: bytes follow ``data``, which may go on with it)."""
    # find (memchr) before the regular expression: a first line of 300 MB is searched
    # 64 KiB at a time, and re's search of a class ran at ~30 MB/s
    at = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    if not at:
        return None
    found = _LINE_END.match(data, min(at))
    if b"\n" in found.group():
        return "lf"
    return None if more and found.end() == len(data) else "cr"


def lf_lines(stream, name: str, at: int | None = None):
    """A view of ``stream`` (binary, readable, with ``peek``) in which each lone CR is
    ``\\n`` when its first line ends in a lone CR (logged once a process, naming ``name``),
    else each lone CR between two records (:func:`_split_records_at_lone_crs`). Bytes
    are replaced one for one, so line sizes stay what the file holds.

    With ``at`` (``stream`` seekable, at its start) the view starts at byte ``at``, where a
    line starts: the file's line ends are told from its head first, as a read from its
    start tells them (between two records, a lone CR before ``at`` ends the line before).

    Raises:
        MisplacedOffset: The byte before ``at`` ends no line.
    """
    head = stream.peek(HEAD_BYTES)[:HEAD_BYTES]
    if not head:
        return stream
    mode = first_line_end(head, more=True)
    if at:
        if mode is None:  # a first line past the head: read on to its end (no further)
            mode = _first_line_end_after(stream)
        stream.seek(at - 1)
        if stream.read(1) not in (b"\n", b"\r"):
            raise MisplacedOffset(
                f"{name}: byte {at:,} is not where a line starts: the plan does not match the "
                "file; plan it again (prox plan --overwrite, prox refine --replan)")
    return io.BufferedReader(_LoneCRAsLF(stream, name, mode), 1 << 16)


def _first_line_end_after(stream) -> str | None:
    """:func:`first_line_end` of ``stream`` read from its current byte to its first line's
    end (None: the file is one line)."""
    held = b""
    while True:
        chunk = stream.read(HEAD_BYTES)
        data = held + chunk
        mode = first_line_end(data, more=bool(chunk))
        if mode is not None or not chunk:
            return mode
        held = data[len(data.rstrip(b"\r")):]  # a run of CRs at the end: the next bytes say


def _split_records_at_lone_crs(data: bytes) -> tuple[bytes, int]:
    """``data`` (of a file whose lines end in ``\\n``) with the lone CRs between two records
    (:data:`_CR_BETWEEN_RECORDS`) as ``\\n``, and how many places changed: a Mac file
    appended to it is read record by record, not as one bad line."""
    if b"\r" not in data:
        return data, 0
    return _CR_BETWEEN_RECORDS.subn(lambda found: _LONE_CR.sub(b"\n", found.group()), data)


def _open_record_end(data: bytes) -> int:
    """Where a possible :data:`_CR_BETWEEN_RECORDS` match at the end of ``data`` starts (its
    last ``}`` with at most :data:`_BETWEEN` blanks and CRs after it), else ``len(data)``:
    the bytes after it decide it."""
    at = data.rfind(b"}", max(0, len(data) - _BETWEEN - 1))
    if at < 0 or data[at + 1:].strip(b" \t\r"):
        return len(data)
    return at


class _LoneCRAsLF(io.RawIOBase):
    """``stream`` with its lone CRs as ``\\n``, once its first line end shows it ends lines
    so (``mode`` ``"cr"``; ``None``: not known yet, the first line is long); with ``mode``
    ``"lf"``, only those between two records (:func:`_split_records_at_lone_crs`)."""

    def __init__(self, stream, name: str, mode: str | None):
        self._stream, self._name = stream, name
        self._mode: str | None = None
        self._held = b""  # a CR at a chunk's end: the byte after it says what it is
        self._pending = b""
        self._decided(mode)

    def _decided(self, mode: str | None) -> None:
        if mode == "cr" and self._mode is None and self._name not in _warned:
            _warned.add(self._name)
            log.warning("%s: its lines end in a lone carriage return (\\r, classic Mac OS): "
                        "read as line ends", self._name)
        self._mode = mode

    def readable(self) -> bool:
        return True

    def _translate(self, chunk: bytes) -> bytes:
        final = not chunk
        data, self._held = self._held + chunk, b""
        if self._mode is None:
            mode = first_line_end(data, more=not final)
            if mode is None:  # no line end yet, or CRs at the end: what follows decides
                if not final:
                    kept = len(data.rstrip(b"\r"))
                    data, self._held = data[:kept], data[kept:]
                return data
            self._decided(mode)
        if self._mode == "lf":
            if not final:  # a "}" and blanks at the chunk's end: the next chunk decides them
                kept = _open_record_end(data)
                data, self._held = data[:kept], data[kept:]
            data, split = _split_records_at_lone_crs(data)
            if split and self._name not in _warned:
                _warned.add(self._name)
                log.warning("%s: its lines end in \\n, but some records are separated by a lone "
                            "carriage return (\\r, classic Mac OS: a file appended to it?): "
                            "read as line ends", self._name)
            return data
        if not final and data.endswith(b"\r"):  # a CR LF cut between two chunks
            data, self._held = data[:-1], b"\r"
        return _LONE_CR.sub(b"\n", data)

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._stream.read1(1 << 16)  # one read: bytes before a fault are kept
            self._pending = self._translate(chunk)
            if not chunk and not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
