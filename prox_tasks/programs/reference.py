"""The ProX paper's chunk-program executor, re-implemented as a reference for comparison.

prox's own executor (:mod:`prox_tasks.programs.executor`) is what production runs. This
module re-implements the algorithm of the executor released with the ProX paper
(GAIR-NLP/ProX, ``execute_meta_operations``) so that benchmarks can time both side by side and
tests can check that both give the same text where their semantics coincide:

1. the program is split on newlines; a call's arguments are the text between its first
   ``(`` and its first ``)``, split on commas, each value taken after ``=`` (keyword form only;
   a value holding a comma, ``=`` or ``)`` is misread, and a failed call counts as an error);
2. the document is split into lines (each line copied, as the released code does);
   ``remove_lines`` adds every line number of its range to a set;
3. ``normalize`` replaces its source string in the whole document text (``str.replace``),
   in program order; the lines are then split again from the normalized text;
4. kept and removed lines are collected by testing every line against the set; the ranges are
   merged and clipped (a range past the document counts as an error);
5. words of the output and of the input are counted (``str.split``): the output is dropped
   (``""``) when at most ``1 - drop_threshold`` of the words are left and there are fewer than
   ``max_errors`` errors, or when 10 words or fewer are left; with ``max_errors`` errors or
   more the input is returned unchanged.

One deviation: a document without words returns ``""`` (the released code divides by zero).
"""

from __future__ import annotations


def _arguments(call: str) -> tuple[list[str], int]:
    """The comma-split argument text of ``call`` and the errors met finding it."""
    errors = 0
    start = call.index("(") + 1  # ValueError when there is none: the caller counts it
    end = call.find(")")
    if end == -1:
        errors += 1
    return call[start:end].split(","), errors


def _value(argument: str) -> str:
    return argument.split("=")[1]


def _merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals, key=lambda iv: iv[0]):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def paper_edits(text: str, program: str) -> tuple[str, int]:
    """Steps 1-4 alone (no drop rule): the edited text and the number of errors."""
    operations = program.strip(" ").split("\n")
    lines = [line[:] for line in text.split("\n")]
    removed: set[int] = set()
    intervals: list[tuple[int, int]] = []
    errors = 0
    for op in operations:
        if op.startswith("remove_lines") and "all=True" in op:
            removed = set(range(len(lines)))
        elif op.startswith(("remove_lines", "normalize")):
            try:
                args, found_errors = _arguments(op)
            except ValueError:
                errors += 1
                continue
            errors += found_errors
            try:
                if op.startswith("remove_lines"):
                    first, last = int(_value(args[0])), int(_value(args[1]))
                elif len(args) == 1:
                    source, target = _value(args[0]).strip('"'), ""
                elif len(args) == 2:
                    source, target = _value(args[0]).strip('"'), _value(args[1]).strip('"')
                else:
                    continue
            except (IndexError, ValueError):
                errors += 1
                continue
            if op.startswith("remove_lines"):
                intervals.append((first, last))
                for number in range(first, last + 1):
                    removed.add(number)
            elif len(args) == 1 or source not in (" ", ""):
                text = text.replace(source, target)
    lines = [line[:] for line in text.split("\n")]
    kept = [line for i, line in enumerate(lines) if i not in removed]
    _noise = [line for i, line in enumerate(lines) if i in removed]  # the released code keeps both
    for start, end in _merged(intervals):
        if start >= len(lines) or end >= len(lines):
            errors += 1
    return "\n".join(kept), errors


def paper_execute(
    text: str,
    program: str,
    keep_threshold: float = 0.0,
    drop_threshold: float = 0.95,
    max_errors: int = 2,
) -> str:
    """Run a chunk program the way the ProX paper's released executor does.

    Args:
        text: The document.
        program: Chunk-level program text (the chunk outputs joined with newlines).
        keep_threshold: Keep the edit only when at least this fraction of words is left.
        drop_threshold: Drop when at most ``1 - drop_threshold`` of the words is left.
        max_errors: With this many errors or more the program is ignored.

    Returns:
        The refined text; ``""`` for a dropped document; ``text`` when the program is ignored.
    """
    out, errors = paper_edits(text, program)
    words_out, words_in = len(out.split()), len(text.split())
    if words_in == 0:
        return ""
    if words_out / words_in <= 1 - drop_threshold and errors < max_errors:
        return ""
    if words_out <= 10:
        return ""
    if words_out / words_in >= keep_threshold and errors < max_errors:
        return out
    return text
