"""Whether a process still runs: a real child is alive until killed, a reused id (another
start time) is another process, and a process whose start cannot be read still counts as
alive (when unsure, nobody's files or bookings are taken from a live process)."""

from __future__ import annotations

import subprocess
import sys
import time

from prox_tasks.storage import processes


def test_a_child_is_alive_until_killed_and_a_reused_id_is_another_process():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        start = processes.started(child.pid)
        assert start is not None and start >= 0
        assert processes.alive(child.pid) and processes.alive(child.pid, start)
        assert not processes.alive(child.pid, start - 1)  # the id, reused by another
    finally:
        child.kill()
    # killed but not yet collected by its parent (a zombie): it runs no more
    deadline = time.monotonic() + 30
    while processes.started(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes.started(child.pid) is None and not processes.alive(child.pid)
    child.wait(30)
    assert not processes.alive(child.pid, start)


def test_a_process_whose_start_is_hidden_counts_as_alive(monkeypatch):
    """Another user's process under /proc's ``hidepid``: its ``/proc/<pid>/stat`` cannot be
    read, though it runs. A second user and a remounted /proc cannot be had here, so the
    read of a live child's stat file is made to fail as hidepid makes it (a simulated
    fault); the child itself is real, and so is the signal that finds it."""
    import builtins

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    start = processes.started(child.pid)
    real_open = builtins.open

    def hidden(path, *args, **kwargs):
        if str(path) == f"/proc/{child.pid}/stat":
            raise PermissionError(13, "hidden by hidepid", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", hidden)
    try:
        assert processes.started(child.pid) == processes.UNKNOWN
        assert processes.alive(child.pid, start)  # when unsure, alive
    finally:
        child.kill()
        child.wait(30)
    assert processes.started(child.pid) is None  # gone: no signal finds it either
    assert not processes.alive(child.pid, start)
