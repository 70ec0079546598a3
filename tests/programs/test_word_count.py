"""Word counts: exactly ``len(text.split())`` whatever the text (Unicode whitespace, lone
surrogates, long texts counted in pieces), and the executor's ``words_in``/``words_out``."""

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prox_tasks.programs import execute, quote
from prox_tasks.programs.stats import SHORT_TEXT, WHITESPACE, count_words

stats_module = sys.modules["prox_tasks.programs.stats"]

# every whitespace str.split() knows, words in several scripts, lone surrogates, astral
ALPHABET = list(WHITESPACE) + ["a", "b", "é", "日", "😀", "\ud800", "\udfff", "-", "\x00"]
TEXTS = st.lists(st.sampled_from(ALPHABET), max_size=3 * SHORT_TEXT).map("".join)


def test_whitespace_is_what_str_split_splits_on():
    assert [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()] == list(WHITESPACE)
    for c in WHITESPACE:
        assert ("a" + c + "b").split() == ["a", "b"]


@given(TEXTS)
def test_count_words_is_len_of_split(text):
    assert count_words(text) == len(text.split())
    assert type(count_words(text)) is int


@given(TEXTS, st.integers(1, 40))
def test_count_words_in_pieces(text, piece):
    # a long text is counted WORD_SCAN characters at a time: cut pieces inside words,
    # inside runs of whitespace and right after both
    original = stats_module.WORD_SCAN
    stats_module.WORD_SCAN = piece
    try:
        assert count_words(text) == len(text.split())
    finally:
        stats_module.WORD_SCAN = original


@given(TEXTS, st.integers(0, 50))
def test_count_words_at_most(text, at_most):
    assert count_words(text, at_most) == min(len(text.split()), at_most)


LINES = st.lists(TEXTS.map(lambda t: t.replace("\n", "")), max_size=12).map("\n".join)
CALLS = st.one_of(
    st.tuples(st.integers(0, 12), st.integers(0, 12)).map(
        lambda r: f"remove_lines({min(r)}, {max(r)})"),
    st.tuples(st.sampled_from(ALPHABET), st.sampled_from(["", "x", " y "])).map(
        lambda s: f"normalize({quote(s[0] * 2)}, {quote(s[1])})"),
    st.just("keep_chunk()"),
)


@pytest.mark.parametrize("doc_program", [None, "keep_doc()", "drop_doc()"])
@given(text=LINES, calls=st.lists(CALLS, max_size=5))
def test_execution_word_counts(doc_program, text, calls):
    result = execute(text, doc_program, "\n".join(calls), min_kept_words=0)
    stats = result.stats.to_dict()
    assert stats["words_in"] == len(text.split())
    assert stats["words_out"] == (len(result.text.split()) if result.text is not None else 0)
    assert type(stats["words_in"]) is int and type(stats["words_out"]) is int


def test_isspace_tells_blank_texts_as_strip_does():
    # blank checks use isspace() (no copy of the text) where strip() was used
    assert all((not c.strip()) == c.isspace() for c in map(chr, range(sys.maxunicode + 1)))
    assert all((not bytes([b]).strip()) == bytes([b]).isspace() for b in range(256))
