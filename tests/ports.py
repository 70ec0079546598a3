"""Loopback ports for the tests' servers, without two pytest-xdist workers racing for one.

A port found free and let go (bind port 0, close, give the number to a server started
after) can be taken meanwhile by the other worker's server, which then fails to start, or
a test meant to find nothing there finds that server. So:

- a server that can bind port 0 itself does, and is asked its port (tests/loopback_http.py,
  moto's in tests/storage/s3server.py, chromium's DevTools);
- a server that must be told its port in advance (Airflow's api-server, whose URL its tasks
  are given; PostgreSQL; Redis; vLLM) is started by :func:`start_on_free_port`, which starts
  it again on another port when its start failed on a port taken meanwhile
  (:class:`PortTaken`);
- a port where nothing may answer (a refused connection) is :func:`refused_port`'s: held
  bound, never listening, so connections to it are refused and no server can take it.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How servers say their port was taken: Python's and uvicorn's ``[Errno 98]``,
#: PostgreSQL's "could not bind IPv4 address", Redis's "Address already in use".
_TAKEN = re.compile(r"address already in use|errno 98|could not bind", re.IGNORECASE)
#: Starts tried before giving up (each on a new port: a clash twice in a row is rare).
ATTEMPTS = 5


class PortTaken(RuntimeError):
    """A server could not start because its port was taken between pick and bind."""


def free_port() -> int:
    """A loopback port free now (it may be taken before it is used: see the module)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_taken(log: str) -> bool:
    """Whether a server's output ``log`` says it could not bind its port."""
    return bool(_TAKEN.search(log))


def start_on_free_port(start: Callable[[int], T], attempts: int = ATTEMPTS) -> T:
    """``start(port)`` on a free port; again on another while it raises :class:`PortTaken`
    (the last one's error raised after ``attempts``)."""
    for attempt in range(attempts):
        try:
            return start(free_port())
        except PortTaken:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


#: The sockets holding :func:`refused_port`'s ports (closed as the process exits).
_held: list[socket.socket] = []


def refused_port() -> int:
    """A loopback port that refuses connections for as long as this process runs: bound and
    never listening, so no other server (another pytest-xdist worker's) can take it. A
    socket each: a test process asks for a few dozen."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    _held.append(held)
    return held.getsockname()[1]
