"""Metrics on hand-made cases, checked to the exact value."""

from __future__ import annotations

import pytest

from prox_tasks.training.evaluate import evaluate_programs
from prox_tasks.training.metrics import (
    chunk_failures,
    doc_decision,
    doc_metrics,
    failure_rate,
    line_metrics,
    removed_lines,
)


def test_doc_decision_first_call_decides_and_garbage_is_invalid():
    assert doc_decision("keep_doc()") == "keep"
    assert doc_decision("drop_doc()\nkeep_doc()") == "drop"
    assert doc_decision("keep_doc(") == "invalid"
    assert doc_decision("") == "invalid"
    assert doc_decision("remove_lines(1, 2)") == "invalid"  # a chunk call at document level


def test_doc_metrics_exact():
    predicted = ["keep_doc()", "drop_doc()", "keep_doc()", "garbage"]
    reference = ["keep_doc()", "keep_doc()", "drop_doc()", "keep_doc()"]
    m = doc_metrics(predicted, reference)
    # keep class: tp 1, predicted 2, reference 3
    assert m["doc_precision"] == pytest.approx(1 / 2)
    assert m["doc_recall"] == pytest.approx(1 / 3)
    assert m["doc_f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    # drop class: tp 0, predicted 1, reference 1
    assert (m["doc_drop_precision"], m["doc_drop_recall"], m["doc_drop_f1"]) == (0.0, 0.0, 0.0)
    assert m["doc_accuracy"] == pytest.approx(1 / 4)


def test_doc_metrics_length_mismatch():
    with pytest.raises(ValueError):
        doc_metrics(["keep_doc()"], [])


def test_removed_lines_ranges_clipped():
    program = "# chunk 0-9\nremove_lines(line_start=1, line_end=3)\nremove_lines(8, 20)\nkeep_chunk()"
    assert removed_lines(program, 10) == {1, 2, 3, 8, 9}
    assert removed_lines("keep_chunk()", 10) == set()
    assert removed_lines('normalize(source_str="a")', 10) == set()


def test_line_metrics_micro_average_exact():
    predicted = [{0, 1, 2}, set(), {3}]
    reference = [{1, 5, 6}, set(), set()]
    m = line_metrics(predicted, reference)
    # tp 1, predicted 4, reference 3
    assert m["line_precision"] == pytest.approx(1 / 4)
    assert m["line_recall"] == pytest.approx(1 / 3)
    assert m["line_f1"] == pytest.approx(2 / 7)


def test_line_metrics_nothing_removed_anywhere_is_perfect():
    assert line_metrics([set(), set()], [set(), set()])["line_f1"] == 1.0


def test_chunk_failures_per_scope():
    assert chunk_failures("# chunk 0-4\nremove_lines(1, 2)\n# chunk 5-9\nfoo(\n") == (1, 2)
    assert chunk_failures("# chunk 0-4\n# chunk 5-9\nkeep_chunk()") == (1, 2)
    assert chunk_failures("keep_chunk()") == (0, 1)
    assert chunk_failures("") == (1, 1)
    assert failure_rate(["keep_chunk()", "# chunk 0-1\nkeep_chunk()\n# chunk 2-3\nx"], "chunk") == (
        pytest.approx(1 / 3)
    )
    assert failure_rate(["keep_doc()", "drop_doc()", "kep_doc()", None], "doc") == 0.5


def test_evaluate_programs_against_teacher_and_gold():
    body = "one two three four five six seven eight nine ten eleven twelve"
    doc = {"text": "menu home\n" + body, "doc_program": "keep_doc()",
           "chunk_program": "remove_lines(0, 0)", "gold_text": body}  # fmt: skip
    m = evaluate_programs([doc], ["keep_doc()"], ["# chunk 0-1\nremove_lines(line_start=0, line_end=0)"])
    assert m["line_f1"] == 1.0 and m["doc_f1"] == 1.0
    assert m["word_precision"] == m["word_recall"] == m["word_f1"] == 1.0
    assert m["teacher_word_f1"] == 1.0
    # keeping everything: 14 words, 12 of them gold
    assert m["keep_all_word_precision"] == pytest.approx(12 / 14)
    assert m["keep_all_word_f1"] == pytest.approx(12 / 13)
    assert m["chunk_failure_rate"] == 0.0 and m["gold_docs"] == 1
