"""Per-line counts of a whole batch in one compiled pass over its characters.

Everything the dense features, the statistics and the document vector count in a line
(:mod:`prox_tasks.models.line_features`) is counted here, line by line, character by
character: ``stripped = line.strip()`` and ``stripped.split()`` are the runs of non-space
characters, character classes come from the code-point table (Python's own answers), and
the few substrings the features look for are matched in place (ASCII case-insensitively:
no other character lower-cases to one of theirs, :data:`codepoints.PATTERN_CHARS`).
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models.codepoints import (
    ALPHA,
    CJK,
    DIGIT,
    KNOWN,
    SPACE,
    SYMBOL,
    TABLE,
    UPPER,
    WORD,
)
from prox_tasks.models.native import kernel
from prox_tasks.models.stop_words import StopWords, is_stop
from prox_tasks.models.text_batch import TextBatch

# rows of the counts: one value per line
(N_WORDS, N_CHARS, FIRST, LAST, WORD_CHARS, ALPHA_WORDS, TITLED, LETTERS, UPPER_CHARS, DIGITS,
 SYMBOLS, CJK_CHARS, PIPES, MARKS, STOPS, ELLIPSIS_WORDS, ELLIPSIS_END, COPYRIGHT, URL, AT,
 LEADING_SPACE, RUNS) = range(22)  # fmt: skip
ROWS = 22
LETTER = KNOWN | ALPHA | WORD  # the flags of a lower-case letter (no CJK, no upper case)
# the characters the last test of the kernel looks at: ".#…|@©(" and the first of "http" and
# "www." in both cases (most characters, letters, skip it after one read)
_LOOKED_FOR = np.zeros(0x2027, np.bool_)
_LOOKED_FOR[[ord(ch) for ch in ".#…|@©(hHwW"]] = True


def line_counts(batch: TextBatch, stop_words: StopWords) -> np.ndarray:
    """[ROWS, lines] int64 counts of each line of ``batch``; per line (``stripped =
    line.strip()``, ``words = stripped.split()``):

    - ``N_WORDS``: ``len(words)``; ``N_CHARS``: ``len(stripped)``; ``FIRST`` / ``LAST``: the
      code point of ``stripped[0]`` / ``stripped[-1]`` (a space if empty);
    - ``WORD_CHARS``: ``sum(map(len, words))``; ``ALPHA_WORDS``: words with a letter;
      ``TITLED``: words whose first character is upper case;
    - ``LETTERS``, ``UPPER_CHARS``, ``DIGITS``, ``SYMBOLS``, ``CJK_CHARS``: characters that
      are ``isalpha``, ``isupper``, ``isdigit``, neither ``isalnum`` nor ``isspace``, CJK;
    - ``PIPES``: ``count("|")``; ``MARKS``: ``count("#") + count("...") + count("…")``;
    - ``STOPS``: stop words (``w.lower().strip(strip) in stop_words``);
    - ``ELLIPSIS_WORDS``: words ending in ``...`` or ``…``; ``ELLIPSIS_END``: ``stripped``
      does;
    - ``COPYRIGHT``: holds ``©`` or, lower-cased, ``(c)``; ``URL``: lower-cased ``http`` or
      ``www.``; ``AT``: ``@``;
    - ``LEADING_SPACE``: the line is empty or starts with a space;
    - ``RUNS``: ``len(re.findall(r"\\w+", line))``.
    """
    starts, words = batch.special_words()
    answers = np.array([stop_words.is_stop(w) for w in words], np.bool_)
    return _count(batch.cp, TABLE.flags, TABLE.lower, batch.line_bounds, stop_words.tables,
                  starts, answers, _LOOKED_FOR)  # fmt: skip


@kernel
def _count(cps, flags, lower, line_bounds, stop_tables, special_starts, special_answers,
           looked_for):
    """The counts (:func:`line_counts`); the stop-word answers of the words starting at
    ``special_starts`` (sorted) are given, those of the others come from :func:`is_stop`;
    ``looked_for``: whether each code point (up to the largest) may start a counted mark."""
    n_lines = len(line_bounds) - 1
    out = np.zeros((ROWS, n_lines), np.int64)
    special = 0
    for line in range(n_lines):
        a, newline = line_bounds[line], line_bounds[line + 1] - 1
        # counted in locals (registers), stored once per line
        words = word_chars = alpha_words = titled = letters = upper = digits = symbols = 0
        cjk = pipes = marks = stops = ellipsis_words = runs = 0
        copyright = url = at = False
        first = last = word = -1
        word_alpha = run = end_ellipsis = False
        dots = 0  # dots ending at the previous character
        # the newline ends the last word, run and row of dots like any other space
        for i in range(a, newline + 1):
            c = cps[i]
            f = flags[c]
            if f == LETTER and run and not dots and c != 0x68 and c != 0x77:
                # most characters: a lower-case letter inside a word, after a letter or
                # digit ("h" and "w" may start "http" and "www.")
                letters += 1
                last = i
                word_alpha = True
                continue
            if f & SPACE:
                if word >= 0:  # the word [word, i) ends
                    word_chars += i - word
                    alpha_words += word_alpha
                    end_ellipsis = dots >= 3 or cps[i - 1] == 0x2026
                    ellipsis_words += end_ellipsis
                    if special < len(special_starts) and special_starts[special] == word:
                        stops += special_answers[special]
                        special += 1
                    else:
                        stops += is_stop(cps, lower, word, i, stop_tables)
                    word = -1
            else:
                if word < 0:
                    word, word_alpha = i, False
                    words += 1
                    titled += (f & UPPER) != 0
                    if first < 0:
                        first = i
                last = i
                word_alpha |= (f & ALPHA) != 0
            letters += (f & ALPHA) != 0
            upper += (f & UPPER) != 0
            digits += (f & DIGIT) != 0
            symbols += (f & SYMBOL) != 0
            cjk += (f & CJK) != 0
            if f & WORD:
                runs += not run
                run = True
            else:
                run = False
            if c == 0x2E:  # "."
                dots += 1
                continue
            if dots:
                marks += dots // 3  # a row of k dots holds k // 3 "..."
                dots = 0
            if c >= len(looked_for) or not looked_for[c]:
                continue
            if c == 0x23 or c == 0x2026:  # "#", "…"
                marks += 1
            elif c == 0x7C:  # "|"
                pipes += 1
            elif c == 0x40:  # "@"
                at = True
            elif c == 0xA9:  # "©"
                copyright = True
            elif c == 0x28 and i + 2 < newline:  # "(c)"
                copyright |= (cps[i + 1] | 32) == 0x63 and cps[i + 2] == 0x29
            elif (c | 32) == 0x68 and i + 3 < newline:  # "http"
                url |= ((cps[i + 1] | 32) == 0x74 and (cps[i + 2] | 32) == 0x74
                        and (cps[i + 3] | 32) == 0x70)  # fmt: skip
            elif (c | 32) == 0x77 and i + 3 < newline:  # "www."
                url |= ((cps[i + 1] | 32) == 0x77 and (cps[i + 2] | 32) == 0x77
                        and cps[i + 3] == 0x2E)  # fmt: skip
        out[N_WORDS, line], out[WORD_CHARS, line] = words, word_chars
        out[ALPHA_WORDS, line], out[TITLED, line], out[LETTERS, line] = alpha_words, titled, letters
        out[UPPER_CHARS, line], out[DIGITS, line], out[SYMBOLS, line] = upper, digits, symbols
        out[CJK_CHARS, line], out[PIPES, line], out[MARKS, line] = cjk, pipes, marks
        out[STOPS, line], out[ELLIPSIS_WORDS, line], out[RUNS, line] = stops, ellipsis_words, runs
        out[COPYRIGHT, line], out[URL, line], out[AT, line] = copyright, url, at
        if first >= 0:
            out[N_CHARS, line] = last - first + 1
            out[FIRST, line], out[LAST, line] = cps[first], cps[last]
            out[ELLIPSIS_END, line] = end_ellipsis
        else:
            out[FIRST, line] = out[LAST, line] = 0x20
        out[LEADING_SPACE, line] = (flags[cps[a]] & SPACE) != 0
    return out
