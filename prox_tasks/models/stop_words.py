"""Whether a word is a stop word (``word.lower().strip(strip) in stop_words``), inside the
line kernel (:mod:`prox_tasks.models.line_counts`).

A word's core (lower-cased, stripped of punctuation at both ends) of at most 7 characters
is written as one 64-bit key — a byte per character (its index in the stop words' alphabet;
a character outside it cannot match) and the length in the top byte — and looked up in a
small hash table of the stop words' keys where each key is in its slot or the next: two
reads and no branch (16 KB: it stays in the L1 cache; a binary search or a probing loop
mispredicts branches, a table with one key per slot needs 256 KB). Words whose lower case is not one context-free character per
character are checked by :meth:`StopWords.is_stop` with ``str`` methods.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models.native import kernel

MAX_LEN = 7  # characters of a key: 7 bytes, and the length in the eighth
OUTSIDE = 0  # alphabet index of a character no stop word has
TABLE_BITS = 11  # 2,048 slots, a fifth full with the stop words


class StopWords:
    """Exact stop-word test.

    Args:
        words: The stop words (at most 7 characters, an alphabet of at most 255).
        strip: Characters stripped from both ends of a lower-cased word before the test;
            none may be the lower case of another character (punctuation).

    Attributes:
        tables: (strip, alphabet, slots, multiplier) for :func:`is_stop`: whether each code
            point up to the largest strip character is one, the alphabet index of each code
            point up to the largest letter of a stop word (0 outside), the hash table of the
            keys and its multiplier (:func:`_hash_table`).
    """

    def __init__(self, words, strip: str) -> None:
        self.words, self.strip = frozenset(words), strip
        alphabet = sorted(set("".join(self.words)))
        if max(map(len, self.words)) > MAX_LEN or len(alphabet) > 255:
            raise ValueError("stop words must be at most 7 characters from at most 255")
        strip_table = np.zeros(max(map(ord, strip)) + 1, np.bool_)
        strip_table[[ord(c) for c in strip]] = True
        index = np.zeros(max(map(ord, alphabet)) + 1, np.int64)
        index[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1)
        keys = np.zeros(len(self.words), np.uint64)
        for row, word in enumerate(self.words):
            key = len(word) << 56
            for j, c in enumerate(word):
                key |= int(index[ord(c)]) << (8 * j)
            keys[row] = key
        self.tables = (strip_table, index, *_hash_table(keys))

    def is_stop(self, word: str) -> bool:
        """The test with ``str`` methods (words holding a :data:`SPECIAL` character)."""
        return word.lower().strip(self.strip) in self.words


@kernel(inline=True)
def is_stop(cps, lower, start, stop, tables):
    """Whether the word ``cps[start:stop]`` is a stop word (no :data:`SPECIAL` character in
    it: each lower-cases to ``lower[cp]``). Punctuation keeps its case and no letter
    lower-cases to punctuation, so the original characters are stripped."""
    strip, index, slots, multiplier = tables
    while start < stop and cps[start] < len(strip) and strip[cps[start]]:
        start += 1
    while stop > start and cps[stop - 1] < len(strip) and strip[cps[stop - 1]]:
        stop -= 1
    if stop == start or stop - start > MAX_LEN:
        return False
    key = np.uint64(stop - start) << np.uint64(56)
    for j in range(stop - start):
        c = lower[cps[start + j]]
        if c >= len(index) or index[c] == OUTSIDE:
            return False
        key |= np.uint64(index[c]) << np.uint64(8 * j)
    slot = (key * multiplier) >> np.uint64(64 - TABLE_BITS)
    return (slots[slot] == key) | (slots[slot + np.uint64(1)] == key)


def _hash_table(keys: np.ndarray) -> tuple[np.ndarray, np.uint64]:
    """``2**TABLE_BITS + 1`` slots holding each key at ``(key * multiplier) >> (64 -
    TABLE_BITS)`` or the slot after, and that multiplier (the first odd multiple of the
    golden ratio's that places them all so). Empty slots hold 0, which no key is (its top
    byte, the length, is at least 1)."""
    for i in range(1 << 16):
        multiplier = (0x9E3779B97F4A7C15 * (2 * i + 1)) % (1 << 64)
        slots = np.zeros((1 << TABLE_BITS) + 1, np.uint64)
        for key in keys.tolist():
            slot = ((key * multiplier) % (1 << 64)) >> (64 - TABLE_BITS)
            slot += bool(slots[slot])
            if slots[slot]:
                break
            slots[slot] = key
        else:
            return slots, np.uint64(multiplier)
    raise ValueError("no multiplier places the stop words in two slots each")  # never, for ~400
