"""Character classes of a whole batch of text at once, with Python's own semantics.

The line tagger's features must equal what ``str`` methods (``isspace``, ``isalpha``,
``isupper``, ``isdigit``, ``isalnum``, ``lower``) and ``re``'s ``\\w`` say of each character.
Rather than re-deriving Unicode rules, each code point is asked once — the first time a
batch contains it — and the answers are kept in arrays indexed by code point, which the
compiled kernels read (:attr:`CodePointTable.flags`, :attr:`CodePointTable.lower`).
"""

from __future__ import annotations

import re

import numpy as np

from prox_tasks.labeling.lines import _CJK
from prox_tasks.models.native import kernel

SPACE, ALPHA, UPPER, DIGIT, WORD, SYMBOL, CJK, SPECIAL, KNOWN = (1 << i for i in range(9))
UNICODE_SIZE = 0x110000
CAPITAL_SIGMA = 0x3A3  # lower() depends on its neighbours (final sigma)
# substrings the features look for in lower-cased lines: no special lower-casing may make them
PATTERN_CHARS = set("(c)htpw.@")
_WORD_CHAR = re.compile(r"\w")


class CodePointTable:
    """Flags and single-character lower case of every code point seen so far.

    Flags: ``SPACE`` (``isspace``), ``ALPHA``, ``UPPER``, ``DIGIT`` (``isdigit``), ``WORD``
    (``re`` ``\\w``), ``SYMBOL`` (neither ``isalnum`` nor ``isspace``), ``CJK`` (counted half a
    word by :func:`prox_tasks.labeling.lines.units`), ``SPECIAL`` (``lower()`` is not one
    context-free character) and ``KNOWN``.
    """

    def __init__(self) -> None:
        self.flags = np.zeros(UNICODE_SIZE, np.uint16)
        self.lower = np.arange(UNICODE_SIZE, dtype=np.uint32)
        self._learn(range(256))

    def _learn(self, cps) -> None:
        for cp in cps:
            c = chr(cp)
            low = c.lower()
            special = len(low) != 1 or cp == CAPITAL_SIGMA
            if cp >= 128 and PATTERN_CHARS & set(low):
                raise AssertionError(f"U+{cp:04X} lower-cases to {low!r}: the line features "
                                     f"assume no non-ASCII character lower-cases to one of "
                                     f"{''.join(sorted(PATTERN_CHARS))}")
            word = _WORD_CHAR.fullmatch(c) is not None
            f = (KNOWN | SPACE * c.isspace() | ALPHA * c.isalpha() | UPPER * c.isupper()
                 | DIGIT * c.isdigit() | WORD * word | CJK * (_CJK.fullmatch(c) is not None)
                 | SYMBOL * (not c.isalnum() and not c.isspace()) | SPECIAL * special)  # fmt: skip
            self.flags[cp] = f
            if not special:
                self.lower[cp] = ord(low)

    def specials(self, cps: np.ndarray) -> np.ndarray:
        """Positions of the :data:`SPECIAL` code points of ``cps``, learning the new ones."""
        positions = _specials(cps, self.flags)
        if positions is None:
            self._learn(np.unique(cps[self.flags[cps] == 0]).tolist())
            positions = _specials(cps, self.flags)
        return positions


@kernel
def _specials(cps, flags):
    """Positions of the code points flagged ``SPECIAL``; None if one is not ``KNOWN``."""
    count = 0
    for cp in cps:
        f = flags[cp]
        if f == 0:
            return None
        count += (f & SPECIAL) != 0
    out = np.empty(count, np.int64)
    count = 0
    for i in range(len(cps)):
        if flags[cps[i]] & SPECIAL:
            out[count] = i
            count += 1
    return out


TABLE = CodePointTable()
