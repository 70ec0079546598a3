"""What one execution did: the result and its statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache

import numpy as np

from prox_tasks.programs.program import ProgramError

MAX_ERROR_MESSAGES = 8
_LARGEST_COUNT = 2**53  # past it a count is no count a refiner wrote (and overflows floats)


def whole_count(value) -> int | None:
    """``value`` when it is a whole number (a count in a refined row's stats), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and abs(value) <= _LARGEST_COUNT:
        return value
    return None


def error_total(errors) -> int | None:
    """Program errors in a refined row's ``stats.errors`` (kind -> count): their sum, 0 for
    none; None when malformed (not a mapping of whole counts of at least 0).

    The one reading of a row's errors: the shard writer counts a row whose total is over 0 in
    ``docs_with_program_errors`` (its status record, ``prox refine``'s totals, the catalog),
    and the quality gate counts the rows of each shard file the same way and checks the two
    agree. The writer counted a row whose ``errors`` was any non-empty mapping (``{"syntax":
    0}`` too), the gate one whose counts summed over 0: one snapshot, two figures."""
    if errors is None:
        return 0
    if not isinstance(errors, Mapping):
        return None
    counts = [whole_count(v) for v in errors.values()]
    return None if any(c is None or c < 0 for c in counts) else sum(counts)


@dataclass
class ExecutionStats:
    """What one execution did. ``to_dict`` gives a JSON-ready mapping."""

    lines_in: int = 0
    lines_out: int = 0
    lines_removed: int = 0
    lines_merged: int = 0
    chars_in: int = 0
    chars_out: int = 0
    text_in: str | None = field(default=None, repr=False)
    text_out: str | None = field(default=None, repr=False)
    normalizations_applied: int = 0
    #: normalize() calls run that found their source_str nowhere in their range (no error:
    #: the text is unchanged; many say the model writes text the page does not hold)
    normalizations_unmatched: int = 0
    scopes_ignored: int = 0
    drop_reason: str | None = None
    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    error_messages: list[str] = field(default_factory=list)
    _words_in: int | None = field(default=None, repr=False, compare=False)
    _words_out: int | None = field(default=None, repr=False, compare=False)
    #: (words_in, words_out) from what the execution already knows of the text's layout
    _count_words: Callable[[], tuple[int, int]] | None = field(default=None, repr=False,
                                                             compare=False)

    # Word counts cost a full pass over the text (as much as the execution itself), so they
    # are computed on first use, once; the drop rule decides with bounded partial counts.
    def _take_deferred_counts(self) -> None:
        if self._count_words is not None:
            self._words_in, self._words_out = self._count_words()
            self._count_words = None

    @property
    def words_in(self) -> int:
        self._take_deferred_counts()
        if self._words_in is None:
            self._words_in = count_words(self.text_in)
        return self._words_in

    @property
    def words_out(self) -> int:
        if self.text_out is None:
            return 0
        self._take_deferred_counts()
        if self._words_out is None:
            # kept unchanged: the same words
            self._words_out = self.words_in if self.text_out is self.text_in else \
                count_words(self.text_out)  # fmt: skip
        return self._words_out

    @property
    def chars_removed(self) -> int:
        return self.chars_in - self.chars_out

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def add_error(self, error: ProgramError, level: str) -> None:
        self.errors[str(error.kind)] += 1
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            where = f" (program line {error.line})" if error.line >= 0 else ""
            self.error_messages.append(f"{level}: {error.kind}: {error.message}{where}")

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        out["words_in"], out["words_out"] = self.words_in, self.words_out
        out["calls"] = dict(self.calls)
        out["errors"] = dict(self.errors)
        out["chars_removed"] = self.chars_removed
        return out


@dataclass
class ExecutionResult:
    """The refined text (``None`` when dropped), the drop flag and statistics."""

    text: str | None
    dropped: bool
    stats: ExecutionStats


#: Characters split into words at once when counting them: a list of a long text's words
#: costs ~60 bytes a word (a 50 MB document: ~500 MB), a slice's stays bounded.
WORD_SCAN = 1 << 20


#: Texts shorter than this are counted by ``str.split`` (numpy's per-call cost is larger).
SHORT_TEXT = 256
#: What ``str.split()`` splits on: the code points for which ``str.isspace()`` is true
#: (``Py_UNICODE_ISSPACE``; tests/programs/test_word_count.py checks the list against
#: every code point).
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
              "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


@lru_cache(maxsize=1)
def whitespace_table() -> np.ndarray:
    table = np.zeros(0x110000, dtype=bool)
    table[[ord(c) for c in WHITESPACE]] = True
    return table


def count_words(text: str | None, at_most: int | None = None) -> int:
    """``len(text.split())``, or ``at_most`` when it has more (stops splitting there),
    splitting about :data:`WORD_SCAN` characters at a time.

    The whole count (no ``at_most``) of a text of :data:`SHORT_TEXT` characters or more
    counts word starts over the code points with numpy (a whitespace code point followed by
    another), ~2.5x faster than splitting: no string object per word."""
    if not text:
        return 0
    if at_most is None and len(text) >= SHORT_TEXT:
        return _count_word_starts(text)
    total, start = 0, 0
    while start < len(text) and (at_most is None or total < at_most):
        end = _word_cut(text, start + WORD_SCAN)
        piece = text[start:end] if start or end < len(text) else text
        if at_most is None:
            total += len(piece.split())
        else:
            left = at_most - total
            words = len(piece.split(None, left))
            total += words if words <= left else left
        start = end
    return total


def _count_word_starts(text: str) -> int:
    table = whitespace_table()
    total = 0
    for start in range(0, len(text), WORD_SCAN):  # bounded memory: 3 bytes a character
        piece = text[start : start + WORD_SCAN] if len(text) > WORD_SCAN else text
        # UTF-16 units: a character outside the BMP becomes two units, neither of them
        # whitespace, inside the same word: the count is the same
        units = np.frombuffer(piece.encode("utf-16-le", "surrogatepass"), np.uint16)
        space = np.take(table, units)
        total += int(np.count_nonzero(space[:-1] > space[1:]))  # space, then a word starts
        # the piece's first character starts a word unless the one before it is a word's
        if not space[0] and (start == 0 or text[start - 1] in WHITESPACE):
            total += 1
    return total


def _word_cut(text: str, at: int) -> int:
    """The first space or newline at or after ``at`` (no word spans it), else the end."""
    while at < len(text):
        cuts = [c for c in (text.find(" ", at, at + WORD_SCAN), text.find("\n", at, at + WORD_SCAN))
                if c >= 0]  # fmt: skip
        if cuts:
            return min(cuts)
        at += WORD_SCAN
    return len(text)


def has_more_words_than(text: str, n: int) -> bool:
    """``len(text.split()) > n`` without splitting past word ``n + 1``."""
    return n < 0 or count_words(text, n + 1) > n
