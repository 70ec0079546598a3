"""The real moto S3 server of the storage tests, for models on S3."""

from tests.storage.conftest import count_gets, moto_server, s3_bucket, s3_calls  # noqa: F401
