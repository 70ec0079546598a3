"""The strict executor: run a document's programs over its text.

Order of work, each step a documented policy:

1. The document-level program decides keep or drop. A program that fails to parse keeps
   the document (``on_doc_program_error``), as ProX ignores programs that fail.
2. Chunk-level calls are grouped by chunk scope (``# chunk A-B`` markers; no marker means
   the whole document). A scope with ``max_program_errors`` errors or more is ignored whole.
   Identical calls run once; a call repeated more than ``max_repeated_calls`` times is also
   counted as ``degenerate`` output. A ``# chunk`` scope with no call at all (the model
   wrote nothing for that chunk) is an ``empty_program`` error: the chunk failed.
3. Normalizations run first, in program order, within the lines of the scope that wrote them
   (``normalize_scope="chunk"``) or over the whole document (``"document"``, the paper's
   ``str.replace``). A source string spanning lines merges those lines into the last; one
   whose merge would join a line a removal takes with one it keeps is not run
   (``bad_arguments``: the removal would take the kept text with it). A
   normalization that would make the document longer than ``max_normalize_growth`` allows
   is not run, and normalizations stop once they have read ``max_normalize_reads`` times
   the document (``over_limit``).
4. Removals run on the original line numbers: ranges are clipped to the scope and to the
   document (counted as ``out_of_range``), then merged.
5. The document is dropped when the edits leave too little: ``min_kept_words`` words or fewer,
   or at most ``min_kept_word_fraction`` of its words.

A program longer than ``max_program_chars`` or with more than ``max_program_calls`` call
lines is not run (``over_limit``). :func:`execute` never raises; every problem is counted in
:attr:`ExecutionResult.stats`.

Speed: removals work on ranges, with no Python loop over the document's lines. The text is
split into lines once, and only when a chunk program edits it; removal ranges are sorted and
merged once and the kept lines cut out as list slices (no set of line numbers); a
normalization is one ``str.count`` and one ``str.replace`` on the joined text of its range
(kept for the next normalization of the same range while no line changed);
the drop rule counts words only as far as its decision needs.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache, partial
from itertools import compress
from operator import attrgetter, itemgetter, ne

from prox_tasks.programs.layout import MAX_LAYOUT_CHARS, TextLayout
from prox_tasks.programs.normalize import normalize_range
from prox_tasks.programs.parser import parse
from prox_tasks.programs.policy import MIN_NORMALIZE_GROWTH, Policy
from prox_tasks.programs.program import (
    MAX_LINE_DIGITS,
    DropDoc,
    ErrorKind,
    KeepDoc,
    Normalize,
    Program,
    ProgramError,
    RemoveLines,
)
from prox_tasks.programs.stats import (
    MAX_ERROR_MESSAGES,
    ExecutionResult,
    ExecutionStats,
    count_words,
    has_more_words_than,
)

__all__ = ["MAX_ERROR_MESSAGES", "ExecutionResult", "ExecutionStats", "Policy", "execute"]

_EDITS = frozenset({Normalize, RemoveLines})  # chunk calls that change text
_SHORT_PROGRAM = 64  # document programs are this short: parsed once per process, then cached
_DEFAULT = Policy()
_SECOND = itemgetter(1)


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
    keys = list(zip(program.scopes, program.calls))
    distinct = dict.fromkeys(keys)  # each distinct call once, in program order
    stats.calls.update(map(attrgetter("name"), program.calls))
    repeated = () if len(distinct) == len(keys) else Counter(keys).items()
    for (scope, call), n in repeated:
        if n > policy.max_repeated_calls:
            msg = f"{call.to_text()} repeated {n} times"
            stats.add_error(ProgramError(ErrorKind.DEGENERATE, -1, msg, scope), "chunk")
            errors_by_scope[scope] += 1
    ignored = {s for s, n in errors_by_scope.items() if n >= policy.max_program_errors}
    stats.scopes_ignored = len(ignored)
    table = program.scope_table
    if len(table) > 1:
        # a chunk whose program is empty (the model wrote nothing for it) failed, as in the
        # labels' checks and the training metrics, whatever the other chunks wrote
        written = set(program.scopes).union(errors_by_scope)
        for scope in range(1, len(table)):
            if scope not in written:
                msg = f"no call for {table[scope].to_text()[2:]}"
                stats.add_error(ProgramError(ErrorKind.EMPTY_PROGRAM, -1, msg, scope), "chunk")
    elif not program.calls and not program.errors:
        stats.add_error(ProgramError(ErrorKind.EMPTY_PROGRAM, -1, "no call"), "chunk")
    if not ignored:
        return [key for key in distinct if type(key[1]) in _EDITS]
    return [key for key in distinct if key[0] not in ignored and type(key[1]) in _EDITS]


def _as_program(program: str | Program | None, level: str, pol: Policy) -> Program | None:
    if program is None:
        return None
    if isinstance(program, Program):
        if len(program.calls) > pol.max_program_calls:
            msg = f"program of {len(program.calls):,} calls; the cap is {pol.max_program_calls:,}"
            return Program(errors=(ProgramError(ErrorKind.OVER_LIMIT, -1, msg),))
        return program
    if type(program) is str and len(program) <= _SHORT_PROGRAM:
        return _parse_short(program, level, pol.max_program_chars, pol.max_program_calls)
    return parse(program, level, max_chars=pol.max_program_chars, max_calls=pol.max_program_calls)


@lru_cache(maxsize=1024)
def _parse_short(source: str, level: str, max_chars: int, max_calls: int) -> Program:
    return parse(source, level, max_chars=max_chars, max_calls=max_calls)  # Program is immutable


def _scope_bounds(program: Program, scope: int, n_lines: int) -> tuple[int, int]:
    bounds = program.scope_table[scope]
    last = n_lines - 1 if bounds.last is None else min(bounds.last, n_lines - 1)
    return bounds.first, last


def _chunk_named(lo: int, hi: int, n: int) -> str:
    """``chunk 4-9`` for the chunk of lines ``lo..hi`` (``hi`` clipped to the ``n``-line
    document); one that starts past the document says so instead of a range that ends
    before it starts (``chunk 30-19``), and one whose marker is past any document (a number
    of more than :data:`MAX_LINE_DIGITS` digits, already counted) is not named by that
    stand-in number (``chunk 1000000000000000000-19``); a marker written backwards
    (``# chunk 8-2``, a model's garbage) inside the document is named as written, not
    as past its end."""
    if lo >= 10**MAX_LINE_DIGITS:
        return "chunk of a marker past any document"
    if lo > hi and lo < n:  # hi, the marker's end, is in the document too: written before lo
        return f"chunk {lo}-{hi}, whose marker ends before it starts"
    if lo > hi:
        return f"chunk {lo}-, past the end of the document ({n} lines)"
    return f"chunk {lo}-{hi}"


def _clip_ranges(program: Program, removals: list, n: int, stats: ExecutionStats) -> list:
    """Removal ranges clipped to their chunk scope and the document, each clip counted."""
    if len(program.scope_table) == 1 and max(map(_SECOND, map(_SECOND, removals))) < n:
        return [call for _, call in removals]  # one scope, all inside: (start, end) as is
    bounds = [_scope_bounds(program, i, n) for i in range(len(program.scope_table))]
    ranges = []
    for scope, call in removals:
        lo, hi = bounds[scope]
        start, end = call
        if start >= lo and end <= hi:
            ranges.append(call)
            continue
        where = "document" if end >= n and lo <= hi else _chunk_named(lo, hi, n)
        msg = f"{call.to_text()} outside the {where}; clipped"
        stats.add_error(ProgramError(ErrorKind.OUT_OF_RANGE, -1, msg, scope), "chunk")
        start, end = max(start, lo), min(end, hi)
        if start <= end:
            ranges.append((start, end))
    return ranges


def _drop(stats: ExecutionStats, reason: str) -> ExecutionResult:
    stats.lines_in = stats.lines_in or stats.text_in.count("\n") + 1
    stats.drop_reason = reason
    stats.lines_out = stats.chars_out = 0
    stats.text_out = None
    stats.lines_removed = stats.lines_in
    return ExecutionResult(None, True, stats)


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
    pol = (policy.pop("policy", None) or Policy.from_kwargs(**policy)) if policy else _DEFAULT
    stats = ExecutionStats()
    text = _coerce_text(text, stats)
    stats.chars_in = len(text)
    try:
        return _execute(text, doc_program, chunk_program, pol, stats)
    except Exception as err:  # noqa: BLE001 - the contract is "never raises"; keep the doc
        stats.errors[str(ErrorKind.INTERNAL)] += 1
        stats.error_messages.append(f"internal: {type(err).__name__}: {err}")
        stats.lines_in = stats.lines_out = text.count("\n") + 1
        stats.chars_out = stats.chars_in
        return ExecutionResult(text, False, stats)


def _unchanged(text: str, stats: ExecutionStats) -> ExecutionResult:
    stats.lines_in = stats.lines_out = stats.lines_in or text.count("\n") + 1
    stats.chars_out, stats.text_out = len(text), text
    return ExecutionResult(text, False, stats)


def _execute(text, doc_program, chunk_program, pol: Policy, stats) -> ExecutionResult:
    stats.text_in = text
    if _doc_decision(_as_program(doc_program, "doc", pol), pol, stats):
        return _drop(stats, "doc_program")
    if not text or text.isspace():
        return _drop(stats, "empty")
    program = _as_program(chunk_program, "chunk", pol)
    active = _active_calls(program, pol, stats) if program is not None else None
    if not active:
        return _unchanged(text, stats)
    normalizations = [(s, c) for s, c in active if type(c) is Normalize]
    if not normalizations and len(text) <= MAX_LAYOUT_CHARS:
        return _removals_only(text, program, active, pol, stats)
    lines = text.split("\n")  # the one pass over the text that every edit needs
    n = stats.lines_in = len(lines)
    removals = [(s, c) for s, c in active if type(c) is RemoveLines] if normalizations else active
    ranges = _clip_ranges(program, removals, n, stats) if removals else []
    segs = _normalized_lines(lines, program, normalizations, pol, stats, ranges) \
        if normalizations else None  # fmt: skip
    if not ranges and segs is None:
        return _unchanged(text, stats)
    kept, removed = _cut(lines if segs is None else segs, ranges)
    if segs is not None:
        kept = [s for s in kept if s is not None]
    out = "\n".join(kept)
    stats.lines_removed = removed
    stats.lines_out = len(kept)
    if segs is not None and any("\n" in call.target_str for _, call in normalizations):
        # a target's line breaks add lines: count the output's as lines_in counts the input's
        stats.lines_out = out.count("\n") + 1 if kept else 0
    stats.chars_out = len(out)
    stats.text_out = out
    if out != text and _too_little_left(text, out, pol, only_removals=segs is None):
        return _drop(stats, "too_little_left")
    return ExecutionResult(out, False, stats)


def _removals_only(text: str, program: Program, removals: list, pol: Policy,
                   stats: ExecutionStats) -> ExecutionResult:
    """Removals without normalizations: the kept lines cut out of the text as one slice per
    run of kept lines (no string per line), the word counts from the same layout."""
    layout = TextLayout(text)
    n = stats.lines_in = layout.lines
    ranges = _clip_ranges(program, removals, n, stats)
    if not ranges:
        return _unchanged(text, stats)
    kept, removed = _kept_runs(ranges, n)
    out = "\n".join([text[start:end] for start, end in layout.spans(kept)])
    stats.lines_removed = removed
    stats.lines_out = n - removed
    stats.chars_out = len(out)
    stats.text_out = out
    # counted when first read (refine reads them for every row; execute alone need not)
    stats._count_words = partial(_layout_word_counts, layout, kept)
    if out != text and _too_little_left(text, out, pol, only_removals=True):
        return _drop(stats, "too_little_left")
    return ExecutionResult(out, False, stats)


def _layout_word_counts(layout: TextLayout, kept: list[tuple[int, int]]) -> tuple[int, int]:
    """(words_in, words_out) of a removal-only execution that kept the runs ``kept``."""
    words_in = layout.words
    return words_in, words_in - layout.words_in_runs(_runs_between(kept, layout.lines))


def _kept_runs(ranges: list, n: int) -> tuple[list[tuple[int, int]], int]:
    """The runs of lines ``0..n-1`` outside ``ranges`` (inclusive, within the document, any
    order, may overlap) and how many lines are in them: :func:`_cut` as line runs."""
    kept = []
    prev = removed = 0
    for start, end in sorted(ranges):
        if start > prev:
            kept.append((prev, start - 1))
            prev = start
        if end >= prev:
            removed += end + 1 - prev
            prev = end + 1
    if prev < n:
        kept.append((prev, n - 1))
    return kept, removed


def _runs_between(kept: list[tuple[int, int]], n: int) -> list[tuple[int, int]]:
    """The runs of lines ``0..n-1`` that ``kept`` (sorted, disjoint runs) leaves out."""
    gaps, prev = [], 0
    for first, last in kept:
        if first > prev:
            gaps.append((prev, first - 1))
        prev = last + 1
    if prev < n:
        gaps.append((prev, n - 1))
    return gaps


def _normalized_lines(lines: list, program, normalizations, pol: Policy, stats,
                      ranges: list) -> list | None:
    """The lines after the normalizations (``None`` for merged or emptied lines), or None
    when none changed anything. A normalization spanning lines that would merge a line the
    program removes (``ranges``) with one it keeps is not run (``bad_arguments``): the
    removal, of original line numbers, would take the kept line's text with it, or keep the
    removed one's."""
    n = len(lines)
    segs = list(lines)
    removed = _removed_lines(ranges, n) if ranges and any(
        "\n" in call.source_str for _, call in normalizations) else None  # fmt: skip
    allowance = pol.growth_allowance(stats.chars_in)
    reads_left = pol.max_normalize_reads * max(stats.chars_in, MIN_NORMALIZE_GROWTH)
    merged = changed = False
    # (lo, hi, reads, joined text) of the last range searched while no line changed: the next
    # normalization of that range searches the same text (a model in a loop writes hundreds
    # that match nothing), without a pass over its lines, which costs far more than the
    # search when the lines are short
    cached = None
    for scope, call in normalizations:
        lo, hi = (0, n - 1) if pol.normalize_scope == "document" else _scope_bounds(program, scope, n)
        if lo > hi:
            msg = f"{call.to_text()} in the {_chunk_named(lo, hi, n)}: not run"
            stats.add_error(ProgramError(ErrorKind.OUT_OF_RANGE, -1, msg, scope), "chunk")
            continue
        if cached is not None and cached[:2] == (lo, hi):
            reads, joined = cached[2:]
        else:
            part = segs[lo : hi + 1]
            reads = sum(map(len, filter(None, part) if merged else part)) + len(part)
            joined = None
        reads_left -= reads
        if reads_left < 0:
            msg = f"normalizations read more than {pol.max_normalize_reads:g}x the document"
            stats.add_error(ProgramError(ErrorKind.OVER_LIMIT, -1, msg, scope), "chunk")
            break
        before = list(segs) if removed is not None and "\n" in call.source_str else None
        found, growth, joined = normalize_range(segs, lo, hi, call, allowance, merged, joined)
        if before is not None and joined is None and (split := _split_removal(segs, removed)):
            segs[:] = before  # not run: the lines are as they were
            msg = (f"{call.to_text()} spans lines {split[0]}-{split[1]}, which remove_lines "
                   "removes in part: not run (merged, the removal would take the kept lines' "
                   "text with it); normalize within a line, or remove all those lines")
            stats.add_error(ProgramError(ErrorKind.BAD_ARGUMENTS, -1, msg, scope), "chunk")
            continue
        cached = None if joined is None else (lo, hi, reads, joined)
        if growth > allowance:
            msg = (f"normalize() would add {growth:,} characters; the document may grow by "
                   f"{allowance:,} more")  # fmt: skip
            stats.add_error(ProgramError(ErrorKind.OVER_LIMIT, -1, msg, scope), "chunk")
        elif found:
            stats.normalizations_applied += 1
            allowance -= growth
            changed = True
            merged = merged or "\n" in call.source_str
        else:
            stats.normalizations_unmatched += 1
    if not changed:
        return None
    stats.lines_merged = segs.count(None) if merged else 0
    if pol.drop_emptied_lines:
        for i in compress(range(n), map(ne, segs, lines)):
            seg = segs[i]
            if seg is not None and not seg.strip() and lines[i].strip():
                segs[i] = None
    return segs


def _removed_lines(ranges: list, n: int) -> bytearray:
    """1 for each of the ``n`` lines a range (inclusive) removes, else 0."""
    removed = bytearray(n)
    for start, end in ranges:
        removed[start : end + 1] = b"\x01" * (end + 1 - start)
    return removed


def _split_removal(segs: list, removed: bytearray) -> tuple[int, int] | None:
    """The first and last line of a run of merged lines (``None``, merged into the next line
    that is not) that ``removed`` takes in part, or None when each run is removed whole or
    kept whole."""
    first = 0
    for i, seg in enumerate(segs):
        if seg is None:
            continue
        if i > first and len(set(removed[first : i + 1])) > 1:
            return first, i
        first = i + 1
    return None


def _cut(segs: list, ranges: list) -> tuple[list, int]:
    """The lines outside ``ranges`` (inclusive, any order, may overlap) and how many are in."""
    kept: list = []
    prev = removed = 0
    for start, end in sorted(ranges):  # merges overlapping and unordered ranges on the way
        if start > prev:
            kept += segs[prev:start]
            prev = start
        if end >= prev:
            removed += end + 1 - prev
            prev = end + 1
    kept += segs[prev:]
    return kept, removed


def _too_little_left(text: str, out: str, pol: Policy, only_removals: bool) -> bool:
    """The drop rule: ``min_kept_words`` words or fewer left, or at most
    ``min_kept_word_fraction`` of the input's words; words are counted only as far as the
    decision needs."""
    frac = pol.min_kept_word_fraction
    if only_removals and 0 < frac < 1:
        # Whole lines removed: words_in = words_out + the removed lines' words, and a line
        # of L characters holds at most (L + 1) // 2 words, so the removed lines hold at most
        # half the characters removed (each line's newline included). When even that bound
        # cannot bring words_out down to the fraction, no input word needs counting.
        removed_words = (len(text) - len(out) + 1) // 2
        bound = max(int(frac * removed_words / (1 - frac)) + 1, pol.min_kept_words)
        words_out = count_words(out, bound + 1)
        if words_out > bound:
            return False
        # all of them
        if words_out <= pol.min_kept_words:
            return True
    elif not has_more_words_than(out, pol.min_kept_words):
        return True
    elif frac <= 0:
        return False
    else:
        words_out = count_words(out)
    # drop when words_in >= words_out / frac: count input words only that far
    return has_more_words_than(text, math.ceil(words_out / frac) - 1)
