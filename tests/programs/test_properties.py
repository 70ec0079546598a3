"""Property tests: no input makes the parser or the executor raise, and the executor never
invents a line."""

from hypothesis import given
from hypothesis import strategies as st

from prox_tasks.programs import ErrorKind, Normalize, Program, execute, parse, quote

# Examples per property: tests/conftest.py's Hypothesis profile (300; PROX_FUZZ_EXAMPLES=20000
# turns it into a longer fuzz run with fresh random examples)

lines = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
texts = st.lists(lines, max_size=30).map("\n".join)
small_int = st.integers(min_value=0, max_value=40)
strings = st.text(max_size=12)

call_lines = st.one_of(
    st.tuples(small_int, small_int).map(lambda r: f"remove_lines({min(r)}, {max(r)})"),
    st.tuples(small_int, small_int).map(lambda r: f"remove_lines(line_start={r[0]}, line_end={r[1]})"),
    st.tuples(strings, strings).map(lambda s: f"normalize({quote(s[0])}, {quote(s[1])})"),
    st.tuples(strings).map(lambda s: f"normalize(source_str={quote(s[0])})"),
    st.sampled_from(["keep_chunk()", "skip_chunk()", "keep_doc()", "drop_doc()", "# c"]),
    st.tuples(small_int, small_int).map(lambda r: f"# chunk {min(r)}-{max(r)}"),
    st.text(max_size=30),  # garbage
)
big_int = st.one_of(st.integers(min_value=10**17, max_value=10**40),
                    st.integers(min_value=1, max_value=6000).map(lambda n: int("9" * n) if n < 4000 else n))
hostile_lines = st.one_of(
    call_lines,
    st.tuples(small_int, big_int).map(lambda r: f"remove_lines({r[0]}, {r[1]})"),
    st.tuples(big_int, st.booleans()).map(lambda r: f"remove_lines(-{r[0]}, 1)" if r[1] else f"keep_doc({r[0]})"),
    st.integers(1, 6000).map(lambda n: "remove_lines(" + "7" * n + ", " + "8" * n + ")"),
    st.integers(1, 6000).map(lambda n: "# chunk " + "5" * n + "-" + "6" * (n % 7)),
    st.tuples(strings, st.integers(0, 400)).map(lambda r: f"normalize({quote(r[0] or 'x')}, {quote((r[0] or 'y') * r[1])})"),
    st.integers(0, 3000).map(lambda n: "remove_lines(1, 2" + " " * n + "x"),
    st.integers(0, 300).map(lambda n: "(" * n + ")" * (n // 2)),
)
# Every kind an execution may report: the documented ones. ``internal`` (a bug) is not one.
DOCUMENTED = {str(k) for k in ErrorKind} - {"internal"}
programs = st.lists(call_lines, max_size=12).map("\n".join)
policies = st.fixed_dictionaries({
    "normalize_scope": st.sampled_from(["chunk", "document"]),
    "max_program_errors": st.integers(1, 4),
})  # fmt: skip


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


@given(st.text(), st.text())
def test_arbitrary_strings_never_raise(program_text, text):
    parse(program_text)
    parse(program_text, level="chunk")
    result = execute(text, program_text, program_text)
    assert result.dropped == (result.text is None)
    assert set(result.stats.errors) <= DOCUMENTED, result.stats.error_messages


@given(texts, st.lists(hostile_lines, max_size=12).map("\n".join), policies)
def test_hostile_programs_get_documented_error_kinds_and_bounded_output(text, program, policy):
    for doc_program, chunk_program in ((program, None), (None, program)):
        result = execute(text, doc_program, chunk_program, **policy)
        assert set(result.stats.errors) <= DOCUMENTED, result.stats.error_messages
        if result.text is not None:  # the default growth allowance: 10%, at least 100
            assert len(result.text) <= len(text) + max(len(text) // 10, 100)


@given(texts, programs, policies)
def test_output_lines_come_from_the_normalized_input(text, program_text, policy):
    result = execute(text, None, program_text, **policy)
    if result.dropped:
        return
    out_lines = result.text.split("\n")
    program = parse(program_text, level="chunk")
    if not any(isinstance(c, Normalize) for c in program.calls):
        assert is_subsequence(out_lines, text.split("\n"))
        return
    # the normalized input: the same program's normalizations alone, nothing removed
    only_normalize = Program(
        tuple(c for c in program.calls if isinstance(c, Normalize)),
        program.errors,
        tuple(s for c, s in zip(program.calls, program.scopes) if isinstance(c, Normalize)),
        program.scope_table,
    )
    # degenerate-repeat errors depend on the removal calls too, so compare only when the
    # normalize-only run keeps the same scopes
    normalized = execute(text, None, only_normalize, min_kept_words=-1,
                         min_kept_word_fraction=-1, **policy)  # fmt: skip
    if normalized.stats.scopes_ignored != result.stats.scopes_ignored:
        return
    normalized_lines = "\n".join(x for x in [normalized.text] if x is not None).split("\n")
    assert is_subsequence(out_lines, normalized_lines)


@given(st.lists(call_lines, max_size=12).map("\n".join), st.sampled_from([None, "chunk", "doc"]))
def test_fast_paths_parse_like_the_line_by_line_parser(program_text, level):
    # a comment line no fast path accepts sends the same program through the general parser
    assert parse(program_text, level) == parse(program_text + "\n# general", level)


@given(st.lists(call_lines, max_size=10).map("\n".join))
def test_canonical_text_round_trips(program_text):
    program = parse(program_text)
    assert parse(program.to_text()).calls == program.calls
    assert Program.from_json(program.to_json()) == program
