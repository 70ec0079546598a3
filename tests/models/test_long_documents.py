"""A document featurized in pieces of lines equals, bit for bit, the document featurized
whole — every line's dense features, hashed ids, statistics and tokens, and the document
vector — on real pages joined into long documents, on the pathological shapes, and on edge
cases of Unicode and whitespace cut at every kind of line."""

from __future__ import annotations

import random

import numpy as np
import pytest

from prox_tasks.models.line_features import featurize_batch
from prox_tasks.models.long_documents import DocumentInPieces, line_pieces
from tests.models.test_line_features import EDGE_CASES, _real_pages

BUCKETS = 1 << 15
# (lines, characters, context lines) per piece: one-line pieces, pieces cut by lines, by
# characters, the receptive field of the shipped tagger, every line over the budget
SMALL_CUTS = [(1, 10**9, 0), (7, 10**9, 3), (10**6, 300, 2), (64, 2_000, 15), (5, 1, 1)]
# for the real pages (thousands of lines): fewer, larger pieces
CUTS = [(50, 10**9, 3), (10**6, 3_000, 2), (256, 8_000, 15)]


def assert_pieces_equal_whole(text: str, max_lines: int, max_chars: int, context: int) -> int:
    whole = featurize_batch([text], BUCKETS)
    document = DocumentInPieces(text, max_lines, max_chars, context)
    covered = 0
    for f, own, first in document.featurize(BUCKETS):
        assert first == covered  # pieces in order, no line twice or missing
        end = first + own.stop - own.start
        for name in ("dense", "stats", "tokens"):
            np.testing.assert_array_equal(getattr(f, name)[own], getattr(whole, name)[first:end],
                                          err_msg=name)  # fmt: skip
        starts = f.id_starts[own.start : own.stop + 1]
        np.testing.assert_array_equal(np.diff(starts), np.diff(whole.id_starts[first : end + 1]))
        np.testing.assert_array_equal(f.ids[starts[0] : starts[-1]],
                                      whole.ids[whole.id_starts[first] : whole.id_starts[end]])
        covered = end
    assert covered == document.n_lines == len(whole.dense)
    assert document.doc.dtype == np.float32
    np.testing.assert_array_equal(document.doc, whole.doc[0])
    return len(document.spans)


@pytest.mark.parametrize("cut", CUTS)
def test_real_pages_joined_into_one_document(cut):
    pages = _real_pages(limit=6)
    text = "\n".join(pages + pages[:8])  # repeated lines across pieces
    pieces = assert_pieces_equal_whole(text, *cut)
    assert pieces > 3


@pytest.mark.parametrize("cut", SMALL_CUTS)
def test_edge_cases_joined_in_random_order(cut):
    rng = random.Random(7)
    text = "\n".join(rng.choice(EDGE_CASES) for _ in range(200))
    assert assert_pieces_equal_whole(text, *cut) > 3


@pytest.mark.parametrize("text", [
    "\n".join("ab" if i % 2 else "c" for i in range(20_000)),  # the bench's short lines
    "a\n" * 5_000,  # ends with an empty line
    "\n" * 3_000,  # only empty lines: no distinct non-empty line
    ("A plain sentence of prose that goes on. " * 4 + "\n") * 800,  # long repeated lines
    " x ...\n...\n.. \n\t•\n" * 900,  # dots and bullets at every piece's edges
])  # fmt: skip
def test_pathological_shapes(text):
    assert assert_pieces_equal_whole(text, 256, 4_000, 15) > 3


def test_one_piece_is_the_whole_document():
    text = "\n".join(_real_pages(limit=3))
    assert assert_pieces_equal_whole(text, 10**9, 10**9, 15) == 1


def test_line_pieces_cover_the_text_in_whole_lines():
    rng = random.Random(3)
    for _ in range(200):
        text = "".join(rng.choice(["a", "bb ", "\n", "c" * 12]) for _ in range(rng.randint(0, 80)))
        max_lines, max_chars = rng.randint(1, 6), rng.randint(1, 30)
        spans = list(line_pieces(text, max_lines, max_chars))
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        assert "\n".join(text[a:b] for a, b in spans) == text
        for a, b in spans:
            piece = text[a:b]
            assert piece.count("\n") < max_lines
            assert len(piece) <= max_chars or "\n" not in piece  # over budget: one line
