import re

import pytest

from prox_tasks.inference.grammar import (
    DOC_PROGRAM_REGEX,
    chunk_program_regex,
    number_range_regex,
)
from prox_tasks.programs import RemoveLines, parse


@pytest.mark.parametrize("lo,hi", [(0, 0), (0, 9), (3, 17), (7, 123), (95, 1001), (120, 129),
                                   (998, 1003), (10, 99), (1, 1000)])
def test_number_range_matches_exactly_the_range(lo, hi):
    pattern = re.compile(number_range_regex(lo, hi))
    for x in range(0, 1100):
        assert (pattern.fullmatch(str(x)) is not None) == (lo <= x <= hi), x
    assert pattern.fullmatch("07") is None  # no leading zeros


def test_number_range_rejects_bad_ranges():
    with pytest.raises(ValueError):
        number_range_regex(5, 4)


def test_doc_regex_is_the_document_level_language():
    pattern = re.compile(DOC_PROGRAM_REGEX)
    for good in ("keep_doc()", "drop_doc()"):
        assert pattern.fullmatch(good) and not parse(good, "doc").errors
    for bad in ("keep_doc", "keep_chunk()", "drop_doc()\ndrop_doc()", ""):
        assert pattern.fullmatch(bad) is None


def test_chunk_regex_accepts_programs_that_parse_cleanly_inside_the_chunk():
    pattern = re.compile(chunk_program_regex(10, 20, max_calls=4))
    good = [
        "keep_chunk()",
        "remove_lines(line_start=10, line_end=12)",
        "remove_lines(11, 20)\nskip_chunk()\nremove_lines(11, line_end=12)",
        'normalize("a", "b")\nnormalize("a", target_str="")',
        'normalize(source_str="a \\"quoted\\" b", target_str="")',
        'remove_lines(line_start=15, line_end=15)\nnormalize(source_str="x")',
    ]
    for program in good:
        assert pattern.fullmatch(program), program
        parsed = parse(program, "chunk")
        assert not parsed.errors, program
        for call in parsed.calls:
            if isinstance(call, RemoveLines):
                assert 10 <= call.line_start and call.line_end <= 20
    bad = [
        "remove_lines(line_start=9, line_end=12)",  # outside the chunk
        "remove_lines(line_start=10, line_end=21)",
        "drop_doc()",  # wrong level
        "keep_chunk()\n" * 4 + "keep_chunk()",  # more than max_calls
        "remove_lines(line_start=010, line_end=12)",
        "remove_lines(line_start=11, 12)",  # positional after keyword
        'normalize(source_str="")',
        "garbage",
    ]
    for program in bad:
        assert pattern.fullmatch(program) is None, program
