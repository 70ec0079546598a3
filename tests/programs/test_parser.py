import gc
import time

import pytest

from prox_tasks.programs import (
    DropDoc,
    ErrorKind,
    KeepChunk,
    KeepDoc,
    Normalize,
    Program,
    RemoveLines,
    Scope,
    execute,
    join_chunk_programs,
    parse,
)


def kinds(program: Program) -> list[str]:
    return [str(e.kind) for e in program.errors]


@pytest.mark.parametrize(
    "source, call",
    [
        # the ProX paper's own examples
        ("remove_lines(line_start=0, line_end=5)", RemoveLines(0, 5)),
        ('normalize(source_str="http://example.com/a?b=c", target_str="")',
         Normalize("http://example.com/a?b=c", "")),
        ("normalize('ClickHere','')", Normalize("ClickHere", "")),
        ("remove_lines(108, 109)", RemoveLines(108, 109)),
        # positional, keyword, mixed, spacing, trailing comma
        ("remove_lines(3, line_end=4)", RemoveLines(3, 4)),
        ("remove_lines( line_end = 9 , line_start = 2 )", RemoveLines(2, 9)),
        ("remove_lines(1, 2,)", RemoveLines(1, 2)),
        ('normalize("x")', Normalize("x", "")),
        ('normalize(target_str="b", source_str="a")', Normalize("a", "b")),
        ("keep_doc()", KeepDoc()),
        ("drop_doc()", DropDoc()),
        ("keep_chunk()", KeepChunk()),
        ("skip_chunk()", KeepChunk()),
        ("untouch_doc()", KeepChunk()),
        ("  keep_doc( )  # a trailing comment", KeepDoc()),
    ],
)  # fmt: skip
def test_parses_calls(source, call):
    program = parse(source)
    assert program.errors == ()
    assert program.calls == (call,)


@pytest.mark.parametrize(
    "literal, value",
    [
        # strings that a comma-splitting parser gets wrong
        (r'"a, b"', "a, b"),
        (r'"f(x), g(y)"', "f(x), g(y)"),
        (r'"key=value, k2=v2"', "key=value, k2=v2"),
        (r'"she said \"hi\", then left"', 'she said "hi", then left'),
        (r"'it\'s, fine'", "it's, fine"),
        (r'"it\'s"', "it's"),
        (r"'say \"x\"'", 'say "x"'),
        (r'"line one\nline two"', "line one\nline two"),
        (r'"tab\there"', "tab\there"),
        (r'"back\\slash"', "back\\slash"),
        (r'"\u00e9t\u00e9 \x41"', "été A"),
        (r'"unknown \d escape"', "unknown \\d escape"),
        ('"ünïcödé ✓ 中文"', "ünïcödé ✓ 中文"),
        (r'"# not a comment"', "# not a comment"),
        (r'")"', ")"),
    ],
)  # fmt: skip
def test_strings_come_out_exact(literal, value):
    program = parse(f"normalize({literal}, 'T')")
    assert program.errors == (), program.errors
    assert program.calls == (Normalize(value, "T"),)
    program = parse(f"normalize(source_str='S', target_str={literal})")
    assert program.calls == (Normalize("S", value),)
    # the same literal on both sides decodes to equal strings, which the binder rejects
    program = parse(f"normalize(source_str={literal}, target_str={literal})")
    assert program.calls == ()
    assert [(e.kind, e.message) for e in program.errors] == [
        ("bad_arguments", "normalize() source_str equals target_str")
    ]


def test_comments_blank_lines_and_fences_are_ignored():
    source = "```python\n# remove the menu\n\nremove_lines(0, 2)\n   \n# done\n```"
    assert parse(source).calls == (RemoveLines(0, 2),)
    assert parse(source).errors == ()


def test_call_spanning_lines_while_parenthesis_open():
    program = parse('normalize(\n    source_str="a",\n    target_str="b",\n)\nkeep_chunk()')
    assert program.calls == (Normalize("a", "b"), KeepChunk())


@pytest.mark.parametrize(
    "source, call",
    [
        # a backslash ending a line inside a string: the newline is escaped and dropped,
        # as in Python ('line 1 \<newline> has' == 'line 1  has')
        ("normalize('line 1 \\\n has', 'X')", Normalize("line 1  has", "X")),
        ('normalize("a\\\nb\\\nc")', Normalize("abc", "")),
        ("normalize(\n  'a \\\nb',\n  'c',\n)", Normalize("a b", "c")),
        ("normalize('a\\\nb',\n'c')", Normalize("ab", "c")),
    ],
)  # fmt: skip
def test_string_spanning_lines_after_an_escaped_newline(source, call):
    program = parse(source + "\nkeep_chunk()", "chunk")
    assert program.errors == ()
    assert program.calls == (call, KeepChunk())
    # with CRLF line endings (a model fed Windows text) the same calls, no stray "\r": the
    # escaped CRLF was an "unterminated string" on each of its two lines
    program = parse((source + "\nkeep_chunk()").replace("\n", "\r\n"), "chunk")
    assert program.errors == ()
    assert program.calls == (call, KeepChunk())


def test_an_escaped_carriage_return_alone_stays_literal():
    # a CR not before a LF ends no line: an unknown escape, kept as written
    assert parse("normalize('a\\\rb')").calls == (Normalize("a\\\rb", ""),)


def test_unterminated_string_at_an_escaped_newline_is_one_error():
    for newline in ("\n", "\r\n"):
        program = parse(f"normalize('a \\{newline}b{newline}keep_chunk()", "chunk")
        assert kinds(program) == ["syntax"] and program.calls == (KeepChunk(),)


@pytest.mark.parametrize(
    "source, kind",
    [
        ("remove_lines(0, 5", ErrorKind.SYNTAX),
        ("remove_lines 0, 5", ErrorKind.SYNTAX),
        ('normalize("unterminated)', ErrorKind.SYNTAX),
        ("keep_doc(); drop_doc()", ErrorKind.SYNTAX),
        ("remove_lines(a+b, 3)", ErrorKind.SYNTAX),
        ("import os", ErrorKind.SYNTAX),
        ("__import__('os').system('x')", ErrorKind.UNKNOWN_FUNCTION),
        ("exec('print(1)')", ErrorKind.UNKNOWN_FUNCTION),
        ("delete_lines(0, 5)", ErrorKind.UNKNOWN_FUNCTION),
        ("remove_lines(5)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines(5, 2)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines(-1, 2)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines('1', 2)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines(1, 2, 3)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines(line_start=1, line_start=2)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines(1, line_start=2)", ErrorKind.BAD_ARGUMENTS),
        ("remove_lines(start=1, end=2)", ErrorKind.BAD_ARGUMENTS),
        ("normalize('')", ErrorKind.BAD_ARGUMENTS),
        ("normalize(1, 2)", ErrorKind.BAD_ARGUMENTS),
        ("normalize('a', 'a')", ErrorKind.BAD_ARGUMENTS),
        ("keep_doc(1)", ErrorKind.BAD_ARGUMENTS),
    ],
)  # fmt: skip
def test_errors_are_classified_not_raised(source, kind):
    program = parse(source)
    assert program.calls == ()
    assert kinds(program) == [str(kind)]
    assert program.errors[0].line == 0


def test_wrong_level_calls():
    assert kinds(parse("remove_lines(0, 1)", level="doc")) == ["wrong_level"]
    assert kinds(parse("drop_doc()", level="chunk")) == ["wrong_level"]
    assert parse("drop_doc()", level="doc").calls == (DropDoc(),)


def test_errors_keep_their_program_line():
    program = parse("remove_lines(0, 1)\nremove_lines(0,\nkeep_chunk()\nremove_lines(9, 8)")
    assert [(str(e.kind), e.line) for e in program.errors] == [
        ("syntax", 1),
        ("bad_arguments", 3),
    ]


def test_canonical_text_round_trip():
    source = (
        "remove_lines(108, 109)\n"
        "normalize('a, \"b\"\\n', target_str='c)')\n"
        "skip_chunk()\n"
        "keep_doc()"
    )
    program = parse(source)
    text = program.to_text()
    assert text == (
        "remove_lines(line_start=108, line_end=109)\n"
        'normalize(source_str="a, \\"b\\"\\n", target_str="c)")\n'
        "keep_chunk()\n"
        "keep_doc()"
    )
    assert parse(text) == program


def test_json_round_trip_with_scopes():
    joined = join_chunk_programs(
        [(0, 9, "remove_lines(0, 3)\nnormalize('x', 'y')"), (10, 19, "keep_chunk()")]
    )
    program = parse(joined)
    assert [s.first for s in program.scope_table] == [0, 0, 10]
    assert program.scopes == (1, 1, 2)
    again = Program.from_json(program.to_json())
    assert again == program
    assert parse(program.to_text()) == program


def test_empty_and_non_text_programs():
    assert parse(None) == Program()
    assert parse("") == Program()
    assert parse("# only a comment").calls == ()
    assert kinds(parse(42)) == ["syntax"]


def test_remove_only_fast_path_matches_line_by_line_parsing():
    source = "remove_lines(0, 5)\n  remove_lines(line_start=7, line_end=9)\nremove_lines(10,10)"
    fast = parse(source, level="chunk")
    slow = parse(source + "\n# force the line-by-line path", level="chunk")
    assert fast.calls == slow.calls and fast.errors == slow.errors == ()
    assert fast.scopes == slow.scopes
    assert parse("remove_lines(5, 1)\nremove_lines(0, 1)").errors[0].kind == "bad_arguments"
    assert parse("remove_lines(0, 1)", level="doc").errors[0].kind == "wrong_level"


@pytest.mark.parametrize(
    "source",
    [
        "# chunk 0-9\nremove_lines(0, 5)\n# chunk 10-19\nkeep_chunk()\n# chunk 20-\nskip_chunk()",
        "# chunk 0-9\nremove_lines(line_start=1, line_end=2)  \n# chunk 3-4\n# chunk 5-6\nuntouch_doc()",
        "keep_chunk()\nremove_lines(3,3)\n# chunk 2-1\nremove_lines(0, 0)",
        "# chunk 0-" + "9" * 19 + "\nremove_lines(0, 1)",  # too long for the fast path
        "# chunk 0-9\nremove_lines(4, 1)",  # an error: the line-by-line parser reports it
    ],
)  # fmt: skip
def test_chunked_fast_path_matches_line_by_line_parsing(source):
    fast = parse(source, level="chunk")
    slow = parse(source + "\n# force the line-by-line path", level="chunk")
    assert fast == slow
    assert fast.calls or fast.errors
    if not fast.errors:
        assert set(kinds(parse(source, level="doc"))) == {"wrong_level"}


@pytest.mark.parametrize(
    "source, kind",
    [
        ("remove_lines(" + "9" * 5000 + ", " + "9" * 5001 + ")", ErrorKind.OUT_OF_RANGE),
        ("remove_lines(line_start=0, line_end=" + "9" * 19 + ")", ErrorKind.OUT_OF_RANGE),
        ("remove_lines(0, -" + "9" * 5000 + ")", ErrorKind.BAD_ARGUMENTS),
        ("normalize(" + "7" * 5000 + ")", ErrorKind.BAD_ARGUMENTS),
        ("keep_doc(" + "7" * 5000 + ")", ErrorKind.BAD_ARGUMENTS),
    ],
)  # fmt: skip
def test_huge_integers_are_classified_not_converted(source, kind):
    program = parse(source)
    assert program.calls == ()
    assert kinds(program) == [str(kind)]


# Unicode spaces and digits that \s and \d match unless a pattern is ASCII-only
NON_ASCII_SPACES = ["\xa0", "\u2003", "\u3000", "\x85", "\u2028"]
NON_ASCII_DIGITS = ["\u0661", "\uff11", "\U0001d7e4", "\u096b"]  # Arabic-Indic, fullwidth, math, Devanagari


@pytest.mark.parametrize("space", NON_ASCII_SPACES)
@pytest.mark.parametrize(
    "shape",
    [
        "remove_lines(1,{}2)",  # the remove_lines fast path
        "remove_lines({}1, 2)",
        "remove_lines(line_start{}=1, line_end=2)",
        "keep_chunk({})",  # the no-argument fast path
        "{}keep_chunk()",
        "keep_chunk(){}",
        "normalize('a',{}'b')",  # the tokenizer
        "{}",
        "{}# a comment",
    ],
)  # fmt: skip
def test_non_ascii_whitespace_is_a_syntax_error_on_every_path(shape, space):
    program = parse(shape.format(space), "chunk")
    assert program.calls == () and kinds(program) == ["syntax"]
    # the same after a call that the chunked fast path would take
    program = parse("remove_lines(0, 1)\n" + shape.format(space), "chunk")
    assert program.calls == (RemoveLines(0, 1),) and kinds(program) == ["syntax"]
    # ASCII whitespace in its place is whitespace on every path
    assert parse(shape.format(" \t"), "chunk").errors == ()


@pytest.mark.parametrize("digit", NON_ASCII_DIGITS)
@pytest.mark.parametrize(
    "shape",
    ["remove_lines({}, 3)", "remove_lines(1, {})", "remove_lines(line_start=0, line_end={})",
     "remove_lines(0, 1{})", "remove_lines(0, 1,\n{})"],
)  # fmt: skip
def test_non_ascii_digits_are_never_line_numbers(shape, digit):
    # int("\u0661") is 1: read as a digit, such a call would remove lines nobody wrote
    program = parse(shape.format(digit), "chunk")
    assert program.calls == () and kinds(program) == ["syntax"]
    program = parse("remove_lines(0, 1)\n" + shape.format(digit), "chunk")
    assert program.calls == (RemoveLines(0, 1),) and kinds(program) == ["syntax"]


@pytest.mark.parametrize(
    "marker",
    [shape.format(digit) for digit in NON_ASCII_DIGITS
     for shape in ("# chunk {}-9", "# chunk 5-{}", "# chunk 5{}-9")]
    + [shape.format(space) for space in NON_ASCII_SPACES[:3]
       for shape in ("# chunk{}5-9", "# chunk 5{}-9", "# chunk 5-{}9")],
)  # fmt: skip
def test_a_chunk_marker_with_a_non_ascii_digit_or_space_is_a_syntax_error(marker):
    # it was taken for a comment: the chunk boundary was lost and the calls after it ran in
    # the chunk before (here 0-4), where they could remove or normalize the wrong lines
    source = "# chunk 0-4\nremove_lines(1, 2)\n" + marker + "\nremove_lines(6, 7)"
    program = parse(source, "chunk")
    assert kinds(program) == ["syntax"] and "chunk marker" in program.errors[0].message
    assert program.calls == (RemoveLines(1, 2), RemoveLines(6, 7))
    assert program.scopes == (1, 2) and program.errors[0].scope == 2
    assert program.scope_table[2].first > 10**17  # its calls run nowhere, as past a document


def test_a_comment_that_is_no_chunk_marker_stays_a_comment():
    for comment in ("# chunk of boilerplate", "# chunk 5 to 9", "# chunks \u0665-\u0669"):
        assert parse(f"{comment}\nremove_lines(1, 2)", "chunk") == parse("remove_lines(1, 2)")


def test_largest_line_number_still_parses():
    assert parse("remove_lines(0, " + "9" * 18 + ")").calls == (RemoveLines(0, 10**18 - 1),)


def test_huge_chunk_marker_is_a_scope_past_any_document():
    program = parse("# chunk " + "5" * 5000 + "-\nremove_lines(1, 2)\n# chunk 3-4\nkeep_chunk()")
    assert kinds(program) == ["out_of_range"]
    assert program.errors[0].scope == 1 and program.scopes == (1, 2)
    assert program.scope_table[1].first > 10**17
    assert program.scope_table[2] == Scope(3, 4)


def test_program_over_the_caps_is_refused_whole():
    source = "remove_lines(0, 1)\n" * 10
    assert parse(source, max_chars=len(source)).calls == (RemoveLines(0, 1),) * 10
    too_long = parse(source, max_chars=len(source) - 1)
    assert too_long.calls == () and kinds(too_long) == ["over_limit"]
    too_many = parse(source, max_calls=9)
    assert too_many.calls == () and kinds(too_many) == ["over_limit"]
    garbage = parse("x(\n" * 20, max_calls=9)  # malformed call lines count too
    assert kinds(garbage) == ["over_limit"]
    assert kinds(parse("x(\n" * 9, max_calls=9)) == ["unknown_function"] * 9
    assert len(parse("remove_lines(0, 1)\n" * 9 + "# c\n" * 50, max_calls=9).calls) == 9


# Inputs that made a regular expression or the call-continuation loop quadratic, and others
# of the same families: each built at two sizes, 16x apart.
PATHOLOGICAL = {
    "open call, then spaces": lambda n: "remove_lines(1, 2" + " " * n + "x",
    "scope marker, then spaces": lambda n: "# chunk 1-" + " " * n + "x",
    "scope marker, then Unicode spaces": lambda n: "# chunk 1-" + "\u3000" * n + "x",
    "scope marker, then Unicode digits": lambda n: "# chunk 1" + "\u0661" * n + "x",
    "keyword, then spaces": lambda n: "remove_lines(line_start" + " " * n + "=",
    "comma, then spaces": lambda n: "remove_lines(1," + " " * n,
    "digits": lambda n: "remove_lines(" + "1" * n + ", 2)",
    "open parentheses": lambda n: "(" * n,
    "continued call": lambda n: "remove_lines(\n" + "(\n" * (n // 2),
    "escaped newlines": lambda n: "normalize('" + "a\\\n" * (n // 3),
    "escaped CRLF newlines": lambda n: "normalize('" + "a\\\r\n" * (n // 4),
    "quotes": lambda n: "\"'" * (n // 2),
    "backslashes": lambda n: 'normalize("' + "\\" * n,
    "many arguments": lambda n: "f(" + "1," * (n // 2) + ")",
    "many open calls": lambda n: ("remove_lines(1, 2" + " " * 50 + "\n") * (n // 68),
    "garbage lines": lambda n: "x(\n" * (n // 3),
}


def _parse_seconds(source: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        parse(source, max_chars=len(source), max_calls=len(source))
        best = min(best, time.process_time() - start)
    return best


@pytest.mark.parametrize("shape", sorted(PATHOLOGICAL))
def test_parse_time_is_linear_on_pathological_programs(shape):
    # A ratio of CPU times of one shape at two sizes, not a time limit: 16x the input takes
    # about 16x the time when parsing is linear and 256x when it is quadratic (the bug this
    # guards: 128 KB of the first shape took 26 s). The bound leaves room for noise and
    # allocator effects; bench/executor.py prints the figures up to 1 MiB.
    small, large = 2 * 1024, 32 * 1024
    make = PATHOLOGICAL[shape]
    gc.disable()
    try:
        _parse_seconds(make(small))  # warm-up
        ratio = _parse_seconds(make(large)) / max(_parse_seconds(make(small)), 1e-6)
    finally:
        gc.enable()
    assert ratio < 80, f"{shape}: 16x the input took {ratio:.0f}x the time"


def test_a_surrogate_pair_escape_is_the_character_it_encodes():
    # a model writing an emoji the JSON way: one character, not two lone surrogates
    program = parse('normalize("\\ud83d\\ude00", "\\uD83D\\uDE03")', level="chunk")
    assert program.calls == (Normalize("\U0001f600", "\U0001f603"),)
    result = execute("I am happy \U0001f600 today, said the eleven words of this single line", None, program)
    assert result.text == "I am happy \U0001f603 today, said the eleven words of this single line"
    result.text.encode("utf-8")  # a shard can hold it


@pytest.mark.parametrize("target", ["\\ud800", "x\\udfffy", "\\ude00\\ud83d", "\\ud83d"])
def test_a_lone_surrogate_replacement_is_a_bad_argument_and_changes_nothing(target):
    program = parse(f'normalize("happy", "{target}")', level="chunk")
    assert program.calls == ()
    assert [e.kind for e in program.errors] == [ErrorKind.BAD_ARGUMENTS]
    assert "lone surrogate" in program.errors[0].message
    text = "I am happy today, said the seven words of this line"
    result = execute(text, None, f'normalize("happy", "{target}")')
    assert result.text == text
    assert result.stats.errors == {"bad_arguments": 1}


def test_lone_surrogates_in_a_source_string_round_trip_as_lone_surrogates():
    # quote() wrote each as \udXXX, which a high and a low one in a row now read as the one
    # character of the pair: the canonical text of the call said another call
    program = Program((Normalize("\ud83d\ude00 \udc00\ud800", "x"),), (), (0,))
    assert parse(program.to_text()).calls == program.calls
    assert Program.from_json(program.to_json()) == program
