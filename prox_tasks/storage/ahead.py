"""Reads of many files (one per shard) a few at once, taken in order.

On S3 each read waits on the network (~17 ms a request on moto): one shard after another,
500 shards of a release or a gate spend most of their time waiting. :func:`read_ahead`
keeps a few reads running while the caller works through the results in order, so a caller
that judges the first bad shard in order still names it, and memory holds a bounded number
of results, not every shard's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

#: Reads running at once: on moto over HTTP the release's reads of 500 shards took 1.9x
#: less time at 8 (bench/nightly_scale.py); S3 itself serves many more in parallel.
READERS = 8
#: Results read ahead of the one the caller takes, per reader: enough that a slow result
#: does not leave the readers idle, few enough that a refusal stops the reads soon.
AHEAD_PER_READER = 4

Item = TypeVar("Item")
Result = TypeVar("Result")


def read_ahead(read: Callable[[Item], Result], items: Iterable[Item],
               readers: int = READERS, ahead: int | None = None) -> Iterator[Result]:
    """``read(item)`` of each of ``items``, in their order, ``readers`` reads at once.

    At most ``ahead`` (default ``AHEAD_PER_READER * readers``) reads are started or done
    and not yet taken: memory holds that many results, whatever the items' number. A read
    that raises raises where its result is taken, in order: the reads after it that had not
    started are cancelled and those running are waited for (nothing runs on once the
    caller has its error). A caller that stops early closes the iterator (a ``for`` loop
    left by an exception does, as a generator's garbage collection does) with the same
    effect.

    Args:
        read: Called in a worker thread with one item; what it returns is yielded.
        items: Taken lazily, as reads are started.
        readers: Threads reading at once.
        ahead: Reads started ahead of the caller (at least ``readers``).
    """
    ahead = max(readers, ahead or AHEAD_PER_READER * readers)
    items = iter(items)
    with ThreadPoolExecutor(readers, thread_name_prefix="prox-read-ahead") as pool:
        pending = deque(pool.submit(read, item) for item in islice(items, ahead))
        try:
            while pending:
                result = pending.popleft().result()
                # the next read starts before the caller works on this result
                pending.extend(pool.submit(read, item) for item in islice(items, 1))
                yield result
        finally:
            for future in pending:
                future.cancel()
