"""JSON Lines (plain, ``.gz``, ``.zst``): one JSON object per line, streamed.

A record is a non-blank line; its offset is the 0-based line number. Blank lines are not
records (the planner skips them too, so counts agree). Lines longer than the limit are read
in pieces and quarantined as ``too_large`` without holding them whole in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from prox_tasks.corpus.document import RecordError, build_document
from prox_tasks.storage import open_uri

EXTENSIONS = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".ndjson.zst",
              ".jsonl.zstd")


def line_limit(max_doc_bytes: int) -> int:
    # JSON escaping can grow a text (\uXXXX is 6 bytes for 3); leave room for other fields.
    return 4 * max_doc_bytes + (1 << 20)


def iter_lines(uri: str, limit: int, start: int = 0, end: int | None = None
               ) -> Iterator[tuple[int, bytes, int]]:
    """Yield ``(line_number, line, size)`` for non-blank lines in ``[start, end)``.

    ``line`` holds at most ``limit`` bytes; ``size`` is the full length, so a longer line
    shows as ``size > len(line)``.
    """
    with open_uri(uri, "rb", compression="infer") as stream:
        number = 0
        while end is None or number < end:
            line = stream.readline(limit)
            if not line:
                return
            size = len(line)
            if not line.endswith(b"\n") and size == limit:  # overlong: skip the rest
                while True:
                    piece = stream.readline(1 << 20)
                    size += len(piece)
                    if not piece or piece.endswith(b"\n"):
                        break
            if number >= start and line.strip():
                yield number, line, size
            number += 1


def scan(uri: str, max_doc_bytes: int) -> Iterator[tuple[int, int]]:
    """``(offset, bytes)`` of every record, for shard planning (no JSON parsing)."""
    for number, _line, size in iter_lines(uri, line_limit(max_doc_bytes)):
        yield number, size


def parse_line(line: bytes, size: int, source: str, offset: int, text_field: str,
               id_field: str, max_doc_bytes: int):
    """Turn one line into a Document, or raise :class:`RecordError`."""
    if size > len(line):
        raise RecordError("too_large", f"line of {size} bytes", size=size)
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError("bad_encoding", f"not UTF-8 at byte {err.start}") from None
    try:
        row = json.loads(text)
    except json.JSONDecodeError as err:
        raise RecordError("malformed_json", f"{err.msg} at column {err.colno}") from None
    return build_document(row, source, offset, text_field, id_field, max_doc_bytes)


def read(uri: str, options, start: int = 0, end: int | None = None):
    """Yield ``(offset, Document | RecordError, raw line)`` for records in ``[start, end)``."""
    for number, line, size in iter_lines(uri, line_limit(options.max_doc_bytes), start, end):
        try:
            doc = parse_line(line, size, uri, number, options.text_field, options.id_field,
                             options.max_doc_bytes)
        except RecordError as err:
            yield number, err, line
        else:
            yield number, doc, None
