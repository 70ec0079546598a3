"""Removal-only programs run on the text's layout (slices per run of kept lines, word counts
from one pass): the same result, statistics included, as the line-by-line path."""

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prox_tasks.programs import Policy, execute
from prox_tasks.programs.layout import TextLayout
from prox_tasks.programs.stats import WHITESPACE

executor = sys.modules["prox_tasks.programs.executor"]

ALPHABET = [*WHITESPACE, "a", "bc", "é", "日", "😀", "\ud800", "\n", "\n"]
TEXTS = st.lists(st.sampled_from(ALPHABET), max_size=200).map("".join)
SMALL = st.integers(0, 30)
CALLS = st.one_of(
    st.tuples(SMALL, SMALL).map(lambda r: f"remove_lines({min(r)}, {max(r)})"),
    st.tuples(SMALL, SMALL).map(lambda r: f"# chunk {min(r)}-{max(r)}"),
    st.just("keep_chunk()"),
    st.just("remove_lines(5, 2)"),
)
POLICIES = st.builds(Policy, min_kept_words=st.integers(0, 12),
                     min_kept_word_fraction=st.sampled_from([0.0, 0.05, 0.5, 0.99, 1.0]))


def _line_by_line(text, program, policy):
    limit = executor.MAX_LAYOUT_CHARS
    executor.MAX_LAYOUT_CHARS = -1
    try:
        return execute(text, "keep_doc()", program, policy=policy)
    finally:
        executor.MAX_LAYOUT_CHARS = limit


@given(TEXTS, st.lists(CALLS, max_size=8).map("\n".join), POLICIES)
def test_removals_on_the_layout_equal_the_line_path(text, program, policy):
    fast = execute(text, "keep_doc()", program, policy=policy)
    slow = _line_by_line(text, program, policy)
    assert (fast.text, fast.dropped) == (slow.text, slow.dropped)
    assert fast.stats.to_dict() == slow.stats.to_dict()
    assert fast.stats.words_out == (len(fast.text.split()) if fast.text is not None else 0)


@given(TEXTS)
def test_layout_lines_and_words(text):
    layout = TextLayout(text)
    lines = text.split("\n")
    assert layout.lines == len(lines) and layout.words == len(text.split())
    for i, line in enumerate(lines):
        [(start, end)] = layout.spans([(i, i)])
        assert text[start:end] == line
        assert layout.words_in_runs([(i, i)]) == len(line.split())
    assert layout.words_in_runs([(0, len(lines) - 1)]) == len(text.split())


@pytest.mark.parametrize("program", ["remove_lines(1, 2)", "remove_lines(0, 9)\nremove_lines(0, 0)"])
def test_a_text_past_the_layout_limit_runs_line_by_line(monkeypatch, program):
    text = "\n".join(f"line {i} with five words" for i in range(10))
    expected = execute(text, None, program)
    monkeypatch.setattr(executor, "MAX_LAYOUT_CHARS", 10)
    result = execute(text, None, program)
    assert (result.text, result.stats.to_dict()) == (expected.text, expected.stats.to_dict())


@given(TEXTS, st.lists(st.tuples(SMALL, SMALL).map(sorted), max_size=6))
def test_words_in_runs_sum_each_run_s_words(text, runs):
    layout = TextLayout(text)
    lines = text.split("\n")
    disjoint, prev = [], 0
    for first, last in sorted(runs):
        first, last = max(first, prev), min(last, len(lines) - 1)
        if first <= last:
            disjoint.append((first, last))
            prev = last + 1
    expected = sum(len("\n".join(lines[a : b + 1]).split()) for a, b in disjoint)
    assert layout.words_in_runs(disjoint) == expected
    assert [text[start:end] for start, end in layout.spans(disjoint)] == \
        ["\n".join(lines[a : b + 1]) for a, b in disjoint]  # fmt: skip


def test_word_counts_left_for_later_survive_pickling():
    """Statistics cross process boundaries (workers): the deferred count goes with them."""
    import pickle

    text = "\n".join(f"line {i} with five words" for i in range(10))
    stats = pickle.loads(pickle.dumps(execute(text, None, "remove_lines(1, 2)").stats))
    assert (stats.words_in, stats.words_out) == (50, 40)
