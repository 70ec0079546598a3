"""Decompressing readers that never end early in silence.

gzip raises a bare ``EOFError`` on a cut file and zstandard's stream reader returns a
clean end of file, dropping the rest without a word. Both readers here raise
:class:`CorruptStreamError` instead, so a caller can keep what it read and report the loss.
"""

from __future__ import annotations

import io
import re
import zlib

#: Compressed bytes fed to zstd per call: an input chunk can expand at most ~32,000x
#: (RLE blocks), so this bounds what one call can allocate (128 MiB).
ZSTD_INPUT_CHUNK = 4096
#: The largest zstd window read (the format's largest, ``zstd --long=31``): libzstd's
#: default limit, 128 MiB, refuses a file written with a larger one ("Frame requires too
#: much memory for decoding"), which would lose the whole file. Memory follows the window
#: the file asks for, up to the text read: a 574 MB file written with --long=31 peaked at
#: 614 MB RSS, 42 MB written with zstd -3.
ZSTD_MAX_WINDOW = 1 << 31


#: The first bytes of a gzip member and of a zstd frame.
MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
#: A zstd skippable frame's magic, ``0x184D2A50``-``0x184D2A5F`` little-endian, less its
#: first byte (``0x50``-``0x5F``): pzstd and seekable-zstd writers start a file with one.
ZSTD_SKIPPABLE = b"\x2a\x4d\x18"


def sniff_compression(raw) -> str | None:
    """``"gzip"`` or ``"zstd"`` when ``raw`` (a buffered binary reader, not advanced) starts
    as one does (zstd: a frame or a skippable frame), else None. No JSON, WARC or Parquet
    file starts with these bytes, so a compressed file whose name does not say so
    (``part-0.jsonl`` holding gzip) is read as what it is instead of as lines of binary
    noise."""
    head = raw.peek(4)[:4]
    if len(head) == 4 and head[0] & 0xF0 == 0x50 and head[1:] == ZSTD_SKIPPABLE:
        return "zstd"
    return next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)


class CorruptStreamError(OSError):
    """A compressed stream is truncated or corrupt (the data after this point is lost)."""


class NotText(CorruptStreamError):
    """The file is, or holds, what no text reader reads (:func:`other_format`, gzip inside
    gzip, binary bytes under a compressed name): nothing in it can be read as lines."""


#: What else a file read as text may be, by its first bytes, and what to do with it: read
#: as lines, each would be binary noise, counted and quarantined as so many bad records.
_OTHER_FORMATS = (
    (re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"), "bzip2",
     "decompress it (bzip2 -dc FILE > FILE2) or compress it with gzip or zstd instead"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz",
     "decompress it (xz -dc FILE > FILE2) or compress it with gzip or zstd instead"),
    (re.compile(rb"\x04\x22\x4d\x18"), "lz4",
     "decompress it (lz4 -dc FILE > FILE2) or compress it with gzip or zstd instead"),
    (re.compile(rb"PK\x03\x04|PK\x05\x06"), "a zip archive", "unzip it and read its files"),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "a 7z archive", "extract it and read its files"),
    (re.compile(rb"PAR1"), "Parquet", "name it .parquet, or pass --format parquet"),
)


#: How the compressions and archives of :data:`_OTHER_FORMATS` are named: a file named
#: ``x.jsonl.bz2`` is JSON Lines prox cannot read, not a file of no known format.
OTHER_FORMAT_NAMES = (".bz2", ".xz", ".lz4", ".zip", ".7z")


#: How a Parquet file is named (``prox_tasks.corpus.parquet_format.EXTENSIONS`` is this:
#: storage, below the corpus package, names Parquet files in its refusals).
PARQUET_NAMES = (".parquet", ".pq")


def other_format(head: bytes) -> tuple[str, str] | None:
    """``(what, what to do)`` when ``head`` (a file's first bytes) starts a format no text
    reader can read — bzip2, xz, lz4, zip, 7z, Parquet — else None."""
    return next(((what, todo) for magic, what, todo in _OTHER_FORMATS if magic.match(head)),
                None)


#: Plain-text bytes: besides printable ones (and UTF-8's), only tab, newline and carriage
#: return; binary data (bzip2, xz, a zip) has other control bytes in its first 64.
_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0D}
#: Files named as compressed but not, warned about once per process (a file is opened by the
#: plan, each shard and the digests).
_warned: set[str] = set()


def compression_to_read(raw, name: str, named: str | None, misnamed=None) -> str | None:
    """The compression to read ``raw`` (a buffered binary reader, not advanced) with, when
    ``name``'s extension says ``named`` (None: none).

    The first bytes decide over the name: a compressed file with a plain name is read as
    what it is (:func:`sniff_compression`); so is one named as the other compression. A
    file named ``.gz``/``.zst`` that starts as neither but as text (a plain ``.jsonl.gz``,
    from a tool that named its output before compressing) is read as plain text with a
    warning: no gzip or zstd stream starts without its magic bytes, so nothing in it could
    have been decompressed, and its lines are still checked one by one as records. An empty
    file, or one cut inside the magic, is left to the decompressor.

    Every read the bytes overrule the name — a compressed file with a plain name, one named
    as the other compression, a plain file named as compressed — is warned about alike.
    ``misnamed``, when given, is called with the warning's text on every such read (the
    warning itself is logged once per file and process), so a reader can count the file
    among its input problems (:class:`~prox_tasks.corpus.document.InputNotice`).

    Raises:
        NotText: named as compressed, but neither compressed nor text; or, named
            so or not, another format (:func:`other_format`: a bzip2 file named ``.gz`` or
            ``.jsonl``, a Parquet file named ``.jsonl``): read as lines, it would be binary
            noise.
    """
    found = sniff_compression(raw)
    head = raw.peek(64)[:64] if found is None else b""
    other = other_format(head) if found is None else None
    if other is not None:
        said = f"named as {named} but is" if named else "not text but"
        todo = other[1]
        if other[0] == "Parquet" and name.lower().endswith(PARQUET_NAMES):
            # named so, it is read as text only where a forced format says so
            todo = ("it is named as Parquet already: drop --format (the format Param), or "
                    "pass --format parquet")
        read = " as text" if other[0] == "Parquet" else ""  # prox reads Parquet, as Parquet
        raise NotText(f"{name} is {said} {other[0]} (it starts {head[:8]!r}), "
                      f"which prox does not read{read}: {todo}")
    if found == named:
        return found
    if found is None and (not head or any(m.startswith(head) for m in MAGIC)):
        return named
    what = found or "plain text"
    if found is None and _CONTROL.intersection(head):
        raise NotText(f"{name} is named as {named} but is not {named} (it starts "
                                 f"{head[:8]!r}), nor plain text: check how it was written")
    said = f"named as {named} but is not {named}" if named else "named as uncompressed"
    message = f"{name} is {said} (it starts {head[:8]!r}): read as {what}"
    if misnamed is not None:
        misnamed(message)
    if name not in _warned:
        _warned.add(name)
        import logging

        logging.getLogger(__name__).warning("%s", message)
    return found


#: The command that takes one layer of each compression off.
_DECOMPRESS = {"gzip": "gzip -dc", "zstd": "zstd -dc"}


def refuse_compressed_twice(stream, name: str, compression: str) -> None:
    """Raise :class:`CorruptStreamError` when ``stream`` (``name`` decompressed with
    ``compression``; buffered, not advanced) starts as a compressed file again: a ``.gz``
    compressed once more (a download saved with its ``Content-Encoding: gzip``, ``gzip``
    run twice), or holds another format no text reader reads (:func:`other_format`). Read
    as lines, its records would be lines of binary noise, their number nothing to do with
    its documents', each quarantined with advice to re-encode text.

    Raises:
        NotText: naming both layers and how to take the outer one off.
    """
    inner = sniff_compression(stream)
    if inner is not None:
        raise NotText(
            f"{name} is compressed twice ({inner} inside {compression}): take the outer "
            f"layer off ({_DECOMPRESS[compression]} FILE > FILE2, named for the {inner} "
            "inside) and read that")
    other = other_format(stream.peek(64)[:64])
    if other is not None:
        raise NotText(
            f"{name} holds {other[0]} inside its {compression}, which prox does not read: "
            f"take the {compression} layer off ({_DECOMPRESS[compression]} FILE > FILE2), "
            f"then {other[1]}")


#: How gzip says a member's data does not match the CRC-32 or length its trailer records,
#: and zstd a frame's its checksum.
_FAILED_CHECKS = ("CRC check failed", "Incorrect length of data produced",
                  "zstd decompressor error: Restored data doesn't match checksum")


def _failed_check(message: str, unit: str = "member") -> str:
    """What a failed check of a gzip member's (zstd frame's) data means for the lines already
    read: the check is read after all its data, so the lines read from it before may be
    corrupt too (a flipped bit in a stored block, or one that still decodes); ``""`` for
    other errors."""
    if not message.startswith(_FAILED_CHECKS):
        return ""
    return (f"; the {unit}'s data does not match the check it records, which is read after all "
            f"of it: the lines read from this {unit} before it may be corrupt too; fetch the "
            "file again")


class _GzipReader(io.BufferedIOBase):
    """gzip.GzipFile whose truncation and corruption errors are CorruptStreamError."""

    def __init__(self, raw) -> None:
        import gzip

        super().__init__()
        self._raw = raw
        self._inner = gzip.GzipFile(fileobj=raw, mode="rb")

    def _guard(self, method, *args):
        import gzip

        try:
            return method(*args)
        except gzip.BadGzipFile as err:
            if str(err).startswith("Not a gzipped file"):  # only where a member may start
                raise CorruptStreamError(
                    f"gzip stream: the bytes after its last whole member are not gzip "
                    f"({str(err).removeprefix('Not a gzipped file').strip(' ()')}; gzip -d "
                    "calls them trailing garbage): every member before them was read, they "
                    "cannot be") from err
            raise CorruptStreamError(f"gzip stream truncated or corrupt: {err}"
                                     + _failed_check(str(err))) from err
        except (EOFError, zlib.error) as err:
            raise CorruptStreamError(f"gzip stream truncated or corrupt: {err}") from err

    def readable(self) -> bool:
        return True

    def read(self, n=-1):
        return self._guard(self._inner.read, n)

    def read1(self, n=-1):
        return self._guard(self._inner.read1, n)

    def readinto(self, b):
        return self._guard(self._inner.readinto, b)

    def readline(self, size=-1):
        return self._guard(self._inner.readline, size)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def peek(self, n=0):
        return self._guard(self._inner.peek, n)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._inner.close()
        finally:
            self._raw.close()
            super().close()


class _ZstdRaw(io.RawIOBase):
    """zstd frames (one or many, concatenated) decoded from ``raw``; a frame cut short
    raises :class:`CorruptStreamError` at the end instead of a clean end of file."""

    def __init__(self, raw) -> None:
        import zstandard

        super().__init__()
        self._raw = raw
        self._new = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj
        self._error = zstandard.ZstdError
        self._obj = self._new()
        self._in_frame = False  # bytes of the current frame were fed
        self._pending = memoryview(b"")
        self._consumed = 0
        self._failure: CorruptStreamError | None = None  # raised once _pending is read

    def readable(self) -> bool:
        return True

    def _feed(self, data: bytes) -> bytes:
        """What ``data`` decodes to. When a later frame in ``data`` is corrupt, the frames
        before it are still returned and the error is raised by the next read: raising at
        once would throw away good records decoded from the same input chunk."""
        out = []
        while data:
            self._in_frame = True
            try:
                out.append(self._obj.decompress(data))
            except self._error as err:
                failure = CorruptStreamError(
                    f"zstd stream corrupt near compressed byte {self._consumed}: {err}"
                    + _failed_check(str(err), "frame"))
                failure.__cause__ = err
                if not out:
                    raise failure from err
                self._failure = failure
                break
            if not self._obj.eof:
                break
            data, self._obj, self._in_frame = self._obj.unused_data, self._new(), False
        return b"".join(out)

    def readinto(self, buffer) -> int:
        while not self._pending:
            if self._failure is not None:
                raise self._failure
            chunk = self._raw.read(ZSTD_INPUT_CHUNK)
            if not chunk:
                if self._in_frame:
                    raise CorruptStreamError(
                        f"zstd stream truncated: the last frame ends early (after "
                        f"{self._consumed} compressed bytes)")
                return 0
            self._consumed += len(chunk)
            self._pending = memoryview(self._feed(chunk))
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]  # a view: no copy of the rest
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
            super().close()


def open_decompressed(raw, compression: str):
    """A buffered reader of ``raw`` (a binary file) decompressed with ``compression``."""
    if compression == "gzip":
        return _GzipReader(raw)
    if compression == "zstd":
        return io.BufferedReader(_ZstdRaw(raw), 1 << 20)
    raise ValueError(f"unknown compression {compression!r}")
