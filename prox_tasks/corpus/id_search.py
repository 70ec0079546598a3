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

Memory: within the budget, besides the repeats found (for a budget of 16 MiB or more; a
smaller one takes ~2 MiB more, slices of a fixed least size). An eighth of it
(:data:`RESERVE`) is kept for the copies a spill or a search makes a slice at a time; the
rest holds the documents (their digests and values, and the 9 bytes a document the search
in memory adds: a sorted copy of the first halves, a flag each) or, once spilled, one bucket
at a time (its 24-byte records and those 9 bytes). Before, the documents alone filled the
budget, and the search's copies came on top: the plan's peak was ~1.6 times the budget.
Disk, once spilled: 24 bytes a document and 8 a value. The scratch folder
(``<scratch>/prox-id-search-<host>.<pid>.<random>``, in ``$PROX_TMPDIR`` when set, else the
system temp folder: :func:`~prox_tasks.storage.tempfiles.scratch_dir`) is removed when the
search is closed, and one a killed process left (``kill -9``, the OOM killer) by the next
search.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import platform
import struct
import sys
import tempfile
from collections import Counter

#: How a search's scratch folder starts (then ``<host>.<pid>.``: swept once its process died).
SCRATCH_PREFIX = "prox-id-search-"
#: Bucket files a spill writes (by the digest's first byte), and the most a bucket over the
#: budget is split into (by its next bits).
FANOUT = 256
_WORDS = 3  # a spilled digest: its two 8-byte halves, then its position
#: The share of the budget kept for the copies made a slice at a time (1/RESERVE of it).
RESERVE = 8
#: Bytes a document the search in memory adds to its digest (a sorted copy of the first
#: halves, a flag each): held documents and a searched bucket leave room for them.
_SEARCH_BYTES = 9
#: Bytes a record a slice's partition takes at once (a copy of the records, their order,
#: their bucket numbers and the sorted copy): a slice is sized by them.
_SLICE_BYTES = 64
#: First halves looked up at once among the repeated ones (their ranks: 8 bytes each).
_LOOKUP = 1 << 16


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
        from prox_tasks.storage.tempfiles import scratch_dir, sweep_stale

        self._count = values
        self._width = 16 + 8 * values
        self._budget = max(self._width, id_search_bytes() if budget is None else budget)
        # what holds documents or a bucket: the rest is the slices' (see the module's Memory)
        self._held = self._budget - self._budget // RESERVE
        # documents until the next spill: held with the room their search in memory takes
        self._room = max(1, self._held // (self._width + _SEARCH_BYTES))
        # held in anonymous maps of their full size, written in place: only the pages written
        # count in the RSS, and nothing is copied as they grow (a bytearray's and an array's
        # reallocations copied them once past the allocator's map threshold: for a moment
        # twice the values held, 1.35 times the budget at 32 MiB)
        self._digests = _anonymous(16 * self._room)
        self._values = _anonymous(8 * values * self._room) if values else None
        self._pack = struct.Struct(f"={values}q").pack_into
        self._held_docs = 0  # documents in the maps, the last ones read
        self._spilled = 0  # documents in the scratch files, the first ones read
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._found: list[tuple[int, bytes]] | None = None  # the repeats, once searched
        # where the operator wants scratch files (PROX_TMPDIR), read once: one search, one place
        self._dir = scratch_dir()
        # the folders of searches killed before: a rerun leaves none behind
        sweep_stale(self._dir, SCRATCH_PREFIX)

    def __enter__(self) -> IdSearch:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self._spilled + self._held_docs

    @property
    def spilled(self) -> int:
        """Documents written to the scratch folder so far."""
        return self._spilled

    def add(self, digest: bytes, *values: int) -> None:
        """The next document's digest and its values."""
        if len(values) != self._count:
            raise ValueError(f"{len(values)} values, not {self._count}")
        if len(digest) != 16:
            raise ValueError(f"a digest of {len(digest)} bytes, not 16")
        held = self._held_docs
        self._digests[16 * held : 16 * held + 16] = digest
        if self._values is not None:  # one call a document, not one a value
            self._pack(self._values, 8 * self._count * held, *values)
        self._held_docs = held + 1
        if self._held_docs == self._room:
            self._spill()

    def extend(self, digests: bytes) -> None:
        """The next documents' digests, 16 bytes each (a search without values)."""
        if self._count:
            raise ValueError("a search with values takes its documents one by one (add)")
        if len(digests) % 16:
            raise ValueError(f"{len(digests)} bytes of digests, not a multiple of 16")
        rest = memoryview(digests)
        while rest:  # as many as the maps hold, spilled, then the next
            at = 16 * self._held_docs
            taken = min(len(rest), 16 * self._room - at)
            self._digests[at : at + taken] = rest[:taken]
            self._held_docs += taken // 16
            rest = rest[taken:]
            if self._held_docs == self._room:
                self._spill()

    def repeats(self) -> list[tuple[int, bytes]]:
        """``(position, digest)`` of every document whose digest another document has too,
        in read order."""
        if not self._spilled:
            self._check_open()
            return _repeated(self._held_digests())
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
            self._check_open()
            if not k or not len(positions):
                return [()] * len(positions)
            held = np.frombuffer(self._values, dtype=np.int64, count=k * self._held_docs)
            return [tuple(row) for row in held.reshape(-1, k)[list(positions)].tolist()]
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
        """Remove the scratch folder (nothing to do when nothing was spilled) and give back
        the memory the documents were held in: the maps' written pages stayed in the RSS as
        long as the search object lived (the gate's checker keeps its search; the plan's
        duplicate list kept it through its writes), up to the whole budget."""
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        for buffer in (self._digests, self._values):
            if buffer is not None and not buffer.closed:
                try:
                    buffer.close()
                except BufferError:  # a caller still holds a view: freed with it
                    pass

    def _check_open(self) -> None:
        if self._digests.closed:
            raise RuntimeError("the search was closed: its digests are gone")

    def _values_file(self) -> str:
        return os.path.join(self._folder(), "values")

    def _folder(self) -> str:
        if self._scratch is None:
            from prox_tasks.storage.tempfiles import temp_tag

            self._scratch = tempfile.TemporaryDirectory(
                prefix=SCRATCH_PREFIX + temp_tag(), dir=self._dir
            )
        # paths as strings: pathlib interns each name (a scratch folder's: new every search)
        return self._scratch.name

    def _spill(self) -> None:
        """Write the digests held to the bucket files, and their values to the values'."""
        import numpy as np

        held = self._held_docs
        if not held:
            return
        folder = self._folder()
        halves = self._held_digests()
        step = self._slice()
        for start in range(0, len(halves), step):  # slices: the copies stay small
            part = halves[start : start + step]
            records = np.empty((len(part), _WORDS), dtype=np.uint64)
            records[:, :2] = part
            first = self._spilled + start
            records[:, 2] = np.arange(first, first + len(part), dtype=np.uint64)
            _partition(records, 0, 8, os.path.join(folder, "bucket-"))
        del halves, part, records
        if self._values is not None:
            with open(self._values_file(), "ab") as out, memoryview(self._values) as view:
                out.write(view[: 8 * self._count * held])
        self._spilled += held
        self._held_docs = 0
        for buffer in (self._digests, self._values):  # their pages given back, read as zeros
            if buffer is not None:
                buffer.madvise(mmap.MADV_DONTNEED)

    def _held_digests(self):
        """The digests held in memory, as rows of two uint64 (a view of the map)."""
        import numpy as np

        held = np.frombuffer(self._digests, dtype=np.uint64, count=2 * self._held_docs)
        return held.reshape(-1, 2)

    def _slice(self) -> int:
        """Records partitioned at once: their copies (:data:`_SLICE_BYTES` each) within the
        reserved share of the budget."""
        return max(1024, self._budget // RESERVE // _SLICE_BYTES)

    def _search(self, path: str, shift: int) -> list[tuple[int, bytes]]:
        """The repeats in the bucket file ``path`` (removed): searched in memory when it fits
        the budget with its search's copies (or can be split no more), else split by the
        digest's bits from ``shift`` on into as few files as bring each within it (2 to
        :data:`FANOUT`)."""
        import numpy as np

        try:
            size = os.stat(path).st_size
        except FileNotFoundError:  # no digest fell in this bucket
            return []
        fits = self._held * 8 * _WORDS // (8 * _WORDS + _SEARCH_BYTES)  # bytes of records
        if size <= fits or shift >= 64:  # 64: every record has the same first half
            records = np.fromfile(path, dtype=np.uint64).reshape(-1, _WORDS)
            os.remove(path)
            return _repeated(records[:, :2], records[:, 2])
        # twice the files the sizes ask for: digests are spread evenly, not exactly
        bits = min(8, 64 - shift, max(1, (2 * size // fits).bit_length()))
        step = self._slice()
        with open(path, "rb") as bucket:
            while len(part := np.fromfile(bucket, dtype=np.uint64, count=step * _WORDS)):
                _partition(part.reshape(-1, _WORDS), shift, bits, f"{path}-")
        os.remove(path)
        found = []
        for child in range(1 << bits):
            found += self._search(f"{path}-{child:03d}", shift + bits)
        return found


#: Private (mmap's default is shared): a shared anonymous map is shared memory, whose pages
#: MADV_DONTNEED only unmaps, so a spill gave nothing back (the documents stayed held beside
#: the buckets searched, out of the RSS but not of the machine's or the cgroup's memory) and
#: they did not read as zeros. Not reserved up front (where the kernel can say so): only the
#: pages written are memory, and a budget past the machine's memory and swap was refused at
#: once (ENOMEM) however few documents came, where a growing buffer took them. Python
#: names MAP_NORESERVE from 3.13; before, its value on the Linux machines it is known on.
_NORESERVE = getattr(mmap, "MAP_NORESERVE", None)
if _NORESERVE is None:
    _NORESERVE = 0x4000 if sys.platform == "linux" and platform.machine() in (
        "x86_64", "aarch64", "riscv64") else 0  # fmt: skip
_MAP_FLAGS = mmap.MAP_PRIVATE | _NORESERVE


def _anonymous(size: int) -> mmap.mmap:
    """An anonymous map of ``size`` bytes, zeros, whose pages MADV_DONTNEED gives back."""
    return mmap.mmap(-1, size, flags=_MAP_FLAGS)


def _partition(records, shift: int, bits: int, prefix: str) -> None:
    """Append ``records`` to the files ``<prefix>NNN`` by ``bits`` bits of their digest's
    first half from bit ``shift`` on (a stable sort: each file stays in read order)."""
    import numpy as np

    shifted = records[:, 0] >> np.uint64(shift)
    shifted &= np.uint64((1 << bits) - 1)  # in place: one 8-byte copy a record, not two
    bucket = shifted.astype(np.uint8)
    del shifted
    order = np.argsort(bucket, kind="stable")
    records, bucket = records[order], bucket[order]
    ends = np.searchsorted(bucket, np.arange((1 << bits) + 1), side="left")
    for b in np.flatnonzero(ends[1:] > ends[:-1]).tolist():
        with open(f"{prefix}{b:03d}", "ab") as out:
            out.write(records[ends[b] : ends[b + 1]].tobytes())


def _repeated(halves, positions=None) -> list[tuple[int, bytes]]:
    """``(position, digest)`` of the repeated ones among the digests ``halves`` (rows of two
    uint64), in the order given; a document's position is its index, or ``positions``' at it.

    The first 8-byte halves are sorted and the repeated ones looked up (a half repeated
    without the whole digest is a candidate, dropped here). Memory: 9 bytes a document
    beside the digests (a sorted copy of the halves, a flag each: :data:`_SEARCH_BYTES`);
    the halves are looked up :data:`_LOOKUP` at a time (their ranks among the repeated ones
    for the whole took 16 bytes a document more, past the budget); ``numpy.unique`` over the
    whole digests, which this replaced, took ~110."""
    import numpy as np

    if not len(halves):
        return []
    prefixes = halves[:, 0]  # a view: no copy
    ordered = np.sort(prefixes)
    repeats = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeats):
        return []
    found = []
    for start in range(0, len(prefixes), _LOOKUP):
        part = prefixes[start : start + _LOOKUP]
        rank = np.searchsorted(repeats, part)
        rank[rank == len(repeats)] = 0
        found.append(np.flatnonzero(repeats[rank] == part) + start)
    candidates = np.concatenate(found)
    del found
    keys = [halves[i].tobytes() for i in candidates.tolist()]
    counts = Counter(keys)
    where = candidates if positions is None else positions[candidates]
    return [(int(p), key) for p, key in zip(where.tolist(), keys, strict=True) if counts[key] > 1]
