"""Bound the caches torch's CPU convolutions keep per input shape.

The tagger's convolutions run in oneDNN, through torch's ideep front end, and both keep a
cache keyed by the input's shape. Scoring brings a new shape nearly every batch (documents
are padded to the batch's longest), so with their defaults both caches fill batch after
batch and the resident memory follows:

- oneDNN's primitive cache (``ONEDNN_PRIMITIVE_CACHE_CAPACITY``, 1,024 primitives): ~65 MB
  over the first ~100 batches of real pages before it levelled off.
- ideep's LRU cache of convolution computations (``LRU_CACHE_CAPACITY``, 1,024 entries,
  each with its primitive and buffers): the larger one. In one refine process the memory
  between batches kept rising shard after shard (+220 MB over 40 batches of 512 real pages,
  the same pages giving 346 then 569 MB), and a corpus of 1M documents peaked at 2.2x the
  peak of one batch.

Turning oneDNN's cache off and keeping one ideep entry (the last shape, which the next
window of the same length reuses) keeps the memory flat, at no measured cost in CPU time
(compiling a primitive is cheap beside running it on a batch). torch reads both once per
process, at its first call that sets up its threads (``torch.set_num_threads``, a model's
first operation): set afterwards they change nothing (measured: a worker process that set
its thread count before its model loaded kept the default caches). So importing
:mod:`prox_tasks` calls :func:`bound_torch_caches`, before any prox code calls torch; an
explicit value in the environment wins.
"""

from __future__ import annotations

import os

#: oneDNN's primitive cache: off.
ONEDNN_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
#: ideep's convolution cache: the last shape only.
IDEEP_CACHE_ENV = "LRU_CACHE_CAPACITY"
BOUNDS = {ONEDNN_CACHE_ENV: "0", IDEEP_CACHE_ENV: "1"}


def bound_torch_caches() -> None:
    """Set both cache capacities unless the environment sets them (before a model loads)."""
    for name, value in BOUNDS.items():
        os.environ.setdefault(name, value)
