"""A bucket on moto's S3 server over HTTP (loopback), with prox's S3 client pointed at it,
for the benches that measure S3 reads and writes."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def moto_bucket(bucket: str = "bench") -> Iterator[str]:
    """Start moto's server on 127.0.0.1, point :func:`prox_tasks.storage.configure_s3` at it
    and create ``bucket``; yields the endpoint URL. The client and the server are undone on
    exit."""
    from moto.server import ThreadedMotoServer

    from prox_tasks.storage import S3Settings, configure_s3, get_client

    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ[name] = value
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        configure_s3(S3Settings(endpoint_url=endpoint, region_name="us-east-1",
                                addressing_style="path"))
        get_client().create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        configure_s3(None)
        server.stop()
