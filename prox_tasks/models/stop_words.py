"""Which words of a batch are stop words (``word.lower().strip(strip) in stop_words``), for
all whitespace-separated words at once.

Each word's core (lower-cased, stripped of punctuation at both ends) of at most the longest
stop word's length is written as one 64-bit key — a byte per character (its index in the
stop words' alphabet; characters outside it cannot match) and the length — and looked up
exactly among the stop words' keys. Words whose lower case is not one context-free
character per character, and very long words, are checked one by one with ``str`` methods.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models.codepoints import UNICODE_SIZE
from prox_tasks.models.text_batch import TextBatch

LONG_WORD = 32  # longer words (rare: URLs, rows of dashes) are checked one by one
OUTSIDE = 255  # alphabet index of a character no stop word has
TABLE_BITS = 15
TABLE_SHIFT = np.uint64(64 - TABLE_BITS)


class StopWords:
    """Exact stop-word test of many words.

    Args:
        words: The stop words (at most 7 characters, an alphabet of at most 254).
        strip: Characters stripped from both ends of a lower-cased word before the test.
    """

    def __init__(self, words, strip: str) -> None:
        self.words, self.strip = frozenset(words), strip
        self.max_len = max(map(len, self.words))
        alphabet = sorted(set("".join(self.words)))
        if self.max_len > 7 or len(alphabet) >= OUTSIDE:
            raise ValueError("stop words must be at most 7 characters from at most 254")
        self._alphabet = np.full(UNICODE_SIZE, OUTSIDE, np.uint8)
        self._alphabet[[ord(c) for c in alphabet]] = np.arange(1, len(alphabet) + 1)
        # a core can only match if its first and last characters start and end a stop word
        self._first = np.zeros(UNICODE_SIZE, bool)
        self._first[[ord(w[0]) for w in self.words]] = True
        self._last = np.zeros(UNICODE_SIZE, bool)
        self._last[[ord(w[-1]) for w in self.words]] = True
        self._strip = np.zeros(UNICODE_SIZE, bool)
        self._strip[[ord(c) for c in strip]] = True
        cores = np.zeros((len(self.words), 8), np.uint8)
        for row, word in enumerate(self.words):
            cores[row, : len(word)] = self._alphabet[[ord(c) for c in word]]
            cores[row, 7] = len(word)
        self._table, self._multiplier = _perfect_table(cores.view(np.uint64).ravel())
        # per core length k: the word keeping its first k bytes, and the word of k in byte 7
        masks = np.zeros((8, 8), np.uint8)
        lengths = np.zeros((8, 8), np.uint8)
        for k in range(8):
            masks[k, :k] = 0xFF
            lengths[k, 7] = k
        self._masks = masks.view(np.uint64).ravel()
        self._lengths = lengths.view(np.uint64).ravel()

    def matches(self, batch: TextBatch, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Whether each word ``[starts[i], stops[i])`` of ``batch`` is a stop word."""
        out = np.zeros(len(starts), bool)
        slow = stops - starts > LONG_WORD
        slow[batch.word_of(batch.specials(), (starts, stops)) > 0] = True
        for i in np.flatnonzero(slow).tolist():
            out[i] = batch.text[starts[i]:stops[i]].lower().strip(self.strip) in self.words
        # punctuation keeps its case and no letter lower-cases to punctuation: strip the
        # original characters, and only where a word starts or ends with one
        stripped = np.zeros(len(batch.cp) + 1, bool)
        stripped[batch.other[self._strip[batch.other_cp]]] = True
        a, b = starts.copy(), stops.copy()
        lead = np.flatnonzero(stripped[a])
        while len(lead):  # a strip character ends a word, so the loop stops inside it
            a[lead] += 1
            lead = lead[(a[lead] < b[lead]) & stripped[a[lead]]]
        trail = np.flatnonzero(stripped[b - 1] & (a < b))
        while len(trail):
            b[trail] -= 1
            trail = trail[(a[trail] < b[trail]) & stripped[b[trail] - 1]]
        length = b - a
        cand = np.flatnonzero(~slow & (length > 0) & (length <= self.max_len))
        low = batch.lower
        cand = cand[self._first[low[a[cand]]] & self._last[low[b[cand] - 1]]]
        a, length = a[cand], length[cand]
        # each candidate's next 8 alphabet indexes as one word, the bytes past its length
        # masked off and the last byte set to the length
        letters = np.zeros(len(batch.cp) + 8, np.uint8)
        letters[: len(batch.cp)] = self._alphabet[low]
        windows = np.lib.stride_tricks.sliding_window_view(letters, 8)[a]
        keys = (windows.view(np.uint64).ravel() & self._masks[length]) | self._lengths[length]
        out[cand] = self._table[(keys * self._multiplier) >> TABLE_SHIFT] == keys
        return out


def _perfect_table(keys: np.ndarray) -> tuple[np.ndarray, np.uint64]:
    """A table of ``2**TABLE_BITS`` slots holding each key at ``(key * multiplier) >>
    TABLE_SHIFT`` with no two keys in one slot, and that multiplier: a key is then looked up
    with one product and one gather (a binary search costs ~20 passes). Empty slots hold 0,
    which no key is (its last byte, the length, is at least 1)."""
    for i in range(1, 1 << 16):
        multiplier = np.uint64((0x9E3779B97F4A7C15 * (2 * i + 1)) % (1 << 64))
        slots = (keys * multiplier) >> TABLE_SHIFT
        if len(np.unique(slots)) == len(keys):
            table = np.zeros(1 << TABLE_BITS, np.uint64)
            table[slots] = keys
            return table, multiplier
    raise ValueError("no collision-free multiplier for the stop words")  # never, for ~200 keys
