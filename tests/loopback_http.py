"""One real HTTP server on loopback for tests that need an endpoint to misbehave on cue.

Each test gives a ``respond(request)`` function; the server runs it for every request in its
own thread and writes back what it returns. Use it as a context manager or call
:meth:`LoopbackHTTPServer.close`.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


#: The headers of a JSON answer.
JSON = {"Content-Type": "application/json"}


def chat_completion(content: str) -> bytes:
    """The body of an OpenAI chat completion (as vLLM writes it) whose one choice is the
    assistant's ``content``: what a teacher's endpoint answers."""
    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 11, "completion_tokens": 3,
                                 "total_tokens": 14}}).encode()  # fmt: skip


def text_completion(text: str = "keep_doc()") -> bytes:
    """The body of an OpenAI (legacy) completion (as vLLM writes it) whose one choice is
    ``text``: what a refine backend's OpenAI-compatible server answers."""
    return json.dumps({"id": "c", "object": "text_completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 2,
                                 "total_tokens": 5}}).encode()  # fmt: skip


def answering(status: int, body: bytes, seen: list | None = None,
              headers: dict[str, str] | None = None) -> LoopbackHTTPServer:
    """A :class:`LoopbackHTTPServer` that answers every request alike: ``status``, ``body``
    and ``headers`` (JSON's by default); each request's path is appended to ``seen``."""

    def respond(request: Request) -> Response:
        if seen is not None:
            seen.append(request.path)
        return Response(status, body, dict(JSON if headers is None else headers))

    return LoopbackHTTPServer(respond)


#: A raw-socket answer: ``answer(conn, body, n)`` writes the reply to the ``n``-th request
#: (from 1) whose body was ``body``, however it likes: cut short, reset, never ending.
RawAnswer = Callable[[socket.socket, bytes, int], None]


@contextmanager
def raw_socket_server(answer: RawAnswer) -> Iterator[str]:
    """A server on loopback that reads each request whole and lets ``answer`` write the
    bytes back on the socket itself — for what :class:`LoopbackHTTPServer` cannot do, as it
    always writes a whole body: a reset in the middle of a body, a body with no end. Yields
    its base URL (``http://127.0.0.1:PORT``); the listener is closed on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    count = 0

    def serve() -> None:
        nonlocal count
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)  # a GET's none
                while len(body) < length:
                    body += conn.recv(65536)
                count += 1
                answer(conn, body, count)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def reset_after(conn: socket.socket, data: bytes) -> None:
    """Send ``data`` then reset the connection (RST, not FIN): a worker killed mid-answer."""
    conn.sendall(data)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    (1).to_bytes(4, "little") + (0).to_bytes(4, "little"))


def drip_answer(conn: socket.socket, in_headers: bool = False) -> None:
    """A :data:`RawAnswer`'s body: headers promising 60,000 bytes (under the reply caps),
    then a byte every 0.2 s for as long as the client listens (10 min): each read within
    httpx's read timeout, the whole answer never. ``in_headers``: the drip is a header's
    value, the headers never end."""
    import time

    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close"
                 + (b"\r\nX-Dripping: " if in_headers else
                    b"\r\nContent-Length: 60000\r\n\r\n"))  # fmt: skip
    try:
        for _ in range(3000):
            conn.sendall(b" ")
            time.sleep(0.2)
    except OSError:
        pass  # the client gave up and hung up
