"""Refining metrics for training and promotion, on top of :mod:`prox_tasks.evaluation`.

Definitions (ProX, arXiv 2409.17115):

- Document level: binary precision/recall/F1 of the predicted keep/drop decisions against
  the reference decisions, ``keep`` the positive class (ProX's document-level refiner is a
  keep classifier); the ``drop`` class is reported beside it. An unparsable prediction is
  neither keep nor drop: it counts as a miss for both classes.
- Line level: over the *sets of removed line numbers*, micro-averaged over documents
  (:func:`prox_tasks.evaluation.line_removal_prf`).
- Failure rate: the share of programs (one per chunk scope for chunk programs) with a parse
  error or no call at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from prox_tasks.evaluation import binary_prf, line_removal_prf
from prox_tasks.programs import DropDoc, Program, RemoveLines, parse


def doc_decision(program: str | Program | None) -> str:
    """``"keep"``, ``"drop"`` or ``"invalid"`` for a document-level program (first call decides)."""
    parsed = program if isinstance(program, Program) else parse(program, level="doc")
    if parsed.errors or not parsed.calls:
        return "invalid"
    return "drop" if isinstance(parsed.calls[0], DropDoc) else "keep"


def doc_metrics(predicted: Sequence[str], reference: Sequence[str]) -> dict:
    """``doc_precision/recall/f1`` (keep class), ``doc_drop_f1`` and ``doc_accuracy``.

    Args:
        predicted: Document-level programs written by the model.
        reference: The teacher's document-level programs, same order.
    """
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    pred = [doc_decision(p) for p in predicted]
    ref = [doc_decision(r) for r in reference]
    keep = binary_prf([p == "keep" for p in pred], [r == "keep" for r in ref])
    drop = binary_prf([p == "drop" for p in pred], [r == "drop" for r in ref])
    return {
        "doc_precision": keep["precision"], "doc_recall": keep["recall"], "doc_f1": keep["f1"],
        "doc_drop_precision": drop["precision"], "doc_drop_recall": drop["recall"],
        "doc_drop_f1": drop["f1"],
        "doc_accuracy": sum(p == r for p, r in zip(pred, ref)) / len(ref) if ref else 1.0,
    }  # fmt: skip


def removed_lines(program: str | Program | None, n_lines: int | None = None) -> set[int]:
    """The line numbers a chunk program removes (ranges clipped to ``n_lines`` when given)."""
    parsed = program if isinstance(program, Program) else parse(program, level="chunk")
    out: set[int] = set()
    for call in parsed.calls:
        if isinstance(call, RemoveLines):
            end = call.line_end if n_lines is None else min(call.line_end, n_lines - 1)
            out.update(range(max(call.line_start, 0), end + 1))
    return out


def line_metrics(predicted: Sequence[set[int]], reference: Sequence[set[int]]) -> dict:
    """``line_precision/recall/f1`` over sets of removed line numbers (micro average)."""
    return tallied_line_metrics(line_removal_prf(predicted, reference))


def tallied_line_metrics(out: dict) -> dict:
    """:func:`line_metrics`' keys of a :class:`~prox_tasks.evaluation.metrics.LineTally`'s
    result (documents counted one at a time)."""
    return {"line_precision": out["precision"], "line_recall": out["recall"], "line_f1": out["f1"]}


def chunk_failures(program: str | Program | None) -> tuple[int, int]:
    """(failed, total) chunk programs in a joined chunk program, one per ``# chunk`` scope.

    A scope fails when it has a parse error or no call. A program without scope markers is
    one program.
    """
    parsed = program if isinstance(program, Program) else parse(program, level="chunk")
    n_scopes = max(1, len(parsed.scope_table) - 1)
    first_scope = 0 if len(parsed.scope_table) == 1 else 1
    with_calls = set(parsed.scopes)
    failed = {e.scope for e in parsed.errors}
    failed |= {s for s in range(first_scope, first_scope + n_scopes) if s not in with_calls}
    return len(failed), n_scopes


def failure_rate(programs: Sequence[str | None], level: str) -> float:
    """Share of failed programs: per document for ``"doc"``, per chunk scope for ``"chunk"``."""
    failed = total = 0
    for program in programs:
        if level == "doc":
            failed += doc_decision(program) == "invalid"
            total += 1
        else:
            f, t = chunk_failures(program)
            failed += f
            total += t
    return failed / total if total else 0.0


__all__ = [
    "chunk_failures", "doc_decision", "doc_metrics", "failure_rate",
    "line_metrics", "removed_lines", "tallied_line_metrics",
]  # fmt: skip
