"""The real moto S3 server of the storage tests, for snapshots on S3."""

from tests.storage.conftest import count_gets, moto_server, s3_bucket  # noqa: F401
