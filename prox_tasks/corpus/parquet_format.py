"""Parquet files: streamed a batch at a time; a record's offset is its row number."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import replace

from prox_tasks.corpus.document import RecordError, build_document, bytes_as_json, without_bytes
from prox_tasks.storage import identity_of, open_uri, parse_uri
from prox_tasks.storage.compressed import PARQUET_NAMES
from prox_tasks.wording import quoted_error, shortened

log = logging.getLogger(__name__)
#: Files warned about, once per process (each shard of a file reads its schema).
_warned: set[str] = set()

EXTENSIONS = PARQUET_NAMES
# Small batches and no pre-buffering keep memory flat across row groups (measured with
# bench/io.py: peak RSS stays level instead of creeping up row group after row group).
BATCH_ROWS = 256
#: Characters kept of a text over ``max_doc_bytes``, which is quarantined: the quarantine
#: keeps 1 MiB of a record's ``raw``, never more than this many characters of its text.
OVERSIZED_PREFIX = 1 << 20
#: The most rows a file's footer may count per byte of the file. pyarrow's densest file
#: (10M rows, every text null or the same) holds 230-560 rows a byte; a file of texts far
#: fewer. A footer counting more (10^12 rows in a few KB: damaged, or forged) is refused as
#: ``corrupt_file``: each row it counts is a record the plan counts one by one, and a row
#: the pages lack one quarantined, so such a claim hung ``prox plan``.
MAX_ROWS_PER_BYTE = 1000


def _flat_columns(pf) -> list[int]:
    """The leaf columns of ``pf`` (a ``ParquetFile``) not in a list: one value a row each
    (a null too), so each of their column chunks counts its row group's rows."""
    return [i for i in range(pf.metadata.num_columns)
            if pf.schema.column(i).max_repetition_level == 0]  # fmt: skip


def _group_rows(meta, index: int, flat: list[int]) -> int:
    """The rows of row group ``index`` as its footer counts them: its ``num_rows``, or the
    values of a column of one value a row (``flat``: :func:`_flat_columns`) where they are
    more. A footer whose ``num_rows`` says fewer rows than its pages hold (damaged, a
    writer's bug): pyarrow reads that many and leaves the others unread without a word, so
    counted by ``num_rows`` alone they were lost uncounted; counted so, they are rows the
    plan counts that :func:`read` quarantines (``corrupt_row_group``)."""
    group = meta.row_group(index)
    return max([group.num_rows, *(group.column(i).num_values for i in flat)])


def _row_groups(meta, start: int, end: int | None, flat: list[int]) -> tuple[list[int], int]:
    """Row groups overlapping ``[start, end)`` and the row number the first one begins at."""
    groups, first_row, row = [], None, 0
    for i in range(meta.num_row_groups):
        n = _group_rows(meta, i, flat)
        if row + n > start and (end is None or row < end):
            groups.append(i)
            first_row = row if first_row is None else first_row
        row += n
    return groups, first_row or 0


def _open(uri: str, expect=None):
    """A local path for pyarrow's own (faster, memory-mapped) reader, else a seekable
    stream; ``expect`` checks the file (:func:`~prox_tasks.storage.open_uri`)."""
    loc = parse_uri(uri)
    if loc.scheme != "file":
        return open_uri(uri, "rb", expect=expect)
    if expect is not None:  # pyarrow opens it: a stat stands for its open
        expect(identity_of(uri))
    return nullcontext(loc.path)


def _metadata(stream):
    """The footer, or a :class:`RecordError` when the file is not readable Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(stream, pre_buffer=False)
    except (pa.ArrowException, OSError, ValueError) as err:
        if not _undecodable(err):
            raise  # a storage fault, not bad input
        return RecordError("corrupt_file", f"not readable Parquet: {shortened(str(err))}")
    return _overcounted(pf, stream) or pf


def _overcounted(pf, stream) -> RecordError | None:
    """A ``corrupt_file`` error when the footer of ``pf`` counts more rows than
    :data:`MAX_ROWS_PER_BYTE` allows for the file's size (read from ``stream``: a local path
    or a seekable stream), else None. Checked against the file's size, not the sizes its
    footer claims, which lie as readily as its row counts."""
    meta, flat = pf.metadata, _flat_columns(pf)
    rows = sum(_group_rows(meta, i, flat) for i in range(meta.num_row_groups))
    size = os.path.getsize(stream) if isinstance(stream, str) else stream.seek(0, os.SEEK_END)
    if rows <= max(size, 1) * MAX_ROWS_PER_BYTE:
        return None
    return RecordError("corrupt_file", (
        f"its footer counts {rows:,} rows in a file of {size:,} bytes (over "
        f"{MAX_ROWS_PER_BYTE:,} a byte: no file of texts is that dense): the footer is "
        "damaged; write the file again"))


def _undecodable(err: BaseException) -> bool:
    """Whether ``err``, raised by pyarrow reading Parquet, says the bytes are not valid
    Parquet (bad input, quarantined) rather than that reading them failed (a storage fault,
    raised for a retry). Besides its ArrowExceptions, the Parquet reader reports damaged
    metadata ('Couldn't deserialize thrift', a page header that lies) as a bare ``OSError``
    without an errno; a system I/O error carries its errno, and an error of a Python stream
    (S3) comes back as its own class."""
    import pyarrow as pa

    if isinstance(err, (pa.ArrowException, UnicodeDecodeError, ValueError)):
        return True
    return type(err) is OSError and err.errno is None


def scan(uri: str, max_doc_bytes: int) -> Iterator[tuple[int, int, None]]:
    """``(offset, bytes, None)`` per row from the footer alone: bytes is the row group's
    average; no byte offset (a read finds a row's row group in the footer, and reads none
    before it: :func:`_row_groups`). A file whose footer cannot be read is one record
    (quarantined as ``corrupt_file``)."""
    with _open(uri) as stream:
        pf = _metadata(stream)
        if isinstance(pf, RecordError):
            yield 0, 0, None
            return
        meta, flat = pf.metadata, _flat_columns(pf)
    row = 0
    for i in range(meta.num_row_groups):
        rows = _group_rows(meta, i, flat)
        each = meta.row_group(i).total_byte_size // max(rows, 1)
        for _ in range(rows):
            yield row, each, None
            row += 1


def read(uri: str, options, start: int = 0, end: int | None = None, *, expect=None):
    """Yield ``(offset, Document | RecordError, raw row)`` for rows in ``[start, end)``;
    ``expect`` checks the file as opened (:func:`~prox_tasks.storage.open_uri`).

    A row group that cannot be decoded quarantines each of its remaining rows
    (``corrupt_row_group``: each a row the footer counts); the other row groups are read."""
    import pyarrow as pa

    with _open(uri, expect) as stream:
        pf = _metadata(stream)
        if isinstance(pf, RecordError):
            if start == 0:
                yield 0, pf, None
            return
        meta = pf.metadata
        names = _unique_names(pf.schema_arrow.names, uri)
        fields = list(pf.schema_arrow)
        binary = _binary_columns([f.with_name(n) for f, n in zip(fields, names)] if names
                                 else fields, options)  # fmt: skip
        flat = _flat_columns(pf)
        groups, row = _row_groups(meta, start, end, flat)
        for group in groups:
            counted = _group_rows(meta, group, flat)
            group_end = row + counted
            try:
                for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                    if names is not None:
                        batch = batch.rename_columns(names)
                    batch, sizes = _cut_oversized(batch, options)
                    narrow_ids = _narrow_float_ids(batch, options.id_field)
                    for i, item in enumerate(batch.to_pylist()):
                        if row >= start and (end is None or row < end):
                            for name in binary:
                                item[name] = without_bytes(item[name])
                            if narrow_ids is not None:
                                item[options.id_field] = narrow_ids[i]
                            if sizes and i in sizes:
                                yield row, *_oversized(item, uri, row, options, sizes[i])
                            else:
                                doc = _document(item, uri, row, options)
                                yield row, doc, (_raw(item) if isinstance(doc, RecordError)
                                                 else None)
                        row += 1
                        if end is not None and row >= end:
                            return
            except (pa.ArrowException, OSError, ValueError) as err:
                if not _undecodable(err):
                    raise  # a storage fault, not bad input
                error = f"row group {group} unreadable: {quoted_error(err)}"
                yield from _lost_rows(max(row, start), group_end, end, error)
                row = group_end
            else:
                if row < group_end:  # pyarrow stops short of the footer's count, unsaid
                    declared = meta.row_group(group).num_rows
                    said = (f"{counted:,}" if declared == counted else
                            f"{counted:,} (num_rows {declared:,}, a column's values {counted:,})")
                    yield from _lost_rows(max(row, start), group_end, end, (
                        f"row group {group} holds {counted - (group_end - row):,} rows as read, "
                        f"its footer counts {said}: the file's metadata does not match its "
                        "data (damaged, or a writer's bug); write the file again"))
                    row = group_end
            if end is not None and row >= end:
                return


def _lost_rows(first: int, group_end: int, end: int | None, error: str):
    """``(row, RecordError("corrupt_row_group"), None)`` for each row from ``first`` to the
    end of its row group (``group_end``) or of the read (``end``): each a row the footer
    counts, which the plan counted, quarantined with ``error``."""
    for lost in range(first, group_end if end is None else min(group_end, end)):
        yield lost, RecordError("corrupt_row_group", error), None


def _narrow_float_ids(batch, id_field: str):
    """The id column of ``batch`` as NumPy float32/float16 scalars when it is such a column
    (else None): ``to_pylist`` widens them to Python floats, and
    :func:`~prox_tasks.corpus.document.id_text` needs their own type to refuse an id past
    the whole numbers it holds (16,777,216 for a float32; nulls are NaN, no id, as
    before)."""
    import pyarrow as pa

    index = batch.schema.get_field_index(id_field)
    if index < 0 or not (pa.types.is_float32(batch.schema.field(index).type)
                         or pa.types.is_float16(batch.schema.field(index).type)):
        return None
    return batch.column(index).to_numpy(zero_copy_only=False)


def _unique_names(names: list[str], uri: str) -> list[str] | None:
    """``names`` (a schema's columns) with each one named before given ``#2``, ``#3``, …
    (warned about once a process, naming ``uri``), or None when no name repeats. pyarrow writes such
    files; read as rows, the last column of a name would hide the others."""
    seen = Counter(names)
    if all(n == 1 for n in seen.values()):
        return None
    counts: Counter[str] = Counter()
    unique = []
    for name in names:
        counts[name] += 1
        unique.append(name if counts[name] == 1 else f"{name}#{counts[name]}")
    twice = sorted(n for n, c in seen.items() if c > 1)
    if uri not in _warned:
        _warned.add(uri)
        log.warning("%s names columns more than once (%s): the first of each is read by its "
                    "name, the others as NAME#2, NAME#3, …", uri, shortened(", ".join(twice)))
    return unique


def _cut_oversized(batch, options):
    """``batch`` with each text over ``max_doc_bytes`` cut to its first
    :data:`OVERSIZED_PREFIX` characters, and the full UTF-8 size of each by its row in the
    batch. Such a text is quarantined as ``too_large`` whole; cut here, before it becomes a
    Python string (4 bytes a character when one character is past U+FFFF) and a JSON
    ``raw`` of it, it costs little beside the Arrow column holding it: ``prox refine`` of a
    50 MB page peaked at 1.18 GB RSS, 0.72 GB now (0.47 GB as JSON Lines, read in pieces)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    index = batch.schema.get_field_index(options.text_field)
    if index < 0:
        return batch, None
    column = batch.column(index)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return batch, None  # binary or dictionary texts: read as they are
    lengths = pc.binary_length(column)
    over = pc.fill_null(pc.greater(lengths, options.max_doc_bytes), False)
    if not pc.any(over).as_py():
        return batch, None
    rows = pc.indices_nonzero(over)
    blank = pc.utf8_is_space(pc.take(column, rows)).to_pylist()  # whole: empty_text
    sizes = {i: (lengths[i].as_py(), b) for i, b in zip(rows.to_pylist(), blank)}
    cut = pc.if_else(over, pc.utf8_slice_codeunits(column, 0, OVERSIZED_PREFIX), column)
    return batch.set_column(index, batch.schema.field(index), cut), sizes


def _oversized(item: dict, uri: str, row: int, options, size: tuple[int, bool]):
    """``(RecordError, raw)`` of a row whose text (cut by :func:`_cut_oversized`) has
    ``size`` (UTF-8 bytes, whether it is blank whole): ``too_large`` — unless a check of
    :func:`build_document` before the size fails (a bad id, a blank text) — with the row up
    to the cut as ``raw``."""
    size, blank = size
    checked = _document(item, uri, row, replace(options, max_doc_bytes=size))
    if isinstance(checked, RecordError) and (checked.reason != "empty_text" or blank):
        error = checked
    else:  # the id as build_document gives it with too_large: the field's, else none
        doc_id = None if item.get(options.id_field) is None else \
            getattr(checked, "id", None) or checked.doc_id  # fmt: skip
        error = RecordError("too_large", f"{size} bytes > {options.max_doc_bytes}", doc_id)
    raw = _raw(item)
    kept = len(item[options.text_field].encode("utf-8"))
    # the row's full size as raw: JSON escapes in the part cut off are not counted
    error.size = len(raw.encode("utf-8", "surrogatepass")) - kept + size
    return error, raw


def _document(item: dict, uri: str, row: int, options):
    try:
        return build_document(item, uri, row, options.text_field, options.id_field,
                              options.max_doc_bytes)
    except RecordError as err:
        return err


def _binary_columns(schema, options) -> list[str]:
    """The columns of ``schema`` (its fields) that hold bytes (``binary``, alone or nested), but the
    text and id, which :func:`build_document` reads as UTF-8 text or refuses: their
    values go into ``meta`` as :func:`~prox_tasks.corpus.document.bytes_as_json` gives
    them."""
    return [f.name for f in schema if f.name not in (options.text_field, options.id_field)
            and _holds_binary(f.type)]


def _holds_binary(kind) -> bool:
    import pyarrow as pa

    types = pa.types
    if (types.is_binary(kind) or types.is_large_binary(kind) or types.is_fixed_size_binary(kind)
            or getattr(types, "is_binary_view", lambda _: False)(kind)):
        return True
    if types.is_dictionary(kind):
        return _holds_binary(kind.value_type)
    return any(_holds_binary(kind.field(i).type) for i in range(kind.num_fields))


def _json_value(value):
    """What ``json`` cannot write itself: bytes (the text or id of a quarantined row) as
    :func:`~prox_tasks.corpus.document.bytes_as_json` gives them, anything else (dates,
    decimals) as its text."""
    return bytes_as_json(value) if isinstance(value, bytes) else str(value)


def _raw(item: dict) -> str:
    return json.dumps(item, ensure_ascii=False, default=_json_value)
