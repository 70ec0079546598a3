"""Line alignment of the document viewer: kept, removed and normalized lines."""

from prox_tasks.programs import execute
from prox_tasks.report.documents import align_lines

TEXT = ("Menu | Login\nThe cat sat on the mat for a long while, as cats do.\nCookie banner\n"
        "It was (c) 2024 happy there and would not move at all.\nShare this")


def _statuses(view):
    return [(line.number, line.status) for line in view]


def test_removed_and_normalized_lines_from_a_real_program():
    out = execute(TEXT, "keep_doc()", 'remove_lines(line_start=0, line_end=0)\n'
                  'remove_lines(line_start=2, line_end=2)\n'
                  'normalize(source_str="(c) 2024 ", target_str="")').text
    view = align_lines(TEXT, out)
    assert _statuses(view) == [(0, "removed"), (1, "kept"), (2, "removed"),
                               (3, "normalized"), (4, "kept")]
    normalized = view[3]
    assert "".join(t for t, changed in normalized.before if changed).strip() == "(c) 2024"
    assert "".join(t for t, _ in normalized.after) == \
        "It was happy there and would not move at all."


def test_dropped_document_shows_every_line_removed():
    view = align_lines(TEXT, None)
    assert {line.status for line in view} == {"removed"} and len(view) == 5


def test_unchanged_document_and_a_normalization_adding_a_line():
    assert {line.status for line in align_lines(TEXT, TEXT)} == {"kept"}
    view = align_lines("a b\nc d", "a\nb\nc d")  # a normalization wrote a newline
    assert [line.status for line in view] == ["normalized", "normalized", "kept"]
    assert all(line.number in (0, 1) for line in view)
