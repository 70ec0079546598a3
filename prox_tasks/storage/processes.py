"""Whether a process that wrote something (a temporary file, a catalog booking, a claim) still
runs: the one check every caller uses.

A process id alone can name another process later (ids are reused), and a host name alone
can be shared by containers that see different processes. So a process is named by its id
and start time (:func:`started`), and the processes it can see by :func:`machine`: the
kernel's boot id and the process-id namespace. Two records of one host name but another
machine cannot be checked against each other.
"""

from __future__ import annotations

import functools
import os

#: :func:`started` of a process that exists but whose start time cannot be read.
UNKNOWN = -1


def started(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``); None: no
    such process, or a zombie (it ran to its end and only waits for its parent to collect
    its exit status); :data:`UNKNOWN`: it exists but its start cannot be read (no
    ``/proc``, as on macOS, or another user's process ``/proc`` hides: ``hidepid``)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # the command name (field 2) may hold spaces and parentheses: fields after its ")"
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return UNKNOWN if _exists(pid) else None
    return None if fields[0] == b"Z" else int(fields[19])


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def alive(pid: int, start: int | None = None) -> bool:
    """Whether process ``pid`` runs (and, given its ``start`` (:func:`started`), is still
    the process that started then, not a later one given the same id; a start that cannot
    be read counts as that one: when unsure, a process is alive)."""
    now = started(pid)
    return now is not None and (start is None or now in (start, UNKNOWN))


@functools.lru_cache(maxsize=1)
def machine() -> str:
    """The processes this one can see: ``<boot id>/<pid namespace>`` (Linux; ``""``
    elsewhere, where the host name is all there is)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        return f"{boot_id}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""
