"""The strict executor: run a document's programs over its text.

Order of work, each step a documented policy:

1. The document-level program decides keep or drop. A program that fails to parse keeps
   the document (``on_doc_program_error``), as ProX ignores programs that fail.
2. Chunk-level calls are grouped by chunk scope (``# chunk A-B`` markers; no marker means
   the whole document). A scope with ``max_program_errors`` errors or more is ignored whole.
   Identical calls run once; a call repeated more than ``max_repeated_calls`` times is also
   counted as ``degenerate`` output.
3. Normalizations run first, in program order, within the lines of the scope that wrote them
   (``normalize_scope="chunk"``) or over the whole document (``"document"``, the paper's
   ``str.replace``). A source string spanning lines merges those lines into the last.
4. Removals run on the original line numbers: ranges are clipped to the scope and to the
   document (counted as ``out_of_range``), then merged.
5. The document is dropped when the edits leave too little: ``min_kept_words`` words or fewer,
   or at most ``min_kept_word_fraction`` of its words.

:func:`execute` never raises; every problem is counted in :attr:`ExecutionResult.stats`.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Literal

from prox_tasks.programs.parser import parse
from prox_tasks.programs.program import (
    DropDoc,
    ErrorKind,
    KeepDoc,
    Normalize,
    Program,
    ProgramError,
    RemoveLines,
)

MAX_ERROR_MESSAGES = 8
_EDITS = frozenset({Normalize, RemoveLines})  # chunk calls that change text


@dataclass(frozen=True)
class Policy:
    """Executor policy; defaults are the ProX paper's values.

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
    """

    normalize_scope: Literal["chunk", "document"] = "chunk"
    min_kept_words: int = 10
    min_kept_word_fraction: float = 0.05
    max_program_errors: int = 2
    max_repeated_calls: int = 3
    on_doc_program_error: Literal["keep", "drop"] = "keep"
    drop_emptied_lines: bool = True

    @classmethod
    def from_kwargs(cls, **kwargs) -> Policy:
        names = {f.name for f in fields(cls)}
        unknown = set(kwargs) - names
        if unknown:
            raise TypeError(f"unknown executor policy fields: {sorted(unknown)}")
        return cls(**kwargs)


@dataclass
class ExecutionStats:
    """What one execution did. ``to_dict`` gives a JSON-ready mapping."""

    lines_in: int = 0
    lines_out: int = 0
    lines_removed: int = 0
    lines_merged: int = 0
    chars_in: int = 0
    chars_out: int = 0
    text_in: str | None = field(default=None, repr=False)
    text_out: str | None = field(default=None, repr=False)
    normalizations_applied: int = 0
    scopes_ignored: int = 0
    drop_reason: str | None = None
    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    error_messages: list[str] = field(default_factory=list)

    # Word counts cost a full pass over the text (as much as the execution itself), so they
    # are computed on first use; the drop rule decides with bounded partial counts instead.
    @property
    def words_in(self) -> int:
        return _count_words(self.text_in)

    @property
    def words_out(self) -> int:
        return _count_words(self.text_out)

    @property
    def chars_removed(self) -> int:
        return self.chars_in - self.chars_out

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def add_error(self, error: ProgramError, level: str) -> None:
        self.errors[str(error.kind)] += 1
        if len(self.error_messages) < MAX_ERROR_MESSAGES:
            where = f" (program line {error.line})" if error.line >= 0 else ""
            self.error_messages.append(f"{level}: {error.kind}: {error.message}{where}")

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        out["words_in"], out["words_out"] = self.words_in, self.words_out
        out["calls"] = dict(self.calls)
        out["errors"] = dict(self.errors)
        out["chars_removed"] = self.chars_removed
        return out


def _count_words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _has_more_words_than(text: str, n: int) -> bool:
    """``len(text.split()) > n`` without splitting past word ``n + 1``."""
    return n < 0 or len(text.split(None, n + 1)) > n


@dataclass
class ExecutionResult:
    """The refined text (``None`` when dropped), the drop flag and statistics."""

    text: str | None
    dropped: bool
    stats: ExecutionStats


def _coerce_text(text: object, stats: ExecutionStats) -> str:
    if isinstance(text, str):
        return text
    if text is None:
        return ""
    if isinstance(text, bytes | bytearray):
        stats.error_messages.append("input: text was bytes, decoded as UTF-8 with replacement")
        return bytes(text).decode("utf-8", errors="replace")
    stats.error_messages.append(f"input: text was {type(text).__name__}, converted with str()")
    return str(text)


def _as_program(program: str | Program | None, level: str) -> Program | None:
    if program is None or isinstance(program, Program):
        return program
    return parse(program, level=level)


def _doc_decision(program: Program | None, policy: Policy, stats: ExecutionStats) -> bool:
    """Return True when the document-level program drops the document."""
    if program is None:
        return False
    for error in program.errors:
        stats.add_error(error, "doc")
    if not program.calls:
        if not program.errors:
            stats.add_error(ProgramError(ErrorKind.EMPTY_PROGRAM, -1, "no call"), "doc")
        return policy.on_doc_program_error == "drop"
    for call in program.calls:
        stats.calls[call.name] += 1
    kinds = {type(c) for c in program.calls}
    if KeepDoc in kinds and DropDoc in kinds:
        msg = "both keep_doc() and drop_doc(); the first call decides"
        stats.add_error(ProgramError(ErrorKind.DEGENERATE, -1, msg), "doc")
    elif len(program.calls) > policy.max_repeated_calls:
        msg = f"{len(program.calls)} document-level calls"
        stats.add_error(ProgramError(ErrorKind.DEGENERATE, -1, msg), "doc")
    return isinstance(program.calls[0], DropDoc)


def _active_calls(program: Program, policy: Policy, stats: ExecutionStats) -> list[tuple]:
    """Calls that survive the error policy, as (scope index, call), deduplicated."""
    errors_by_scope: Counter = Counter()
    for error in program.errors:
        stats.add_error(error, "chunk")
        errors_by_scope[error.scope] += 1
    counts = Counter(zip(program.scopes, program.calls))
    stats.calls.update(map(attrgetter("name"), program.calls))
    repeated = () if len(counts) == len(program.calls) else counts.items()
    for (scope, call), n in repeated:
        if n > policy.max_repeated_calls:
            msg = f"{call.to_text()} repeated {n} times"
            stats.add_error(ProgramError(ErrorKind.DEGENERATE, -1, msg, scope), "chunk")
            errors_by_scope[scope] += 1
    ignored = {s for s, n in errors_by_scope.items() if n >= policy.max_program_errors}
    stats.scopes_ignored = len(ignored)
    if not program.calls and not program.errors:
        stats.add_error(ProgramError(ErrorKind.EMPTY_PROGRAM, -1, "no call"), "chunk")
    # Counter keeps first-occurrence order: each distinct call once, in program order
    return [
        (scope, call)
        for scope, call in counts
        if scope not in ignored and type(call) in _EDITS
    ]


def _scope_bounds(program: Program, scope: int, n_lines: int) -> tuple[int, int]:
    bounds = program.scope_table[scope]
    last = n_lines - 1 if bounds.last is None else min(bounds.last, n_lines - 1)
    return bounds.first, last


def _normalize_lines(segs: list, lo: int, hi: int, call: Normalize) -> int:
    """Replace ``call.source_str`` in lines ``lo..hi``; returns the number of lines changed."""
    source, target = call.source_str, call.target_str
    if "\n" not in source:
        changed = 0
        for i in range(lo, hi + 1):
            seg = segs[i]
            if seg is not None and source in seg:
                segs[i] = seg.replace(source, target)
                changed += 1
        return changed
    # A source spanning lines: replace on the joined text of the range; the lines a match
    # crosses merge into the line it ends on, so every other line keeps its original number.
    idx = [i for i in range(lo, hi + 1) if segs[i] is not None]
    if not idx:
        return 0
    joined = "\n".join(segs[i] for i in idx)
    if source not in joined:
        return 0
    starts, pos = [], 0
    for i in idx:
        starts.append(pos)
        pos += len(segs[i]) + 1
    new = {i: None for i in idx}
    k, cursor, buf = 0, 0, []
    while (a := joined.find(source, cursor)) != -1:
        b = a + len(source)
        # copy unmatched text up to the match, closing each line boundary it crosses
        k_a = bisect.bisect_right(starts, a) - 1
        while k < k_a:
            buf.append(joined[cursor : starts[k + 1] - 1])
            new[idx[k]] = "".join(buf)
            buf, k, cursor = [], k + 1, starts[k + 1]
        buf.append(joined[cursor:a])
        buf.append(target)
        k = bisect.bisect_right(starts, b) - 1 if b < len(joined) else len(idx) - 1
        cursor = b
    buf.append(joined[cursor : (starts[k + 1] - 1) if k + 1 < len(idx) else len(joined)])
    new[idx[k]] = "".join(buf)
    for j in range(k + 1, len(idx)):
        new[idx[j]] = segs[idx[j]]
    # lines a match crossed, up to the one it ends on, stay None: merged into that line
    changed = sum(1 for i in idx if new[i] != segs[i])
    for i in idx:
        segs[i] = new[i]
    return changed


def _clip_ranges(program: Program, removals: list, n: int, stats: ExecutionStats) -> list:
    """Clip removal ranges to their chunk scope and the document, counting each clip."""
    bounds = [_scope_bounds(program, i, n) for i in range(len(program.scope_table))]
    ranges = []
    for scope, call in removals:
        lo, hi = bounds[scope]
        start, end = max(call.line_start, lo), min(call.line_end, hi)
        if start != call.line_start or end != call.line_end:
            where = "document" if call.line_end >= n else f"chunk {lo}-{hi}"
            msg = f"{call.to_text()} outside the {where}; clipped"
            stats.add_error(ProgramError(ErrorKind.OUT_OF_RANGE, -1, msg, scope), "chunk")
        if start <= end:
            ranges.append((start, end))
    return ranges


def execute(
    text: str,
    doc_program: str | Program | None = None,
    chunk_program: str | Program | None = None,
    **policy,
) -> ExecutionResult:
    """Run a document's programs over its text.

    Args:
        text: The document text; lines are split on ``"\\n"`` and numbered from 0.
        doc_program: Document-level program source (or a parsed :class:`Program`).
        chunk_program: Chunk-level program source, usually chunk programs joined with
            ``# chunk A-B`` scope markers (see :func:`join_chunk_programs`).
        **policy: Fields of :class:`Policy` (or ``policy=Policy(...)``).

    Returns:
        An :class:`ExecutionResult`; ``text`` is ``None`` when the document is dropped.

    Raises:
        TypeError: Only for an unknown policy field — a caller bug, not a data problem.
    """
    pol = policy.pop("policy", None) or Policy.from_kwargs(**policy)
    stats = ExecutionStats()
    text = _coerce_text(text, stats)
    stats.chars_in = len(text)
    lines = text.split("\n")
    stats.lines_in = len(lines)
    try:
        return _execute(text, lines, doc_program, chunk_program, pol, stats)
    except Exception as err:  # noqa: BLE001 - the contract is "never raises"; keep the doc
        stats.errors["internal"] += 1
        stats.error_messages.append(f"internal: {type(err).__name__}: {err}")
        stats.lines_out, stats.chars_out = stats.lines_in, stats.chars_in
        return ExecutionResult(text, False, stats)


def _drop(stats: ExecutionStats, reason: str) -> ExecutionResult:
    stats.drop_reason = reason
    stats.lines_out = stats.chars_out = 0
    stats.text_out = None
    stats.lines_removed = stats.lines_in
    return ExecutionResult(None, True, stats)


def _too_little_left(text: str, out: str, pol: Policy) -> bool:
    if not _has_more_words_than(out, pol.min_kept_words):
        return True
    frac = pol.min_kept_word_fraction
    if frac <= 0:
        return False
    # words_in <= words_out + chars removed: when even that bound cannot reach the fraction,
    # no word of the input needs counting.
    bound = int(frac * max(len(text) - len(out), 0) / (1 - frac)) + 1
    head = out.split(None, bound + 1)
    if len(head) > bound:
        return False
    # drop when words_in >= words_out / frac: count input words only that far
    need = math.ceil(len(head) / frac)
    return _has_more_words_than(text, need - 1)


def _execute(text, lines, doc_program, chunk_program, pol, stats) -> ExecutionResult:
    stats.text_in = text
    if _doc_decision(_as_program(doc_program, "doc"), pol, stats):
        return _drop(stats, "doc_program")
    if not text.strip():
        return _drop(stats, "empty")
    program = _as_program(chunk_program, "chunk")
    if program is None:
        stats.lines_out, stats.chars_out, stats.text_out = len(lines), len(text), text
        return ExecutionResult(text, False, stats)
    active = _active_calls(program, pol, stats)
    n = len(lines)
    segs: list = lines
    normalized = False
    normalizations = [(s, c) for s, c in active if type(c) is Normalize]
    removals = [(s, c) for s, c in active if type(c) is RemoveLines] if normalizations else active
    for scope, call in normalizations:
        lo, hi = _scope_bounds(program, scope, n)
        if pol.normalize_scope == "document":
            lo, hi = 0, n - 1
        if lo > hi:
            msg = f"chunk {lo}- is past the end of the document ({n} lines)"
            stats.add_error(ProgramError(ErrorKind.OUT_OF_RANGE, -1, msg, scope), "chunk")
            continue
        if not normalized:
            segs, normalized = list(lines), True
        if _normalize_lines(segs, lo, hi, call):
            stats.normalizations_applied += 1
    if normalized:
        for i, seg in enumerate(segs):
            if seg is None:
                stats.lines_merged += 1
            elif pol.drop_emptied_lines and seg != lines[i] and not seg.strip() and lines[i].strip():
                segs[i] = None
    ranges = []
    if len(program.scope_table) == 1 and (not removals or max(c[1].line_end for c in removals) < n):
        ranges = [call for _, call in removals]  # one scope, all inside: (start, end) as is
    else:
        ranges = _clip_ranges(program, removals, n, stats)
    if not ranges and not normalized:
        stats.lines_out, stats.chars_out, stats.text_out = n, len(text), text
        return ExecutionResult(text, False, stats)
    kept: list[str] = []
    prev = removed = 0
    for start, end in sorted(ranges):  # merges overlapping and unordered ranges on the way
        if start > prev:
            kept += segs[prev:start]
        if end >= prev:
            removed += end + 1 - max(start, prev)
            prev = end + 1
    kept += segs[prev:]
    if normalized:
        kept = [s for s in kept if s is not None]
    out = "\n".join(kept)
    stats.lines_removed = removed
    stats.lines_out = len(kept)
    stats.chars_out = len(out)
    stats.text_out = out
    if out != text and _too_little_left(text, out, pol):
        return _drop(stats, "too_little_left")
    return ExecutionResult(out, False, stats)
