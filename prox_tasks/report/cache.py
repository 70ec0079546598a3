"""Files the report reads, kept between page views until they change.

A page view asks for the current version of each file it shows (a ``stat`` locally, a HEAD
request on S3: :func:`prox_tasks.storage.version_of`) and parses it again only when that
changed. The cache is small and bounded (least recently used entries go first).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

MAX_ENTRIES = 2048


class VersionedCache:
    """Values keyed by ``key`` and valid while ``versions`` stay the same."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, versions: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == versions:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
        value = compute()  # outside the lock: another page may read another file meanwhile
        with self._lock:
            self.misses += 1
            self._entries[key] = (versions, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


CACHE = VersionedCache()


def read_json(uri: str, folder: str) -> Any | None:
    """The JSON document at ``uri`` (None when there is none, or it is not a file of
    ``folder``: :func:`prox_tasks.report.roots.served_file`, so a link planted in a
    snapshot's folder is not followed out of it), parsed once per version."""
    from prox_tasks.report.roots import served_file
    from prox_tasks.storage import read_bytes, version_of

    if not served_file(uri, folder):
        return None
    version = version_of(uri)
    if version is None:
        return None
    return CACHE.get(("json", uri), version, lambda: json.loads(read_bytes(uri)))
