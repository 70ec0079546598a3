"""Local-disk backend: temporary file in the target folder, fsync, then ``os.replace``."""

from __future__ import annotations

import glob
import os

from prox_tasks.storage.atomic import AtomicWriter
from prox_tasks.storage.opened import Opened
from prox_tasks.storage.tempfiles import sweep_stale, temp_tag
from prox_tasks.storage.uri import Location

TEMP_MARK = ".tmp-"


def temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}{TEMP_MARK}"


def open_read(loc: Location):
    return open(loc.path, "rb")


def opened(loc: Location, stream) -> Opened:
    """The identity of the file ``stream`` (:func:`open_read`'s) reads: its open file's stat."""
    return _identity(loc, os.fstat(stream.fileno()))


def identity(loc: Location) -> Opened:
    """The identity of the file at ``loc`` (a stat)."""
    return _identity(loc, os.stat(loc.path))


def _identity(loc: Location, st: os.stat_result) -> Opened:
    return Opened(loc.uri, st.st_size, version_of_stat(st))


def version_of_stat(st: os.stat_result) -> str:
    """A file's version token (:func:`version`) from its stat."""
    return f"{st.st_mtime_ns}-{st.st_size}"


#: Tries to make a file's folder and its temporary file in it, when the folder is removed
#: in between (:func:`open_write`).
FOLDER_TRIES = 100


def open_write(loc: Location) -> AtomicWriter:
    """An atomic writer of ``loc``: its folder made, a temporary file in it, renamed at close.

    An emptied folder may be removed by another process between its ``makedirs`` and the
    temporary file's creation (a run ending removes the snapshot's emptied ``_checkpoints/``
    folders while another run starts a shard's first checkpoint there:
    :func:`~prox_tasks.refine.checkpoint.remove_empty_checkpoint_folders`): the folder is
    made again (its parent too), up to :data:`FOLDER_TRIES` times; once the temporary file
    is in it, the folder is no longer empty and stays."""
    directory = os.path.dirname(loc.path) or "."

    def publish(temp_path: str) -> None:
        os.replace(temp_path, loc.path)
        _fsync_dir(directory)

    for attempt in range(FOLDER_TRIES):
        try:
            os.makedirs(directory, exist_ok=True)  # its parent too may go in between
            # the temporary file at once: the folder is empty only until it is created
            writer = AtomicWriter(publish, directory, temp_prefix(loc.path) + temp_tag())
        except FileNotFoundError:
            if attempt + 1 >= FOLDER_TRIES:
                raise
            continue
        # temp files of killed writers in this folder (any target; never a live writer's)
        sweep_stale(directory, ".", TEMP_MARK)
        return writer
    raise AssertionError("unreachable")  # the loop returns or raises


def temp_folder(path: str) -> str:
    """A new private folder beside ``path``, to be renamed to it once complete (a model
    downloaded into the cache), named as the temporary files of :func:`open_write` are —
    ``.<name>.tmp-<host>.<pid>.<random>`` — so a killed process's is swept as theirs are:
    the folder's temporaries of dead processes of this host are removed first."""
    import tempfile

    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    sweep_stale(directory, ".", TEMP_MARK)
    return tempfile.mkdtemp(prefix=temp_prefix(path) + temp_tag(), dir=directory)


def move(src: Location, dst: Location) -> None:
    """Rename ``src`` to ``dst`` (:func:`prox_tasks.storage.files.move`)."""
    directory = os.path.dirname(dst.path) or "."
    os.makedirs(directory, exist_ok=True)
    os.replace(src.path, dst.path)
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_if_exists(loc: Location) -> bytes | None:
    try:
        with open(loc.path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def exists(loc: Location) -> bool:
    return os.path.exists(loc.path)


def is_dir(loc: Location) -> bool:
    return os.path.isdir(loc.path)


def size(loc: Location) -> int:
    return os.path.getsize(loc.path)


def version(loc: Location) -> str | None:
    try:
        st = os.stat(loc.path)
    except FileNotFoundError:
        return None
    return version_of_stat(st)


def remove(loc: Location) -> bool:
    try:
        os.remove(loc.path)
        return True
    except FileNotFoundError:
        return False


def list_files(loc: Location, skip_folder=None) -> list[str]:
    """Every file under the folder ``loc`` (recursive), as absolute paths. Symbolic links to
    folders are followed, as a glob's ``**`` follows them, each real folder once (a link
    back up the tree is not a loop). A folder below ``loc`` whose name ``skip_folder`` is
    true of is not entered (the hidden ones of :func:`~prox_tasks.storage.files.list_uri`:
    their files would be left out anyway, and one prox may not list — another user's
    ``_temporary`` — must not fail the listing).

    Raises:
        PermissionError: a folder below it may not be listed (os.walk would pass over it,
            and its files would be left out unseen); OSError for another failure to list.
    """
    found = []
    seen = {os.path.realpath(loc.path)}
    for root, dirs, files in os.walk(loc.path, followlinks=True, onerror=_unlisted):
        fresh = []
        for name in sorted(dirs):
            if skip_folder is not None and skip_folder(name):
                continue
            real = os.path.realpath(os.path.join(root, name))
            if real not in seen:
                seen.add(real)
                fresh.append(name)
        dirs[:] = fresh
        found.extend(os.path.join(root, name) for name in files)
    return found


def _unlisted(err: OSError) -> None:
    """os.walk's error handler: a folder gone meanwhile (or never there) holds nothing to
    read; any other failure raises, naming the fix for a folder without permission."""
    if isinstance(err, FileNotFoundError):
        return
    if isinstance(err, PermissionError):
        raise PermissionError(err.errno, f"{err.strerror} (an input folder prox may not list: "
                              "make it readable and searchable, chmod a+rx, or move it out of "
                              "the input)", err.filename) from err
    raise err


def glob_files(pattern: str) -> list[str]:
    """The paths ``pattern`` matches, but folders: a link to nothing, a loop of links or a
    named pipe is listed as a folder's listing lists it, for the reader to refuse by name
    (left out, its documents were lost unsaid)."""
    return [p for p in glob.glob(pattern, recursive=True) if not os.path.isdir(p)]


def cleanup_partial(loc: Location) -> int:
    """Remove temporary files a killed writer of ``loc`` left behind; returns how many. A
    live writer's (another run refining the same shard at the same time) is left alone:
    each writer publishes its own file atomically."""
    return sweep_stale(os.path.dirname(loc.path), temp_prefix(loc.path), once=False)
