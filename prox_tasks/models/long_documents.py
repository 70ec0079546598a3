"""Featurizing a document in pieces of lines, as the whole document would be featurized.

Featurizing holds ~50 bytes per character and ~1 KB per line of temporaries, so one long
document featurized whole (4M short lines, or 50 MB of prose) would hold gigabytes. A line's
features depend on its own text, its position in the document, the document's line count and
how many of the document's lines have the same stripped text; the document vector is made
of sums over its lines. So a first pass cuts the document into pieces of whole lines and
counts its stripped lines; then each piece, read with ``context`` lines either side, is
featurized with those counts and positions (:class:`DocContext`), and its lines' sums are
added up. Every line's features and the document vector equal, bit for bit, those of the
whole document (tests/models/test_long_documents.py).

The counts are a :class:`collections.Counter` of the stripped strings: exact, and it holds
one entry per *distinct* line, so a document of a few lines repeated millions of times (the
pathological shape) costs nothing, and one of distinct lines about its text plus ~100 bytes
a line. A 64-bit hash per line would hold 8–24 bytes a line whatever the document, but
equal hashes of different lines would need a check against the text to stay exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np

from prox_tasks.models.line_features import BatchFeatures, DocContext, doc_vector, featurize_batch


def line_pieces(text: str, max_lines: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """(start, end) character spans of consecutive pieces of whole lines of ``text`` (split
    on ``\\n``, the newline between two pieces in neither): each of at most ``max_lines``
    lines and ``max_chars`` characters, or one line longer than that."""
    start = 0
    while True:
        end = len(text)
        if start + max_chars < end:
            cut = text.rfind("\n", start, start + max_chars + 1)
            if cut < 0:  # one line over max_chars: alone
                cut = text.find("\n", start)
            end = len(text) if cut < 0 else cut
        if text.count("\n", start, end) >= max_lines:
            piece = text[start:end]
            rest = piece.split("\n", max_lines)[-1]
            end -= len(rest) + 1
        yield start, end
        if end >= len(text):
            return
        start = end + 1


class DocumentInPieces:
    """One document cut into pieces of lines, with what featurizing them needs of the whole.

    Args:
        text: The document.
        max_lines: Lines per piece, at most.
        max_chars: Characters per piece, at most (a longer line is a piece alone).
        context: Lines read either side of each piece (a model's receptive field): they are
            featurized with it but neither scored nor counted in the document's sums.

    Attributes:
        spans: (start, end, first line) of each piece.
        n_lines: Lines of the document.
        counts: Copies of each stripped line in the document.
    """

    def __init__(self, text: str, max_lines: int, max_chars: int, context: int = 0) -> None:
        self.text, self.context = text, context
        self.counts: Counter = Counter()
        self.spans: list[tuple[int, int, int]] = []
        line = 0
        for start, end in line_pieces(text, max_lines, max_chars):
            lines = text[start:end].split("\n")
            self.counts.update(map(str.strip, lines))
            self.spans.append((start, end, line))
            line += len(lines)
        self.n_lines = line
        self.doc: np.ndarray | None = None

    def _around(self, start: int, end: int) -> tuple[int, int, int]:
        """(start, end) widened by up to ``context`` whole lines either side, and the lines
        added before."""
        before = 0
        while before < self.context and start > 0:
            start = self.text.rfind("\n", 0, start - 1) + 1
            before += 1
        for _ in range(self.context):
            if end >= len(self.text):
                break
            nxt = self.text.find("\n", end + 1)
            end = len(self.text) if nxt < 0 else nxt
        return start, end, before

    def featurize(self, buckets: int, stats: bool = True,
                  dtype=np.float32) -> Iterator[tuple[BatchFeatures, slice, int]]:
        """(features of a piece with its context lines, the piece's own rows, the index of
        its first line in the document) per piece, in order. Once all are read, ``doc``
        holds the document vector (``dtype``)."""
        sums = None
        for i, (start, end, first) in enumerate(self.spans):
            stop = self.spans[i + 1][2] if i + 1 < len(self.spans) else self.n_lines
            lo, hi, before = self._around(start, end)
            own = (before, before + stop - first)
            f = featurize_batch([self.text[lo:hi]], buckets, stats, dtype,
                                DocContext(self.counts, self.n_lines, first - before, own))
            sums = f.doc_sums if sums is None else sums + f.doc_sums
            yield f, slice(*own), first
        distinct = len(self.counts) - ("" in self.counts)
        self.doc = doc_vector(sums, np.array([self.n_lines]), np.array([len(self.text)]),
                              np.array([distinct]))[0].astype(dtype)  # fmt: skip
