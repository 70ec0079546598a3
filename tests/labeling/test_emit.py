import random

import numpy as np

from prox_tasks.labeling.emit import chunk_calls, line_ranges, write_chunk_program
from prox_tasks.programs import execute, join_chunk_programs, parse
from prox_tasks.programs.render import chunk_spans


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


def test_removed_lines_as_an_array_write_the_same_program():
    """The tagger passes numpy arrays (removed lines, tokens per line): the program is the
    one each chunk's calls over the whole list of removed lines give."""
    rng = random.Random(5)
    text = "\n".join(" ".join("w" * rng.randint(1, 4) for _ in range(rng.randint(0, 9)))
                     for _ in range(400))  # fmt: skip
    removed = [rng.randrange(400) for _ in range(250)]
    expected = join_chunk_programs([(a, b, "\n".join(chunk_calls(removed, [], a, b)) or "keep_chunk()")
                                    for a, b in chunk_spans(text, 60)])  # fmt: skip
    assert write_chunk_program(text, removed, max_tokens=60) == expected
    assert write_chunk_program(text, np.array(removed), max_tokens=60) == expected
    assert write_chunk_program(text, np.unique(removed), max_tokens=60) == expected  # as sorted
    assert write_chunk_program(text, np.array(removed, np.int32), max_tokens=60,
                               line_tokens=np.array([len(f"[{i:03d}]{line}".split())
                                                     for i, line in enumerate(text.split("\n"))]))\
        == expected  # fmt: skip
    assert write_chunk_program(text, iter(removed), chunked=False) == "\n".join(
        chunk_calls(removed, [], 0, 399))


def test_runs_clipped_to_chunks_are_what_chunk_calls_writes():
    """Removals come from the document's runs of removed lines clipped to each chunk (runs
    crossing chunk boundaries, past the end, normalizations beside them): the same program
    as each chunk's calls over its own removed lines."""
    rng = random.Random(17)
    for _ in range(200):
        n = rng.randint(1, 120)
        text = "\n".join(" ".join("w" * rng.randint(1, 3) for _ in range(rng.randint(0, 12)))
                         for _ in range(n))  # fmt: skip
        removed = [rng.randrange(n + 3) for _ in range(rng.randint(0, 2 * n))]
        norms = [(rng.randrange(n), rng.choice(["ww", "w w"]), rng.choice(["", "x"]))
                 for _ in range(rng.randint(0, 3))]  # fmt: skip
        budget = rng.randint(8, 80)
        spans = chunk_spans(text, budget)
        expected = join_chunk_programs([
            (a, b, "\n".join(chunk_calls(removed, norms, a, b)) or "keep_chunk()")
            for a, b in spans]) if spans else "keep_chunk()"  # fmt: skip
        assert write_chunk_program(text, removed, norms, max_tokens=budget) == expected
        assert write_chunk_program(text, np.unique(removed), norms, max_tokens=budget) == expected


def test_runs_of_short_and_long_lists_of_removed_lines():
    from prox_tasks.labeling.emit import _runs

    rng = random.Random(3)
    for size in (0, 1, 2, 255, 256, 257, 3000):
        removed = np.unique([rng.randrange(2 * size + 1) for _ in range(size)]).astype(np.int64)
        assert _runs(removed) == line_ranges(removed.tolist())
