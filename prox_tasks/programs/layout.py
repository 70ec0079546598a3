"""Where a text's lines and words are, from numpy passes over its code points.

A program that only removes lines needs the text's line boundaries, not its lines as
strings: the kept lines are cut out as a few slices of the text, one per run of kept lines.
The word counts the statistics report (``len(text.split())`` before and after) come from
the same code points, on first use: words never span a line feed, so the words left are the
text's words minus those starting inside the removed lines' characters.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.programs.stats import whitespace_table

#: Texts longer than this (characters) are executed line by line: the layout costs ~6
#: bytes a character (code points, flags) and ~36 a line (its boundary as a Python int), the
#: line list of the other path about as much as the text.
MAX_LAYOUT_CHARS = 1 << 20


def code_units(text: str) -> np.ndarray:
    """One number per character of ``text``: bytes for ASCII, UTF-16 units when every
    character is in the Basic Multilingual Plane (encoding is cheaper than to UTF-32),
    else UTF-32 code points (lone surrogates as themselves)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), np.uint8)
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) == 2 * len(text):
        return np.frombuffer(units, np.uint16)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


class TextLayout:
    """Line boundaries of ``text`` (lines split on ``"\\n"`` only) and, when first asked
    for, its word starts."""

    def __init__(self, text: str) -> None:
        self._codes: np.ndarray | None = code_units(text)
        newlines = np.flatnonzero(self._codes == 10)
        self.lines = len(newlines) + 1
        #: line ``i`` is ``text[edges[i] + 1 : edges[i + 1]]`` (Python ints: a program cuts
        #: a few dozen runs, cheaper to index in a list than to gather in numpy)
        self._edges = [-1, *newlines.tolist(), len(text)]
        self._word_starts: np.ndarray | None = None

    def spans(self, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``(start, end)`` character indices of each run of lines ``(first, last)``."""
        edges = self._edges
        return [(edges[first] + 1, edges[last + 1]) for first, last in runs]

    @property
    def words(self) -> int:
        """``len(text.split())``."""
        return int(np.count_nonzero(self._starts()))

    def words_in_runs(self, runs: list[tuple[int, int]]) -> int:
        """The words starting in the runs of lines ``(first, last)``: the sum of
        ``len(text_of_the_run.split())``."""
        starts = self._starts()
        return sum(int(np.count_nonzero(starts[a:b])) for a, b in self.spans(runs))

    def _starts(self) -> np.ndarray:
        """Whether a word starts at each character; the code points are let go once this
        is known."""
        if self._word_starts is None:
            space = np.take(whitespace_table(), self._codes)
            starts = np.empty(len(space), dtype=bool)
            if len(space):
                starts[0] = not space[0]
                np.greater(space[:-1], space[1:], out=starts[1:])
            self._word_starts, self._codes = starts, None
        return self._word_starts
