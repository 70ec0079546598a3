"""The document every reader yields, and the checks that turn a raw row into one."""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from prox_tasks.document_size import DEFAULT_MAX_DOC_BYTES  # noqa: F401 (re-exported)
from prox_tasks.wording import a_type, quoted_error

_ENCODE_CHECK_CHARS = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_FIELDS_SHOWN = 8  # a row's field names a missing_text detail lists

#: The id field rows are read with when none is named: a row without it is given its text's
#: hash as id (:func:`content_id`), as documented. A row without an id field named
#: otherwise (``--id-field``) is quarantined (``missing_id``).
DEFAULT_ID_FIELD = "id"
#: How to fix ``bad_encoding`` records (a latin-1 or cp1252 export, most often): re-encode …
REENCODE = "as UTF-8, e.g. iconv -f latin1 -t utf-8"


#: The bad bytes of an encoded UTF-16 surrogate, ``0xed 0xa0``-``0xed 0xbf``: what CESU-8
#: (Java's modified UTF-8) writes, and what a UTF-16 unit that is no text turns into when its
#: file is read as UTF-8 (:mod:`prox_tasks.corpus.encodings`). No re-encoding from latin-1
#: mends either.
SURROGATE_HINT = ("the bytes there encode a UTF-16 surrogate, which UTF-8 has not: the file was "
                  "written as CESU-8 (Java's modified UTF-8), or is UTF-16 holding a unit that "
                  "is no text (a lone surrogate, or the file cut inside a character); write it "
                  "again as UTF-8 from its source")
#: What a summary line says of ``bad_encoding`` records, whose details each say which fix
#: is theirs (:data:`REENCODE` or :data:`SURROGATE_HINT`): latin-1 alone would make mojibake
#: of an encoded surrogate.
BAD_ENCODING_FIX = ("write those files as UTF-8, as each entry's detail says: latin-1 or cp1252 "
                    "bytes, e.g. iconv -f latin1 -t utf-8; an encoded UTF-16 surrogate, again "
                    "from its source")


#: Control bytes no text holds in any 8-bit encoding (tab, line ends, form feed and escape
#: left out): a record holding them beside bytes that are not UTF-8 is binary data.
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x19\x1c-\x1f]")  # not ESC, DOS end of file
#: How to fix such a record: no re-encoding makes text of it.
BINARY_HINT = ("the record also holds control bytes no text holds (0x00-0x08, 0x0e-0x19, 0x1c-0x1f): the "
               "file is binary data, not text in another encoding; move it out of the input, "
               "or fetch it again if it should be text")


def not_utf8(err: UnicodeDecodeError) -> str:
    """A ``bad_encoding`` record's detail: where, the byte, and :data:`REENCODE` (or
    :data:`SURROGATE_HINT` for an encoded surrogate, and :data:`BINARY_HINT` for binary
    data, which latin-1 does not explain)."""
    bad = err.object[err.start:err.start + 2]
    if len(bad) == 2 and bad[0] == 0xED and 0xA0 <= bad[1] <= 0xBF:
        return f"not UTF-8 at byte {err.start} ({bad[0]:#04x} {bad[1]:#04x}): {SURROGATE_HINT}"
    where = f"not UTF-8 at byte {err.start} ({err.object[err.start]:#04x})"
    if _BINARY_BYTES.search(err.object):
        return f"{where}: {BINARY_HINT}"
    return f"{where}: re-encode the file {REENCODE}"


class MisplacedOffset(ValueError):
    """A segment's planned byte offset is not where a record of the file starts: the plan
    does not match the file's bytes (an edited plan). Nothing was read from there."""


@dataclass
class Document:
    """One input document.

    Attributes:
        id: The row's id field as text (:func:`build_document`), or :func:`content_id` of
            the text when absent.
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

    def as_row(self, text_field: str = "text", id_field: str = "id") -> dict:
        """The document as a row again: its id and text under these names, then ``meta``."""
        return {id_field: self.id, text_field: self.text, **self.meta}


def bytes_as_json(value: bytes) -> str | dict:
    """A bytes value (a Parquet ``binary`` column) as JSON holds it: its text when it is
    UTF-8 (Hive and Impala write strings as binary), else ``{"base64": "…"}`` — never
    Python's ``b'…'`` repr, which no reader of the JSON could turn back into the bytes."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode("ascii")}


def without_bytes(value):
    """``value`` with every bytes value in it (inside dicts, lists, tuples) as
    :func:`bytes_as_json` gives it."""
    if isinstance(value, bytes):
        return bytes_as_json(value)
    if isinstance(value, dict):
        return {k: without_bytes(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_bytes(v) for v in value]
    return value


class RecordError(Exception):
    """A raw record that cannot become a :class:`Document`; ``reason`` is a short code.

    Reasons (docs/storage.md explains each): ``malformed_json``, ``duplicate_key``, ``bad_encoding``,
    ``too_deep``, ``bad_number``, ``not_an_object``, ``missing_text``, ``not_text``,
    ``empty_text``, ``lone_surrogate``, ``too_large``, ``too_many_lines``, ``bad_id``,
    ``missing_id``,
    ``duplicate_id``, ``truncated_file``, ``truncated_record``, ``corrupt_file``,
    ``corrupt_row_group``,
    ``bad_record``.
    """

    def __init__(self, reason: str, detail: str = "", doc_id: str | None = None,
                 size: int | None = None, text_candidate: str | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        # the encoding of the raw record's bytes when they are not UTF-8 (a UTF-16 file's:
        # its quarantine entry names it, so its bytes can be read back)
        self.encoding: str | None = None
        self.size = size  # full size of the raw record, when only part of it was kept
        self.reason = reason
        self.detail = detail
        self.doc_id = doc_id
        self.fields: tuple = ()  # the row's field names, for a missing_id (see missing_id)
        # missing_text: the field that could hold the text (text_candidate), counted by
        # the quarantine so a summary hints at --text-field only when a row has one
        self.text_candidate = text_candidate
        # the record's bytes, where the reader found the error away from the record it
        # yields (a WARC record that ran on over others: they are kept in its entry's raw)
        self.raw: bytes | None = None


#: Reasons of an entry that stands for the unread rest of a file, not for a record of it:
#: one entry of no bytes where a compressed stream or a WET file breaks off
#: (``truncated_file``) or a Parquet footer cannot be read (``corrupt_file``). The plan
#: counts it as a record; it is no document (``documents_read`` leaves it out).
FILE_LOSS_REASONS = ("truncated_file", "corrupt_file")
#: Reasons of what a cut or damaged input file lost: :data:`FILE_LOSS_REASONS`, whose lost
#: records cannot be counted, and records that are lost with the damage — a WET record the
#: cut fell inside (``truncated_record``: what followed it is lost too), each row of a
#: Parquet row group that cannot be decoded (``corrupt_row_group``). The gate's
#: ``input_losses`` counts these (:mod:`prox_tasks.quality.frames`).
INPUT_LOSS_REASONS = (*FILE_LOSS_REASONS, "truncated_record", "corrupt_row_group")


class InputNotice:
    """A file read whole but not as its name says (``kind`` ``misnamed_compression``: a
    ``.jsonl.gz`` holding plain text, a ``.jsonl`` holding gzip): no record is lost, but the input is not what it
    claims, so readers count it (:attr:`Quarantine.notices
    <prox_tasks.corpus.quarantine.Quarantine.notices>`) beside the quarantined records, and
    the refine accounting reports it (``input_notices``)."""

    def __init__(self, kind: str, detail: str = ""):
        self.kind, self.detail = kind, detail


class BadRecordError(ValueError):
    """Raised by readers given no quarantine when they meet a bad record."""

    def __init__(self, source: str, offset: int, error: RecordError):
        super().__init__(f"{source} record {offset}: {error} (pass a Quarantine to keep going)")
        self.source, self.offset, self.error = source, offset, error


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a surrogate code point without its pair (JSON ``"\\ud800"``
    decodes to one): UTF-8 cannot encode it, so no writer could store the text as is."""
    if text.isascii():
        return False
    if len(text) > _ENCODE_CHECK_CHARS:  # no copy of a big text: the regular expression
        return _SURROGATE.search(text) is not None
    try:  # encoding is ~4x faster than the search (every record is checked when read)
        text.encode("utf-8")
    except UnicodeEncodeError:  # UTF-8 encodes every code point but the surrogates
        return True
    return False


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by its escape (the six characters
    ``\\udXXX``): inside JSON that is the same string again; elsewhere it is visible."""
    if not has_lone_surrogate(text):
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def content_id(text: str) -> str:
    """A stable id for a text without one: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def missing_field(row: dict, name: str, id_field: str = "id", exclude: Collection[str] = ()
                  ) -> str:
    """The detail of a row without field ``name``: ``field 'text' is null``, or ``no field
    'text' (its fields: 'content', 'id')`` — the fields it has, so that a text column under
    another name (``--text-field``) shows in the quarantine file — and, when one of them
    holds a string (:func:`text_candidate`), ``; 'content' holds a string: --text-field
    content if it is the text``."""
    candidate = text_candidate(row, name, id_field, exclude)
    hint = (f"; {candidate!r} holds a string: --text-field {candidate} if it is the text"
            if candidate is not None else "")
    if name in row:
        return f"field {name!r} is null{hint}"
    return f"no field {name!r} ({fields_of(row)}){hint}"


def fields_of(row: dict) -> str:
    """``its fields: 'id', 'url', …`` (the first few, each cut at 40 characters), or ``an
    empty object``: what a quarantine entry says a row holds instead of a field it lacks."""
    names = ", ".join(repr(str(key)[:40]) for key in itertools.islice(row, _FIELDS_SHOWN))
    more = ", …" if len(row) > _FIELDS_SHOWN else ""
    return f"its fields: {names}{more}" if names else "an empty object"


def text_candidate(row: dict, text_field: str, id_field: str = "id",
                   exclude: Collection[str] = ()) -> str | None:
    """The field of ``row`` that could hold its text when ``text_field`` does not: of its
    fields holding a non-empty string, other than ``text_field``, ``id_field`` and
    ``exclude``, the one with the longest; None when there is none (a row of an id only:
    no ``--text-field`` would read a text from it)."""
    best, length = None, 0
    for key, value in row.items():
        if (isinstance(value, str) and len(value) > length and key not in exclude
                and key not in (text_field, id_field)):
            best, length = str(key), len(value)
    return best


def likeliest_text_field(candidates: Mapping[str, int]) -> tuple[str, int] | None:
    """Of ``missing_text`` rows counted by the field :func:`text_candidate` found in each
    (``{field: rows}``), the field most of them hold (ties: the greater name) and its rows;
    None when no row holds one. The one choice every command and the gate name."""
    if not candidates:
        return None
    field, rows = max(candidates.items(), key=lambda item: (item[1], item[0]))
    return str(field), rows


def build_document(row: dict, source: str, offset: int, text_field: str = "text",
                   id_field: str = "id", max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES) -> Document:
    """Check ``row`` and make a :class:`Document` of it.

    The id is the id field as text: a string as it is, an integer as its digits (``12345``
    and ``"12345"`` are one id — the refined ``id`` column is text, so such rows could not
    be told apart there; the second is a ``duplicate_id``), any other as :func:`id_text`
    gives it (``12345.0`` and a decimal ``12345.00`` are ``12345``). Without one (no field,
    null, NaN) it is the text's :func:`content_id`.

    Raises:
        RecordError: when the row has no usable text or id — and for any other failure
            (``bad_record``): one record never stops a run.
    """
    try:
        return _build(row, source, offset, text_field, id_field, max_doc_bytes)
    except RecordError:
        raise
    except Exception as err:  # noqa: BLE001
        raise RecordError("bad_record", quoted_error(err)) from None


def id_text(value, id_field: str = "id") -> str | None:
    """A row's id field as the document's id: the one rule of every reader (JSON Lines,
    Parquet, a file of labels), so that one record read from any of them has one id.

    A string as it is; an integer as its digits (``12345``); a number that is a whole
    number as that integer's digits whatever its type — a float (``12345.0``: pandas
    writes an integer column that holds a null as float), a JSON number with trailing
    zeros, a decimal (a Parquet ``decimal(10,2)`` column's ``12345.00``) — and another as
    its shortest decimal text (``1.5``, from ``1.5``, ``1.50`` or a decimal ``1.50``);
    UTF-8 bytes as their text. None (no id: the text's :func:`content_id`) for a null and
    a NaN, the missing value of a float or decimal column — never the id ``"nan"``, which
    every such row would share.

    A float holds every whole number only up to ``2 ** 53`` (a float32, as a Parquet
    ``float`` column's NumPy scalar gives it, up to ``2 ** 24`` = 16,777,216): past it
    ``16777217`` reads as ``16777216``, two rows' ids as one, so a float id there is
    refused (a JSON number's exact digits are read as a decimal first:
    :func:`~prox_tasks.corpus.jsonl.parse_line`).

    Raises:
        RecordError: ``bad_id`` for an infinity, a float past its whole numbers, bytes that
            are not UTF-8, an object, a list, a bool, or a blank string.
    """
    if isinstance(value, bytes):  # a Parquet binary column: str() would give "b'k1'"
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RecordError("bad_id", f"field {id_field!r} is bytes that are not UTF-8 "
                              f"(at byte {err.start})") from None
    if isinstance(value, float | Decimal) or getattr(getattr(value, "dtype", None), "kind",
                                                     None) == "f":  # a NumPy float32  # fmt: skip
        value = _number_id(value, id_field)
    if value is None:
        return None
    text = str(value)
    if isinstance(value, dict | list | bool) or not text.strip():
        raise RecordError("bad_id", f"field {id_field!r} is {value!r:.80}")
    return text


def _number_id(value, id_field: str) -> int | float | str | None:
    """A float (Python's, or a NumPy float32/float16) or decimal id as :func:`id_text`
    reads it: None for NaN, a whole number as that integer, a decimal otherwise as its
    digits without trailing zeros."""
    decimal = isinstance(value, Decimal)
    bits = None if decimal else _significand_bits(value)
    value = value if decimal else float(value)
    if value.is_nan() if decimal else math.isnan(value):
        return None
    if value.is_infinite() if decimal else math.isinf(value):
        raise RecordError("bad_id", f"field {id_field!r} is {value!r}: not an id")
    if bits is not None and abs(value) >= 2 ** bits:
        kind = {53: "a float", 24: "a float32", 11: "a float16"}.get(bits, "a float")
        raise RecordError("bad_id", (
            f"field {id_field!r} is {int(value)} as {kind}, which holds every whole number "
            f"only up to {2 ** bits:,}: it may be another id rounded to it (two rows under "
            "one id); write the ids as integers or strings"))
    if value == int(value):
        return int(value)
    return format(value.normalize(), "f") if decimal else value


def _significand_bits(value) -> int:
    """The bits of ``value``'s significand: 53 for a Python float, fewer for a NumPy
    float32 (24) or float16 (11)."""
    if isinstance(value, float):  # numpy.float64 is one too
        return 53
    import numpy

    return numpy.finfo(value.dtype).nmant + 1


def _build(row, source, offset, text_field, id_field, max_doc_bytes) -> Document:
    if not isinstance(row, dict):
        raise RecordError("not_an_object", f"a JSON {type(row).__name__}, not an object")
    doc_id = id_text(row.get(id_field), id_field)
    if doc_id is not None and has_lone_surrogate(doc_id):
        raise RecordError("lone_surrogate", f"field {id_field!r} holds a lone surrogate",
                          escape_surrogates(doc_id))
    if row.get(text_field) is None:
        raise RecordError("missing_text", missing_field(row, text_field, id_field), doc_id,
                          text_candidate=text_candidate(row, text_field, id_field))
    text = row[text_field]
    if isinstance(text, bytes):  # a Parquet binary column (Hive, Impala write strings so)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RecordError("bad_encoding", f"field {text_field!r} is bytes that are not "
                              f"UTF-8 at byte {err.start} ({err.object[err.start]:#04x})",
                              doc_id) from None
    if not isinstance(text, str):
        raise RecordError("not_text", f"field {text_field!r} is {a_type(text)}", doc_id)
    if not text or text.isspace():  # blank (str.strip() would copy the text)
        raise RecordError("empty_text", f"field {text_field!r} is blank", doc_id)
    if has_lone_surrogate(text):
        at = _SURROGATE.search(text).start()
        raise RecordError("lone_surrogate", f"field {text_field!r} holds a lone surrogate at "
                          f"character {at}", doc_id)
    if len(text) > max_doc_bytes // 4:  # cheap pre-check; exact size only for big texts
        n = len(text.encode("utf-8", "surrogatepass"))
        if n > max_doc_bytes:
            raise RecordError("too_large", f"{n} bytes > {max_doc_bytes}", doc_id)
    if doc_id is None and id_field != DEFAULT_ID_FIELD:
        raise missing_id(row, id_field)
    meta = {k: v for k, v in row.items() if k != text_field and k != id_field}
    return Document(doc_id or content_id(text), text, source, offset, meta)


def missing_id(row: dict, id_field: str) -> RecordError:
    """The ``missing_id`` error of a row, a document but for its id, without the id field
    named (``--id-field``, not the default): given its text's hash, it would sit under an
    id of another kind than its neighbours' without a word. ``fields``: the row's field
    names, which :func:`~prox_tasks.corpus.readers.check_id_field` names when no row of a
    file's first ones holds the field."""
    held = f"is {row[id_field]!r:.40}" if id_field in row else "is absent"
    err = RecordError("missing_id", f"the id field {id_field!r} (--id-field, the id_field "
                      f"Param) {held} ({fields_of(row)}): give the row its id, or read the "
                      "input without --id-field (each row's id its text's hash)")
    err.fields = tuple(row)
    return err
