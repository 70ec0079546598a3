"""A shard's input documents read beside its refined rows (a merge-join), one at a time.

The refine step writes a shard's rows in the order :func:`prox_tasks.corpus.read_shard`
reads its documents (segment after segment, record offsets ascending), less the records it
quarantined (bad records, too many lines, duplicate ids). So one pass over the input,
advancing to each row's ``(source, offset)``, finds every row's input while holding one
document, where a dict of the shard's texts held them all (553 MB for 10,000 pages). A row
whose input lies behind the reading position (rows another tool wrote out of order) is
looked for again from the shard's start, at most :data:`MAX_REWINDS` times a shard.

A reader of shard after shard (the snapshot page's distributions) hands each its part of one
pass over the snapshot's inputs (:class:`InputsInOrder`): read shard by shard, a file cut in
``n`` shards was read about ``n / 2`` times (2,000 shards of one file: 4 million records read
for 4,000 documents, 12 s of a 12 s page).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

#: Reads of a shard from its start again for rows out of input order.
MAX_REWINDS = 3


class ShardInputs:
    """The input texts of one shard, looked up in the order of its refined rows.

    Attributes:
        notice: Why some or all inputs were not found (the input moved, expired or changed;
            the rows are out of input order), or None.
    """

    def __init__(self, manifest, shard: int, docs: Iterator | None = None):
        """``docs``: the shard's documents as :func:`prox_tasks.corpus.read_shard` gives
        them, already being read (from :class:`InputsInOrder`); a rewind reads the shard
        again itself."""
        from prox_tasks.corpus.planner import check_shard_inputs
        from prox_tasks.storage import to_uri

        self._manifest, self._shard, self._given = manifest, shard, docs
        self._rank = {to_uri(s.file): n for n, s in enumerate(manifest.shard(shard).segments)}
        self._docs = self._ahead = None
        self.notice: str | None = None
        self.rewinds = 0
        try:  # up front: an input moved or changed shows the whole shard alone, not a part
            check_shard_inputs(manifest, shard)
        except (FileNotFoundError, RuntimeError) as err:
            self._unreadable(err)
        else:
            self._rewind()

    def __enter__(self) -> ShardInputs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading (the open input file is closed)."""
        if self._docs is not None:
            self._docs.close()
        self._docs = self._ahead = None

    def text(self, source: str, offset: int) -> str | None:
        """The input text of record ``offset`` of ``source`` (None: not found)."""
        rank = self._rank.get(source)
        if rank is None or self._docs is None:
            return None
        key = (rank, offset)
        if self._ahead is None or key < self._key():
            if self.rewinds >= MAX_REWINDS:
                if self.rewinds == MAX_REWINDS:
                    self.rewinds += 1
                    self.notice = self.notice or (
                        "The refined rows of this shard are not in input order; some are "
                        "shown without their input.")
                    log.warning("shard %d of %s: refined rows out of input order",
                                self._shard, self._manifest.output_uri)
                return None
            self.rewinds += 1
            self._rewind()
        while self._ahead is not None and self._key() < key:
            self._advance()
        if self._ahead is None or self._key() != key:
            return None  # not in the input (or behind: looked for again next time)
        text = self._ahead.text
        self._advance()
        return text

    def _key(self) -> tuple[int, int]:
        return self._rank[self._ahead.source], self._ahead.offset

    def _rewind(self) -> None:
        from prox_tasks.corpus import Quarantine, read_shard

        if self._docs is not None:
            self._docs.close()
        given, self._given = self._given, None
        self._docs = given if given is not None else \
            read_shard(self._manifest, self._shard, Quarantine())  # fmt: skip
        self._advance()

    def _advance(self) -> None:
        try:
            self._ahead = next(self._docs, None)
        except (FileNotFoundError, RuntimeError) as err:  # changed while being read
            self._unreadable(err)

    def _unreadable(self, err: Exception) -> None:
        self.close()
        self.notice = (f"The input of this shard cannot be read any more ({err}); the refined "
                       "text is shown alone.")


class InputsInOrder:
    """One pass over a snapshot's inputs (:func:`prox_tasks.corpus.planner.read_snapshot`),
    handed out shard by shard in ascending order: :meth:`of` gives a shard's documents to
    pass to :class:`ShardInputs`, or None (a shard asked for out of order, or the pass
    broke on an input gone or changed: that shard reads itself, and says why)."""

    def __init__(self, manifest):
        from itertools import groupby
        from operator import itemgetter

        from prox_tasks.corpus import Quarantine
        from prox_tasks.corpus.planner import read_snapshot

        self._groups = groupby(read_snapshot(manifest, Quarantine()), key=itemgetter(0))
        self._pending: tuple[int, Iterator] | None = None
        self._broken = False

    def of(self, shard: int) -> Iterator | None:
        """The documents of ``shard`` (read as the caller goes), or None."""
        if self._broken:
            return None
        try:
            while True:
                index, group = self._pending or next(self._groups, (None, ()))
                self._pending = None
                if index is not None and index > shard:  # none of its documents was read
                    self._pending, group = (index, group), ()
                if index is None or index >= shard:  # (the pass ended: none was either)
                    return (doc for _, doc in group)
        except Exception as err:  # noqa: BLE001 - whatever stops the pass: shards read alone
            log.warning("one pass over the inputs stopped (%s): shards read one by one", err)
            self._broken = True
            return None
