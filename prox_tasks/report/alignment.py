"""Line opcodes of a refined document against its input, in about linear time.

The program only removes lines and replaces strings inside lines, so the refined lines are
the input's in order, less the removed ones, some normalized. A walk over both finds each
refined line at its next occurrence in the input (a position index, not a scan) and takes
the run of equal lines from there; only the stretches it cannot place (normalized lines and
what lies between them and the next placed line) go to :class:`difflib.SequenceMatcher`,
which is quadratic in what it is given: a whole 8,000-line page took it 12 s.
"""

from __future__ import annotations

from bisect import bisect_left
from difflib import SequenceMatcher

#: Occurrences of a repeated line weighed for where it goes (see :func:`_placed`).
CANDIDATES = 32


def _positions(lines: list[str]) -> dict[str, list[int]]:
    where: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        where.setdefault(line, []).append(i)
    return where


def _run(lines_in: list[str], lines_out: list[str], p: int, j: int) -> int:
    """How many lines are equal from ``lines_in[p]`` and ``lines_out[j]`` on."""
    k = 0
    while (p + k < len(lines_in) and j + k < len(lines_out)
           and lines_in[p + k] == lines_out[j + k]):
        k += 1
    return k


def _next(where: dict[str, list[int]], line: str, start: int) -> int | None:
    """The first position of ``line`` at or after ``start`` (None: there is none)."""
    found = where.get(line)
    if not found:
        return None
    k = bisect_left(found, start)
    return found[k] if k < len(found) else None


def _placed(where: dict[str, list[int]], lines_in: list[str], lines_out: list[str], i: int,
            j: int, before: int) -> tuple[int, int, int] | None:
    """Where ``lines_out[j]`` goes at or after input line ``i``: ``(p, back, run)``, the block
    of equal lines ``lines_in[p - back:p + run]`` (None: nowhere).

    The block may take back up to ``before`` lines of the block just placed (the lines that
    end it recur right before ``p``), and the occurrence giving the longest block wins, the
    earliest of equals (and the block just placed keeps what it ties on): that is how
    :class:`SequenceMatcher` places a line that occurs more than once (a blank line, a
    repeated date), taking the longest block first. Only the next :data:`CANDIDATES`
    occurrences are weighed, so that a page of blank lines stays linear.
    """
    found = where.get(lines_out[j])
    if not found:
        return None
    first = bisect_left(found, i)
    # never past where the next line could go first: a later block of a blank line must not
    # skip the lines that follow it (difflib places those longer blocks first)
    limit = _next(where, lines_out[j + 1], i) if j + 1 < len(lines_out) else None
    best = None
    for p in found[first:first + CANDIDATES]:
        if best is not None and limit is not None and p > limit:
            break
        run = _run(lines_in, lines_out, p, j)
        back = 0
        while (back < before and p - back > i
               and lines_in[p - back - 1] == lines_out[j - back - 1]):
            back += 1
        if run + back <= before:
            back = 0  # a tie or less: the block just placed keeps its lines
        if best is None or run + back > best[1] + best[2]:
            best = (p, back, run)
    return best


def line_opcodes(lines_in: list[str], lines_out: list[str]) -> list[tuple]:
    """Opcodes turning ``lines_in`` into ``lines_out`` (:meth:`SequenceMatcher.get_opcodes`
    form: ``equal``, ``delete``, ``insert``, ``replace``)."""
    where = _positions(lines_in)
    ops: list[tuple] = []
    i = j = 0
    while j < len(lines_out):
        before = ops[-1][2] - ops[-1][1] if ops and ops[-1][0] == "equal" else 0
        placed = _placed(where, lines_in, lines_out, i, j, before)
        if placed is not None:
            p, back, run = placed
            if back:  # the lines the previous block gives up
                _, i1, i2, j1, j2 = ops.pop()
                if i2 - back > i1:
                    ops.append(("equal", i1, i2 - back, j1, j2 - back))
                i, j = i - back, j - back
            if p - back > i:
                ops.append(("delete", i, p - back, j, j))
            ops.append(("equal", p - back, p + run, j, j + run + back))
            i, j = p + run, j + run + back
            continue
        # lines not found ahead (normalized): up to the next line that is, compared closely
        j2, p2 = j + 1, None
        while j2 < len(lines_out):
            p2 = _next(where, lines_out[j2], i)
            if p2 is not None:
                break
            j2 += 1
        i2 = len(lines_in) if p2 is None else p2
        matcher = SequenceMatcher(None, lines_in[i:i2], lines_out[j:j2], autojunk=False)
        ops += [(op, i + a1, i + a2, j + b1, j + b2)
                for op, a1, a2, b1, b2 in matcher.get_opcodes()]
        i, j = i2, j2
    if i < len(lines_in):
        ops.append(("delete", i, len(lines_in), j, j))
    return ops
