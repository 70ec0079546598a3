"""JSON Lines written as UTF-16 or UTF-32, read as UTF-8.

JSON text is UTF-8 (RFC 8259), but Windows tools write UTF-16: PowerShell 5's ``>`` and
``Out-File`` do, with a byte order mark. Split on ``\\n`` bytes, such a file gives lines that
are not UTF-8 and a stray ``\\x00`` line per record, so every record would be quarantined and
one more counted. :func:`utf8_stream` recognises these files by their byte order mark, or,
without one, by the zero byte beside the ``{`` that opens a JSON object, and transcodes them
to UTF-8 as they stream, so their records read like any others. Anything else passes through
untouched.
"""

from __future__ import annotations

import codecs
import io

_SIGNATURES = (  # (first bytes, codec, bytes to skip); UTF-32 first: its BOM begins UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le", 4),
    (codecs.BOM_UTF32_BE, "utf-32-be", 4),
    (codecs.BOM_UTF16_LE, "utf-16-le", 2),
    (codecs.BOM_UTF16_BE, "utf-16-be", 2),
    (b"{\x00\x00\x00", "utf-32-le", 0),
    (b"\x00\x00\x00{", "utf-32-be", 0),
    (b"{\x00", "utf-16-le", 0),
    (b"\x00{", "utf-16-be", 0),
)


def detect(head: bytes) -> tuple[str | None, int]:
    """``(codec, bytes to skip)`` for a stream starting with ``head`` (``None``: UTF-8)."""
    for signature, codec, skip in _SIGNATURES:
        if head.startswith(signature):
            return codec, skip
    return None, 0


class _Transcoder(io.RawIOBase):
    """UTF-8 bytes of a stream in another encoding. A sequence the codec cannot decode (a
    lone surrogate) passes through as bytes that are not UTF-8, so only its line is
    quarantined (``bad_encoding``), never the whole file."""

    def __init__(self, stream, codec: str, head: bytes):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(codec)(errors="surrogatepass")
        self._pending = self._encode(self._decoder.decode(head))
        self._done = False

    @staticmethod
    def _encode(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending and not self._done:
            chunk = self._stream.read(1 << 16)
            self._done = not chunk
            self._pending = self._encode(self._decoder.decode(chunk, final=self._done))
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def utf8_stream(stream):
    """``stream`` (binary, readable), or a UTF-8 transcoding of it when it is UTF-16/32.

    A UTF-8 stream that can ``peek`` (a local file, S3, zstd) comes back as it is, so the
    common case costs nothing."""
    peeking = hasattr(stream, "peek")
    head = stream.peek(4)[:4] if peeking else stream.read(4)
    codec, skip = detect(head)
    if codec is None:
        return stream if peeking else io.BufferedReader(_Prefixed(stream, head), 1 << 16)
    if peeking:
        stream.read(skip)
        head = b""
    return io.BufferedReader(_Transcoder(stream, codec, head[skip:]), 1 << 16)


class _Prefixed(io.RawIOBase):
    """``stream`` with the bytes already read from it put back in front."""

    def __init__(self, stream, head: bytes):
        self._stream, self._head = stream, head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
