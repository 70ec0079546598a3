"""Training targets: a teacher's document program cut into the programs of a model's chunks.

The seed set stores each document's chunk program with global line numbers (joined with
``# chunk A-B`` markers for the teacher's chunking). A model with another chunk budget
needs the program of each of *its* chunks: the removed lines inside the chunk (as ranges)
and the normalizations whose source string occurs in the chunk, or ``keep_chunk()``.
"""

from __future__ import annotations

from prox_tasks.labeling.emit import chunk_calls
from prox_tasks.programs import Chunk, Normalize, parse
from prox_tasks.training.metrics import removed_lines


def chunk_targets(text: str, chunk_program: str | None, chunks: list[Chunk]) -> list[str]:
    """One program per chunk in ``chunks`` realising ``chunk_program`` on ``text``."""
    lines = text.split("\n")
    parsed = parse(chunk_program, level="chunk")
    removed = removed_lines(parsed, len(lines))
    normalizations = []
    for call in parsed.calls:
        if isinstance(call, Normalize):
            at = next((i for i, line in enumerate(lines) if call.source_str in line), None)
            if at is not None:
                normalizations.append((at, call.source_str, call.target_str))
    out = []
    for chunk in chunks:
        calls = chunk_calls(removed, normalizations, chunk.first_line, chunk.last_line)
        out.append("\n".join(calls) or "keep_chunk()")
    return out
