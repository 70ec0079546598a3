"""Hostile model output: valid programs mutated at random, and the shapes a model stuck in a
loop writes. Whatever a program holds, the parser answers a Program, the executor keeps its
contract (output made of the input and the program's replacements, bounded in length and
time, every problem counted) and refine's counts are the executor's.

Examples per property: tests/conftest.py's Hypothesis profile (derandomized: the same
examples on every run)."""

import gc
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prox_tasks.corpus import Document, write_refined_shard
from prox_tasks.inference.base import new_usage
from prox_tasks.programs import ErrorKind, Normalize, execute, parse
from prox_tasks.quality.documents import ShardDocuments
from prox_tasks.refine import refine_batch

DOCUMENTED = {str(k) for k in ErrorKind} - {"internal"}

VALID_CALLS = [
    "remove_lines(1, 3)",
    "remove_lines(line_start=0, line_end=2)",
    'normalize("a", "b")',
    "normalize('\\n', ' ')",
    'normalize(source_str="x y", target_str="")',
    "keep_chunk()",
    "# chunk 0-4",
    "# chunk 2-",
    "keep_doc()",
    "drop_doc()",
]
# What a model's garbage is made of: the language's own tokens out of place, quotes and
# escapes cut short, huge and negative numbers, Python that must never run, NUL, Unicode that
# reads as something else (combining marks, RTL override, non-ASCII digits and spaces,
# surrogates, astral characters).
PIECES = [
    "(", ")", '"', "'", "\\", "\n", "\r\n", "\x00", ",", "=", "#", "```", "-1", "+5", "0x10",
    "99999999999999999999", "9" * 5000, "__import__('os').system('true')", ".__class__",
    "\u0301", "\u202e", "\ud800", "\U0001f600", "\\ud83d\\ude00", "\\ud800", "\\x", "\\u12",
    "\\U0011ffff", "remove_lines", "normalize", " ", "\t", "\u0661", "\xa0", "line_start=",
    "True", "None", "keep_doc()", "\n# chunk 3-1\n",
]  # fmt: skip
TEXT_PIECES = ["a", "b", " ", "\n", "x y", "\u0301", "\u202e", "\u05e9", "\U0001f600", "\t",
               "\x00", ".*", "\r\n", "word"]  # fmt: skip

texts = st.lists(st.sampled_from(TEXT_PIECES), max_size=120).map("".join)
# one edit: (what, where, how far, what to insert)
edits = st.tuples(st.sampled_from(["insert", "delete", "repeat", "append"]),
                  st.integers(0, 10**6), st.integers(0, 40), st.sampled_from(PIECES))  # fmt: skip


def mutated(call: str, changes: list[tuple[str, int, int, str]]) -> str:
    for what, at, span, piece in changes:
        i = at % (len(call) + 1)
        j = min(len(call), i + span)
        if what == "insert":
            call = call[:i] + piece + call[i:]
        elif what == "delete":
            call = call[:i] + call[j:]
        elif what == "repeat":
            call = call[:i] + call[i:j] * 3 + call[j:]
        else:
            call = call + "\n" + piece
    return call


# replacements written with escapes: surrogates (a pair, lone ones), NUL, combining marks
ESCAPES = ["\\ud800", "\\udc00", "\\ud83d\\ude00", "\\x00", "\\u0301", "\\n", "b", "\\"]
escaped_normalizations = st.tuples(
    st.sampled_from(["a", "x y", "\\n"]),
    st.lists(st.sampled_from(ESCAPES), max_size=4).map("".join),
)
valid_calls = st.one_of(
    st.sampled_from(VALID_CALLS),
    escaped_normalizations.map(lambda c: f'normalize("{c[0]}", "{c[1]}")'),
)
mutated_programs = st.lists(
    st.tuples(valid_calls, st.lists(edits, max_size=5)).map(lambda c: mutated(*c)),
    max_size=10,
).map("\n".join)
policies = st.fixed_dictionaries({
    "normalize_scope": st.sampled_from(["chunk", "document"]),
    "max_program_errors": st.integers(1, 4),
    "min_kept_words": st.sampled_from([10, -1]),  # -1: short texts are kept, their output checked
})  # fmt: skip


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def check_contract(text: str, doc_program, chunk_program, policy: dict) -> None:
    """The executor's contract on any program (see the module docstring)."""
    result = execute(text, doc_program, chunk_program, **policy)
    stats = result.stats
    assert set(stats.errors) <= DOCUMENTED, stats.error_messages
    assert result.dropped == (result.text is None)
    # every error the parser finds in a program that ran is counted, none lost
    ran = [(doc_program, "doc")]
    if stats.drop_reason not in ("doc_program", "empty"):
        ran.append((chunk_program, "chunk"))
    found = sum(len(parse(p, level).errors) for p, level in ran if p is not None)
    assert stats.error_count >= found, stats.error_messages
    if result.text is None:
        return
    assert len(result.text) <= len(text) + max(len(text) // 10, 100)
    assert stats.chars_out == len(result.text)
    calls = parse(chunk_program, "chunk").calls if chunk_program else ()
    targets = [c.target_str for c in calls if isinstance(c, Normalize)]
    if not targets:  # removals only: the input's lines, in order
        assert is_subsequence(result.text.split("\n"), text.split("\n"))
    else:  # no character that is in neither the input nor a replacement
        assert set(result.text) <= set(text) | set("".join(targets)) | {"\n"}
    result.text.encode("utf-8")  # nothing a shard cannot hold that the input did not have


@given(texts, mutated_programs, policies)
def test_mutated_programs_keep_the_executor_contract(text, program, policy):
    for level in ("doc", "chunk", None):
        parse(program, level)  # a Program, whatever the source
    check_contract(text, program, None, policy)
    check_contract(text, None, program, policy)
    check_contract(text, program, program, policy)


@settings(max_examples=8)
@given(texts, mutated_programs, st.sampled_from(["\n", "\x00", "keep_chunk()\n", " "]))
def test_programs_near_the_size_cap_are_refused_or_run_never_raised(text, program, filler):
    # 1 MiB of program: a line short of the cap is parsed, a character past it refused whole
    cap = 1 << 20
    head = (program + "\n")[: cap // 2]
    at_cap = head + filler * ((cap - len(head)) // len(filler))
    for source in (at_cap, at_cap + filler * 2):
        result = execute(text, None, source)
        assert "internal" not in result.stats.errors
        if len(source) > cap:
            assert result.stats.errors == {"over_limit": 1} or not text.strip()


def test_python_in_a_program_is_never_run(tmp_path):
    canary = tmp_path / "ran"
    injections = [
        f"__import__('os').system('touch {canary}')",
        f"normalize(__import__('pathlib').Path('{canary}').touch(), 'x')",
        f"remove_lines(line_start=open('{canary}', 'w'), line_end=1)",
        "normalize.__globals__['__builtins__']",
        f"keep_doc(); exec(\"open('{canary}', 'w')\")",
        f'normalize("a", "b"); eval("open(\'{canary}\', \'w\')")',
    ]
    for program in injections:
        for level in ("doc", "chunk"):
            parsed = parse(program, level)
            assert parsed.calls == () and parsed.errors, program
        result = execute(
            "one two three four five six seven eight nine ten eleven", program, program
        )
        assert result.text is not None and result.stats.error_count >= 2
    assert not canary.exists()


# Shapes a model stuck in a loop writes over a long document: (document, program) at size n.
LOOPS = {
    "normalize matching every word": lambda n: ("a " * n, 'normalize("a", "b")'),
    "normalize across every line": lambda n: ("w x\n" * n, 'normalize("\\n", " ")'),
    "normalize across line pairs": lambda n: ("a\na\n" * n, 'normalize("a\\na", "x")'),
    "merge then 400 normalizations": lambda n: (
        "x\n" * n, "\n".join(['normalize("x\\n", "y")'] + [f'normalize("q{i}", "z")' for i in range(400)])),
    "400 normalizations, each per line": lambda n: (
        "x\n" * n, "\n".join(f'normalize("q{i}", "z")' for i in range(400))),
    "a chunk scope and a normalization per line": lambda n: (
        "w x\n" * n, "\n".join(f"# chunk {i}-{i}\nnormalize(\"w\", \"v\")" for i in range(n // 4))),
    "overlapping huge removals": lambda n: (
        "w x\n" * n, "\n".join(f"remove_lines({i}, {10**17 + i})" for i in range(n // 8))),
}  # fmt: skip


def _execute_seconds(text: str, program: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        result = execute(text, None, program)
        best = min(best, time.process_time() - start)
    assert "internal" not in result.stats.errors
    return best


@pytest.mark.parametrize("shape", sorted(LOOPS))
def test_execution_time_is_linear_on_looping_programs(shape):
    # a ratio of CPU times at two sizes, not a time limit: 8x the document (and the program
    # where it grows with it) takes ~8x the time when execution is linear and 64x when it is
    # quadratic; bench/executor.py prints the figures at 1 MiB
    make = LOOPS[shape]
    small, large = 8_000, 64_000
    gc.disable()
    try:
        _execute_seconds(*make(small))  # warm-up
        ratio = _execute_seconds(*make(large)) / max(_execute_seconds(*make(small)), 5e-4)
    finally:
        gc.enable()
    assert ratio < 40, f"{shape}: 8x the document took {ratio:.0f}x the time"


class ScriptedModel:
    """Stands in for the model: answers the hostile programs under test, so that refine's
    counts can be checked against the executor's (a real model's garbage is random)."""

    version = "scripted"

    def __init__(self, doc_programs: list[str], chunk_programs: list[str]) -> None:
        self.doc_programs, self.chunk_programs = doc_programs, chunk_programs
        self.texts: list[str] = []
        self.usage = new_usage()

    def predict_doc(self, texts: list[str]) -> list[str]:
        self.texts = list(texts)
        return list(self.doc_programs)

    def predict_chunks(self, texts: list[str]) -> list[str]:
        by_text = dict(zip(self.texts, self.chunk_programs))
        return [by_text[t] for t in texts]


@settings(max_examples=30)
@given(st.lists(st.tuples(texts, mutated_programs, mutated_programs), min_size=1, max_size=6,
                unique_by=lambda d: d[0]))  # fmt: skip
def test_refine_counts_the_program_failures_the_executor_counted(tmp_path_factory, docs):
    documents = [Document(f"d{i}", t, "file:///in.jsonl", i) for i, (t, _, _) in enumerate(docs)]
    model = ScriptedModel([d for _, d, _ in docs], [c for _, _, c in docs])
    rows, stats = refine_batch(model, documents)
    executed = [execute(t, d, c if not execute(t, d).dropped else None) for t, d, c in docs]
    # the refine summary's counts are the executor's, document by document
    assert [r["stats"]["errors"] for r in rows] == [dict(e.stats.errors) for e in executed]
    with_errors = sum(bool(e.stats.errors) for e in executed)
    assert stats.docs_with_failures == with_errors
    counted = sum(stats.failures["doc"].values()) + sum(stats.failures["chunk"].values())
    assert counted == sum(e.stats.error_count for e in executed)
    # ... and so are the shard's accounting and the snapshot metrics' failure rate
    accounting = write_refined_shard(str(tmp_path_factory.mktemp("out")), 0, rows,
                                     expected_docs=len(rows), manifest_id="m")  # fmt: skip
    assert accounting.docs_with_program_errors == with_errors
    assert sum(accounting.program_errors.values()) == counted
    shard = ShardDocuments()
    for row in rows:
        shard.add(row, 0.1)
    assert shard.with_program_errors == with_errors
    assert [r["id"] for r in rows] == [d.id for d in documents]  # none lost, none twice
