"""Hashed lexical features of every line of a batch: the line's length bucket, its first and
last word, its words and its word pairs (lower-cased ``\\w+`` runs, the first
:data:`MAX_HASHED_WORDS` of each line), each hashed with zlib's CRC-32 into ``buckets``.

Per line, in order: ``n<bucket>``, then (if it has a word) ``f:<first>``, ``l:<last>``, the
words, the pairs ``"<a> <b>"``. Equal to hashing each string with ``zlib.crc32`` (the
reference implementation in the tests does exactly that), computed by one compiled pass
that reads each word's lower-cased UTF-8 bytes once (:mod:`prox_tasks.models.crc32`).
"""

from __future__ import annotations

import zlib

import numpy as np

from prox_tasks.models.codepoints import TABLE, WORD
from prox_tasks.models.crc32 import MASK, START, register_after, step
from prox_tasks.models.crc32 import TABLE as CRC_TABLE
from prox_tasks.models.native import kernel
from prox_tasks.models.text_batch import TextBatch

MAX_HASHED_WORDS = 48
SPACE_BYTE = 0x20
F_START, L_START = register_after(b"f:"), register_after(b"l:")


def line_hashes(batch: TextBatch, runs: np.ndarray, word_buckets: np.ndarray, buckets: int):
    """(ids, starts): the hashed ids of line ``i`` are ``ids[starts[i]:starts[i + 1]]``.

    Args:
        batch: The batch.
        runs: ``\\w+`` runs of each line.
        word_buckets: Length bucket of each line (from its whitespace word count).
        buckets: Hash buckets.
    """
    kept = np.minimum(runs, MAX_HASHED_WORDS)
    starts = np.concatenate(([0], np.cumsum(np.where(kept > 0, 2 * kept + 2, 1))))
    markers = np.array([zlib.crc32(f"n{b}".encode()) % buckets
                        for b in range(word_buckets.max(initial=0) + 1)], np.int64)  # fmt: skip
    # runs whose lower case needs Python (final sigma, "İ"): their bytes, in text order
    special_starts, words = batch.special_runs()
    encoded = [w.lower().encode("utf-8", "surrogatepass") for w in words]
    offsets = np.concatenate(([0], np.cumsum([len(b) for b in encoded]))).astype(np.int64)
    special_bytes = np.frombuffer(b"".join(encoded), np.uint8)
    ids = _hash_lines(batch.cp, TABLE.flags, TABLE.lower, batch.line_bounds, kept, starts,
                      markers[word_buckets], (special_starts, offsets, special_bytes),
                      CRC_TABLE, buckets)  # fmt: skip
    return ids, starts


@kernel
def _hash_lines(cps, flags, lower, line_bounds, kept, starts, markers, specials, table, buckets):
    """The ids (:func:`line_hashes`) of the lines' first ``kept`` runs. A run starting at one
    of ``specials``' sorted starts is hashed from its bytes (``special_bytes[offsets[j]:
    offsets[j + 1]]``), the others from the UTF-8 bytes of ``lower`` of their code points."""
    special_starts, offsets, special_bytes = specials
    ids = np.empty(starts[-1], np.int64)
    special = 0
    for line in range(len(kept)):
        base, k = starts[line], kept[line]
        ids[base] = markers[line]
        i = line_bounds[line]
        previous = 0
        for j in range(k):
            while not flags[cps[i]] & WORD:
                i += 1
            run = i
            while flags[cps[i]] & WORD:  # the newline ends the last run
                i += 1
            # three strings end with this run's bytes: the run, "l:" + run, and the pair
            # "<previous> <run>" (for the first run: "f:" + run, which has no pair)
            word, last = START, L_START
            pair = F_START if j == 0 else step(previous, SPACE_BYTE, table)
            while special < len(special_starts) and special_starts[special] < run:
                special += 1  # a special run past a line's first MAX_HASHED_WORDS
            if special < len(special_starts) and special_starts[special] == run:
                for byte in special_bytes[offsets[special]:offsets[special + 1]]:
                    word, pair = step(word, byte, table), step(pair, byte, table)
                    last = step(last, byte, table)
            else:
                for p in range(run, i):
                    n, packed = _utf8(lower[cps[p]])
                    for _ in range(n):
                        byte = packed & 0xFF
                        packed >>= 8
                        word, pair = step(word, byte, table), step(pair, byte, table)
                        last = step(last, byte, table)
            ids[base + 3 + j] = (word ^ MASK) % buckets
            ids[base + (1 if j == 0 else 2 + k + j)] = (pair ^ MASK) % buckets
            ids[base + 2] = (last ^ MASK) % buckets  # the last run's stays
            previous = word
    return ids


@kernel(inline=True)
def _utf8(c):
    """(length, bytes packed first byte lowest) of the UTF-8 encoding of code point ``c``
    (surrogates as 3 bytes, as Python's ``surrogatepass`` writes them)."""
    if c < 0x80:
        return 1, c
    tail = 0x80 | (c & 0x3F)
    if c < 0x800:
        return 2, (0xC0 | (c >> 6)) | (tail << 8)
    middle = 0x80 | ((c >> 6) & 0x3F)
    if c < 0x10000:
        return 3, (0xE0 | (c >> 12)) | (middle << 8) | (tail << 16)
    return 4, (0xF0 | (c >> 18)) | ((0x80 | ((c >> 12) & 0x3F)) << 8) | (middle << 16) \
        | (tail << 24)  # fmt: skip
