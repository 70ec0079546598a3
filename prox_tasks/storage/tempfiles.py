"""Where atomic writers keep their temporary files, and the sweep of ones a killed process left.

Every temporary file name carries the writing process's host and pid
(``<prefix><host>.<pid>.<random>``). A file whose process is gone (same host, pid not
alive) is stale: :func:`sweep_stale` removes it. The sweep runs before a process's first
write into a folder (once per folder and process: a folder of many shards is not listed
again for each), so a rerun after ``kill -9`` leaves no debris. Files of other hosts (a shared file
system) are never touched.

Older prox versions named some temporaries without host or pid (a tagger checkpoint's
``tagger_checkpoint.pt.<pid>.tmp``, the llm cache's ``.tmp-XXXXXXXX.json``, a model
download's ``.<key>-XXXXXXXX``), so no sweep ever took a killed writer's. Whether their
writer lives cannot be told from the name: a caller that knows such a name is its own in
that folder passes its pattern (``legacy``), and the sweep removes one untouched for
:data:`LEGACY_GRACE_SECONDS`, far longer than an old writer takes to write one.

Scratch space (S3 uploads staged, the repeated-id search's spill, a quarantine past 8 MiB,
the gate's Data Docs before they are published) is in :func:`scratch_dir`: ``$PROX_TMPDIR``, the operator's
choice (a volume with room), else the system temp folder (S3 uploads in its
``prox-uploads``: :func:`upload_dir`). Folders for unix sockets (vLLM's, the refine workers'
fork server's) are made by :func:`socket_dir`.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import shutil
import socket
import tempfile
import time

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


def scratch_path(default: str = "") -> str:
    """The folder :func:`scratch_dir` gives, named without being made (nor checked): what a
    message names, where making it (or refusing a bad ``PROX_TMPDIR``) is not its business."""
    path = os.environ.get("PROX_TMPDIR") or os.path.join(tempfile.gettempdir(), default)
    return path.rstrip(os.sep) or os.sep  # no default: the temp folder itself, as named


def scratch_dir(default: str = "") -> str:
    """The folder prox's scratch files go in (created, private when created): ``$PROX_TMPDIR``
    when set, else the system temp folder (``$TMPDIR``), or its subfolder ``default``.

    Every writer of scratch files takes its folder here: one that went to the system temp
    folder instead filled a small ``/tmp`` (a container's overlay, a tmpfs counted as memory)
    while the operator had pointed ``PROX_TMPDIR`` at a volume with room."""
    path = scratch_path(default)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as err:
        if not os.environ.get("PROX_TMPDIR"):
            raise
        raise _tmpdir_invalid(_tmpdir_problem(path) or f"{err.strerror}: {err.filename}") from None
    return path


#: The longest path a unix socket can have (``sun_path``: 108 bytes with its NUL).
SOCKET_PATH_MAX = 107
_socket_dirs = itertools.count()


def socket_dir(prefix: str, socket_name: int) -> str | None:
    """Make a folder for a library's unix sockets (and what it writes beside them) and
    return it: ``<prefix><host>.<pid>.<n>`` in :func:`scratch_dir`, after removing those of
    processes gone (:func:`sweep_stale`: killed, or ended by ``os._exit`` as an Airflow
    task's process is, where nothing removed theirs).

    The name is short (a counter, no random part) because a socket's whole path must fit
    :data:`SOCKET_PATH_MAX` bytes: where it would not in ``PROX_TMPDIR`` (a deep folder) the
    folder is made in the system temp folder; where it fits in neither, None: the library
    keeps its own place (what worked before, leaving its sockets, beats a start that fails).

    Args:
        prefix: The folder's name before the host/pid tag (``prox-vllm-``).
        socket_name: The length of the longest name a socket in the folder has.
    """
    for base in dict.fromkeys((scratch_dir(), tempfile.gettempdir())):
        name = f"{prefix}{temp_tag()}{next(_socket_dirs)}"
        if len(os.path.join(base, name, "x" * socket_name)) > SOCKET_PATH_MAX:
            continue
        sweep_stale(base, prefix, once=False)
        while True:
            folder = os.path.join(base, name)
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:  # a process before this one had this pid: not ours
                name = f"{prefix}{temp_tag()}{next(_socket_dirs)}"
                continue
            if _takes_sockets(folder):
                return folder
            shutil.rmtree(folder, ignore_errors=True)
            break
    log.info("%s… not made: no folder of %s takes a unix socket (a path over %d bytes, or a "
             "file system without sockets)", prefix, " or ".join(dict.fromkeys((
                 scratch_dir(), tempfile.gettempdir()))), SOCKET_PATH_MAX)  # fmt: skip
    return None


def _takes_sockets(folder: str) -> bool:
    """Whether a unix socket can be bound in ``folder``: not on every file system a
    ``PROX_TMPDIR`` may be on (FUSE mounts of object stores, SMB shares refuse ``bind``)."""
    probe = os.path.join(folder, ".probe")
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(probe)
    except OSError as err:
        log.info("%s takes no unix socket (%s): the system temp folder is used", folder, err)
        return False
    os.unlink(probe)
    return True


def tagged_tempdir(prefix: str, directory: str | None = None) -> str:
    """A new private folder ``<prefix><host>.<pid>.<random>`` in ``directory`` (default: the
    system temp folder), after removing the folders of that prefix whose process is gone
    (:func:`sweep_stale`): one a killed process could not remove goes with the next."""
    directory = directory or tempfile.gettempdir()
    sweep_stale(directory, prefix)
    return tempfile.mkdtemp(prefix=prefix + temp_tag(), dir=directory)


def check_scratch_dir() -> None:
    """Refuse a ``PROX_TMPDIR`` that cannot hold scratch files, before any work, without
    creating it: a command that spills only past some size (a quarantine past 8 MiB, the id
    search) would otherwise fail deep in a run, or in the next run that grows. Cheap: no
    file is written; the folder, or its nearest existing parent, is looked at.

    Raises:
        prox_tasks.pipeline.settings.SettingInvalid: a part of the path is a file, or the
            folder (or the parent it would be made in) cannot be written.
    """
    path = os.environ.get("PROX_TMPDIR")
    problem = _tmpdir_problem(path) if path else None
    if problem:
        raise _tmpdir_invalid(problem)


def _tmpdir_problem(path: str) -> str | None:
    """Why scratch files cannot be made in the folder ``path`` (None: they can, as far as
    can be told without writing): a part of it a file, or the folder — or, not there yet,
    the nearest existing folder it would be made in — not writable by this user."""
    found = os.path.abspath(path)
    while not os.path.lexists(found):  # the nearest part that exists: where it is made
        found = os.path.dirname(found)
    if not os.path.isdir(found):
        return f"{found} is a file where a folder is needed"
    if not os.access(found, os.W_OK | os.X_OK):
        return f"{found} cannot be written by this user"
    return None


def _tmpdir_invalid(problem: str):
    """The error for a ``PROX_TMPDIR`` that cannot hold scratch files (``problem``: why)."""
    from prox_tasks.pipeline.settings import SettingInvalid

    return SettingInvalid(
        f"PROX_TMPDIR={os.environ.get('PROX_TMPDIR')!r} cannot hold prox's scratch files "
        f"({problem}): set PROX_TMPDIR to a folder this user can write (on a volume with "
        "room), or unset it to use the system temp folder")


def upload_dir() -> str:
    """The folder S3 uploads are staged in (:func:`scratch_dir`, ``prox-uploads`` of the
    system temp folder unless ``$PROX_TMPDIR``)."""
    return scratch_dir("prox-uploads")


#: How long a temporary of an older prox's naming (no host or pid: whether its writer lives
#: cannot be told) lies untouched before a sweep takes its writer for dead: a day, where an
#: old writer wrote one in minutes (a checkpoint, a download's next file).
LEGACY_GRACE_SECONDS = 24 * 3600

_swept: set[tuple[int, str, str, str, str | None]] = set()


def sweep_stale(directory: str, prefix: str = "", marker: str = "", once: bool = True,
                legacy: str | None = None) -> int:
    """Remove temporary files (or folders) in ``directory`` whose writer died; returns how
    many. One that cannot be removed (another user's, in a shared temp folder) is left.

    Args:
        directory: The folder to sweep (not recursive).
        prefix: Only names starting with this.
        marker: The text just before the host/pid tag (e.g. ``.tmp-``).
        once: Skip a folder this process already swept.
        legacy: A regular expression a whole name matches when it is a temporary an older
            prox left in this folder under a name without host and pid; such one is removed
            once neither it nor anything in it was modified for :data:`LEGACY_GRACE_SECONDS`.
            Only for names that, in this folder, can be nothing but prox's own.
    """
    key = (os.getpid(), os.path.abspath(directory), prefix, marker, legacy)
    if once and key in _swept:
        return 0
    _swept.add(key)
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    old_before = time.time() - LEGACY_GRACE_SECONDS
    for name in names:
        path = os.path.join(directory, name)
        if legacy is not None and re.fullmatch(legacy, name):
            if _last_modified(path) < old_before:
                removed += _remove(path)
            continue
        if not name.startswith(prefix):
            continue
        at = name.find(marker, len(prefix)) if marker else len(prefix)
        match = _TAG.match(name, at + len(marker)) if at >= 0 else None
        if match is None or match["host"] != _HOST or processes.alive(int(match["pid"])):
            continue
        removed += _remove(path)
    return removed


def _remove(path: str) -> bool:
    """Remove the stale temporary ``path`` (a file, or a scratch folder); whether it went."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):  # a scratch folder
            shutil.rmtree(path)
        else:
            os.remove(path)
        return True
    except FileNotFoundError:
        return False
    except OSError as err:  # not this user's (a shared /tmp): a tidy-up never fails a run
        log.info("left %s, a temporary of a process gone, which cannot be removed: %s", path,
                 err)
        return False


def _last_modified(path: str) -> float:
    """When ``path`` or, for a folder, anything in it was last modified (a download writing
    one large file leaves its folder's own time as it was); now when it cannot be read."""
    try:
        newest = os.lstat(path).st_mtime
        if os.path.isdir(path) and not os.path.islink(path):
            for folder, subfolders, files in os.walk(path):
                for name in subfolders + files:
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
    except OSError:  # removed meanwhile, or unreadable: not taken for old
        return time.time()
    return newest
