"""Validation of a teacher's label before it enters a seed set.

Every program must parse without error, execute without error, and make sense as a pair;
degenerate outputs (empty programs, everything removed from a kept document, calls repeated
over and over) are rejected with their reasons, never silently kept or dropped.
"""

from __future__ import annotations

from prox_tasks.labeling.base import Label
from prox_tasks.programs import DropDoc, KeepDoc, execute, parse


def validate_label(text: str, label: Label) -> list[str]:
    """Reasons to reject ``label`` for ``text``; an empty list means it is valid."""
    reasons = list(label.meta.get("errors", [])) if isinstance(label.meta, dict) else []
    if not isinstance(label.doc_program, str) or not isinstance(label.chunk_program, str):
        return reasons + ["missing_program"]
    if not label.doc_program.strip():
        return sorted(set(reasons + ["doc_program:empty"]))
    doc = parse(label.doc_program, level="doc")
    reasons += [f"doc_program:{e.kind}" for e in doc.errors]
    if not doc.errors and (len(doc.calls) != 1 or not isinstance(doc.calls[0], KeepDoc | DropDoc)):
        reasons.append("doc_program:not_one_keep_or_drop")
    chunk = parse(label.chunk_program, level="chunk")
    reasons += [f"chunk_program:{e.kind}" for e in chunk.errors]
    if not chunk.calls and not chunk.errors:
        reasons.append("chunk_program:empty")
    if reasons:
        return sorted(set(reasons))
    result = execute(text, label.doc_program, label.chunk_program)
    reasons += [f"execution:{kind}" for kind in result.stats.errors]
    if isinstance(doc.calls[0], KeepDoc) and result.dropped:
        reasons.append(f"kept_document_emptied:{result.stats.drop_reason}")
    return sorted(set(reasons))
