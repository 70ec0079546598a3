"""Compiled kernels for the tagger's features: numba, compiled once and cached on disk.

The features loop over every character of a batch once or twice (:mod:`line_counts`,
:mod:`line_hashing`); in numpy each of those loops would be dozens of whole-array passes.
:func:`kernel` compiles such a loop with numba (``nogil``: the threads of a worker may run
them at once) and keeps the machine code in a cache folder, so only the first run of a
version of prox compiles (a few CPU-seconds); later processes load it from there.

The cache folder is ``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/prox/numba``
(``~/.cache/prox/numba``), else, when neither can be written, this user's own folder in the
temporary directory (never one another user could write); inside it, one sub-folder per
fingerprint of the source files of the kernels defined so far. numba checks only the
source file of the function it loads, not those of the kernels it calls (in other modules,
always defined before it: imported first): a folder per fingerprint never serves a kernel
compiled against an older callee. Each version of prox adds under 1 MB; deleting the
folders is safe. Processes compiling at once are safe too: numba writes each cache file to
a temporary name and renames it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numba

__all__ = ["cache_folder", "kernel"]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False


def _private(folder: Path) -> bool:
    """Whether ``folder`` (in the shared temporary directory) is this user's alone: machine
    code loaded from a folder another user can write would run as this user."""
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        status = folder.stat()
    except OSError:
        return False
    return status.st_uid == os.getuid() and not status.st_mode & 0o022


_SOURCES: set[str] = set()  # source files of the kernels defined so far


@functools.cache
def _file_digest(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def cache_folder(sources: frozenset[str] = frozenset()) -> Path | None:
    """Where kernels depending on ``sources`` (files) are cached (None: nowhere writable)."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(sources):
        digest.update(_file_digest(path))
    return _writable_folder(digest.hexdigest()[:16])


@functools.cache
def _writable_folder(fingerprint: str) -> Path | None:
    user = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for base in filter(None, [os.environ.get("NUMBA_CACHE_DIR"),
                              os.path.join(user, "prox", "numba")]):  # fmt: skip
        if _writable(Path(base) / fingerprint):
            return Path(base) / fingerprint
    shared = Path(tempfile.gettempdir()) / f"prox-numba-{os.getuid()}"
    if _private(shared) and _writable(shared / fingerprint):
        return shared / fingerprint
    return None


def kernel(function=None, *, inline: bool = False):
    """``numba.njit(nogil=True)`` with the machine code cached in :func:`cache_folder`.

    ``inline``: a small helper called per character, compiled into its callers (a call
    that passes arrays costs reference counting, ~20 ns, more than the helper's work).
    """
    if function is None:
        return functools.partial(kernel, inline=inline)
    options = {"nogil": True, "inline": "always" if inline else "never"}
    _SOURCES.add(function.__code__.co_filename)
    folder = cache_folder(frozenset(_SOURCES))
    if folder is None:  # nothing writable: compile in each process
        return numba.njit(**options)(function)
    # numba picks a function's cache folder when it is decorated, from its config
    saved = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = str(folder)
    try:
        return numba.njit(cache=True, **options)(function)
    finally:
        numba.config.CACHE_DIR = saved
