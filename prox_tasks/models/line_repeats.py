"""How many lines of its document each line repeats: ``Counter(line.strip() for line in
lines)`` of every document of a batch, in one compiled pass.

Each stripped line (its code points between the first and last that are not ``isspace``:
what ``str.strip()`` keeps) is hashed and entered in one open-addressing table for the whole
batch, keyed by document and content; equal hashes are compared code point by code point,
so the counts are exact whatever the hash does.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models.codepoints import SPACE, TABLE
from prox_tasks.models.native import kernel
from prox_tasks.models.text_batch import TextBatch

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def line_repeats(batch: TextBatch) -> tuple[np.ndarray, np.ndarray]:
    """(copies of each line's stripped text in its document, distinct non-empty stripped
    lines of each document)."""
    return _repeats(batch.cp, TABLE.flags, batch.line_bounds, batch.doc_lines)


@kernel
def _repeats(cps, flags, line_bounds, doc_lines):
    """:func:`line_repeats` of the lines ``[line_bounds[i], line_bounds[i + 1] - 1)``."""
    n_lines = len(line_bounds) - 1
    starts = np.empty(n_lines, np.int64)
    stops = np.empty(n_lines, np.int64)
    size = 16
    while size < 2 * n_lines:  # at most half full
        size *= 2
    slots = np.full(size, -1, np.int64)  # the first line of each distinct (document, text)
    first = np.empty(n_lines, np.int64)
    copies = np.zeros(n_lines, np.int64)
    distinct = np.zeros(len(doc_lines) - 1, np.int64)
    for d in range(len(doc_lines) - 1):
        for line in range(doc_lines[d], doc_lines[d + 1]):
            a, b = line_bounds[line], line_bounds[line + 1] - 1
            while a < b and flags[cps[a]] & SPACE:
                a += 1
            while b > a and flags[cps[b - 1]] & SPACE:
                b -= 1
            starts[line], stops[line] = a, b
            h = np.uint64(FNV_OFFSET) ^ np.uint64(d)
            for i in range(a, b):
                h = (h ^ np.uint64(cps[i])) * np.uint64(FNV_PRIME)
            slot = int(h >> np.uint64(32)) & (size - 1)
            while True:
                other = slots[slot]
                if other < 0:  # a new text in this document
                    slots[slot], first[line] = line, line
                    distinct[d] += b > a
                    break
                if other >= doc_lines[d] and _same(cps, starts[other], stops[other], a, b):
                    first[line] = other
                    break
                slot = (slot + 1) & (size - 1)
            copies[first[line]] += 1
    for line in range(n_lines):
        copies[line] = copies[first[line]]
    return copies, distinct


@kernel(inline=True)
def _same(cps, a0, b0, a1, b1):
    """Whether ``cps[a0:b0]`` equals ``cps[a1:b1]``."""
    if b0 - a0 != b1 - a1:
        return False
    for i in range(b0 - a0):
        if cps[a0 + i] != cps[a1 + i]:
            return False
    return True
