"""The cyclic garbage collector in a ``prox`` process and a refine worker: fewer passes.

A command's imports (torch, pyarrow, sqlalchemy: some 300,000 objects that live as long as
the process) set off full collections with Python's default thresholds, each walking every
object loaded so far, and refining allocates rows, statistics and programs fast enough to
keep the youngest generation's collections frequent: ~0.28 CPU-s of collections in a
`prox refine` of 5,000 pages, ~0.09 with a larger youngest generation (measured with
``gc.callbacks``; no full collection left). Cycles are still collected, less often. And
the interpreter's last collection at exit walks every object once more (~0.1 CPU-s), for a
process that is ending anyway: the command freezes them first.
"""

from __future__ import annotations

import gc

#: Allocations (less deallocations) of container objects between two collections of the
#: youngest generation (Python's default: 700).
YOUNG_OBJECTS = 20_000


def collect_less_often() -> None:
    """Raise the youngest generation's threshold to :data:`YOUNG_OBJECTS` (the older
    generations' thresholds unchanged)."""
    gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])



def skip_final_collection() -> None:
    """Freeze every object (``gc.freeze``) so that the collection the interpreter runs at
    exit has nothing to walk: only for a process whose work is done."""
    gc.freeze()
