"""Fixtures of the gate tests: a real S3 server (moto over HTTP) where the gate reads S3."""

from tests.storage.conftest import count_gets, moto_server, s3_bucket  # noqa: F401  (fixtures)
