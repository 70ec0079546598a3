"""JSON Lines written as UTF-16 or UTF-32, read as UTF-8.

JSON text is UTF-8 (RFC 8259), but Windows tools write UTF-16: PowerShell 5's ``>`` and
``Out-File`` do, with a byte order mark. Split on ``\\n`` bytes, such a file gives lines that
are not UTF-8 and a stray ``\\x00`` line per record, so every record would be quarantined and
one more counted. :func:`utf8_stream` recognises these files by their byte order mark, or,
without one, by the zero bytes beside the ASCII characters that open a JSON object
(:func:`detect`), and transcodes them
to UTF-8 as they stream, so their records read like any others. Anything else passes through
untouched.
"""

from __future__ import annotations

import codecs
import io
import re

_BOMS = (  # UTF-32 first: its little-endian BOM begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
HEAD_BYTES = 8
_UNDECODABLE = "prox-undecodable"


def _escape_undecodable(err: UnicodeDecodeError) -> tuple[str, int]:
    # Like "surrogateescape", for every byte value (UTF-16's bad units hold bytes < 0x80):
    # a lone surrogate per byte, which the UTF-8 encoding below turns into bytes that are not
    # UTF-8, so the line they sit in is quarantined as bad_encoding.
    return "".join(chr(0xDC00 + b) for b in err.object[err.start:err.end]), err.end


#: A run of :func:`_escape_undecodable`'s surrogates: the codec decodes no lone surrogate,
#: so every one in a transcoded text is an escaped byte.
_ESCAPED = re.compile("([\udc00-\udcff]+)")


codecs.register_error(_UNDECODABLE, _escape_undecodable)
_JSON_SPACE = " \t\r\n"


def _ascii_json_start(units: list[bytes], width: int, big_endian: bool) -> bool:
    """Whether ``units`` (code units of ``width`` bytes) are ASCII characters with their
    zero bytes where ``big_endian`` puts them, the first that is not blank being ``{``."""
    chars = []
    for unit in units:
        low, high = (unit[-1:], unit[:-1]) if big_endian else (unit[:1], unit[1:])
        if high != b"\0" * (width - 1) or not 0 < low[0] < 0x80:
            return False
        chars.append(chr(low[0]))
    text = "".join(chars).lstrip(_JSON_SPACE)
    return not text or text[0] == "{"


def detect(head: bytes) -> tuple[str | None, int]:
    """``(codec, bytes to skip)`` for a stream starting with ``head`` (its first
    :data:`HEAD_BYTES`; ``None``: UTF-8). Without a byte order mark, a stream is taken for
    UTF-16/32 only when its first characters are all ASCII with the zero bytes that
    encoding puts beside them, the first one that is not blank being the ``{`` of a JSON
    object: a UTF-8 file whose first line is garbage stays UTF-8."""
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec, len(bom)
    for width, codec_prefix in ((4, "utf-32"), (2, "utf-16")):
        if len(head) < 2 * width:
            continue
        units = [head[i:i + width] for i in range(0, len(head) - len(head) % width, width)]
        for big_endian, suffix in ((False, "-le"), (True, "-be")):
            if _ascii_json_start(units, width, big_endian):
                return codec_prefix + suffix, 0
    return None, 0


class _Transcoder(io.RawIOBase):
    """UTF-8 bytes of a stream in another encoding. What the codec cannot decode (a lone
    surrogate, a file cut inside a character) passes through as bytes that are not UTF-8,
    so only its line is quarantined (``bad_encoding``), never the whole file."""

    def __init__(self, stream, codec: str, head: bytes):
        self._stream, self.codec = stream, codec
        self._decoder = codecs.getincrementaldecoder(codec)(errors=_UNDECODABLE)
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
    head = stream.peek(HEAD_BYTES)[:HEAD_BYTES] if peeking else stream.read(HEAD_BYTES)
    codec, skip = detect(head)
    if codec is None:
        return stream if peeking else io.BufferedReader(_Prefixed(stream, head), 1 << 16)
    if peeking:
        stream.read(skip)
        head = b""
    return io.BufferedReader(_Transcoder(stream, codec, head[skip:]), 1 << 16)


def codec_of(stream) -> str | None:
    """The encoding :func:`utf8_stream` transcodes ``stream`` (what it returned) from; None
    when it passes the bytes through (UTF-8)."""
    return getattr(getattr(stream, "raw", None), "codec", None)


def original_bytes(line: bytes, codec: str) -> bytes:
    """The bytes of the file in ``codec`` that :func:`utf8_stream` transcoded into ``line``,
    undecodable ones included: what a quarantined record of a UTF-16/32 file keeps, as a
    UTF-8 file's keeps its own bytes. A line cut inside a character (an overlong one, kept
    up to a limit) loses that character's start."""
    text = codecs.getincrementaldecoder("utf-8")("surrogatepass").decode(line)
    # split: the text between the escaped bytes (odd parts), encoded back, and those bytes
    parts = _ESCAPED.split(text)
    return b"".join(bytes(ord(c) - 0xDC00 for c in part) if i % 2 else part.encode(codec)
                    for i, part in enumerate(parts))


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
