"""Quarantine: bad input records kept with the reason, counted, and written out."""

from __future__ import annotations

import base64
import json
import tempfile
import weakref
from collections import Counter
from collections.abc import Iterator

from prox_tasks.storage import open_uri
from prox_tasks.storage.tempfiles import scratch_dir


def quarantine_beside(output_uri: str) -> str:
    """Where the quarantine of a one-file output goes by default: ``<output without its
    compression suffix>.quarantine.jsonl`` (``out.jsonl.gz`` and ``out.jsonl.zst`` alike)."""
    for suffix in (".gz", ".zst"):
        output_uri = output_uri.removesuffix(suffix)
    return output_uri + ".quarantine.jsonl"


def _as_text(kept: bytes, truncated: bool) -> str | None:
    """``kept`` (a record's bytes) as text when they are UTF-8, else None; a part of a
    longer record (``truncated``) is kept readable, a character the cut split replaced."""
    try:
        return kept.decode("utf-8")
    except UnicodeDecodeError:
        return kept.decode("utf-8", "replace") if truncated else None


class FirstReads(dict):
    """Where each document id was read first (id -> ``(source, offset)``; the sources are
    the reader's shared strings): a later record with that id is a ``duplicate_id``,
    quarantined saying both places, as the refine step does (``prox label``, its sampling,
    ``prox execute``)."""

    def is_repeat(self, doc_id: str, source: str, offset: int, quarantine,
                  raw: bytes | str | None = None) -> bool:
        """Whether ``doc_id`` was read before; a repeat goes to ``quarantine`` (with
        ``raw``, the record, when the input does not keep it) naming where the id was read
        first (its own place is the entry's source and offset)."""
        first = self.setdefault(doc_id, (source, offset))
        if first == (source, offset):
            return False
        quarantine.add(source, offset, "duplicate_id",
                       f"id read first at {first[0]} record {first[1]}", raw, doc_id)
        return True


class _ScratchSpool(tempfile.SpooledTemporaryFile):
    """A spool that takes its folder (:func:`scratch_dir`, ``PROX_TMPDIR``) only when it
    rolls over to a file: every ``Quarantine()`` made (and touched) the folder, so a bad
    ``PROX_TMPDIR`` failed every label and refine, also those that never spill."""

    def rollover(self) -> None:
        if not self._rolled:  # CPython's spool makes its file from these arguments
            self._TemporaryFileArgs["dir"] = scratch_dir()
        super().rollover()


class Quarantine:
    """Collects bad records (spooled to disk, so memory stays bounded).

    Each record is a JSON object: ``source``, ``offset``, ``reason``, ``detail``, ``id``
    (when known), ``raw`` (the record as text) or ``raw_b64`` (bytes that are not UTF-8),
    ``raw_bytes`` (full size) and ``truncated`` (raw kept only up to ``max_raw_bytes``);
    ``encoding`` when the record's bytes are not UTF-8 (``utf-16-le``: a JSON Lines file
    written so), which ``raw_b64`` then holds as the file does.

    Args:
        max_raw_bytes: How much of each bad record to keep (its location is always kept).
    """

    def __init__(self, max_raw_bytes: int = 1024 * 1024):
        self.max_raw_bytes = max_raw_bytes
        self.reasons: Counter[str] = Counter()
        #: Input problems that lost no record, by kind (``misnamed_compression``: files);
        #: not quarantined records, so not in ``len()``.
        self.notices: Counter[str] = Counter()
        #: ``missing_text`` records by the field holding a string that could be their text
        #: (:func:`~prox_tasks.corpus.document.text_candidate`); those without one are not
        #: counted. Not written to the quarantine file (each entry's detail names it).
        self.text_candidates: Counter[str] = Counter()
        #: The size of the file :meth:`write` wrote last (None: none written yet).
        self.bytes_written: int | None = None
        # past 8 MiB (a damaged WARC's records, up to max_raw_bytes each) it rolls over to a
        # file: in the operator's scratch folder (PROX_TMPDIR), not a small system /tmp
        self._spool = _ScratchSpool(max_size=8 * 1024 * 1024, mode="w+b")
        self._finalizer = weakref.finalize(self, self._spool.close)

    def close(self) -> None:
        """Free the spool (also done when the object is garbage-collected)."""
        self._finalizer()

    def __len__(self) -> int:
        return sum(self.reasons.values())

    @property
    def count(self) -> int:
        return len(self)

    def add(self, source: str, offset: int, reason: str, detail: str = "",
            raw: bytes | str | None = None, doc_id: str | None = None,
            raw_size: int | None = None, text_candidate: str | None = None,
            encoding: str | None = None) -> None:
        """Quarantine one record (``raw_size``: its full size when ``raw`` is a part;
        ``text_candidate``: of a ``missing_text`` record, the field that could be its text;
        ``encoding``: of ``raw``'s bytes, when not UTF-8)."""
        entry = {"source": source, "offset": offset, "reason": reason, "detail": detail,
                 "id": doc_id}
        if encoding is not None:
            entry["encoding"] = encoding
        if raw is not None:
            data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
            entry["raw_bytes"] = max(len(data), raw_size or 0)
            entry["truncated"] = entry["raw_bytes"] > self.max_raw_bytes
            kept = data[: self.max_raw_bytes]
            # bytes of another encoding (a UTF-16 file's) are never read as UTF-8
            text = _as_text(kept, entry["truncated"]) if encoding is None else None
            if text is None:
                entry["raw_b64"] = base64.b64encode(kept).decode("ascii")
            else:
                entry["raw"] = text
        # a lone surrogate in an id or detail is written as its JSON escape (valid UTF-8)
        self._spool.write(json.dumps(entry, ensure_ascii=False).encode("utf-8", "backslashreplace")
                          + b"\n")
        self.reasons[reason] += 1
        if text_candidate is not None:
            self.text_candidates[text_candidate] += 1

    def note(self, kind: str) -> None:
        """Count one input problem that lost no record (:class:`~prox_tasks.corpus.document.InputNotice`)."""
        self.notices[kind] += 1

    def records(self) -> Iterator[dict]:
        """The quarantined records, in the order they were added."""
        self._spool.flush()
        position = self._spool.tell()
        self._spool.seek(0)
        try:
            for line in self._spool:
                yield json.loads(line)
        finally:
            self._spool.seek(position)

    def write(self, uri: str) -> str:
        """Write all records as JSONL (``.gz``/``.zst`` by extension) atomically; returns
        the file's SHA-256. An empty quarantine writes an empty file, so a re-run replaces
        an earlier one exactly."""
        with open_uri(uri, "wb", compression="infer") as out:
            self._spool.flush()
            position = self._spool.tell()
            self._spool.seek(0)
            while chunk := self._spool.read(1 << 20):
                out.write(chunk)
            self._spool.seek(position)
        raw = getattr(out, "_raw", out)
        self.bytes_written = raw.size  # the file's size: a shard's record of it
        return raw.sha256
