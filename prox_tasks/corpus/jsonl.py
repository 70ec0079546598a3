"""JSON Lines (plain, ``.gz``, ``.zst``): one JSON object per line, streamed.

A record is a non-blank line; its offset is the 0-based line number. Blank lines are not
records (the planner skips them too, so counts agree). Every line is decoded on its own
(:func:`decode_row`): whatever goes wrong with it — encoding, syntax, nesting depth, a number
Python will not convert, a lone surrogate — becomes a :class:`RecordError` for that line
only. Lines longer than the limit are read in pieces and quarantined as ``too_large``
without holding them whole in memory. A compressed stream that ends early yields one
``truncated_file`` record at the line where it broke: the lines before it are kept. A UTF-8
byte order mark at a line's start is skipped (files concatenated with ``cat`` carry theirs
into the middle), a UTF-16 or UTF-32 file is read as UTF-8
(:mod:`prox_tasks.corpus.encodings`), and a file whose lines end in a lone carriage return
(classic Mac OS) is read line by line (:mod:`prox_tasks.corpus.line_ends`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from decimal import Decimal

from prox_tasks.corpus.document import InputNotice, RecordError, build_document, not_utf8
from prox_tasks.corpus.encodings import codec_of, original_bytes, utf8_stream
from prox_tasks.corpus.line_ends import lf_lines
from prox_tasks.storage import compression_of, open_uri
from prox_tasks.storage.compressed import CorruptStreamError
from prox_tasks.wording import quoted_error, shortened

EXTENSIONS = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".ndjson.zst",
              ".jsonl.zstd")


UTF8_BOM = b"\xef\xbb\xbf"

#: Suffixes of an output name that say a format or compression the JSON Lines writers
#: (``prox execute``, ``prox label``) do not write: they write plain JSON Lines, gzip
#: (``.gz``) or zstd (``.zst``) by the name, anything else as plain text under that name.
_NOT_WRITTEN = (".parquet", ".pq", ".arrow", ".feather", ".orc", ".avro", ".csv", ".tsv",
                ".wet", ".warc", ".wat", ".bz2", ".xz", ".lz4", ".lzma", ".br", ".zip",
                ".7z", ".tar", ".snappy")


def refused_output_name(uri: str, option: str = "--output") -> str | None:
    """Why a JSON Lines output may not be named ``uri`` (given as ``option``), or None.

    A name ending in another format's or compression's suffix (``labels.parquet``,
    ``rows.jsonl.bz2``) would get plain JSON Lines under it: a reader going by the name
    (pandas, Spark, ``bzip2 -d``) then fails on it, or prox itself reads it as what it is
    not. The message names what is written instead.
    """
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    suffix = next((s for s in _NOT_WRITTEN if name.endswith(s)), None)
    if suffix is None:
        return None
    return (f"{option} {uri} is named {suffix}, but what is written there is JSON Lines: "
            "name it .jsonl (plain), .jsonl.gz (gzip) or .jsonl.zst (zstd)")


def line_limit(max_doc_bytes: int) -> int:
    # JSON escaping can grow a text (\uXXXX is 6 bytes for 3); leave room for other fields.
    return 4 * max_doc_bytes + (1 << 20)


def iter_lines(uri: str, limit: int, start: int = 0, end: int | None = None, *, digests=None,
               expect=None, at: int | None = None, codec=None
               ) -> Iterator[tuple[int, bytes | RecordError, int]]:
    """Yield ``(line_number, line, size)`` for non-blank lines in ``[start, end)``; the
    bytes read are fed to ``digests`` (:class:`prox_tasks.storage.ReadDigests`); ``expect``
    checks the file as opened (:func:`~prox_tasks.storage.open_uri`); ``at``: the byte
    offset of line ``start`` (:func:`scan` gives it), read from there on
    (:func:`_lines`).

    ``line`` holds at most ``limit`` bytes; ``size`` is the full length, so a longer line
    shows as ``size > len(line)``. When the compressed stream is truncated or corrupt, the
    last item is ``(line_number, RecordError("truncated_file"), 0)`` and reading stops. A
    file compressed otherwise than its name says, read as what its bytes are (plain text in
    a ``.jsonl.gz``, gzip in a ``.jsonl``) gives one ``(line_number, InputNotice("misnamed_compression"), 0)`` just before its first
    record, when that record is in the range read (so a file split over shards counts once).
    ``codec`` is called with the file's encoding, once it is opened, when its lines are
    UTF-8 transcoded from UTF-16/32 (:func:`~prox_tasks.corpus.encodings.utf8_stream`).
    """
    for number, line, size, _position in _lines(uri, limit, start, end, digests=digests,
                                                expect=expect, at=at, codec=codec):
        yield number, line, size


def _lines(uri: str, limit: int, start: int = 0, end: int | None = None, *, digests=None,
           expect=None, at: int | None = None, codec=None
           ) -> Iterator[tuple[int, bytes | RecordError | InputNotice, int, int | None]]:
    """:func:`iter_lines`' items, each with the byte offset its line starts at in the file,
    or None when the file cannot be read from an offset (compressed, UTF-16/32, a read fed
    to ``digests``). With ``at`` (the offset of line ``start``, as given here) a file that
    can is read from there, not from its start: a shard late in a large file skips no line
    (its line ends are told from the file's head first, :func:`~prox_tasks.corpus.line_ends.lf_lines`).

    Raises:
        ~prox_tasks.corpus.line_ends.MisplacedOffset: ``at`` is not where a line starts.
    """
    number = 0
    misnamed: list[str] = []
    first = True  # no record met yet: the file's notice goes with its first record
    try:
        with open_uri(uri, "rb", compression="infer", digests=digests,
                      misnamed=misnamed.append, expect=expect) as raw:
            text = utf8_stream(raw)
            if codec is not None and codec_of(text) is not None:
                codec(codec_of(text))
            # only the file's own bytes have offsets a later read can seek to
            seekable = (text is raw and digests is None and not misnamed
                        and compression_of(uri) is None and raw.seekable())
            position = 0 if seekable else None
            if seekable and at and start:
                number, position = start, at
            stream = lf_lines(text, uri, at=position)
            while end is None or number < end:
                line = stream.readline(limit)
                if not line:
                    return
                here = position
                if position is not None:
                    position += len(line)
                # Windows tools write one at a file's start; `cat a.jsonl b.jsonl` puts b's
                # at a line's start. No JSON value starts with it: skipping it loses nothing
                if line.startswith(UTF8_BOM):
                    line = line[len(UTF8_BOM):]
                size = len(line)
                if not line.endswith(b"\n") and size == limit:  # overlong: skip the rest
                    while True:
                        piece = stream.readline(1 << 20)
                        size += len(piece)
                        if position is not None:
                            position += len(piece)
                        if not piece or piece.endswith(b"\n"):
                            break
                # blank (a BOM alone at the file's end leaves b""): not a record (no copy)
                if line and not line.isspace():
                    # one notice per file: only the read holding its first record counts it
                    if first and misnamed and number >= start:
                        yield number, InputNotice("misnamed_compression", misnamed[0]), 0, None
                    first = False
                    if number >= start:
                        yield number, line, size, here
                number += 1
    except CorruptStreamError as err:
        if number >= start:
            yield number, RecordError("truncated_file", f"{err}; records from line {number} "
                                      "on are lost"), 0, None


def scan(uri: str, max_doc_bytes: int, *, expect=None) -> Iterator[tuple[int, int, int | None]]:
    """``(offset, bytes, byte offset)`` of every record, for shard planning (no JSON
    parsing): the byte offset (where its line starts, for :func:`read`'s ``at``) is None
    when the file cannot be read from one (:func:`_lines`); ``expect`` checks the file as
    opened (:func:`~prox_tasks.storage.open_uri`)."""
    for number, line, size, position in _lines(uri, line_limit(max_doc_bytes), expect=expect):
        if not isinstance(line, InputNotice):
            yield number, size, position


def _not_json(name: str):
    # Python's json reads NaN and Infinity, and writes them back: output strict parsers reject
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:40]} is out of a float's range")
    return value


class _RepeatedName(Exception):
    """A name written twice in one JSON object with other values (not a ValueError: those
    are :func:`decode_row`'s ``bad_number``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _object(pairs: list) -> dict:
    """A JSON object of ``pairs``, refusing a name written twice with other values: json's
    ``dict`` keeps the last and loses the others without a word (other readers keep the
    first), so which value the record holds is not knowable. A name repeated with the same
    value (compared as JSON: ``true`` is not ``1``) loses nothing."""
    row = dict(pairs)
    if len(row) != len(pairs):
        for name, value in pairs:
            kept = row[name]
            if value is not kept and json.dumps(value) != json.dumps(kept):
                raise _RepeatedName(name)
    return row


#: Two JSON objects on one line, a lone carriage return between them: lines that end in CR
#: alone (classic Mac OS, some exporters) in a file whose first line ends in ``\n`` (two
#: files concatenated) are one line (:func:`~prox_tasks.corpus.line_ends.lf_lines` reads a
#: file whose first line ends so line by line).
_CR_SEPARATED = re.compile(rb"\}[ \t]*\r[ \t]*\{")
CR_HINT = ("; its lines end in a lone carriage return (\\r): convert them to \\n, e.g. "
           "tr '\\r' '\\n'")


#: A line of zero bytes only: what a writer that died after the file was sized, or a file
#: system that lost the end of a file in a crash, leaves.
ZEROS_HINT = ("; the line is zero bytes only: the file was left zero-filled (a writer that "
              "died, a crash that lost its end): write it again from its source")


#: A line of a JSON value written over several lines: indented, or a bracket alone. No
#: JSON Lines record starts so, and every line of such a file is a bad record of its own.
_PRETTY_LINE = re.compile(rb"[ \t]+\S|[\[\]{}],?[ \t]*\r?\n?\Z")
PRETTY_HINT = ("; the file looks pretty-printed (a JSON value over several lines, as jq or "
               "json.dump(indent=...) write it): JSON Lines wants one object a line, e.g. "
               "jq -c . FILE > FILE.jsonl (an array: jq -c '.[]')")
#: A JSON array of objects on one line: a whole JSON export, not one record.
ARRAY_HINT = ("; a JSON array of objects: JSON Lines wants one object a line, e.g. "
              "jq -c '.[]' FILE > FILE.jsonl")


def _hint(line: bytes) -> str:
    """Why ``line`` is not a record, when it shows: :data:`CR_HINT` when it holds records
    separated by a lone CR, :data:`ZEROS_HINT` when it is zero bytes only,
    :data:`PRETTY_HINT` when it is a line of a pretty-printed value; else ``""``."""
    if _CR_SEPARATED.search(line, 0, 1 << 20):
        return CR_HINT
    if line[:1] == b"\0" and not line.rstrip(b"\r\n").strip(b"\0"):
        return ZEROS_HINT
    return PRETTY_HINT if _PRETTY_LINE.match(line) else ""


#: Two records on one line: a file whose last line has no line end, concatenated with
#: another (``cat a.jsonl b.jsonl``), its byte order mark between them or not.
JOINED_HINT = ("; two JSON objects on one line: a file whose last line has no line end was "
               "joined to another (cat a.jsonl b.jsonl): end each file with a line end "
               "before joining them, e.g. sed -e '$a\\' a.jsonl")
#: A byte order mark (U+FEFF) where JSON allows none: inside a line, between its tokens.
BOM_HINT = ("; a byte order mark (U+FEFF) at column {column}, inside the line: remove it, "
            "e.g. sed 's/\\xef\\xbb\\xbf//g' FILE")


#: Names of the control characters a JSON writer most often leaves raw in a string.
_CONTROL_NAMES = {"\0": "NUL", "\t": "tab", "\r": "carriage return", "\x0b": "vertical tab",
                  "\x0c": "form feed", "\x1b": "escape"}


def _json_hint(err: json.JSONDecodeError) -> str:
    """Why the JSON parser stopped where it did, when it shows: the raw control character
    inside a string, :data:`BOM_HINT` at a byte order mark, :data:`JOINED_HINT` when an
    object ends and another begins; else ``""``."""
    text, at = err.doc, err.pos
    if err.msg.startswith("Invalid control character") and at < len(text):
        char = text[at]
        name = _CONTROL_NAMES.get(char, "control character")
        return (f"; a raw {name} ({ord(char):#04x}) inside a string, which JSON wants escaped "
                f"({json.dumps(char)[1:-1]}): the file's writer did not escape it; write it "
                "with a JSON library (json.dumps, jq -c)")
    if text.startswith("\ufeff", at):
        after = text[at + 1:at + 2]
        joined = err.msg == "Extra data" and after == "{"
        return JOINED_HINT if joined else BOM_HINT.format(column=err.colno)
    joined = text.startswith("{", at) and text[:at].rstrip().endswith("}")
    return JOINED_HINT if err.msg == "Extra data" and joined else ""


def decode_row(line: bytes, size: int | None = None):
    """The JSON value of one line, or :class:`RecordError` (never anything else).

    Reasons: ``too_large`` (``size`` says the line was cut), ``bad_encoding``,
    ``malformed_json``, ``duplicate_key`` (a name written twice in one object with other
    values), ``too_deep`` (nesting past Python's recursion limit),
    ``bad_number`` (an integer over Python's digit limit, ``NaN``/``Infinity``, which are
    not JSON, or a float that overflows, such as ``1e999``), ``bad_record``.
    """
    if size is not None and size > len(line):
        # the reason's limit by name: only a larger max_doc_bytes would read this record
        raise RecordError("too_large", f"line of {size} bytes: longer than any line whose text "
                          f"fits max_doc_bytes (lines are read up to {len(line)} bytes)"
                          + _hint(line), size=size)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError("bad_encoding", not_utf8(err)) from None
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite,
                          object_pairs_hook=_object)
    except _RepeatedName as err:
        raise RecordError("duplicate_key", f"the name {err.name[:100]!r} is written twice in "
                          "one object, with other values: a JSON reader keeps one of them (json "
                          "and jq the last) and loses the other; write each name once") from None
    except json.JSONDecodeError as err:
        # some of json's messages end in "at" ("Invalid control character at"): one "at"
        raise RecordError("malformed_json", f"{err.msg.removesuffix(' at')} at column "
                          f"{err.colno}" + (_json_hint(err) or _hint(line))) from None
    except RecursionError:
        raise RecordError("too_deep", "JSON nested deeper than the parser allows") from None
    except ValueError as err:  # int("1" * 5000): over sys.get_int_max_str_digits()
        raise RecordError("bad_number", shortened(str(err))) from None
    except Exception as err:  # noqa: BLE001 - one record's failure must not stop a run
        raise RecordError("bad_record", quoted_error(err)) from None


def decode_object(line: bytes, size: int | None = None) -> dict:
    """The JSON object of one line, or :class:`RecordError`: :func:`decode_row`'s, or
    ``not_an_object`` (its detail says when the line is one of a pretty-printed value, or
    holds a JSON array of objects)."""
    row = decode_row(line, size)
    if not isinstance(row, dict):
        shape = ARRAY_HINT if row and isinstance(row, list) and all(
            isinstance(item, dict) for item in row) else _hint(line)  # fmt: skip
        raise RecordError("not_an_object", f"a JSON {type(row).__name__}, not an object{shape}")
    return row


#: From here on a float no longer holds every whole number: ``12345678901234567.0`` reads
#: as ``12345678901234568.0``.
_EXACT_FLOATS = 2.0**53


def parse_line(line: bytes, size: int, source: str, offset: int, text_field: str,
               id_field: str, max_doc_bytes: int):
    """Turn one line into a Document, or raise :class:`RecordError`. An id that is a whole
    number too large for a float (``123456789012345678901.0``) is read again as the exact
    decimal it is written as, so its digits are the id, not a float's rounding of them (the
    same record written with the integer id, in JSON or Parquet, has the same id)."""
    row = decode_object(line, size)
    read_id_exactly(row, line, id_field)
    return build_document(row, source, offset, text_field, id_field, max_doc_bytes)


def read_id_exactly(row: dict, line: bytes, id_field: str) -> None:
    """Set ``row[id_field]``, when it is a whole number too large for a float
    (``123456789012345678901.0``), to the exact integer ``line`` writes: one rule for
    documents (:func:`parse_line`) and rows (:func:`read_rows`: labels, programs to run,
    gold and seed rows), so ``prox execute`` or ``prox eval`` give such a row the id
    ``prox refine`` gives it, not a float's rounding of it (which
    :func:`~prox_tasks.corpus.document.id_text` refuses)."""
    raw_id = row.get(id_field)
    if isinstance(raw_id, float) and raw_id.is_integer() and abs(raw_id) >= _EXACT_FLOATS:
        exact = json.loads(line, parse_float=Decimal).get(id_field, raw_id)
        # an integer (the digits written; json.dumps cannot write a Decimal back)
        row[id_field] = int(exact) if isinstance(exact, Decimal) else exact


def read(uri: str, options, start: int = 0, end: int | None = None, *, expect=None,
         sizes=None, at: int | None = None):
    """Yield ``(offset, Document | RecordError, raw line)`` for records in ``[start, end)``;
    ``expect`` and ``at``: see :func:`iter_lines` (and an :class:`InputNotice` as it gives
    it); ``sizes`` is called with each record's bytes, as :func:`scan` counted them."""
    encoding: list[str] = []
    for number, line, size in iter_lines(uri, line_limit(options.max_doc_bytes), start, end,
                                         expect=expect, at=at, codec=encoding.append):
        if sizes is not None and not isinstance(line, InputNotice):
            sizes(size)
        if isinstance(line, (RecordError, InputNotice)):
            yield number, line, None
            continue
        try:
            doc = parse_line(line, size, uri, number, options.text_field, options.id_field,
                             options.max_doc_bytes)
        except RecordError as err:
            yield number, err, _as_read(line, err, encoding)
        else:
            yield number, doc, None


def read_rows(uri: str, max_bytes: int, start: int = 0, end: int | None = None, *,
              digests=None, id_field: str = "id"):
    """Yield ``(offset, dict | RecordError, raw line)``: every record as a JSON object,
    without the document checks (rows of labels, programs, gold texts), its ``id_field``
    read as :func:`read_id_exactly` reads it; ``digests``: see :func:`iter_lines`."""
    encoding: list[str] = []
    for number, line, size in iter_lines(uri, line_limit(max_bytes), start, end,
                                         digests=digests, codec=encoding.append):
        if isinstance(line, (RecordError, InputNotice)):
            yield number, line, None
            continue
        try:
            row = decode_object(line, size)
        except RecordError as err:
            yield number, err, _as_read(line, err, encoding)
        else:
            read_id_exactly(row, line, id_field)
            yield number, row, None


def _as_read(line: bytes, err: RecordError, encoding: list[str]) -> bytes:
    """The bad record ``line`` as the file holds it, for its quarantine entry: a UTF-16/32
    file's own bytes (``encoding``: its codec, when its lines were transcoded), named by
    ``err.encoding``, as a UTF-8 file's entry keeps its own bytes; the line otherwise."""
    if not encoding:
        return line
    err.encoding = encoding[0]
    return original_bytes(line, encoding[0])


def dumps_line(row, default=None) -> bytes:
    """One JSONL line as UTF-8 bytes. A lone surrogate (which UTF-8 cannot hold) is written
    as its JSON escape ``\\udXXX``, so the line is valid and reads back to the same string."""
    return (json.dumps(row, ensure_ascii=False, default=default) + "\n").encode(
        "utf-8", "backslashreplace")
