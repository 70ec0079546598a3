"""Per-line and per-document features for the line tagger, for a whole batch at once.

Each line becomes a dense vector (length, shape, punctuation, position, repetition), a bag of
hashed lexical features (lower-cased words and word pairs, first and last word;
:mod:`prox_tasks.models.line_hashing`) from which the tagger *learns* which vocabulary marks
boilerplate (no word list is built in), and additive statistics the document head sums over
the lines it keeps. Hashing uses CRC-32, so features are identical across processes and
machines.

Every feature is computed for all lines of a batch at once: compiled passes over the
batch's characters count each line (:mod:`prox_tasks.models.line_counts`) and hash its
words (:mod:`prox_tasks.models.line_hashing`), numpy turns the counts into features. They
equal, bit for bit, the per-line Python definition given in each docstring below (the tests
keep that definition as the reference).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from prox_tasks.labeling.vocab import STOP_WORDS
from prox_tasks.models.codepoints import ALPHA, DIGIT, TABLE, UPPER
from prox_tasks.models.line_counts import (
    ALPHA_WORDS,
    AT,
    CJK_CHARS,
    COPYRIGHT,
    DIGITS,
    ELLIPSIS_END,
    ELLIPSIS_WORDS,
    FIRST,
    LAST,
    LEADING_SPACE,
    LETTERS,
    MARKS,
    N_CHARS,
    N_WORDS,
    PIPES,
    RUNS,
    STOPS,
    SYMBOLS,
    TITLED,
    UPPER_CHARS,
    URL,
    WORD_CHARS,
    line_counts,
)
from prox_tasks.models.line_hashing import MAX_HASHED_WORDS, line_hashes
from prox_tasks.models.line_repeats import line_repeats
from prox_tasks.models.stop_words import StopWords
from prox_tasks.models.text_batch import TextBatch

WORD_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 17, 25, 50)
END_SENTENCE = ".!?"
END_QUOTE = "\"'”’»"
BULLETS = "•-*|>»·–—►▸→#"
STRIP = ".,;:!?\"'()[]«»“”‘’-–—"
LINE_DIM = 38
DOC_DIM = 12
STAT_DIM = 10
_STOPS = StopWords(STOP_WORDS, STRIP)

__all__ = ["BatchFeatures", "DOC_DIM", "DocContext", "LINE_DIM", "MAX_HASHED_WORDS",
           "STAT_DIM", "doc_vector", "featurize", "featurize_batch"]  # fmt: skip


@dataclass
class BatchFeatures:
    """Features of a batch: line ``i`` of document ``d`` is row ``doc_lines[d] + i``.

    Attributes:
        dense: [lines, LINE_DIM] float32.
        ids: Hashed ids, line ``j``'s are ``ids[id_starts[j]:id_starts[j + 1]]`` (int64).
        id_starts: [lines + 1] int64.
        doc: [docs, DOC_DIM] float32.
        stats: [lines, STAT_DIM] float32 (zeros unless asked for).
        doc_lines: [docs + 1] int64.
        tokens: [lines] int64, whitespace tokens of each line rendered with its number
            (its words, plus one when it is empty or starts with whitespace: see
            :func:`prox_tasks.programs.render.chunk_spans`).
        doc_sums: [docs, DOC_SUMS] float64, the per-line counts the document vector is made
            of (:func:`doc_vector`); for a piece of a document, those of its counted lines.
    """

    dense: np.ndarray
    ids: np.ndarray
    id_starts: np.ndarray
    doc: np.ndarray | None
    stats: np.ndarray
    doc_lines: np.ndarray
    tokens: np.ndarray
    doc_sums: np.ndarray | None = None


@dataclass
class DocContext:
    """What a piece of lines of a longer document needs of the whole to be featurized as
    the whole would be (:mod:`prox_tasks.models.long_documents`).

    Attributes:
        counts: Copies in the document of each stripped line.
        n_lines: Lines of the document.
        first_line: Index in the document of the piece's first line.
        counted: The piece's lines (start, stop) whose counts go into ``doc_sums`` (the
            others are context, counted by the piece they belong to).
    """

    counts: Counter
    n_lines: int
    first_line: int
    counted: tuple[int, int]


_LOG1P = np.array([math.log1p(i) for i in range(4096)])


def _log1p(counts: np.ndarray) -> np.ndarray:
    """``math.log1p`` of non-negative integers (a table: numpy's log1p may differ by an ulp)."""
    counts = np.asarray(counts, np.int64)
    out = _LOG1P[np.minimum(counts, len(_LOG1P) - 1)]
    big = counts >= len(_LOG1P)
    if big.any():
        out[big] = [math.log1p(c) for c in counts[big].tolist()]
    return out


def _is(chars: np.ndarray, members: str) -> np.ndarray:
    """Whether each code point of ``chars`` is one of ``members`` (a table gather: np.isin
    sorts on every call)."""
    table = _members_table(members)
    return table[np.minimum(chars, len(table) - 1)]


@functools.lru_cache(maxsize=16)
def _members_table(members: str) -> np.ndarray:
    """Indexed by code point up to the largest member's, plus a last False entry for all
    code points beyond."""
    table = np.zeros(max(map(ord, members)) + 2, bool)
    table[[ord(c) for c in members]] = True
    return table


def _flag(chars: np.ndarray, flag: int) -> np.ndarray:
    return (TABLE.flags[chars] & flag) != 0


def _repeats(batch: TextBatch, context: DocContext | None = None):
    """(copies of each line's stripped text in its document, distinct non-empty stripped
    lines per document; None for a piece: its document's counts know them)."""
    if context is None:
        return line_repeats(batch)
    stripped = [line.strip() for text in batch.texts for line in text.split("\n")]
    return np.fromiter(map(context.counts.__getitem__, stripped), np.int64,
                       len(stripped)), None  # fmt: skip


def featurize_batch(texts: list[str], buckets: int, stats: bool = True,
                    dtype=np.float32, context: DocContext | None = None) -> BatchFeatures:
    """Features of every line of ``texts`` (each split on ``\\n``) and of each document.

    Dense, per line (``stripped = line.strip()``, ``words = stripped.split()``): log1p of
    word and character counts, one-hot word-count bucket (:data:`WORD_BUCKETS`), last
    character a sentence end / ``:`` / closing quote / ``;,`` / digit / letter, shares of
    capitals (of letters), digits and symbols (of characters), title-case words (of words),
    first character a bullet, log1p of ``|`` count, has ``©``/``(c)``, a URL
    (``http``/``www.``), an ``@``, relative position, first, last, log1p of the line count,
    log1p of the other copies of the line in the document, characters per word / 10, first
    character a capital.

    Statistics, per line (:data:`STAT_DIM`, summed by the model over kept lines): units (CJK
    characters count half), words, words with a letter, stop words
    (``w.lower().strip(STRIP)``), ``#``/``...``/``…`` count, word characters, non-empty,
    ends in an ellipsis, sentence-length (10+ words), repeated sentence-length.

    Document (:data:`DOC_DIM`): log1p words, log1p lines, log1p words per non-empty line,
    shares of non-empty lines ending a sentence / under 5 words, of words with a letter,
    characters per word / 10, digit and capital shares of the characters, share of repeated
    non-empty lines, of lines starting with a bullet, of words ending in an ellipsis.

    Values are computed in float64 and returned as ``dtype`` (what the model reads).

    With ``context``, ``texts`` is one piece of lines of a longer document: positions and
    repeats are the document's, ``doc`` is None and ``doc_sums`` holds the counted lines'
    sums; the lines' features equal the whole document's (:mod:`long_documents`).
    """
    batch = TextBatch(texts)
    n_docs, n_lines = len(texts), batch.n_lines
    line_doc = np.repeat(np.arange(n_docs), np.diff(batch.doc_lines))
    index = np.arange(n_lines) - batch.doc_lines[line_doc]
    doc_n_lines = np.diff(batch.doc_lines)[line_doc]
    if context is not None:
        index = index + context.first_line
        doc_n_lines = np.full(n_lines, context.n_lines, np.int64)
    counts = line_counts(batch, _STOPS)
    n_words, n_chars = counts[N_WORDS], counts[N_CHARS]
    first, last = counts[FIRST], counts[LAST]
    alpha_words, word_chars = counts[ALPHA_WORDS], counts[WORD_CHARS]
    letters, upper, digits = counts[LETTERS], counts[UPPER_CHARS], counts[DIGITS]
    repeats, distinct = _repeats(batch, context)

    bucket = np.searchsorted(WORD_BUCKETS, n_words, side="right") - 1
    # stored as ``dtype`` column by column: each float64 value is rounded as one cast of
    # the whole array would, without a float64 copy of every line's features
    dense = np.zeros((n_lines, LINE_DIM), dtype)
    dense[:, 0], dense[:, 1] = _log1p(n_words), _log1p(n_chars)
    dense[np.arange(n_lines), 2 + bucket] = 1.0
    dense[:, 16] = _is(last, END_SENTENCE)
    dense[:, 17] = last == ord(":")
    dense[:, 18] = _is(last, END_QUOTE)
    dense[:, 19] = _is(last, ";,")
    dense[:, 20] = _flag(last, DIGIT)
    dense[:, 21] = _flag(last, ALPHA)
    dense[:, 22] = upper / np.where(letters > 0, letters, 1)
    dense[:, 23] = digits / np.maximum(1, n_chars)
    dense[:, 24] = counts[SYMBOLS] / np.maximum(1, n_chars)
    dense[:, 25] = counts[TITLED] / np.maximum(1, n_words)
    dense[:, 26] = _is(first, BULLETS)
    dense[:, 27] = _log1p(counts[PIPES])
    dense[:, 28] = counts[COPYRIGHT]
    dense[:, 29] = counts[URL]
    dense[:, 30] = counts[AT]
    dense[:, 31] = index / np.maximum(1, doc_n_lines - 1)
    dense[:, 32] = index == 0
    dense[:, 33] = index == doc_n_lines - 1
    dense[:, 34] = _log1p(doc_n_lines)
    dense[:, 35] = _log1p(repeats - 1)
    dense[:, 36] = n_chars / np.maximum(1, n_words) / 10
    dense[:, 37] = _flag(first, UPPER)

    ids, id_starts = line_hashes(batch, counts[RUNS], bucket, buckets)
    line_stats = np.zeros((n_lines, STAT_DIM), dtype)
    if stats:
        line_stats[:, 0] = n_words + counts[CJK_CHARS] // 2
        line_stats[:, 1] = n_words
        line_stats[:, 2] = alpha_words
        line_stats[:, 3] = counts[STOPS]
        line_stats[:, 4] = counts[MARKS]
        line_stats[:, 5] = word_chars
        line_stats[:, 6] = n_chars > 0
        line_stats[:, 7] = counts[ELLIPSIS_END]
        line_stats[:, 8] = n_words >= 10
        line_stats[:, 9] = (n_words >= 10) & (repeats > 1)

    counted = slice(None) if context is None else slice(*context.counted)
    sums = _doc_sums(line_doc[counted], n_docs,
                     [v[counted] for v in (n_words, n_chars, last, first, alpha_words,
                                           word_chars, digits, upper,
                                           counts[ELLIPSIS_WORDS])])
    doc = None if context is not None else doc_vector(
        sums, np.diff(batch.doc_lines), np.array([len(t) for t in texts], np.int64), distinct)
    tokens = n_words + counts[LEADING_SPACE]
    return BatchFeatures(dense, ids, id_starts, None if doc is None else doc.astype(dtype),
                         line_stats, batch.doc_lines, tokens, sums)  # fmt: skip


DOC_SUMS = 10


def _doc_sums(line_doc, n_docs, per_line) -> np.ndarray:
    """[docs, DOC_SUMS] float64 sums over each document's lines (integers, so the sums of
    the pieces of a document add up exactly to the whole's)."""
    n_words, n_chars, last, first, alpha_words, word_chars, digits, upper, ellipsis = per_line

    def per_doc(values):
        return np.bincount(line_doc, weights=values, minlength=n_docs)

    sums = np.zeros((n_docs, DOC_SUMS))
    sums[:, 0], sums[:, 1] = per_doc(n_words), per_doc(n_chars > 0)
    sums[:, 2] = per_doc((n_chars > 0) & (n_words < 5))
    sums[:, 3] = per_doc(_is(last, END_SENTENCE))
    sums[:, 4], sums[:, 5] = per_doc(alpha_words), per_doc(word_chars)
    sums[:, 6], sums[:, 7] = per_doc(digits), per_doc(upper)
    sums[:, 8], sums[:, 9] = per_doc(_is(first, BULLETS)), per_doc(ellipsis)
    return sums


def doc_vector(sums: np.ndarray, lines: np.ndarray, chars: np.ndarray,
               distinct: np.ndarray) -> np.ndarray:
    """[docs, DOC_DIM] float64 document vectors from their line sums (:func:`_doc_sums`),
    line and character counts, and distinct non-empty stripped lines."""
    n_docs = len(sums)
    words = sums[:, 0].astype(np.int64)
    non_empty_lines = sums[:, 1].astype(np.int64)
    non_empty = np.maximum(non_empty_lines, 1)  # no non-empty line: [""] stands for them
    short = sums[:, 2] + (non_empty_lines == 0)
    text_chars = chars - (lines - 1)
    text_chars = np.where(text_chars > 0, text_chars, 1)
    n = np.where(words > 0, words, 1)
    per_line_words = (n / non_empty).tolist()
    doc = np.zeros((n_docs, DOC_DIM))
    doc[:, 0], doc[:, 1] = _log1p(words), _log1p(lines)
    doc[:, 2] = [math.log1p(x) for x in per_line_words]
    doc[:, 3] = sums[:, 3] / non_empty
    doc[:, 4] = short / non_empty
    doc[:, 5] = sums[:, 4] / n
    doc[:, 6] = sums[:, 5] / n / 10
    doc[:, 7] = sums[:, 6] / text_chars
    doc[:, 8] = sums[:, 7] / text_chars
    doc[:, 9] = 1 - np.where(non_empty_lines > 0, distinct, 1) / non_empty
    doc[:, 10] = sums[:, 8] / non_empty
    doc[:, 11] = sums[:, 9] / n
    return doc


def featurize(text: str, buckets: int, stats: bool = True):
    """(dense [lines, LINE_DIM], hashed ids, id starts [lines + 1], document vector,
    stats [lines, STAT_DIM]) of one text (:func:`featurize_batch`)."""
    f = featurize_batch([text], buckets, stats)
    return f.dense, f.ids, f.id_starts, f.doc[0], f.stats
