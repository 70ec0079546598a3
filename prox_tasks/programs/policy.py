"""The executor's policy: how programs are run, and the caps on what one program may cost."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from prox_tasks.programs.program import MAX_PROGRAM_CALLS, MAX_PROGRAM_CHARS

# Normalizations may always add this many characters, however short the document.
MIN_NORMALIZE_GROWTH = 100


@dataclass(frozen=True)
class Policy:
    """Executor policy; defaults are the ProX paper's values (caps: prox's own).

    Attributes:
        normalize_scope: ``"chunk"`` applies a normalization only within the lines of the
            chunk whose program wrote it; ``"document"`` replaces everywhere (the paper).
        min_kept_words: Drop the document when edits leave this many words or fewer.
        min_kept_word_fraction: Drop the document when edits leave at most this fraction
            of its words.
        max_program_errors: Ignore a chunk program (one scope) with this many errors or more.
        max_repeated_calls: An identical call repeated more often is ``degenerate`` output.
        on_doc_program_error: ``"keep"`` or ``"drop"`` a document whose document-level
            program has errors and no valid call.
        drop_emptied_lines: Remove lines that normalization leaves blank.
        max_program_chars: A program source longer than this is not run (``over_limit``).
        max_program_calls: Nor one with more call lines, well-formed or not.
        max_normalize_growth: Normalizations together may lengthen the document by at most
            this fraction of its characters (and always by :data:`MIN_NORMALIZE_GROWTH`); a
            normalization that would pass the cap is not run (``over_limit``).
        max_normalize_reads: Normalizations together may read at most this many times the
            document's characters (each one reads its range); the rest are not run
            (``over_limit``). Bounds the time of many normalizations over a long document.
    """

    normalize_scope: Literal["chunk", "document"] = "chunk"
    min_kept_words: int = 10
    min_kept_word_fraction: float = 0.05
    max_program_errors: int = 2
    max_repeated_calls: int = 3
    on_doc_program_error: Literal["keep", "drop"] = "keep"
    drop_emptied_lines: bool = True
    max_program_chars: int = MAX_PROGRAM_CHARS
    max_program_calls: int = MAX_PROGRAM_CALLS
    max_normalize_growth: float = 0.1
    max_normalize_reads: float = 256.0

    @classmethod
    def from_kwargs(cls, **kwargs) -> Policy:
        unknown = set(kwargs) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown executor policy fields: {sorted(unknown)}")
        return cls(**kwargs)

    def growth_allowance(self, chars_in: int) -> int:
        """Characters normalizations may add to a document of ``chars_in`` characters."""
        return growth_allowance(chars_in, self.max_normalize_growth)


def growth_allowance(chars_in: int, max_normalize_growth: float) -> int:
    """Characters normalizations may add to a document of ``chars_in`` characters under a
    :attr:`Policy.max_normalize_growth` share (the executor's cap; the gate checks it)."""
    return max(int(chars_in * max_normalize_growth), MIN_NORMALIZE_GROWTH)
