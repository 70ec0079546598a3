"""A small real S3 server over HTTP on 127.0.0.1 for answers moto never sends.

Not a mock: ``http.server`` on a real socket, spoken to by botocore over real HTTP and
parsed by botocore itself. It speaks just enough S3 for GET and HEAD of the objects it
holds (path-style ``/bucket/key``, no authentication, ``If-Match``, ``Range``), and can
answer as some stores and proxies do:

- ``unknown_total``: a ranged GET's ``Content-Range`` without the total (``bytes 0-65535/*``);
- ``ignore_range``: every GET answered 200 with the whole object, Range or not;
- ``drop_after``: the first GET's body broken off (the connection closed) after that many
  bytes, as a server does to a response held open too long.
"""

from __future__ import annotations

import hashlib
import http.server
import re
import threading

LAST_MODIFIED = "Sat, 05 Dec 2026 12:00:00 GMT"
CHUNK = 64 * 1024


class PlainS3:
    """The server; ``objects`` maps ``bucket/key`` to bytes. ``requests`` lists
    ``(method, path, Range header)`` of every request, in order."""

    def __init__(self, objects: dict[str, bytes], *, unknown_total: bool = False,
                 ignore_range: bool = False, drop_after: int | None = None) -> None:
        self.objects = objects
        self.unknown_total, self.ignore_range, self.drop_after = (unknown_total, ignore_range,
                                                                  drop_after)
        self.requests: list[tuple[str, str, str | None]] = []
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> PlainS3:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def etag_of(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def _handler(server: PlainS3):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3: botocore reuses connections

        def log_message(self, *args) -> None:  # a line per request otherwise
            pass

        def _error(self, status: int, code: str) -> None:
            body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else 0))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _object(self) -> bytes | None:
            server.requests.append((self.command, self.path, self.headers.get("Range")))
            data = server.objects.get(self.path.lstrip("/").split("?")[0])
            if data is None:
                self._error(404, "NoSuchKey")
                return None
            wanted = self.headers.get("If-Match")
            if wanted is not None and wanted != etag_of(data):
                self._error(412, "PreconditionFailed")
                return None
            return data

        def _headers(self, status: int, data: bytes, length: int) -> None:
            self.send_response(status)
            self.send_header("ETag", etag_of(data))
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.send_header("Content-Length", str(length))

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
            data = self._object()
            if data is not None:
                self._headers(200, data, len(data))
                self.end_headers()

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = self._object()
            if data is None:
                return
            asked = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
            if asked is None or server.ignore_range:
                first, last, status = 0, len(data) - 1, 200
            else:
                first = int(asked[1])
                last = min(int(asked[2]) if asked[2] else len(data) - 1, len(data) - 1)
                if first >= len(data):
                    self._error(416, "InvalidRange")
                    return
                status = 206
            self._headers(status, data, last + 1 - first)
            if status == 206:
                total = "*" if server.unknown_total else str(len(data))
                self.send_header("Content-Range", f"bytes {first}-{last}/{total}")
            self.end_headers()
            view, end = memoryview(data), last + 1
            if server.drop_after is not None:
                end, server.drop_after = min(end, first + server.drop_after), None
            for at in range(first, end, CHUNK):  # sent as it goes, never copied whole
                self.wfile.write(view[at:min(at + CHUNK, end)])
            if end <= last:  # broken off: the client sees the connection close early
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)

    return Handler
