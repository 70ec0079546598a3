"""Common Crawl WET files (WARC ``conversion`` records holding extracted text), via warcio.

A record's offset is its index among the file's ``conversion`` records; ``warcinfo`` and
other record types are not documents. The id is the WARC-Record-ID (``urn:uuid:…``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prox_tasks.corpus.document import Document, RecordError, content_id
from prox_tasks.storage import open_uri

EXTENSIONS = (".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz")
HEADERS = {
    "url": "WARC-Target-URI",
    "date": "WARC-Date",
    "language": "WARC-Identified-Content-Language",
    "refers_to": "WARC-Refers-To",
    "digest": "WARC-Block-Digest",
}


def _conversions(uri: str):
    from warcio.archiveiterator import ArchiveIterator

    with open_uri(uri, "rb") as stream:
        number = 0
        for record in ArchiveIterator(stream):
            if record.rec_type == "conversion":
                yield number, record
                number += 1


def scan(uri: str, max_doc_bytes: int) -> Iterator[tuple[int, int]]:
    """``(offset, bytes)`` of every conversion record (its Content-Length)."""
    for number, record in _conversions(uri):
        yield number, int(record.rec_headers.get_header("Content-Length") or 0)


def read(uri: str, options, start: int = 0, end: int | None = None):
    """Yield ``(offset, Document | RecordError, raw)`` for records in ``[start, end)``."""
    for number, record in _conversions(uri):
        if end is not None and number >= end:
            return
        if number < start:
            continue
        headers = record.rec_headers
        doc_id = (headers.get_header("WARC-Record-ID") or "").strip("<>") or None
        length = int(headers.get_header("Content-Length") or 0)
        if length > options.max_doc_bytes:
            yield number, RecordError("too_large", f"{length} bytes", doc_id, length), None
            continue
        payload = record.content_stream().read()
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, RecordError("bad_encoding", f"not UTF-8 at byte {err.start}",
                                      doc_id), payload
            continue
        if not text.strip():
            yield number, RecordError("empty_text", "blank conversion record", doc_id), payload
            continue
        meta = {key: headers.get_header(name) for key, name in HEADERS.items()
                if headers.get_header(name) is not None}
        yield number, Document(doc_id or content_id(text), text, uri, number, meta), None
