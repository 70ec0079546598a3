"""moto's S3 server over real HTTP, with a switch that makes it fail for real.

:class:`FaultyMotoServer` is moto's ``ThreadedMotoServer`` whose WSGI app sits behind
:class:`FaultSwitch`: after ``pass_requests`` more requests pass, the next ``fail_requests``
requests (``None``: all of them) get an S3 error response over HTTP (500 InternalError or
503 SlowDown) — what a store that goes down, or throttles, sends.
"""

from __future__ import annotations

import threading

from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server

ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}


class FaultSwitch:
    """WSGI middleware counting requests and failing the chosen ones."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.requests = 0
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request, any process
        self.failed = 0
        self.failed_methods: list[str] = []
        self._pass = None
        self._fail = 0
        self._status = 500
        self._match = None

    def arm(self, pass_requests: int = 0, fail_requests: int | None = None, status: int = 500,
            match=None):
        """Fail ``fail_requests`` requests (None: all) after ``pass_requests`` more pass.

        ``match(environ) -> bool`` limits counting and failing to some requests (e.g. only
        multipart part uploads); the others pass untouched.
        """
        with self.lock:
            self._pass, self._fail, self._status = pass_requests, fail_requests, status
            self._match = match
            self.failed = 0
            self.failed_methods = []

    def disarm(self):
        with self.lock:
            self._pass = None

    def __call__(self, environ, start_response):
        with self.lock:
            self.requests += 1
            self.seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
            fail = False
            if self._pass is not None and (self._match is None or self._match(environ)):
                if self._pass > 0:
                    self._pass -= 1
                elif self._fail is None or self._fail > 0:
                    fail = True
                    self.failed += 1
                    self.failed_methods.append(environ["REQUEST_METHOD"])
                    if self._fail is not None:
                        self._fail -= 1
        if not fail:
            return self.app(environ, start_response)
        # Drain the request body like a real server before answering.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)
        code, message = ERRORS[self._status]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fault</RequestId></Error>"
        ).encode()
        reason = "Internal Server Error" if self._status == 500 else "Service Unavailable"
        start_response(
            f"{self._status} {reason}",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [body]


def is_part_upload(environ) -> bool:
    """A multipart ``UploadPart`` request."""
    return environ["REQUEST_METHOD"] == "PUT" and "partNumber=" in environ.get("QUERY_STRING", "")


class FaultyMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer on an ephemeral loopback port, behind a :class:`FaultSwitch`."""

    def __init__(self):
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.faults: FaultSwitch | None = None

    def _server_entry(self) -> None:
        from moto.server import MotoRequestHandler

        self.faults = FaultSwitch(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, self.faults, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def endpoint_url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"
