"""moto's S3 server in its own process on 127.0.0.1, counting the requests it serves.

A bench that runs prox commands as subprocesses cannot hook their S3 clients; this server
counts every request it answers by S3 operation (``GetObject``, ``HeadObject``,
``PutObject``, ``ListObjectsV2``, ...) whoever sent it. ``GET /__counts`` returns the counts
as JSON and ``POST /__counts`` clears them (neither is counted). The objects live in the
server's process, so the bench's own memory is not theirs. Usage::

    with counting_s3() as s3:          # PROX_S3_ENDPOINT_URL etc. set for child processes
        ...; s3.counts(reset=True)     # {"GetObject": 812, ...}
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def operation(environ: dict) -> str:
    """The S3 operation of a path-style request (enough for the benches' counts)."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/").lstrip("/")
    query = environ.get("QUERY_STRING", "")
    keyed = "/" in path and not path.endswith("/")
    if "uploads" in query.split("&") or "uploadId" in query:
        return {"POST": "MultipartUpload", "PUT": "UploadPart", "GET": "ListParts",
                "DELETE": "AbortMultipartUpload"}.get(method, method) if keyed \
            else "ListMultipartUploads"
    if not keyed:
        return {"GET": "ListObjects", "PUT": "CreateBucket", "HEAD": "HeadBucket",
                "POST": "DeleteObjects"}.get(method, method)
    if method == "PUT" and "HTTP_X_AMZ_COPY_SOURCE" in environ:
        return "CopyObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
            "DELETE": "DeleteObject"}.get(method, method)


def serve(port: int) -> None:
    """Run the counting server (the child process)."""
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    counts: Counter = Counter()

    def counting(environ, start_response):
        if environ.get("PATH_INFO") == "/__counts":
            if environ["REQUEST_METHOD"] == "POST":
                counts.clear()
            body = json.dumps(dict(counts)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        counts[operation(environ)] += 1
        return app(environ, start_response)

    run_simple("127.0.0.1", port, counting, threaded=True)


@dataclass
class CountingS3:
    endpoint: str

    def counts(self, reset: bool = False) -> dict:
        """The requests served since the last reset, by operation."""
        request = urllib.request.Request(f"{self.endpoint}/__counts",
                                         method="POST" if reset else "GET")
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())


@contextmanager
def counting_s3(bucket: str = "bench") -> Iterator[CountingS3]:
    """Start the server, create ``bucket``, point this process (and its children, by the
    environment) at it; stop it on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "PROX_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "PROX_S3_ADDRESSING_STYLE": "path"}
    os.environ.update(env)
    server = subprocess.Popen([sys.executable, __file__, str(port)])
    try:
        s3 = CountingS3(env["PROX_S3_ENDPOINT_URL"])
        for _ in range(300):
            try:
                s3.counts()
                break
            except OSError:
                time.sleep(0.1)
        from prox_tasks.storage import configure_s3, get_client

        configure_s3(None)
        get_client().create_bucket(Bucket=bucket)
        s3.counts(reset=True)
        yield s3
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
