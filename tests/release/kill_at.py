"""Run one ``prox`` command and SIGKILL it at a chosen point (a test helper, run as a script).

Usage: ``python kill_at.py MODULE:NAME N before|after|pause=PATH PROX_ARGS...``

``MODULE.NAME`` (``NAME`` may be ``Class.method``) is wrapped so that its ``N``-th call kills
the process with a real SIGKILL — before the call runs, or once it has returned; or, with
``pause=PATH``, holds once the call has returned until the file ``PATH`` exists (``PATH.reached`` says it got
there), to run another command in between two steps of this one. The kill is
real (no ``finally``, no atexit, no flush: what a lost node or the OOM killer leaves); the
wrapper only places it, because no timing from outside the process hits "between these two
writes" every time. ``N`` 0 wraps nothing: the command runs through.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import time


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _hold(path: str) -> None:
    open(f"{path}.reached", "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.01)


def arm(target: str, nth: int, when: str) -> None:
    module_name, _, attr_path = target.partition(":")
    owner = importlib.import_module(module_name)
    *parents, attr = attr_path.split(".")
    for parent in parents:
        owner = getattr(owner, parent)
    real = getattr(owner, attr)
    calls = 0

    @functools.wraps(real)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == nth and when == "before":
            _die()
        result = real(*args, **kwargs)
        if calls == nth and when.startswith("pause="):
            _hold(when.removeprefix("pause="))
        if calls == nth and when == "after":
            _die()
        return result

    setattr(owner, attr, wrapper)


if __name__ == "__main__":
    target, nth, when, *prox_args = sys.argv[1:]
    if int(nth):
        arm(target, int(nth), when)
    from prox_tasks.cli import main

    sys.exit(main(prox_args))
