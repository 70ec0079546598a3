"""Hashed lexical features of every line of a batch: the line's length bucket, its first and
last word, its words and its word pairs (lower-cased ``\\w+`` runs, the first
:data:`MAX_HASHED_WORDS` of each line), each hashed with zlib's CRC-32 into ``buckets``.

Per line, in order: ``n<bucket>``, then (if it has a word) ``f:<first>``, ``l:<last>``, the
words, the pairs ``"<a> <b>"``. Equal to hashing each string with ``zlib.crc32`` (the
reference implementation in the tests does exactly that), computed for the whole batch with
:mod:`prox_tasks.models.crc32`.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models import crc32
from prox_tasks.models.text_batch import TextBatch, count_in

MAX_HASHED_WORDS = 48


def _byte_offsets(batch: TextBatch, low_bytes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """UTF-8 byte offset of each code point position of the lower-cased text."""
    if len(low_bytes) == len(batch.cp):  # ASCII
        return positions
    low = batch.lower
    wide = np.flatnonzero(low >= 0x80)
    extra = np.concatenate(([0], np.cumsum(1 + (low[wide] >= 0x800).astype(np.int64)
                                           + (low[wide] >= 0x10000))))  # fmt: skip
    return positions + extra[np.searchsorted(wide, positions)]


def line_hashes(batch: TextBatch, word_buckets: np.ndarray, buckets: int):
    """(ids, starts): the hashed ids of line ``i`` are ``ids[starts[i]:starts[i + 1]]``.

    Args:
        batch: The batch.
        word_buckets: Length bucket of each line (from its whitespace word count).
        buckets: Hash buckets.
    """
    starts, stops = batch.word_runs
    per_line = count_in(starts, batch.line_bounds)
    first = np.concatenate(([0], np.cumsum(per_line)))[:-1]
    line = np.repeat(np.arange(batch.n_lines), per_line)
    rank = np.arange(len(starts)) - first[line]
    keep = rank < MAX_HASHED_WORDS
    starts, stops, line, rank = starts[keep], stops[keep], line[keep], rank[keep]
    k = np.minimum(per_line, MAX_HASHED_WORDS)

    low_text = batch.lower.tobytes().decode("utf-32-le", "surrogatepass")
    low_bytes = np.frombuffer(low_text.encode("utf-8", "surrogatepass"), np.uint8)
    byte_start = _byte_offsets(batch, low_bytes, starts)
    n_bytes = _byte_offsets(batch, low_bytes, stops) - byte_start
    # words lower-cased in context (capital sigma) or longer than a table shift: with zlib
    odd = (batch.word_of(batch.specials(), (starts, stops)) > 0) | (n_bytes > crc32.MAX_SHIFT)
    fast = ~odd
    z = np.zeros(len(starts), np.uint32)
    z[fast] = crc32.registers(low_bytes, byte_start[fast], n_bytes[fast])
    n_bytes = n_bytes.copy()
    for i in np.flatnonzero(odd).tolist():
        word = batch.text[starts[i]:stops[i]].lower().encode("utf-8", "surrogatepass")
        z[i], n_bytes[i] = crc32.register_of(word), len(word)

    word_reg = crc32.shifted_start(crc32.START, n_bytes) ^ z
    counts = np.where(k > 0, 2 * k + 2, 1)
    line_starts = np.concatenate(([0], np.cumsum(counts)))
    base = line_starts[:-1]
    regs = np.empty(line_starts[-1], np.uint32)
    markers = [crc32.start_after(f"n{b}".encode()) for b in range(word_buckets.max(initial=0) + 1)]
    regs[base] = np.array(markers, np.uint32)[word_buckets]
    has = k > 0
    head = np.cumsum(np.concatenate(([0], k)))[:-1][has]  # first kept word of each line
    tail = head + k[has] - 1
    regs[base[has] + 1] = crc32.shifted_start(crc32.start_after(b"f:"), n_bytes[head]) ^ z[head]
    regs[base[has] + 2] = crc32.shifted_start(crc32.start_after(b"l:"), n_bytes[tail]) ^ z[tail]
    regs[base[line] + 3 + rank] = word_reg
    pair = rank > 0
    after_space = crc32.step(word_reg[np.flatnonzero(pair) - 1], 0x20)
    regs[base[line[pair]] + 3 + k[line[pair]] + rank[pair] - 1] = \
        crc32.zero_shift(after_space, n_bytes[pair]) ^ z[pair]  # fmt: skip
    # zlib's crc32 is the complement of the final register
    return (~regs).astype(np.int64) % buckets, line_starts
