"""Whether a process that wrote something (a temporary file, a catalog booking, a claim) still
runs: the one check every caller uses.

A process id alone can name another process later (ids are reused), and a host name alone
can be shared by containers that see different processes. So a process is named by its id
and start time (:func:`started`), and the processes it can see by :func:`machine`: the
kernel's boot id and the process-id namespace. Two records of one host name but another
machine cannot be checked against each other — except across a restart: the same host name
and the same installation (:func:`installation`, ``/etc/machine-id``) under another boot id
is this machine before it restarted, and every process of that boot has ended
(:func:`boot_ended`).
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


#: Where the system's machine id is kept (systemd's, then D-Bus's older place).
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


@functools.lru_cache(maxsize=1)
def installation() -> str:
    """This system's machine id: written once when it is installed, the same across its
    restarts, another on another machine (``""`` where there is none, as in many container
    images: a restart then cannot be told from another machine of the same host name)."""
    for path in MACHINE_ID_FILES:
        try:
            with open(path) as found:
                machine_id = found.read().strip()
        except OSError:
            continue
        if machine_id:
            return machine_id
    return ""


def boot_ended(theirs: dict, mine: dict) -> bool:
    """Whether the process recorded as ``theirs`` ran on this system (``mine``) before it
    last restarted: the same ``host`` name and ``installation`` (:func:`installation`)
    under another boot id (the first part of :func:`machine`). That boot has ended, and
    every process of it. Records without an installation cannot tell (False)."""
    if theirs.get("host") != mine.get("host") or not theirs.get("installation") \
            or theirs.get("installation") != mine.get("installation"):
        return False
    their_boot = (theirs.get("machine") or "").partition("/")[0]
    my_boot = (mine.get("machine") or "").partition("/")[0]
    return bool(their_boot and my_boot) and their_boot != my_boot
