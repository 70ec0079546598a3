"""Where atomic writers keep their temporary files, and the sweep of ones a killed process left.

Every temporary file name carries the writing process's host and pid
(``<prefix><host>.<pid>.<random>``). A file whose process is gone (same host, pid not
alive) is stale: :func:`sweep_stale` removes it. The sweep runs before a process's first
write into a folder (once per folder and process: a folder of many shards is not listed
again for each), so a rerun after ``kill -9`` leaves no debris. Files of other hosts (a shared file
system) are never touched.

S3 uploads are staged in :func:`upload_dir`: ``$PROX_TMPDIR`` or ``<system temp>/prox-uploads``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile

from prox_tasks.storage import processes

log = logging.getLogger(__name__)


def host_tag(hostname: str) -> str:
    """``hostname`` as temporary file names carry it: letters, digits and ``-``, at most 40
    characters. A longer name keeps its first 31 and a digest of the whole: hosts of one
    pool (``gke-<cluster>-<pool>-<hash>-<node>``) differ only at the end, and cut at 40
    their files would read as this host's, swept while their writer runs."""
    tag = re.sub(r"[^A-Za-z0-9-]", "-", hostname)
    if len(tag) > 40:
        tag = f"{tag[:31]}-{hashlib.sha256(hostname.encode()).hexdigest()[:8]}"
    return tag or "host"


_HOST = host_tag(socket.gethostname())
_TAG = re.compile(r"(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.")


def temp_tag() -> str:
    """``<host>.<pid>.``: the part of a temporary file name that says who writes it."""
    return f"{_HOST}.{os.getpid()}."


def upload_dir() -> str:
    """The folder S3 uploads are staged in (created, private)."""
    path = os.environ.get("PROX_TMPDIR") or os.path.join(tempfile.gettempdir(), "prox-uploads")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


_swept: set[tuple[int, str, str, str]] = set()


def sweep_stale(directory: str, prefix: str = "", marker: str = "", once: bool = True) -> int:
    """Remove temporary files (or folders) in ``directory`` whose writer died; returns how
    many. One that cannot be removed (another user's, in a shared temp folder) is left.

    Args:
        directory: The folder to sweep (not recursive).
        prefix: Only names starting with this.
        marker: The text just before the host/pid tag (e.g. ``.tmp-``).
        once: Skip a folder this process already swept.
    """
    key = (os.getpid(), os.path.abspath(directory), prefix, marker)
    if once and key in _swept:
        return 0
    _swept.add(key)
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        if not name.startswith(prefix):
            continue
        at = name.find(marker, len(prefix)) if marker else len(prefix)
        match = _TAG.match(name, at + len(marker)) if at >= 0 else None
        if match is None or match["host"] != _HOST or processes.alive(int(match["pid"])):
            continue
        path = os.path.join(directory, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):  # a scratch folder
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as err:  # not this user's (a shared /tmp): a tidy-up never fails a run
            log.info(
                "left %s, a temporary of a process gone, which cannot be removed: %s", path, err
            )
    return removed
