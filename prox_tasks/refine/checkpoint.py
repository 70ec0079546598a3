"""In-shard checkpoints: finished batches of a shard, so a retried task resumes.

Each batch of ``checkpoint_every`` documents is written, once refined, as one object
``<output>/_checkpoints/shard-NNNNN/part-NNNNNN.jsonl.zst`` (zstd level 1: as small as gzip
level 1 at a quarter of its CPU; atomically: a reader sees all of it or nothing; parts
written as ``.jsonl.gz`` by earlier versions still read). Records are JSON objects each ended by the byte ``0x0A``, which JSON
escapes inside strings, so no text can split a record (line and paragraph separators,
NEL, form feeds inside texts are kept as they are). Its first line is a header — the run's fingerprint (manifest id, model
version, executor policy, batch size), the batch's first and last (source, offset) and its
statistics —; the other lines are the batch's output rows without their refined texts
(programs, statistics, whether dropped: the texts were ~95% of a checkpoint's bytes and of
its CPU, JSON and zstd, and the executor gives them again from the documents read again,
:func:`prox_tasks.refine.batch.rows_again`). A retry reads the parts in
order, checks each header against its own fingerprint and against the documents it reads
again, and refines only what follows. Any mismatch (another model, another plan) discards
the checkpoints: outputs of different runs never mix. They are deleted once the shard is
published, and the emptied local folders once the run ends well
(:func:`remove_empty_checkpoint_folders`).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterator

import zstandard

from prox_tasks.corpus.jsonl import dumps_line
from prox_tasks.storage import join_uri, list_uri, parse_uri, put_atomic, read_bytes, remove_all

log = logging.getLogger(__name__)
CHECKPOINT_DIR = "_checkpoints"
SUFFIX = ".jsonl.zst"
LEGACY_SUFFIX = ".jsonl.gz"
#: Fingerprint keys a part written before them lacks, and is reused without
#: (:meth:`CheckpointStore._matches`): ``contexts``, the context each level's prompts are
#: fitted to.
ADDED_LATER = ("contexts",)


def _decompress(uri: str, data: bytes) -> bytes:
    if uri.endswith(LEGACY_SUFFIX):
        return gzip.decompress(data)
    return zstandard.ZstdDecompressor().decompress(data)


def _line(record: dict) -> bytes:
    """One record: JSON (no raw line feed can occur in it) and ``\\n``. Lone surrogates are
    written as JSON escapes, so every string reads back exactly."""
    return dumps_line(record, default=str)


def _without_text(row: dict) -> dict:
    """The row as a checkpoint holds it: no refined text (the executor gives it again from
    the document and the programs: :func:`prox_tasks.refine.batch.rows_again`), only
    whether it was dropped."""
    saved = {k: v for k, v in row.items() if k != "text"}
    saved["dropped"] = row.get("text") is None
    return saved


class CheckpointStore:
    """The checkpoints of one shard.

    Args:
        output_uri: The snapshot's output folder.
        shard_index: The shard.
        fingerprint: What must match for a checkpoint to be reused (JSON-ready).
    """

    def __init__(self, output_uri: str, shard_index: int, fingerprint: dict) -> None:
        self.prefix = join_uri(output_uri, CHECKPOINT_DIR, f"shard-{shard_index:05d}")
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))

    def _part_uri(self, index: int) -> str:
        return join_uri(self.prefix, f"part-{index:06d}{SUFFIX}")

    def _parts(self) -> list[str]:
        try:
            found = list_uri(self.prefix)
        except FileNotFoundError:
            return []
        return sorted(u for u in found if u.rsplit("/", 1)[-1].startswith("part-")
                      and u.endswith((SUFFIX, LEGACY_SUFFIX)))  # fmt: skip

    def save(self, index: int, rows: list[dict], stats: dict) -> None:
        """Write batch ``index`` (its rows and statistics) atomically."""
        first, last = rows[0], rows[-1]
        header = {"fingerprint": self.fingerprint, "index": index, "docs": len(rows),
                  "first": [first["source"], first["offset"]],
                  "last": [last["source"], last["offset"]], "stats": stats}  # fmt: skip
        lines = [_line(header)] + [_line(_without_text(r)) for r in rows]
        put_atomic(self._part_uri(index), zstandard.ZstdCompressor(level=1).compress(b"".join(lines)))

    def load(self) -> Iterator[tuple[dict, list[dict]]]:
        """(header, rows) of each consecutive reusable part; stops at the first gap or
        mismatch (and removes the parts from there on)."""
        parts = self._parts()
        for expected, uri in enumerate(parts):
            header, rows = self._read(uri)
            if header is None or header.get("index") != expected or \
                    not self._matches(header.get("fingerprint")) or len(rows) != header["docs"]:
                log.warning("discarding checkpoints from %s on (another run or damaged)", uri)
                remove_all(parts[expected:])
                return
            yield header, rows

    def _matches(self, recorded) -> bool:
        """Whether a part's ``recorded`` fingerprint is this run's: equal, or written by a
        prox before one of :data:`ADDED_LATER` was fingerprinted and equal without it (its
        shard resumes after an upgrade, as before it)."""
        if recorded == self.fingerprint:
            return True
        if not isinstance(recorded, dict) or any(k in recorded for k in ADDED_LATER):
            return False
        return recorded == {k: v for k, v in self.fingerprint.items() if k not in ADDED_LATER}

    @staticmethod
    def _read(uri: str) -> tuple[dict | None, list[dict]]:
        try:
            # split on the byte 0x0A only: JSON escapes it inside strings, so it cannot occur
            # in a record (str.splitlines would also split on U+2028, U+0085, ... in texts)
            lines = _decompress(uri, read_bytes(uri)).split(b"\n")
            if lines[-1]:
                raise ValueError("the last record has no line end")
            header = json.loads(lines[0])
            return header, [json.loads(line) for line in lines[1:-1]]
        except (OSError, EOFError, ValueError, IndexError, zstandard.ZstdError) as err:
            log.warning("unreadable checkpoint %s: %s", uri, err)
            return None, []

    def clear(self) -> None:
        """Delete all parts (after the shard is published): 1,000 a request on S3, not a
        HEAD and a DELETE each (a shard of 10,000 documents has 20 parts)."""
        remove_all(self._parts())
        loc = parse_uri(self.prefix)
        if loc.scheme != "s3":  # local folders stay behind when emptied; S3 has none
            # only the shard's own: the shared parent stays, since another worker may be
            # creating its shard's folder in it at this moment
            try:
                os.rmdir(loc.path)
            except OSError:
                pass


def remove_empty_checkpoint_folders(output_uri: str) -> None:
    """Remove ``<output_uri>/_checkpoints/`` and its shard folders where empty, once the run
    that checkpointed into them ended well (``prox refine``, the refine DAG's collect, a seed
    set's split): each shard's are emptied as it is published (:meth:`CheckpointStore.clear`),
    but the shared parent stayed behind in every finished snapshot and seed set. Only empty
    folders go (a part left is a killed run's, kept for its rerun); none there, or on S3
    (which has no folders), is nothing to do, so a rerun or retry of a finished run is no
    error and checkpoints again as before."""
    loc = parse_uri(join_uri(output_uri, CHECKPOINT_DIR))
    if loc.scheme == "s3":
        return
    try:
        shard_folders = [e.path for e in os.scandir(loc.path) if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return
    for path in [*shard_folders, loc.path]:
        try:
            os.rmdir(path)
        except OSError:  # not empty: a part another run (or a killed one) left, kept
            pass
