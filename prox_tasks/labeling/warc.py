"""The HTML of WARC ``response`` records, for the ``html`` teacher.

Common Crawl ships every page twice: the WARC ``response`` (HTTP headers and HTML) and the
WET ``conversion`` (the extracted text a text corpus holds). The conversion names its response
in ``WARC-Refers-To``, so a WET corpus labels its own seed set from the matching WARC file:
``prox label --input crawl.warc.wet.gz --warc crawl.warc.gz --teacher html`` (or ``best``).
Corpora whose rows were converted from WARC files by another tool (no WET record ids) join on
``(url, date)`` instead (:func:`html_by_capture`).
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterator

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


@functools.lru_cache(maxsize=64)
def _single_byte(charset: str | None) -> bool:
    """Whether ``charset`` maps every byte to one character (iso-8859-*, windows-125*, koi8-r…):
    such a decoding never fails, so it cannot tell a wrong declaration."""
    if not charset:
        return False
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return False
    return not name.startswith("utf") and len(bytes(range(256)).decode(name, "replace")) == 256


def decode_html(payload: bytes, http_charset: str | None = None) -> str:
    """Decode an HTML body: the HTTP charset, else UTF-8, else ``<meta charset>``, else a
    guess by charset-normalizer (undecodable bytes replaced, never an error). A single-byte
    HTTP charset loses to UTF-8 when the body is valid UTF-8 with non-ASCII bytes (servers
    that default to iso-8859-1 turn UTF-8 Cyrillic into mojibake; text in a single-byte
    charset is practically never valid UTF-8)."""
    candidates = [http_charset, "utf-8"]
    if _single_byte(http_charset) and not payload.isascii():
        candidates.reverse()
    meta = _CHARSET.search(payload[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    for charset in candidates:
        if not charset:
            continue
        try:
            return payload.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(payload).best()
        if best is not None:
            return str(best)
    except ImportError:  # pragma: no cover - charset-normalizer comes with requests
        pass
    return payload.decode("utf-8", errors="replace")


def html_records(warc_uri: str) -> Iterator[dict]:
    """Every HTML ``response`` record of a WARC file: ``record_id`` (without ``<>``), ``url``,
    ``date``, ``html``. Non-HTML responses and other record types are skipped.

    Raises:
        ValueError: When the file breaks off (cut inside a record or a gzip member, bytes
            that are not WARC): a page cut short is never labeled from, and the responses
            past the cut are not lost quietly.
    """
    from prox_tasks.corpus.document import RecordError
    from prox_tasks.corpus.wet import broken, records

    for _number, record in records(warc_uri, "response"):
        if isinstance(record, RecordError):
            raise ValueError(f"--warc {warc_uri}: {record.detail}; fetch the file again or "
                             "leave it out")
        if record.http_headers is None:
            continue
        content_type = record.http_headers.get_header("Content-Type") or ""
        if "html" not in content_type.lower():
            continue
        charset = None
        if "charset=" in content_type.lower():
            charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
        headers = record.rec_headers
        record_id = (headers.get_header("WARC-Record-ID") or "").strip("<>")
        try:
            payload = record.content_stream().read()
            record.raw_stream.read()  # the rest of the record's Content-Length, if any
        except broken() as err:
            raise ValueError(f"--warc {warc_uri}: response {record_id} cannot be read: "
                             f"{type(err).__name__}: {err}"[:300]) from None
        if getattr(record.raw_stream, "limit", 0):  # Content-Length not reached: cut short
            raise ValueError(f"--warc {warc_uri}: response {record_id} is cut short "
                             f"({record.raw_stream.limit} of its {record.length} bytes "
                             "missing): the file is cut; fetch it again or leave it out")
        yield {
            "record_id": record_id,
            "url": headers.get_header("WARC-Target-URI"),
            "date": headers.get_header("WARC-Date"),
            "html": decode_html(payload, charset),
        }


def html_by_record_id(warc_uris: list[str]) -> dict[str, str]:
    """``{response record id: html}`` over WARC files (a WET record's ``WARC-Refers-To``)."""
    return {r["record_id"]: r["html"] for uri in warc_uris for r in html_records(uri)}


def html_by_capture(warc_uris: list[str]) -> dict[tuple[str, str], list[str]]:
    """``{(url, date): [html, ...]}`` in file order (a URL captured twice in one second keeps
    both, matched to rows in the same order)."""
    out: dict[tuple[str, str], list[str]] = {}
    for uri in warc_uris:
        for r in html_records(uri):
            out.setdefault((r["url"], r["date"]), []).append(r["html"])
    return out
