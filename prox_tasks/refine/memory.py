"""Keep a long refine process's resident memory at what one batch needs.

Refining streams batch after batch through numpy and torch, whose large arrays come from
the C allocator. glibc's malloc raises its mmap threshold each time such an array is freed
(up to 32 MiB), so later arrays of the same size are carved from the heap instead, and the
heap's freed pages are kept: resident memory then climbs batch after batch with the largest
batches seen (measured: 242 -> 590 MB over 12 batches of real pages, while the live Python
objects stayed under 20 MB), not with what a batch needs. A fixed threshold keeps the large
arrays mapped and returned on free; trimming after each batch hands the heap's free pages
back. Both are no-ops where the C library is not glibc.

The caches torch's convolutions keep per input shape are bounded elsewhere, when
:mod:`prox_tasks` is imported (:mod:`prox_tasks.models.torch_caches`: torch sizes them at
its first thread set-up, before any refine code runs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
#: Allocations from this size are mapped and unmapped on free (a fixed value also stops
#: glibc raising it); smaller values cost CPU in page faults (128 KiB: ~30% more).
MMAP_THRESHOLD = 4 * 1024 * 1024
#: Free memory at the heap's top kept for reuse. A fixed mmap threshold drops glibc's own
#: trim threshold to 128 KiB, and featurizing then gave the heap's top back and faulted it
#: in again for every array freed and allocated (+25-50% CPU of the features, measured);
#: the heap is trimmed after every batch instead (:func:`release_free_memory`).
TRIM_THRESHOLD = 1024 * 1024 * 1024


@functools.lru_cache(maxsize=1)
def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        return libc
    except (OSError, AttributeError, TypeError):
        return None


def bound_heap() -> None:
    """Fix the allocator's mmap and trim thresholds, once per process before its first batch
    (glibc raises the mmap threshold the first time a large array is freed); an explicit
    ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` in the environment wins."""
    libc = _glibc()
    if libc is not None and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    if libc is not None and "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)


def release_free_memory() -> None:
    """Return the heap's free pages to the system (after a batch)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
