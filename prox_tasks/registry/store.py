"""Byte-level I/O on ``file://``/local paths and ``s3://`` URIs (boto3) for model artifacts.

S3 credentials and endpoint come from boto3's usual sources (environment, profile);
``AWS_ENDPOINT_URL`` points it at MinIO or a moto server. Local writes are atomic
(temporary file, then rename), so a killed writer never leaves a half-written file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse


def is_s3(uri: str) -> bool:
    return str(uri).startswith("s3://")


def local_path(uri: str | os.PathLike) -> Path:
    """The filesystem path of a local path or ``file://`` URI."""
    text = os.fspath(uri)
    return Path(urlparse(text).path) if text.startswith("file://") else Path(text)


def join(uri: str, *parts: str) -> str:
    """Join path parts onto a URI with ``/``."""
    out = str(uri).rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


def _s3_split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _s3():
    import boto3

    return boto3.client("s3")


def read_bytes(uri: str) -> bytes:
    """The content of ``uri``; raises FileNotFoundError when it does not exist."""
    if is_s3(uri):
        bucket, key = _s3_split(uri)
        client = _s3()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey as err:
            raise FileNotFoundError(uri) from err
    return local_path(uri).read_bytes()


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` to ``uri`` atomically (local) or as one object (S3)."""
    if is_s3(uri):
        bucket, key = _s3_split(uri)
        _s3().put_object(Bucket=bucket, Key=key, Body=data)
        return
    path = local_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def exists(uri: str) -> bool:
    if is_s3(uri):
        try:
            read_bytes(uri)
        except FileNotFoundError:
            return False
        return True
    return local_path(uri).exists()


def list_files(uri: str) -> list[str]:
    """Relative paths of the files under the folder ``uri``, sorted."""
    if is_s3(uri):
        bucket, prefix = _s3_split(uri.rstrip("/") + "/")
        paginator = _s3().get_paginator("list_objects_v2")
        keys = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys += [obj["Key"][len(prefix) :] for obj in page.get("Contents", [])]
        return sorted(keys)
    root = local_path(uri)
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload_dir(local_dir: str | os.PathLike, uri: str) -> list[str]:
    """Copy every file under ``local_dir`` to the folder ``uri``; returns the relative paths."""
    root = Path(local_dir)
    names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    for name in names:
        write_bytes(join(uri, name), (root / name).read_bytes())
    return names


def download_dir(uri: str, local_dir: str | os.PathLike) -> Path:
    """Copy the folder ``uri`` to ``local_dir`` (a local folder is used in place)."""
    if not is_s3(uri):
        return local_path(uri)
    target = Path(local_dir)
    for name in list_files(uri):
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(read_bytes(join(uri, name)))
    return target
