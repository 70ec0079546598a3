"""Normalizations: replace a source string by a target string within a range of lines.

Lines keep their original numbers so that removals (which run afterwards) hit the lines the
program meant: a source string spanning lines merges the lines a match crosses into the line
it ends on, and the others become ``None`` in the line list. Each normalization is measured
before it runs (``str.count`` on the range's text); one that would add more characters than
the allowance left is not run.
"""

from __future__ import annotations

import bisect

from prox_tasks.programs.program import Normalize


def normalize_range(segs: list, lo: int, hi: int, call: Normalize, allowance: int,
                    merged: bool, joined: str | None = None) -> tuple[int, int, str | None]:
    """Apply ``call`` to lines ``lo..hi`` of ``segs`` in place.

    Args:
        segs: The document's lines; ``None`` for a line merged into a later one.
        lo: First line of the range.
        hi: Last line of the range (inclusive).
        call: The normalization.
        allowance: Characters it may add at most.
        merged: Whether ``segs`` holds a ``None`` anywhere.
        joined: The range's lines joined by line feeds (its lines but ``None``), when the
            caller has it: what this returned for the same range, no line changed since.

    Returns:
        How many times the source occurs, the characters the replacement adds (negative
        when it shortens the text; when that is more than ``allowance``, nothing is
        replaced) and the range's joined text when no line changed (else ``None``), for
        the next normalization of the range.
    """
    source, target = call.source_str, call.target_str
    if joined is None:
        part = segs[lo : hi + 1]
        joined = "\n".join([s for s in part if s is not None] if merged else part)
    found = joined.count(source)
    growth = found * (len(target) - len(source))
    if not found or growth > allowance:
        return found, growth, joined
    idx = [i for i in range(lo, hi + 1) if segs[i] is not None] if merged else None
    if "\n" in source:
        _replace_across_lines(segs, idx if merged else range(lo, hi + 1), joined, call)
    elif "\n" in target or merged:
        # the target's line breaks stay inside the line that holds the match
        for i in range(lo, hi + 1):
            seg = segs[i]
            if seg is not None and source in seg:
                segs[i] = seg.replace(source, target)
    else:
        # no line break in either string: the replacement keeps every line where it was
        segs[lo : hi + 1] = joined.replace(source, target).split("\n")
    return found, growth, None


def _replace_across_lines(segs: list, idx, joined: str, call: Normalize) -> None:
    """A source spanning lines: replace on the joined text of the lines ``idx``; the lines a
    match crosses merge into the line it ends on, so every other line keeps its number."""
    source, target = call.source_str, call.target_str
    idx = list(idx)
    starts, pos = [], 0
    for i in idx:
        starts.append(pos)
        pos += len(segs[i]) + 1
    new = dict.fromkeys(idx)
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
    for i in idx:
        segs[i] = new[i]
