"""Turn a teacher's decisions (removed lines, normalizations) into program text.

Teachers decide per line; the refining model reads chunks (:func:`render_chunks`), so the
program is written per chunk and joined with ``# chunk A-B`` markers. Each chunk's program
holds only the calls on its own lines, which is what a chunk-level model can learn to write.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from prox_tasks.programs import Normalize, RemoveLines, join_chunk_programs, render_chunks
from prox_tasks.programs.render import CHUNK_TOKEN_BUDGET, chunk_spans

KEEP_DOC, DROP_DOC = "keep_doc()", "drop_doc()"


def line_ranges(lines: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted line numbers as maximal inclusive ranges: ``[1,2,3,7] -> [(1,3),(7,7)]``."""
    ranges: list[list[int]] = []
    for n in sorted(set(lines)):
        if ranges and n == ranges[-1][1] + 1:
            ranges[-1][1] = n
        else:
            ranges.append([n, n])
    return [(a, b) for a, b in ranges]


def chunk_calls(
    removed: Iterable[int], normalizations: Iterable[tuple[int, str, str]], first: int, last: int
) -> list[str]:
    """The calls of one chunk ``first..last``: normalizations then removals, by line.

    A normalization applies to every line of its chunk, so the same fragment found on
    several lines is written once (repeated identical calls count as degenerate output).
    """
    calls = _normalize_calls(normalizations, first, last)
    in_chunk = [n for n in removed if first <= n <= last]
    calls.extend(RemoveLines(a, b).to_text() for a, b in line_ranges(in_chunk))
    return calls


def _normalize_calls(normalizations, first: int, last: int) -> list[str]:
    return list(
        dict.fromkeys(
            Normalize(src, dst).to_text()
            for line, src, dst in sorted(normalizations, key=lambda n: n[0])
            if first <= line <= last
        )
    )


def _runs(removed: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct line numbers as maximal inclusive ranges (:func:`line_ranges`)."""
    if len(removed) < 256:  # a step per line costs less than numpy's calls here
        runs: list[list[int]] = []
        for n in removed.tolist():
            if runs and n == runs[-1][1] + 1:
                runs[-1][1] = n
            else:
                runs.append([n, n])
        return [(a, b) for a, b in runs]
    breaks = np.flatnonzero(np.diff(removed) != 1)
    starts = removed[np.concatenate(([0], breaks + 1))].tolist()
    ends = removed[np.concatenate((breaks, [len(removed) - 1]))].tolist()
    return list(zip(starts, ends, strict=True))


def write_chunk_program(
    text: str,
    removed: Iterable[int],
    normalizations: Iterable[tuple[int, str, str]] = (),
    chunked: bool = True,
    tokenizer=None,
    max_tokens: int = CHUNK_TOKEN_BUDGET,
    line_tokens=None,
) -> str:
    """The chunk-level program that removes ``removed`` lines and applies ``normalizations``.

    Args:
        text: The document.
        removed: Line numbers to remove.
        normalizations: ``(line, source_str, target_str)`` per stray fragment.
        chunked: Write per-chunk programs with scope markers (``False``: one program).
        tokenizer: Token counter for chunking (``None``: whitespace words).
        max_tokens: Chunk token budget.
        line_tokens: With the whitespace counter, each rendered line's tokens if already
            known (:func:`~prox_tasks.programs.render.chunk_spans`; a list or an array).

    Returns:
        Program text; a chunk with nothing to do gets ``keep_chunk()``.
    """
    # sorted line numbers as an array: no Python int per removed line of a long document
    # (the tagger's are sorted already: no sorted copy of them)
    if not isinstance(removed, np.ndarray):
        removed = np.fromiter(removed, np.int64)
    if not (removed[1:] > removed[:-1]).all():
        removed = np.unique(removed)
    normalizations = list(normalizations)
    if not chunked:
        n_lines = text.count("\n") + 1
        calls = chunk_calls(removed.tolist(), normalizations, 0, n_lines - 1)
        return "\n".join(calls) if calls else "keep_chunk()"
    parts = []
    if tokenizer is None:  # only the chunks' lines are needed, not their renderings
        spans = chunk_spans(text, max_tokens, line_tokens)
    else:
        spans = [(c.first_line, c.last_line)
                 for c in render_chunks(text, tokenizer=tokenizer, max_tokens=max_tokens)]
    # the removed lines' runs, found once for the document (numpy, no step per line); a
    # chunk's removals are the runs that meet it, clipped to it: what chunk_calls writes
    runs = _runs(removed)
    at = 0
    for first, last in spans:
        calls = _normalize_calls(normalizations, first, last) if normalizations else []
        while at < len(runs) and runs[at][1] < first:
            at += 1
        i = at
        while i < len(runs) and runs[i][0] <= last:
            start, end = runs[i]
            calls.append(RemoveLines(max(start, first), min(end, last)).to_text())
            i += 1
        parts.append((first, last, "\n".join(calls) or "keep_chunk()"))
    if not parts:  # blank document: one empty scope-less program
        return "keep_chunk()"
    return join_chunk_programs(parts)
