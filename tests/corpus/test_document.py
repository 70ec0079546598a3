"""has_lone_surrogate: the encode check (texts up to a size) and the search (larger ones)
agree with the definition on every kind of text."""

import re

import pytest

from prox_tasks.corpus import document
from prox_tasks.corpus.document import escape_surrogates, has_lone_surrogate

TEXTS = ["", "plain ascii", "café ’quotes’ 東京 😀", "a\ud800b", "\udfff", "x" * 50 + "\udc00",
         "pair 😀 and lone \ud83d end", "\ud83d\ude00 as two escapes"]  # fmt: skip


def definition(text: str) -> bool:
    return re.search("[\ud800-\udfff]", text) is not None


@pytest.mark.parametrize("limit", [1 << 20, 0])  # 0: every non-ASCII text searched
def test_lone_surrogates_found_by_either_path(monkeypatch, limit):
    monkeypatch.setattr(document, "_ENCODE_CHECK_CHARS", limit)
    for text in TEXTS:
        assert has_lone_surrogate(text) is definition(text), repr(text)
    assert escape_surrogates("a\ud800b") == "a\\ud800b"
    assert escape_surrogates("café") == "café"
