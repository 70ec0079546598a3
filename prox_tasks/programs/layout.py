"""Where a text's lines and words are, from one numpy pass over its code points.

A program that only removes lines needs the text's line boundaries, not its lines as
strings: the kept lines are cut out as a few slices of the text, one per run of kept lines.
The same pass gives the word counts the statistics report (``len(text.split())`` before and
after): words never span a line feed, so the words left are the text's words minus those
starting inside the removed lines' characters.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.programs.stats import whitespace_table

#: Texts longer than this (characters) are executed line by line: the layout costs ~6
#: bytes a character (code points, flags), the line list of the other path about as much
#: as the text.
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
    """Line starts and word starts of ``text`` (lines split on ``"\\n"`` only)."""

    def __init__(self, text: str) -> None:
        self.text = text
        codes = code_units(text)
        #: character index of each ``"\n"``
        self.newlines = np.flatnonzero(codes == 10)
        space = np.take(whitespace_table(), codes)
        self._word_starts = np.empty(len(codes), dtype=bool)
        if len(codes):
            self._word_starts[0] = not space[0]
            np.greater(space[:-1], space[1:], out=self._word_starts[1:])
        self.lines = len(self.newlines) + 1
        self.words = int(np.count_nonzero(self._word_starts))

    def start(self, line: int) -> int:
        """Index of the first character of ``line``."""
        return 0 if line == 0 else int(self.newlines[line - 1]) + 1

    def end(self, line: int) -> int:
        """Index just past the last character of ``line`` (its ``"\\n"`` or the end)."""
        return int(self.newlines[line]) if line < self.lines - 1 else len(self.text)

    def words_in_lines(self, first: int, last: int) -> int:
        """``len(text_of_lines_first_to_last.split())``: the words starting in them."""
        return int(np.count_nonzero(self._word_starts[self.start(first) : self.end(last)]))
