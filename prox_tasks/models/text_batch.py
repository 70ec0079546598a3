"""A batch of documents as one array of code points, cut into lines.

Documents are joined with ``"\\n"`` (plus one closing ``"\\n"``), so the batch's lines are
exactly each document's ``text.split("\\n")`` in order, and every line ends in a newline.
The kernels (:mod:`line_counts`, :mod:`line_hashing`) walk the code points line by line;
the few characters whose lower case needs Python (:data:`SPECIAL`) are found here, and
the words holding them are handed to ``str`` methods.
"""

from __future__ import annotations

import numpy as np

from prox_tasks.models.codepoints import SPACE, TABLE, WORD
from prox_tasks.models.native import kernel

_NEWLINE = "\n".encode("utf-32-le")


class TextBatch:
    """Code points and lines of ``texts``.

    Attributes:
        cp: The code points of the joined text.
        line_bounds: Line ``i`` is ``[line_bounds[i], line_bounds[i + 1])`` (newline included).
        doc_lines: Document ``d`` has lines ``doc_lines[d]`` to ``doc_lines[d + 1]``.
        specials: Positions of the :data:`SPECIAL` characters (rare: ``İ``, ``Σ``).
    """

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        # each text encoded and the bytes joined: joining the str first costs twice as much
        # (mixed-width strings are widened character by character)
        self.cp = np.frombuffer(_NEWLINE.join([t.encode("utf-32-le", "surrogatepass")
                                               for t in texts] + [b""]), np.uint32)  # fmt: skip
        self.specials = TABLE.specials(self.cp)
        self.line_bounds = np.concatenate(([0], np.flatnonzero(self.cp == 10) + 1))
        n_lines = np.array([t.count("\n") + 1 for t in texts], np.int64)
        self.doc_lines = np.concatenate(([0], np.cumsum(n_lines)))

    @property
    def n_lines(self) -> int:
        return len(self.line_bounds) - 1

    def special_words(self) -> tuple[np.ndarray, list[str]]:
        """(starts, texts) of the whitespace-separated words holding a special character."""
        return self._around_specials(SPACE, False)

    def special_runs(self) -> tuple[np.ndarray, list[str]]:
        """(starts, texts) of the ``\\w+`` runs holding a special character."""
        return self._around_specials(WORD, True)

    def _around_specials(self, flag: int, inside: bool) -> tuple[np.ndarray, list[str]]:
        starts, stops = _runs_around(self.cp, TABLE.flags, self.specials, flag, inside)
        return starts, [self.cp[a:b].tobytes().decode("utf-32-le", "surrogatepass")
                        for a, b in zip(starts.tolist(), stops.tolist())]  # fmt: skip


@kernel
def _runs_around(cps, flags, positions, flag, inside):
    """(starts, stops) of the distinct maximal runs of characters whose ``flag`` is set (if
    ``inside``) or not, that hold one of the sorted ``positions``."""
    starts = np.empty(len(positions), np.int64)
    stops = np.empty(len(positions), np.int64)
    n = 0
    for p in positions:
        if ((flags[cps[p]] & flag) != 0) != inside or (n and p < stops[n - 1]):
            continue  # outside any run, or in the run just found
        a, b = p, p + 1
        while a > 0 and ((flags[cps[a - 1]] & flag) != 0) == inside:
            a -= 1
        while b < len(cps) and ((flags[cps[b]] & flag) != 0) == inside:
            b += 1
        starts[n], stops[n] = a, b
        n += 1
    return starts[:n], stops[:n]
