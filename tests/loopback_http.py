"""One real HTTP server on loopback for tests that need an endpoint to misbehave on cue.

Each test gives a ``respond(request)`` function; the server runs it for every request in its
own thread and writes back what it returns. Use it as a context manager or call
:meth:`LoopbackHTTPServer.close`.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Request:
    """What a client sent."""

    method: str
    path: str
    headers: Message  # case-insensitive, as clients spell names as they like
    body: bytes
    #: Whether the client has closed the connection (a cancelled request), asked while the
    #: test's ``respond`` holds the answer back.
    client_gone: Callable[[], bool] = lambda: False


@dataclass
class Response:
    """What the server answers; ``Content-Length`` is set from ``body``."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _closed(connection: socket.socket) -> bool:
    """Whether the peer of ``connection`` closed it (readable, and nothing to read)."""
    if not select.select([connection], [], [], 0)[0]:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class LoopbackHTTPServer:
    """A threaded HTTP server on ``127.0.0.1`` (a free port) that answers with ``respond``.

    Args:
        respond: called with each :class:`Request`; returns the :class:`Response`.
    """

    def __init__(self, respond: Callable[[Request], Response]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = respond(Request(self.command, self.path, self.headers, body,
                                         lambda: _closed(self.connection)))
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server's naming

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LoopbackHTTPServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
