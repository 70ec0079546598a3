"""The ``diff`` teacher: the minimal deletion program from a (raw, clean) pair.

The clean text is a human's (WCXB's ``gold_text``) or a large model's end-to-end rewrite. The
two are aligned word by word (:class:`difflib.SequenceMatcher` over normalized words; above
``max_sequence_words`` words, where its quadratic time would hang a worker, by shared word
n-grams in linear time: :func:`ngram_matches`); a raw line is kept when enough of its words align with the clean text, else removed, and an
unaligned run of words at the start, end or middle of a kept line becomes a ``normalize``
that deletes exactly that raw substring. Only deletions are written, so the program never
invents text: whatever the clean version added or reworded is simply not reproduced (the
RefineX idea).
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

from prox_tasks.labeling.base import Label, Teacher
from prox_tasks.labeling.emit import DROP_DOC, KEEP_DOC, write_chunk_program
from prox_tasks.programs.render import CHUNK_TOKEN_BUDGET

VERSION = "diff-1"
_WORD = re.compile(r"\w+")
MAX_SEQUENCE_WORDS = 25_000  # the largest WCXB page has 20,742 words (0.05 s to align)
NGRAM = 4


def _norm(token: str) -> str:
    return unicodedata.normalize("NFKC", token).lower()


def sequence_matches(a: list[int], b: list[int]) -> list[bool]:
    """Which of ``a`` align with ``b`` (:class:`difflib.SequenceMatcher`, quadratic time on
    repetitive text)."""
    matched = [False] * len(a)
    for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.a, block.a + block.size):
            matched[k] = True
    return matched


def ngram_matches(lines: list[list[int]], b: list[int], n: int = NGRAM) -> list[bool]:
    """Which words of ``lines`` (a line's words each) occur in ``b``, in linear time: a word is
    matched when a run of ``n`` consecutive words of its line holding it (the whole line when
    it is shorter) occurs in ``b``. Order and repeats across the page are not checked: a
    repeated run is matched each time it occurs, as long as ``b`` holds it once."""
    lengths = {min(n, len(line)) for line in lines if line}
    grams = {k: {tuple(b[i : i + k]) for i in range(len(b) - k + 1)} for k in lengths}
    matched: list[bool] = []
    for line in lines:
        k = min(n, len(line))
        flags = [False] * len(line)
        for i in range(len(line) - k + 1 if line else 0):
            if tuple(line[i : i + k]) in grams[k]:
                flags[i : i + k] = [True] * k
        matched.extend(flags)
    return matched


class DiffTeacher(Teacher):
    """Derive programs from the clean version of each document.

    Args:
        keep_threshold: Keep a line when at least this share of its words align.
        min_fragment_words: Delete an unaligned run inside a kept line (``normalize``) when
            it has at least this many words.
        normalize_fragments: Write ``normalize`` calls for partial lines at all.
        chunked: Write per-chunk programs with ``# chunk A-B`` markers.
        max_chunk_tokens: Chunk budget for the markers (whitespace words).
        max_sequence_words: Align with :class:`difflib.SequenceMatcher` up to this many words
            on either side; above it, by shared word n-grams in linear time
            (:func:`ngram_matches`; the label's ``meta["aligner"]`` is then ``"ngram"``).
    """

    name = "diff"
    reads = "gold"

    def __init__(
        self,
        keep_threshold: float = 0.5,
        min_fragment_words: int = 2,
        normalize_fragments: bool = True,
        chunked: bool = True,
        max_chunk_tokens: int = CHUNK_TOKEN_BUDGET,
        max_sequence_words: int = MAX_SEQUENCE_WORDS,
    ) -> None:
        self.max_sequence_words = max_sequence_words
        self.keep_threshold = keep_threshold
        self.min_fragment_words = min_fragment_words
        self.normalize_fragments = normalize_fragments
        self.chunked = chunked
        self.max_chunk_tokens = max_chunk_tokens

    def describe(self) -> dict:
        return {
            "name": self.name, "version": VERSION, "keep_threshold": self.keep_threshold,
            "min_fragment_words": self.min_fragment_words, "chunked": self.chunked,
            "max_sequence_words": self.max_sequence_words,
        }  # fmt: skip

    def label(self, text: str, gold: str | None = None) -> Label:
        """Label ``text`` so that executing the programs approximates ``gold``.

        Raises:
            ValueError: When ``gold`` is ``None`` (this teacher needs a clean version).
        """
        if gold is None:
            raise ValueError("the diff teacher needs the clean text (gold) of every document")
        text = text if isinstance(text, str) else str(text or "")
        lines = text.split("\n")
        spans = [[(m.start(), m.end()) for m in _WORD.finditer(line)] for line in lines]
        raw_tokens, owner = [], []
        for i, (line, line_spans) in enumerate(zip(lines, spans)):
            for a, b in line_spans:
                raw_tokens.append(_norm(line[a:b]))
                owner.append(i)
        gold_tokens = [_norm(t) for t in _WORD.findall(gold)]
        matched = [False] * len(raw_tokens)
        linear = max(len(raw_tokens), len(gold_tokens)) > self.max_sequence_words
        if raw_tokens and gold_tokens:
            vocab: dict[str, int] = {}
            a = [vocab.setdefault(t, len(vocab)) for t in raw_tokens]
            b = [vocab.setdefault(t, len(vocab)) for t in gold_tokens]
            if linear:
                per_line, pos = [], 0
                for line_spans in spans:
                    per_line.append(a[pos : pos + len(line_spans)])
                    pos += len(line_spans)
                matched = ngram_matches(per_line, b)
            else:
                matched = sequence_matches(a, b)
        removed, normalizations, pos = [], [], 0
        for i, (line, line_spans) in enumerate(zip(lines, spans)):
            flags = matched[pos : pos + len(line_spans)]
            pos += len(line_spans)
            if not line.strip():
                continue
            if not flags or sum(flags) < self.keep_threshold * len(flags):
                removed.append(i)
            elif self.normalize_fragments and not all(flags):
                normalizations.extend(self._fragments(i, line, line_spans, flags))
        kept_words = sum(matched)
        normalizations = self._unique(lines, removed, normalizations)
        meta = {
            "teacher": self.name, "version": VERSION, "lines": len(lines),
            "lines_removed": len(removed), "normalizations": len(normalizations),
            "words_aligned": kept_words, "words_gold": len(gold_tokens),
        }  # fmt: skip
        if linear:  # absent: SequenceMatcher, as every label before the bound had
            meta.update(aligner="ngram", ngram=NGRAM)
        doc_program = KEEP_DOC if kept_words and gold.strip() else DROP_DOC
        chunk_program = write_chunk_program(
            text, removed, normalizations, chunked=self.chunked, max_tokens=self.max_chunk_tokens
        )
        return Label(doc_program, chunk_program, meta)

    def _fragments(self, i, line, spans, flags) -> list[tuple[int, str, str]]:
        """Unaligned runs of a kept line as exact raw substrings to delete."""
        out = []
        k = 0
        while k < len(flags):
            if flags[k]:
                k += 1
                continue
            j = k
            while j < len(flags) and not flags[j]:
                j += 1
            if j - k >= self.min_fragment_words:
                start = spans[k][0] if k > 0 else 0
                end = spans[j][0] if j < len(flags) else len(line)
                if j == len(flags):  # a tail: take the space before it too
                    while start > 0 and line[start - 1].isspace():
                        start -= 1
                source = line[start:end]
                if source.strip():
                    out.append((i, source, ""))
            k = j
        return out

    @staticmethod
    def _unique(lines, removed, normalizations) -> list[tuple[int, str, str]]:
        """Keep only fragments that occur once among kept lines (a normalize replaces all)."""
        gone = set(removed)
        kept_lines = [ln for n, ln in enumerate(lines) if n not in gone]
        out = []
        for i, source, target in normalizations:
            if sum(ln.count(source) for ln in kept_lines) == 1:
                out.append((i, source, target))
        return out
