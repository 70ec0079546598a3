"""JSON Lines whose lines end in a carriage return alone, read as lines.

Classic Mac OS, and exporters that follow it (Excel's "for Macintosh" formats, some
FileMaker and old CMS dumps), end lines in ``\\r`` alone. Split on ``\\n`` bytes, such a
file is one line: all its records counted as one and quarantined whole. JSON Lines allows
``\\n`` and ``\\r\\n`` only, but no record can hold a raw ``\\r`` inside a string (JSON
forbids control characters there), so a file whose *first* line ends in a lone CR is read
with every lone CR taken for a line end (:func:`lf_lines`). Files whose first line ends in
``\\n`` or ``\\r\\n`` pass through untouched and cost nothing.
"""

from __future__ import annotations

import io
import logging
import re

log = logging.getLogger(__name__)

#: Bytes looked at to tell a file's line ends before any is read (a longer first line is
#: told as it streams).
HEAD_BYTES = 1 << 16
_LONE_CR = re.compile(rb"\r(?!\n)")
_LINE_END = re.compile(rb"[\r\n]+")
#: Files warned about, once per process (a file is opened by the plan, each shard, digests).
_warned: set[str] = set()


def first_line_end(data: bytes, more: bool) -> str | None:
    """``"cr"`` when the first run of line-end bytes in ``data`` is CRs alone, ``"lf"`` when
    it holds a ``\\n`` (``\\n``, ``\\r\\n``, and ``\\r\\r\\n``, which ``unix2dos`` run
    twice can write: lines read as ever), None when ``data`` holds none yet or ends inside
    that run (``more``: bytes follow ``data``, which may go on with it)."""
    found = _LINE_END.search(data)
    if found is None:
        return None
    if b"\n" in found.group():
        return "lf"
    return None if more and found.end() == len(data) else "cr"


def lf_lines(stream, name: str):
    """``stream`` (binary, readable, with ``peek``), or a view of it in which each lone CR
    is ``\\n`` when its first line ends in a lone CR (logged once a process, naming
    ``name``). Bytes
    are replaced one for one, so line sizes stay what the file holds."""
    head = stream.peek(HEAD_BYTES)[:HEAD_BYTES]
    mode = first_line_end(head, more=True)
    if mode == "lf" or not head:
        return stream
    return io.BufferedReader(_LoneCRAsLF(stream, name, mode), 1 << 16)


class _LoneCRAsLF(io.RawIOBase):
    """``stream`` with its lone CRs as ``\\n``, once its first line end shows it ends lines
    so (``mode`` ``"cr"``; ``None``: not known yet, the first line is long)."""

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
            return data
        if not final and data.endswith(b"\r"):  # a CR LF cut between two chunks
            data, self._held = data[:-1], b"\r"
        return _LONE_CR.sub(b"\n", data)

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._stream.read(1 << 16)
            self._pending = self._translate(chunk)
            if not chunk and not self._pending:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
