from prox_tasks.labeling.emit import line_ranges, write_chunk_program
from prox_tasks.programs import execute, parse


def test_line_ranges_merges_runs():
    assert line_ranges([7, 1, 2, 3, 3]) == [(1, 3), (7, 7)]
    assert line_ranges([]) == []


def test_chunked_program_scopes_calls_to_their_chunks():
    text = "\n".join(f"line {i} " + "word " * 30 for i in range(10))
    program = write_chunk_program(text, [0, 1, 8], [(5, "line 5", "")], max_tokens=100)
    parsed = parse(program)
    assert not parsed.errors
    assert program.count("# chunk") >= 3  # ~32 words a line, 100-token chunks
    result = execute(text, "keep_doc()", program)
    lines = result.text.split("\n")
    assert len(lines) == 7
    assert not any(ln.startswith(("line 0 ", "line 1 ", "line 8 ")) for ln in lines)
    assert lines[3].startswith(" word")  # "line 5" normalized away, only there


def test_untouched_chunks_get_keep_chunk_and_blank_text_is_valid():
    assert write_chunk_program("a\nb", [], chunked=False) == "keep_chunk()"
    assert write_chunk_program("", []) == "keep_chunk()"
    assert "keep_chunk()" in write_chunk_program("a\nb", [])
