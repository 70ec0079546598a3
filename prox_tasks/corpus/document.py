"""The document every reader yields, and the checks that turn a raw row into one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: Documents larger than this (UTF-8 bytes of the text) are quarantined as ``too_large``.
DEFAULT_MAX_DOC_BYTES = 8 * 1024 * 1024


@dataclass
class Document:
    """One input document.

    Attributes:
        id: The row's id field, or :func:`content_id` of the text when absent.
        text: The document text.
        source: The canonical URI of the file it came from.
        offset: Its record index in that file (JSONL: 0-based line number; Parquet: row
            number; WET: index among the file's ``conversion`` records).
        meta: The row's other fields (for WET: url, date, language, record headers).
    """

    id: str
    text: str
    source: str
    offset: int
    meta: dict = field(default_factory=dict)


class RecordError(Exception):
    """A raw record that cannot become a :class:`Document`; ``reason`` is a short code.

    Reasons: ``malformed_json``, ``bad_encoding``, ``not_an_object``, ``missing_text``,
    ``not_text``, ``empty_text``, ``too_large``, ``bad_id``, ``bad_record``.
    """

    def __init__(self, reason: str, detail: str = "", doc_id: str | None = None,
                 size: int | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.size = size  # full size of the raw record, when only part of it was kept
        self.reason = reason
        self.detail = detail
        self.doc_id = doc_id


class BadRecordError(ValueError):
    """Raised by readers given no quarantine when they meet a bad record."""

    def __init__(self, source: str, offset: int, error: RecordError):
        super().__init__(f"{source} record {offset}: {error} (pass a Quarantine to keep going)")
        self.source, self.offset, self.error = source, offset, error


def content_id(text: str) -> str:
    """A stable id for a text without one: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def build_document(row: dict, source: str, offset: int, text_field: str = "text",
                   id_field: str = "id", max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES) -> Document:
    """Check ``row`` and make a :class:`Document` of it.

    Raises:
        RecordError: when the row has no usable text or id.
    """
    if not isinstance(row, dict):
        raise RecordError("not_an_object", f"a JSON {type(row).__name__}, not an object")
    raw_id = row.get(id_field)
    doc_id = None if raw_id is None else str(raw_id)
    if raw_id is not None and (isinstance(raw_id, dict | list | bool) or not doc_id.strip()):
        raise RecordError("bad_id", f"field {id_field!r} is {raw_id!r:.80}")
    if text_field not in row or row[text_field] is None:
        raise RecordError("missing_text", f"no field {text_field!r}", doc_id)
    text = row[text_field]
    if not isinstance(text, str):
        raise RecordError("not_text", f"field {text_field!r} is a {type(text).__name__}", doc_id)
    if not text.strip():
        raise RecordError("empty_text", f"field {text_field!r} is blank", doc_id)
    if len(text) > max_doc_bytes // 4:  # cheap pre-check; exact size only for big texts
        n = len(text.encode("utf-8", "surrogatepass"))
        if n > max_doc_bytes:
            raise RecordError("too_large", f"{n} bytes > {max_doc_bytes}", doc_id)
    meta = {k: v for k, v in row.items() if k != text_field and k != id_field}
    return Document(doc_id or content_id(text), text, source, offset, meta)
