"""The ids a snapshot repeats, found in bounded memory: one search for the plan and the gate.

Each document's id is kept as its 128-bit digest (:func:`id_digest`), in read order, with a
few whole numbers of the caller's (the plan: where the document was read; the gate:
none). While they take less than the memory budget (:func:`~prox_tasks.pipeline.settings.
id_search_bytes`) they stay in memory, and the repeats are looked up by the sorted 8-byte
halves of the digests (:func:`_repeated`). Past it, they are spilled to a scratch folder: the
values to one file, in read order, and the digests with their positions to
:data:`FANOUT` bucket files by a byte of the digest, so that every occurrence of an id lands
in the same bucket. The search then takes one bucket at a time (one still over the budget is
split again by the next bits), and reads back only the repeated documents' values. Either
way the result is the same: the position and digest of every occurrence of a digest the
snapshot holds more than once, in read order.

Memory: about twice the budget at most (a bucket's records and its sorted halves), besides
the repeats found. Disk, once spilled: 24 bytes a document and 8 a value. The scratch
folder (``$TMPDIR/prox-id-search-<host>.<pid>.<random>``) is removed when the search is
closed, and one a killed process left (``kill -9``, the OOM killer) by the next search.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from array import array
from collections import Counter

#: How a search's scratch folder starts (then ``<host>.<pid>.``: swept once its process died).
SCRATCH_PREFIX = "prox-id-search-"
#: Bucket files a spill writes (by the digest's first byte), and the most a bucket over the
#: budget is split into (by its next bits).
FANOUT = 256
_WORDS = 3  # a spilled digest: its two 8-byte halves, then its position


def id_digest(doc_id: str) -> bytes:
    """The 128-bit digest ids are compared by (the plan's duplicate list, the quality gate)."""
    return hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class IdSearch:
    """Digests in read order (with ``values`` whole numbers each), and the search for the
    repeated ones. A context manager: leaving it removes the scratch folder.

    Args:
        values: How many whole numbers (64-bit) :meth:`add` takes with each digest.
        budget: Bytes the digests and values may take in memory before they are spilled
            (None: :func:`~prox_tasks.pipeline.settings.id_search_bytes`).
    """

    def __init__(self, values: int = 0, budget: int | None = None):
        from prox_tasks.pipeline.settings import id_search_bytes
        from prox_tasks.storage.tempfiles import sweep_stale

        self._count = values
        self._width = 16 + 8 * values
        self._budget = max(self._width, id_search_bytes() if budget is None else budget)
        self._start()
        self._spilled = 0  # documents in the scratch files, the first ones read
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._found: list[tuple[int, bytes]] | None = None  # the repeats, once searched
        # the folders of searches killed before: a rerun leaves none behind
        sweep_stale(tempfile.gettempdir(), SCRATCH_PREFIX)

    def __enter__(self) -> IdSearch:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self._spilled + len(self._digests) // 16

    @property
    def spilled(self) -> int:
        """Documents written to the scratch folder so far."""
        return self._spilled

    def add(self, digest: bytes, *values: int) -> None:
        """The next document's digest and its values."""
        if len(values) != self._count:
            raise ValueError(f"{len(values)} values, not {self._count}")
        self._digests += digest
        self._extend(values)  # one array for all: a call a document, not one a value
        self._room -= 1
        if not self._room:
            self._spill()

    def extend(self, digests: bytes) -> None:
        """The next documents' digests, 16 bytes each (a search without values)."""
        if self._count:
            raise ValueError("a search with values takes its documents one by one (add)")
        self._digests += digests
        self._room -= len(digests) // 16
        if self._room <= 0:
            self._spill()

    def repeats(self) -> list[tuple[int, bytes]]:
        """``(position, digest)`` of every document whose digest another document has too,
        in read order."""
        if not self._spilled:
            return _repeated(self._digests)
        if self._found is None:  # the buckets are removed as they are searched: once
            if self._scratch is None:
                raise RuntimeError("the search was closed: its spilled digests are gone")
            self._spill()  # the last ones too: every bucket then holds all its ids' occurrences
            found = []
            for bucket in range(FANOUT):
                found += self._search(os.path.join(self._folder(), f"bucket-{bucket:03d}"), 8)
            self._found = sorted(found)
        return self._found

    def values(self, positions: list[int]) -> list[tuple]:
        """The values of the documents at ``positions`` (after :meth:`repeats`: spilled ones
        are read back from their file)."""
        import numpy as np

        k = self._count
        if not self._spilled:
            return [tuple(self._values[k * p : k * p + k]) for p in positions]
        if self._scratch is None:
            raise RuntimeError("the search was closed: its spilled values are gone")
        if not len(positions) or not k:
            return [()] * len(positions)
        self._spill()
        # a read a document: a memory map's pages, read ahead around each one, all count in
        # the process's RSS (the whole file: 320 MB at 10 million documents)
        size, got = 8 * k, bytearray()
        fd = os.open(self._values_file(), os.O_RDONLY)
        try:
            for position in positions:
                got += os.pread(fd, size, size * position)
        finally:
            os.close(fd)
        return [tuple(row) for row in np.frombuffer(got, dtype=np.int64).reshape(-1, k).tolist()]

    def close(self) -> None:
        """Remove the scratch folder (nothing to do when nothing was spilled)."""
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def _values_file(self) -> str:
        return os.path.join(self._folder(), "values")

    def _folder(self) -> str:
        if self._scratch is None:
            from prox_tasks.storage.tempfiles import temp_tag

            self._scratch = tempfile.TemporaryDirectory(
                prefix=SCRATCH_PREFIX + temp_tag(), dir=tempfile.gettempdir()
            )
        # paths as strings: pathlib interns each name (a scratch folder's: new every search)
        return self._scratch.name

    def _spill(self) -> None:
        """Write the digests held to the bucket files, and their values to the values'."""
        import numpy as np

        if not self._digests:
            return
        folder = self._folder()
        halves = np.frombuffer(self._digests, dtype=np.uint64).reshape(-1, 2)
        step = self._slice()
        for start in range(0, len(halves), step):  # slices: the copies stay small
            part = halves[start : start + step]
            records = np.empty((len(part), _WORDS), dtype=np.uint64)
            records[:, :2] = part
            first = self._spilled + start
            records[:, 2] = np.arange(first, first + len(part), dtype=np.uint64)
            _partition(records, 0, 8, os.path.join(folder, "bucket-"))
        del halves, part, records  # the buffer below is released only without views of it
        if self._count:
            with open(self._values_file(), "ab") as out:
                self._values.tofile(out)
        self._spilled += len(self._digests) // 16
        self._start()

    def _start(self) -> None:
        """Empty buffers, with room for the documents the budget holds."""
        self._digests = bytearray()
        self._values = array("q")
        self._extend = self._values.extend
        self._room = max(1, self._budget // self._width)  # documents until the next spill

    def _slice(self) -> int:
        """Records partitioned at once: their copies (~56 bytes each) a fifth of the budget."""
        return max(1024, self._budget // 256)

    def _search(self, path: str, shift: int) -> list[tuple[int, bytes]]:
        """The repeats in the bucket file ``path`` (removed): searched in memory when it fits
        the budget (or can be split no more), else split by the digest's bits from ``shift``
        on into as few files as bring each within the budget (2 to :data:`FANOUT`)."""
        import numpy as np

        try:
            size = os.stat(path).st_size
        except FileNotFoundError:  # no digest fell in this bucket
            return []
        if size <= self._budget or shift >= 64:  # 64: every record has the same first half
            records = np.fromfile(path, dtype=np.uint64).reshape(-1, _WORDS)
            os.remove(path)
            return _repeated(records[:, :2], records[:, 2])
        # twice the files the sizes ask for: digests are spread evenly, not exactly
        bits = min(8, 64 - shift, max(1, (2 * size // self._budget).bit_length()))
        step = self._slice()
        with open(path, "rb") as bucket:
            while len(part := np.fromfile(bucket, dtype=np.uint64, count=step * _WORDS)):
                _partition(part.reshape(-1, _WORDS), shift, bits, f"{path}-")
        os.remove(path)
        found = []
        for child in range(1 << bits):
            found += self._search(f"{path}-{child:03d}", shift + bits)
        return found


def _partition(records, shift: int, bits: int, prefix: str) -> None:
    """Append ``records`` to the files ``<prefix>NNN`` by ``bits`` bits of their digest's
    first half from bit ``shift`` on (a stable sort: each file stays in read order)."""
    import numpy as np

    bucket = ((records[:, 0] >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.uint8)
    order = np.argsort(bucket, kind="stable")
    records, bucket = records[order], bucket[order]
    ends = np.searchsorted(bucket, np.arange((1 << bits) + 1), side="left")
    for b in np.flatnonzero(ends[1:] > ends[:-1]).tolist():
        with open(f"{prefix}{b:03d}", "ab") as out:
            out.write(records[ends[b] : ends[b + 1]].tobytes())


def _repeated(digests, positions=None) -> list[tuple[int, bytes]]:
    """``(position, digest)`` of the repeated ones among ``digests`` (16-byte digests, or
    their halves as rows of two uint64), in the order given; a document's position is its
    index, or ``positions``' at it.

    The first 8-byte halves are sorted and the repeated ones looked up (a half repeated
    without the whole digest is a candidate, dropped here). Memory: 16 bytes a document
    beside the digests (a sorted copy of the halves, then their rank among the repeated
    ones); ``numpy.unique`` over the whole digests, which this replaced, took ~110."""
    import numpy as np

    if not len(digests):
        return []
    halves = np.frombuffer(digests, dtype=np.uint64).reshape(-1, 2) \
        if isinstance(digests, bytes | bytearray) else digests  # fmt: skip
    prefixes = halves[:, 0]  # a view: no copy
    ordered = np.sort(prefixes)
    repeats = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeats):
        return []
    rank = np.searchsorted(repeats, prefixes)
    rank[rank == len(repeats)] = 0
    candidates = np.flatnonzero(repeats[rank] == prefixes)
    del rank
    keys = [halves[i].tobytes() for i in candidates.tolist()]
    counts = Counter(keys)
    where = candidates if positions is None else positions[candidates]
    return [(int(p), key) for p, key in zip(where.tolist(), keys, strict=True) if counts[key] > 1]
