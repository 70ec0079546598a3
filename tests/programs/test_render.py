import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from prox_tasks.programs import (
    SYSTEM_PROMPT,
    WhitespaceTokenizer,
    doc_messages,
    render_chunks,
    render_doc,
)
from prox_tasks.programs.render import _pack_capped, chunk_spans, pack_lines


def test_doc_rendering_truncates_to_budget_and_keeps_layout():
    text = "one two\nthree four five\nsix"
    assert render_doc(text, max_tokens=4) == "one two\nthree four"
    assert render_doc(text, max_tokens=100) == text
    messages = doc_messages(text, max_tokens=2)
    assert messages == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "one two"},
    ]
    assert SYSTEM_PROMPT == "You are a helpful, respectful and honest assistant."


def test_chunks_are_numbered_wrapped_and_continue_numbering():
    text = "\n".join(f"w{i} x y" for i in range(7))
    chunks = render_chunks(text, max_tokens=9)  # wrapper 2 tokens, 3 tokens a line -> 2 lines
    assert [(c.first_line, c.last_line) for c in chunks] == [(0, 1), (2, 3), (4, 5), (6, 6)]
    assert chunks[1].prompt == "[doc]\n[002]w2 x y\n[003]w3 x y\n[/doc]"
    assert all(c.tokens <= 9 for c in chunks)
    covered = [n for c in chunks for n in range(c.first_line, c.last_line + 1)]
    assert covered == list(range(7))


def test_numbering_is_zero_padded_to_three_digits_and_grows():
    text = "\n".join("x" for _ in range(1001))
    chunks = render_chunks(text, max_tokens=100000)
    assert chunks[0].prompt.startswith("[doc]\n[000]x\n[001]x")
    assert chunks[0].prompt.endswith("[999]x\n[1000]x\n[/doc]")


def test_line_longer_than_budget_is_truncated_in_its_own_chunk_start():
    text = "short line\n" + " ".join(f"w{i}" for i in range(50)) + "\nafter"
    chunks = render_chunks(text, max_tokens=10)
    long_chunk = next(c for c in chunks if 1 in c.truncated_lines)
    assert long_chunk.first_line == 1
    assert long_chunk.tokens <= 10
    assert "[001]w0 w1" in long_chunk.prompt
    assert "w49" not in long_chunk.prompt
    assert chunks[-1].last_line == 2  # numbering unaffected by truncation


def test_empty_lines_are_numbered_and_blank_document_has_no_chunk():
    assert render_chunks("") == []
    assert render_chunks("  \n \n") == []
    chunks = render_chunks("a\n\nb")
    assert chunks[0].prompt == "[doc]\n[000]a\n[001]\n[002]b\n[/doc]"


class CharTokenizer:
    """A tokenizer passed in: one token per character."""

    def count(self, text):
        return len(text)

    def truncate(self, text, n):
        return text[:n]


def test_tokenizer_passed_in_is_used():
    text = "abcdef\nghijkl\nmn"
    chunks = render_chunks(text, tokenizer=CharTokenizer(), max_tokens=40)
    assert all(c.tokens <= 40 for c in chunks)
    assert len(chunks) == 2
    assert render_doc(text, tokenizer=CharTokenizer(), max_tokens=3) == "abc"
    assert WhitespaceTokenizer().count("a b\nc") == 3


def test_hugging_face_tokenizer_is_adapted():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate("abcdefghij[]0123456789/\n ")}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    assert render_doc("abcdefghij", tokenizer=hf, max_tokens=4) == "abcd"
    # one token per character: wrapper "[doc]\n" + "\n[/doc]" = 13, a line "[000]abc\n" = 9
    spans = lambda budget: [(c.first_line, c.last_line, c.tokens)  # noqa: E731
                            for c in render_chunks("abc\ndef\nghi", tokenizer=hf, max_tokens=budget)]
    assert spans(30) == [(0, 0, 22), (1, 1, 22), (2, 2, 22)]
    assert spans(31) == [(0, 1, 31), (2, 2, 22)]
    assert spans(40) == [(0, 2, 40)]
    (long_line,) = render_chunks("abcdefghij", tokenizer=hf, max_tokens=20)
    assert long_line.prompt == "[doc]\n[000]ab\n[/doc]" and long_line.truncated_lines == (0,)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet=" \t\u3000ab", max_size=30), max_size=12),
       st.integers(min_value=1, max_value=12))
def test_chunk_spans_are_the_rendered_chunks_lines(lines, max_tokens):
    """Spans (counted here, or from the tokens the caller already knows) equal the lines
    of the chunks render_chunks cuts, long lines and lines starting with spaces included."""
    text = "\n".join(lines)
    expected = [(c.first_line, c.last_line) for c in render_chunks(text, max_tokens=max_tokens)]
    assert chunk_spans(text, max_tokens) == expected
    known = [len(f"[{i:03d}]{line}".split()) for i, line in enumerate(text.split("\n"))]
    assert chunk_spans(text, max_tokens, known) == expected
    assert chunk_spans(text, max_tokens, np.array(known, np.int32)) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9), max_size=40),
       st.integers(min_value=1, max_value=9))
def test_packing_by_search_equals_packing_line_by_line(costs, budget):
    capped = [min(budget, c) for c in costs]
    assert _pack_capped(np.array(capped, np.int64), budget) == pack_lines(capped, budget)
