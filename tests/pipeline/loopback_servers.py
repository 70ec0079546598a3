"""Real servers on loopback that record what they receive: a webhook and an SMTP server."""

from __future__ import annotations

import json
import threading

from tests.loopback_http import LoopbackHTTPServer, Request, Response


class WebhookServer(LoopbackHTTPServer):
    """``POST`` bodies (JSON) received at any path, in ``received``."""

    def __init__(self):
        self.received = []

        def record(request: Request) -> Response:
            self.received.append({"path": request.path, "body": json.loads(request.body)})
            return Response(204)

        super().__init__(record)


class SMTPServer:
    """Messages received by a real SMTP server (the standard library's ``smtpd``) on
    loopback, in ``received`` as ``(sender, recipients, data)``."""

    def __init__(self):
        import asyncore  # noqa: F401 - smtpd needs it (standard library of Python 3.11)
        import smtpd

        received = self.received = []

        class Recorder(smtpd.SMTPServer):
            def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
                received.append((mailfrom, rcpttos, data.decode() if isinstance(data, bytes)
                                 else data))

        self.smtp = Recorder(("127.0.0.1", 0), None)
        self.port = self.smtp.socket.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import asyncore

        while not self.stop.is_set():
            asyncore.loop(timeout=0.05, count=1)

    def __enter__(self) -> SMTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.smtp.close()
