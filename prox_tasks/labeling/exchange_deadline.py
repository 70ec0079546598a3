"""A deadline for the whole of each HTTP exchange of a synchronous httpx client: its
connect, its request, the answer's headers and its body, not each read.

httpx's timeouts bound one socket operation each. An endpoint (or a proxy wedged in front of
it) dripping its answer a byte at a time — headers or body — stays within them for as long
as it drips: the ``llm`` teacher's request with a 120 s timeout was held for hours, and the
labeling with it. :func:`bound_exchanges` gives the client's connection pools a network
backend whose streams take each operation's timeout as the least of httpx's and what is left
of the exchange's deadline (``deadline()``: set as each request is sent, per thread), so the
exchange ends there as a read timeout (``httpx.ReadTimeout`` naming the deadline), which the
client retries as a timeout.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

#: The deadline of the exchange under way in this thread: (monotonic time it ends, its
#: length in seconds, for the message), or None for none.
Deadline = Callable[[], "tuple[float, float] | None"]


def bound_exchanges(client, deadline: Deadline) -> None:
    """Bound every exchange of the httpx ``client`` (its transport's connection pool, and
    each mounted proxy's) by ``deadline``.

    httpx names no option for a pool's network backend: it is set on the pool its transport
    made (``_pool``, httpcore's ``_network_backend``; httpx and httpcore are pinned in
    constraints.txt, and tests/labeling/test_chat_client.py fails when this no longer binds).
    The timeouts raised are those of the pool's own httpcore (the openai SDK's ``httpx2``
    runs on ``httpcore2``), so that its client maps them as its own.
    """
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    for transport in transports:
        pool = transport._pool
        core = importlib.import_module(type(pool).__module__.split(".")[0])
        pool._network_backend = _Backend(pool._network_backend, deadline, core)


def _said(seconds: float) -> str:
    return (f"no whole answer within the timeout of {seconds:g} s (the endpoint answers too "
            "slowly, or drips its answer)")  # fmt: skip


class _Backend:
    """A network backend (httpcore's interface) whose streams keep to the exchange's
    deadline; ``core``: the httpcore module whose timeouts it raises."""

    def __init__(self, inner, deadline: Deadline, core) -> None:
        self.inner, self.deadline, self.core = inner, deadline, core

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        with _bounded(self.deadline, timeout, self.core, "ConnectTimeout") as left:
            stream = self.inner.connect_tcp(host, port, left, local_address, socket_options)
        return _Stream(stream, self.deadline, self.core)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        with _bounded(self.deadline, timeout, self.core, "ConnectTimeout") as left:
            stream = self.inner.connect_unix_socket(path, left, socket_options)
        return _Stream(stream, self.deadline, self.core)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _Stream:
    """A network stream (httpcore's interface) keeping to the exchange's deadline."""

    def __init__(self, inner, deadline: Deadline, core) -> None:
        self.inner, self.deadline, self.core = inner, deadline, core

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _bounded(self.deadline, timeout, self.core, "ReadTimeout") as left:
            return self.inner.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _bounded(self.deadline, timeout, self.core, "WriteTimeout") as left:
            self.inner.write(buffer, left)

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        with _bounded(self.deadline, timeout, self.core, "ConnectTimeout") as left:
            stream = self.inner.start_tls(ssl_context, server_hostname, left)
        return _Stream(stream, self.deadline, self.core)

    def get_extra_info(self, info: str):
        return self.inner.get_extra_info(info)


class _bounded:
    """``with _bounded(deadline, timeout, core, kind) as left``: ``left``, the operation's
    timeout (httpx's ``timeout``, or less: what is left of the deadline); a timeout of the
    operation cut by the deadline is raised as ``core``'s ``kind`` naming the deadline
    (httpcore's says "timed out")."""

    def __init__(self, deadline: Deadline, timeout: float | None, core, kind: str):
        self.timeout, self.ours = timeout, None
        self.kind, self.timeouts = getattr(core, kind), core.TimeoutException
        ends = deadline()
        if ends is None:
            return
        at, seconds = ends
        left = at - time.monotonic()
        if left <= 0:
            raise self.kind(_said(seconds))
        if timeout is None or left < timeout:
            self.timeout, self.ours = left, seconds

    def __enter__(self) -> float | None:
        return self.timeout

    def __exit__(self, kind, err, tb) -> None:
        if self.ours is not None and isinstance(err, self.timeouts):
            raise self.kind(_said(self.ours)) from None
