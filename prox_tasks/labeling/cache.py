"""A response cache on disk: a rerun of the ``llm`` teacher never pays twice.

Keyed by the SHA-256 of (model, prompt version, request kind, the exact prompt text and
generation settings): the document's hash is part of the prompt's. One small JSON file per
response under ``<dir>/<2 hex>/<64 hex>.json``, written atomically (temp file + rename), so
concurrent workers and killed runs never leave a torn entry. Only successful answers are
stored, and they are passed through the redactor first. A folder that cannot be written (a
read-only mount, another user's) is refused when the cache is made, before any request is
paid (:class:`CacheNotWritable`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

#: The temporary name the cache's own mkstemp gave an entry before it wrote through the
#: storage layer (e903093): no host or pid, so a killed run's was never swept. In the
#: cache's folders nothing else is named so.
LEGACY_TEMP = r"\.tmp-[a-z0-9_]{8}\.json"


class CacheNotWritable(PermissionError):
    """The response cache's folder cannot be written: a setting to fix, which no rerun heals
    (``prox label`` exits 2, a DAG task fails without retries)."""


def cache_key(**parts) -> str:
    """Stable key of the parts (JSON with sorted keys, hashed)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    """Responses by key in a folder (``None`` folder: a cache that stores nothing)."""

    def __init__(self, folder: str | os.PathLike | None) -> None:
        self.folder = Path(folder) if folder else None
        if self.folder:
            self._check_writable()

    def _check_writable(self) -> None:
        """Fail now, not after the first answer was paid for and lost: before, a read-only
        folder ended the run at its first write with only ``Read-only file system: <dir>/b6``,
        naming neither the cache nor what to do."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=self.folder).close()
        except OSError as err:
            raise CacheNotWritable(
                f"the llm teacher's response cache folder {self.folder} cannot be written "
                f"({err.strerror or err}): give a folder this user can write (prox label "
                "--cache-dir DIR; \"cache_dir\" in the seed DAG's teacher_options), or none to "
                "cache no answer (a rerun then asks the endpoint again)") from err

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if not self.folder:
            return None
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None  # absent, or unreadable: ask again

    def put(self, key: str, value: dict) -> None:
        if not self.folder:
            return
        from prox_tasks.storage import put_atomic
        from prox_tasks.storage.local import TEMP_MARK
        from prox_tasks.storage.tempfiles import sweep_stale

        path = self._path(key)
        # an older prox's temp files too (once per folder and process; a day untouched)
        sweep_stale(str(path.parent), ".", TEMP_MARK, legacy=LEGACY_TEMP)
        # the storage layer's writer: its temp file goes when the write fails (a full disk,
        # named), and a killed run's is swept by the next write into the folder
        put_atomic(str(path), json.dumps(value, ensure_ascii=False))
