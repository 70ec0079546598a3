"""Model-input renderings: what the refining models read.

Document level: the raw text truncated to a token budget (2,000 by default), inside the
model's chat template with :data:`SYSTEM_PROMPT` (see :func:`doc_messages`).

Chunk level: lines prefixed ``[000]``, ``[001]``, ... (zero-padded to at least 3 digits, no
space, numbering continues across chunks), cut on line boundaries into chunks of at most a
token budget (1,500 by default), each wrapped as ``[doc]\\n...\\n[/doc]``. The budget covers
the wrapper and the numbered lines, each line counted on its own.

A single line longer than the budget is truncated inside the rendering to fit it (the model
sees its head), starting a new chunk; its number is unchanged, so a program can still remove
it whole. :attr:`Chunk.truncated_lines` lists such lines.

Tokens are counted by the tokenizer passed in: anything with ``count(text)`` and
``truncate(text, n)``, a Hugging Face tokenizer (wrapped by :func:`as_token_counter`), or
``None`` for a whitespace counter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

SYSTEM_PROMPT = "You are a helpful, respectful and honest assistant."
DOC_TOKEN_BUDGET = 2000
CHUNK_TOKEN_BUDGET = 1500
CHUNK_OPEN, CHUNK_CLOSE = "[doc]", "[/doc]"

_WORD = re.compile(r"\S+")


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str: ...


class WhitespaceTokenizer:
    """Counts whitespace-separated words; the default when no tokenizer is given."""

    def count(self, text: str) -> int:
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        if max_tokens <= 0:
            return ""
        for i, m in enumerate(_WORD.finditer(text)):
            if i == max_tokens - 1:
                return text[: m.end()]
        return text


class HFTokenCounter:
    """Adapts a Hugging Face tokenizer (no special tokens counted).

    Whole documents are tokenized to be cut to a budget: ``verbose=False`` keeps the
    tokenizer from warning, once per run, that a text longer than its ``model_max_length``
    "will result in indexing errors" — it never reaches the model whole.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False, verbose=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                             verbose=False)
        offsets = enc["offset_mapping"]
        if len(offsets) <= max_tokens:
            return text
        return text[: offsets[max_tokens - 1][1]] if max_tokens > 0 else ""


def as_token_counter(tokenizer) -> TokenCounter:
    """Return a :class:`TokenCounter` for ``tokenizer`` (None: whitespace words)."""
    if tokenizer is None:
        return WhitespaceTokenizer()
    if hasattr(tokenizer, "count") and hasattr(tokenizer, "truncate"):
        return tokenizer
    if hasattr(tokenizer, "encode"):
        return HFTokenCounter(tokenizer)
    raise TypeError(f"not a tokenizer: {type(tokenizer).__name__}")


def render_doc(text: str, tokenizer=None, max_tokens: int = DOC_TOKEN_BUDGET) -> str:
    """The document-level model input text: ``text`` truncated to ``max_tokens`` tokens."""
    return as_token_counter(tokenizer).truncate(text, max_tokens)


def doc_messages(text: str, tokenizer=None, max_tokens: int = DOC_TOKEN_BUDGET) -> list[dict]:
    """Chat messages for the document-level model (apply the model's chat template to them)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": render_doc(text, tokenizer, max_tokens)},
    ]


def line_prefix(number: int) -> str:
    """The ``[NNN]`` prefix of line ``number`` (at least 3 digits)."""
    return f"[{number:03d}]"


@dataclass(frozen=True)
class Chunk:
    """One chunk-level model input.

    Attributes:
        index: Position of the chunk in the document.
        first_line: Global number of its first line.
        last_line: Global number of its last line (inclusive).
        prompt: The rendered input, ``[doc]\\n[NNN]line...\\n[/doc]``.
        tokens: Its size as counted by the tokenizer used.
        truncated_lines: Lines shown truncated because alone they exceed the budget.
    """

    index: int
    first_line: int
    last_line: int
    prompt: str
    tokens: int
    truncated_lines: tuple[int, ...] = field(default=())


def pack_lines(costs: list[int], budget: int) -> list[tuple[int, int]]:
    """(first, last) line of each chunk: lines in order, a chunk closed before the line that
    would take it over ``budget`` (a line costing more than ``budget`` alone fills one)."""
    spans: list[tuple[int, int]] = []
    used, first = 0, 0
    for number, cost in enumerate(costs):
        if number > first and used + cost > budget:
            spans.append((first, number - 1))
            used, first = 0, number
        used += cost
    if costs:
        spans.append((first, len(costs) - 1))
    return spans


def _budget(counter: TokenCounter, max_tokens: int) -> tuple[int, int]:
    wrapper = counter.count(CHUNK_OPEN + "\n") + counter.count("\n" + CHUNK_CLOSE)
    return max(1, max_tokens - wrapper), wrapper


def chunk_spans(text: str, max_tokens: int = CHUNK_TOKEN_BUDGET,
                line_tokens=None) -> list[tuple[int, int]]:
    """(first, last) line of each chunk :func:`render_chunks` cuts ``text`` into with the
    whitespace counter, without rendering them.

    Args:
        text: The document.
        max_tokens: Token budget per chunk, wrapper included.
        line_tokens: Whitespace tokens of each rendered line ``[NNN]line`` when already
            known: the line's words, plus one (the prefix alone) when the line is empty or
            starts with whitespace. None: counted here.
    """
    if not text or text.isspace():
        return []
    budget, _ = _budget(WhitespaceTokenizer(), max_tokens)
    if line_tokens is None:
        line_tokens = [len(line.split()) + (not line[:1] or line[0].isspace())
                       for line in text.split("\n")]  # fmt: skip
    # a line over the budget is truncated to it
    return _pack_capped(np.minimum(np.asarray(line_tokens), budget), budget)


def _pack_capped(costs: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """:func:`pack_lines` of costs of at most ``budget`` each, one search per chunk instead
    of a step per line: a chunk is the longest run of lines whose costs fit the budget."""
    totals = np.cumsum(costs, dtype=np.int64)
    spans: list[tuple[int, int]] = []
    first, used = 0, 0
    while first < len(costs):
        last = int(np.searchsorted(totals, used + budget, side="right")) - 1
        spans.append((first, last))
        first, used = last + 1, int(totals[last])
    return spans


def render_chunks(
    text: str, tokenizer=None, max_tokens: int = CHUNK_TOKEN_BUDGET
) -> list[Chunk]:
    """Cut a document into numbered chunks of at most ``max_tokens`` tokens.

    Args:
        text: The document; lines are split on ``"\\n"`` exactly as the executor splits them.
        tokenizer: Token counter (see module docs); ``None`` counts whitespace words.
        max_tokens: Token budget per chunk, wrapper included.

    Returns:
        The chunks in order; an empty list for a blank document.
    """
    if not text or text.isspace():
        return []
    counter = as_token_counter(tokenizer)
    budget, wrapper = _budget(counter, max_tokens)
    rendered, costs, truncated = [], [], []
    for number, line in enumerate(text.split("\n")):
        shown = line_prefix(number) + line
        cost = counter.count(shown + "\n")
        if cost > budget:
            shown = counter.truncate(shown, budget)
            cost = counter.count(shown + "\n")
            truncated.append(number)
        rendered.append(shown)
        costs.append(cost)
    chunks: list[Chunk] = []
    for first, last in pack_lines(costs, budget):
        body = "\n".join(rendered[first : last + 1])
        chunks.append(Chunk(len(chunks), first, last, CHUNK_OPEN + "\n" + body + "\n" + CHUNK_CLOSE,
                            sum(costs[first : last + 1]) + wrapper,
                            tuple(n for n in truncated if first <= n <= last)))  # fmt: skip
    return chunks
