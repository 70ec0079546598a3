"""The program language as regular expressions, for constrained decoding.

vLLM's structured outputs (xgrammar, guidance or outlines underneath) accept a regex; a
completion constrained by one of these can only be a well-formed program: document level
``keep_doc()`` or ``drop_doc()``; chunk level one call per line, at most ``max_calls`` calls,
with ``remove_lines`` line numbers inside the chunk (``first..last``). The grammar cannot
order ``line_start <= line_end``; the parser still checks that.
"""

from __future__ import annotations

DOC_PROGRAM_REGEX = r"(keep_doc|drop_doc)\(\)"
# a double-quoted literal the parser reads back, bounded so a stuck model cannot run forever
_STRING = r'"([^"\\\n]|\\["\\nt]){1,80}"'
_STRING_OR_EMPTY = r'"([^"\\\n]|\\["\\nt]){0,80}"'


def _digits_range(lo: str, hi: str) -> str:
    """Regex for numbers with the same digit count between ``lo`` and ``hi`` (strings)."""
    if lo == hi:
        return lo
    if len(lo) == 1:
        return f"[{lo}-{hi}]"
    head_lo, head_hi = lo[0], hi[0]
    if head_lo == head_hi:
        return head_lo + "(" + _digits_range(lo[1:], hi[1:]) + ")"
    rest = len(lo) - 1
    parts = [head_lo + "(" + _digits_range(lo[1:], "9" * rest) + ")"]
    if int(head_hi) - int(head_lo) > 1:
        parts.append(f"[{int(head_lo) + 1}-{int(head_hi) - 1}][0-9]{{{rest}}}")
    parts.append(head_hi + "(" + _digits_range("0" * rest, hi[1:]) + ")")
    return "|".join(parts)


def number_range_regex(lo: int, hi: int) -> str:
    """A regex matching exactly the decimal integers ``lo..hi`` (no leading zeros)."""
    if lo < 0 or hi < lo:
        raise ValueError(f"bad range {lo}..{hi}")
    parts = []
    start = lo
    while start <= hi:
        width = len(str(start))
        end = min(hi, 10**width - 1)
        parts.append(_digits_range(str(start), str(end)))
        start = end + 1
    return "(" + "|".join(parts) + ")"


def chunk_program_regex(first: int, last: int, max_calls: int = 10) -> str:
    """Regex of a chunk program for the chunk of lines ``first..last``.

    Args:
        first: Global number of the chunk's first line.
        last: Global number of its last line.
        max_calls: Most calls (lines) in the program; the grammar then forces the end.
    """
    n = number_range_regex(first, last)
    call = (
        r"(keep_chunk\(\)|skip_chunk\(\)|untouch_doc\(\)"
        rf"|remove_lines\((line_start={n}, line_end={n}|{n}, (line_end=)?{n})\)"
        rf"|normalize\(((source_str=)?{_STRING}(, target_str={_STRING_OR_EMPTY})?"
        rf"|{_STRING}, {_STRING_OR_EMPTY})\))"
    )
    return call + r"(\n" + call + rf"){{0,{max(0, max_calls - 1)}}}"
