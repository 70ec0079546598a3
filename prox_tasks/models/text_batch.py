"""A batch of documents as one array of code points, cut into lines and words.

Documents are joined with ``"\\n"`` (plus one closing ``"\\n"``), so the batch's lines are
exactly each document's ``text.split("\\n")`` in order, and every line ends in a newline.
Most characters of web text are lower-case letters that no feature counts one by one
(:data:`~prox_tasks.models.codepoints.PLAIN`); everything is derived from the positions of
the others — spaces, capitals, digits, punctuation — so the work over all characters is a
few numpy passes, and the rest is per word or per line.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models.codepoints import (
    ALPHA,
    PLAIN,
    SPACE,
    SPECIAL,
    TABLE,
    WORD,
    codepoints,
)


def runs_between(breaks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the maximal runs of positions in ``[0, size)`` not in ``breaks``
    (sorted; the last position is a break)."""
    prev = np.empty(len(breaks) + 1, np.int64)
    prev[0] = -1
    prev[1:] = breaks
    gap = np.flatnonzero(np.diff(prev) > 1)
    return prev[gap] + 1, breaks[gap]


def count_in(positions: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """How many of the sorted ``positions`` fall in each ``[bounds[i], bounds[i + 1])``."""
    return np.diff(np.searchsorted(positions, bounds))


class TextBatch:
    """Code points, lines and words of ``texts``.

    Attributes:
        text: The joined text; ``cp`` its code points, ``lower`` those of its lower case.
        line_bounds: Line ``i`` is ``[line_bounds[i], line_bounds[i + 1])`` (newline included).
        doc_lines: Document ``d`` has lines ``doc_lines[d]`` to ``doc_lines[d + 1]``.
        other: Positions of the characters that are not :data:`PLAIN`; ``other_flags`` theirs.
        words: (starts, stops) of the whitespace-separated words (``str.split()``).
        word_runs: (starts, stops) of the ``\\w+`` runs (``re.findall(r"\\w+", ...)``).
    """

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.text = "\n".join(texts) + "\n"
        self.cp = codepoints(self.text)
        flags = TABLE.classify(self.cp)
        self.other = np.flatnonzero((flags & PLAIN) == 0)
        self.other_flags = flags[self.other]
        self.other_cp = self.cp[self.other]
        newlines = self.other[self.other_cp == 10]
        self.line_bounds = np.concatenate(([0], newlines + 1))
        n_lines = np.array([t.count("\n") + 1 for t in texts], np.int64)
        self.doc_lines = np.concatenate(([0], np.cumsum(n_lines)))
        self.words = runs_between(self.where(SPACE), len(self.cp))
        self.word_runs = runs_between(self.other[(self.other_flags & WORD) == 0], len(self.cp))
        self._lower: np.ndarray | None = None
        self._ascii_lower: bytes | None = None

    @property
    def n_lines(self) -> int:
        return len(self.line_bounds) - 1

    def where(self, flag: int) -> np.ndarray:
        """Positions of the characters with ``flag`` (never a :data:`PLAIN` one)."""
        return self.other[(self.other_flags & flag) != 0]

    def where_char(self, char: str) -> np.ndarray:
        """Positions of ``char`` (not a plain letter)."""
        return self.other[self.other_cp == ord(char)]

    def not_alpha(self) -> np.ndarray:
        """Positions of the characters that are neither letters nor spaces."""
        return self.other[(self.other_flags & (ALPHA | SPACE)) == 0]

    @property
    def lower(self) -> np.ndarray:
        """Code points of the lower case, position for position (``SPECIAL`` characters,
        whose lower case is not one context-free character, are left as they are)."""
        if self._lower is None:
            # plain letters are their own lower case: only the others are looked up
            # (str.lower() of a non-ASCII text costs ~10x this)
            self._lower = self.cp.copy()
            self._lower[self.other] = TABLE.lower[self.other_cp]
        return self._lower

    @property
    def ascii_lower(self) -> bytes:
        """The text with its ASCII capitals lower-cased and every non-ASCII character as
        ``?``, position for position (no non-ASCII character lower-cases to the ASCII
        characters the features look for, ``?`` is none of them: see :data:`PATTERN_CHARS`)."""
        if self._ascii_lower is None:
            # one C pass each (a numpy cast, mask and copy cost ~3x these)
            self._ascii_lower = self.text.encode("ascii", "replace").lower()
        return self._ascii_lower

    def specials(self) -> np.ndarray:
        """Positions of ``SPECIAL`` characters."""
        return self.where(SPECIAL)

    def word_of(self, positions: np.ndarray, runs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """How many of the sorted ``positions`` fall in each run of ``runs`` (starts, stops)."""
        starts, stops = runs
        if not len(positions):
            return np.zeros(len(starts), np.int64)
        run = np.searchsorted(starts, positions, side="right") - 1
        inside = (run >= 0) & (positions < stops[np.maximum(run, 0)])
        return np.bincount(run[inside], minlength=len(starts))

    def lines_of(self, positions: np.ndarray) -> np.ndarray:
        """The line of each position."""
        return np.searchsorted(self.line_bounds, positions, side="right") - 1

    def per_line(self, starts: np.ndarray) -> np.ndarray:
        """How many of the sorted ``starts`` fall in each line."""
        return count_in(starts, self.line_bounds)
