"""Storage over plain paths, ``file://`` and ``s3://`` URIs (S3 through boto3)."""

from prox_tasks.storage.atomic import AtomicWriter
from prox_tasks.storage.files import (
    ReadDigests,
    check_writable,
    cleanup_partial,
    compression_of,
    content_fingerprint,
    exists,
    holds,
    holds_file,
    identities_in,
    identity_of,
    is_hidden,
    list_uri,
    move,
    names_in,
    open_uri,
    put_atomic,
    read_bytes,
    read_json,
    remove,
    remove_all,
    size_of,
    version_of,
    versions_in,
)
from prox_tasks.storage.opened import Opened
from prox_tasks.storage.s3_client import S3Settings, configure_s3, get_client
from prox_tasks.storage.uri import (
    Location,
    compared_uri,
    is_glob,
    join_uri,
    parse_uri,
    real_uri,
    real_uris,
    same_uri,
    to_uri,
)

__all__ = [
    "AtomicWriter", "Location", "Opened", "ReadDigests", "S3Settings", "check_writable", "cleanup_partial", "compression_of",
    "content_fingerprint",
    "configure_s3", "exists", "get_client", "holds", "holds_file", "identities_in", "identity_of", "is_glob", "is_hidden", "join_uri", "list_uri", "move", "names_in", "open_uri",
    "parse_uri", "put_atomic", "read_bytes", "read_json", "real_uri", "real_uris", "remove", "remove_all", "same_uri", "compared_uri", "size_of", "to_uri", "version_of", "versions_in",
]  # fmt: skip
