"""Fixtures of the release tests: moto's S3 server over HTTP and its IAM users, for a release
root S3 refuses to write to."""

from tests.storage.conftest import iam_keys, moto_server, s3_bucket  # noqa: F401 - fixtures
