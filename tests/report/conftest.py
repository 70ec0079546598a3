"""Fixtures of the report tests: a real S3 server (moto over HTTP) where a page reads S3."""

from tests.storage.conftest import moto_server, s3_bucket, s3_calls  # noqa: F401  (fixtures)
