"""S3 backend over boto3: ranged reads, uploads through boto3's transfer manager.

An object appears only when its single PUT or its multipart upload completes, so a writer
killed half-way leaves nothing visible; :func:`cleanup_partial` aborts its dangling parts.
"""

from __future__ import annotations

import errno
import io
from contextlib import contextmanager, suppress

from prox_tasks.storage.atomic import AtomicWriter
from prox_tasks.storage.opened import Opened
from prox_tasks.storage.s3_client import current_settings, get_client, transfer_config
from prox_tasks.storage.tempfiles import sweep_stale, temp_tag, upload_dir
from prox_tasks.storage.uri import Location

UPLOAD_PREFIX = "prox-s3-upload-"
_BUCKETS_SEEN: set[str] = set()  # buckets known to exist: one HEAD each per process


@contextmanager
def about(uri: str):
    """Name ``uri`` in an S3 error raised inside (a note the CLI prints): S3's own messages
    name neither the bucket nor the key (boto3's failed upload names its temporary file)."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError, NoCredentialsError

    try:
        yield
    except (ClientError, NoCredentialsError, S3UploadFailedError) as err:
        if uri not in getattr(err, "__notes__", ()):
            err.add_note(uri)
        raise


def _bucket_exists(bucket: str) -> bool:
    from botocore.exceptions import ClientError

    if bucket in _BUCKETS_SEEN:
        return True
    try:
        get_client().head_bucket(Bucket=bucket)
    except ClientError as err:
        if is_missing(err) or err.response.get("Error", {}).get("Code") == "NoSuchBucket":
            return False
        return True  # 403 and the like: it exists, or we cannot tell; the object's error stands
    _BUCKETS_SEEN.add(bucket)
    return True


def check_bucket(loc: Location) -> None:
    """Raise FileNotFoundError, worded as a read in it is (:func:`_missing`), when
    ``loc``'s bucket does not exist: asked before a long run writes there, so a mistyped
    bucket fails first, not after the work (one HeadBucket per bucket per process)."""
    if not _bucket_exists(loc.bucket):
        raise _no_bucket(loc)


#: The object a write check (:func:`check_folder_writable`) names; never written by S3.
WRITE_CHECK_NAME = "_prox_write_check"
#: S3's answers to credentials that may not write (the others, 403: AccessDenied, …).
_CREDENTIALS_REFUSED = ("ExpiredToken", "TokenRefreshRequired", "InvalidToken")


def check_folder_writable(loc: Location) -> None:
    """Raise S3's refusal of a write into folder ``loc`` (AccessDenied, a bad key) before a
    long run reads its input, not at its first write after it. The write tried writes
    nothing: a PUT of :data:`WRITE_CHECK_NAME` in the folder on the condition that it holds
    an ETag no object has (``If-Match``, as :mod:`prox_tasks.storage.swap` uses), which S3
    checks after the credentials: 404 or 412 when they may write. Any answer but a refusal
    leaves the question to the run's writes; a store that ignores the condition and writes
    the empty object has it deleted again.

    Raises:
        botocore.exceptions.ClientError: The refusal, naming the object
            (:func:`about`), as the run's first write would have been refused.
    """
    from botocore.exceptions import ClientError

    key = f"{loc.path.rstrip('/')}/{WRITE_CHECK_NAME}".lstrip("/")
    client = get_client()
    try:
        with about(f"s3://{loc.bucket}/{key}"):
            client.put_object(Bucket=loc.bucket, Key=key, Body=b"",
                              IfMatch='"prox-write-check-matches-no-object"')
    except ClientError as err:
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 403 or err.response.get("Error", {}).get("Code") in _CREDENTIALS_REFUSED:
            raise
        return  # authorized: the condition, not the credentials, stopped it
    try:  # written: a store that does not honour If-Match on a PUT
        client.delete_object(Bucket=loc.bucket, Key=key)
    except ClientError:  # may write, not delete: an empty object, hidden (a _ name), is left
        pass


def _no_bucket(loc: Location) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, f"S3 bucket {loc.bucket!r} does not exist",
                             f"s3://{loc.bucket}/{loc.path}")


def _head(loc: Location, missing_ok: bool = False) -> dict | None:
    """The object's HEAD; a missing object is None (``missing_ok``) or FileNotFoundError,
    and a missing bucket is always FileNotFoundError naming it (:func:`_missing`)."""
    from botocore.exceptions import ClientError

    try:
        with about(f"s3://{loc.bucket}/{loc.path}"):
            return get_client().head_object(Bucket=loc.bucket, Key=loc.path)
    except ClientError as err:
        return _missing(err, loc, missing_ok)


def _get(loc: Location, missing_ok: bool = False, **params) -> dict | None:
    """The object's GET response (``params``: ``Range``, ``IfMatch``); a missing object or
    bucket as for :func:`_head`."""
    from botocore.exceptions import ClientError

    try:
        with about(f"s3://{loc.bucket}/{loc.path}"):
            return get_client().get_object(Bucket=loc.bucket, Key=loc.path, **params)
    except ClientError as err:
        return _missing(err, loc, missing_ok)


def _missing(err, loc: Location, missing_ok: bool) -> None:
    """None for ``err`` saying the object is missing (``missing_ok``), else raise: a missing
    object or bucket as FileNotFoundError (HEAD answers 404 for both, and a registry or
    output in a mistyped bucket must not pass for an empty one), any other error as is."""
    uri = f"s3://{loc.bucket}/{loc.path}"
    no_bucket = err.response.get("Error", {}).get("Code") == "NoSuchBucket"
    if not (no_bucket or is_missing(err)):
        raise err
    if no_bucket or not _bucket_exists(loc.bucket):
        raise _no_bucket(loc) from None
    if missing_ok:
        return None
    raise FileNotFoundError(errno.ENOENT, "no such S3 object", uri) from None


#: Bytes the opening GET of a file asks for: all of a small file (a record, a model's
#: config) in one request; the start of a large one, little wasted when the reader seeks
#: elsewhere first (a Parquet footer) rather than a whole read block.
OPEN_BYTES = 64 * 1024
#: Bytes passed over at a time where a server that ignores Range sends what comes before
#: the bytes wanted.
_SKIP_BYTES = 1024 * 1024


def _status(response: dict) -> int:
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)


def _total(response: dict) -> int | None:
    """The object's length a GET's response says: a 206's Content-Range total, a 200's
    Content-Length (the whole object); None when it does not say (``bytes 0-65535/*``)."""
    if _status(response) != 206:
        return response.get("ContentLength")
    total = (response.get("ContentRange") or "").rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _read_exactly(body, n: int) -> bytes:
    """``n`` bytes of ``body`` (fewer only at its end)."""
    chunks, left = [], n
    while left > 0:
        chunk = body.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _broken_stream() -> tuple[type[Exception], ...]:
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

    return ResponseStreamingError, ReadTimeoutError, IncompleteReadError


class RangeReader(io.RawIOBase):
    """A seekable, read-only view of an S3 object; each read is one ranged GET (retried).

    Opening it GETs the object's first :data:`OPEN_BYTES`: the response's Content-Range and
    ETag give the object's length and version (no HEAD), and a read from the start begins
    with those bytes. A Content-Range that does not give the total (``bytes 0-65535/*``)
    has the object's HEAD say it (asking for that ETag). Later reads ask for that ETag
    (``IfMatch``): an object rewritten while it is read fails the read instead of mixing two
    versions. :meth:`opened` says which version that is, with no request of its own.

    A server that ignores Range answers with the whole object (200): that response is read
    as the reads ask, never held whole (memory stays one read's worth), and a read before
    where it has got to GETs the object again and passes over the bytes before it.
    """

    def __init__(self, loc: Location):
        super().__init__()
        self._client = get_client()
        self._loc = loc
        self._pos = 0
        self._opened = b""  # the opening GET's bytes, when the server sent only those
        self._stream, self._stream_pos = None, 0  # a whole-object response and where it is
        first = self._first_bytes()
        if first is None:  # an empty object has no first byte to ask for: its HEAD says
            head = _head(loc)
            self.length, self._etag = head["ContentLength"], head.get("ETag")
            self._last_modified = head.get("LastModified")
            return
        self._etag, self._last_modified = first.get("ETag"), first.get("LastModified")
        if _status(first) == 206:
            self._opened = first["Body"].read()  # at most OPEN_BYTES
        else:
            self._stream = first["Body"]
        length = _total(first)
        self.length = length if length is not None else self._head_length()

    def _first_bytes(self) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return _get(self._loc, Range=f"bytes=0-{OPEN_BYTES - 1}")
        except ClientError as err:  # 416: the object is empty
            if err.response.get("Error", {}).get("Code") == "InvalidRange":
                return None
            raise

    def _if_match(self) -> dict:
        return {"IfMatch": self._etag} if self._etag else {}

    def _head_length(self) -> int:
        with about(f"s3://{self._loc.bucket}/{self._loc.path}"):
            return self._client.head_object(Bucket=self._loc.bucket, Key=self._loc.path,
                                            **self._if_match())["ContentLength"]

    def opened(self) -> Opened:
        """The object's identity as the opening request found it (the version this reader
        reads: later reads ask for its ETag)."""
        return _identity(self._loc, self._etag, self._last_modified, self.length)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.length}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readall(self) -> bytes:
        # RawIOBase.readall would issue one GET per 8 KiB.
        chunks, block = [], current_settings().read_block_size
        while self._pos < self.length:
            chunk = bytearray(min(block, self.length - self._pos))
            n = self.readinto(chunk)
            if not n:
                break
            chunks.append(bytes(chunk[:n]))
        return b"".join(chunks)

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self.length - self._pos)
        if want <= 0:
            return 0
        data = self._opened[self._pos:self._pos + want]  # what the opening GET brought
        if len(data) < want:  # the rest in one ranged GET
            data += self._fetch(self._pos + len(data), want - len(data))
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n

    def _fetch(self, first: int, n: int) -> bytes:
        """Bytes ``[first, first + n)``: from the whole-object response where it has not
        gone past them, else a ranged GET."""
        if self._stream is not None and first >= self._stream_pos:
            try:
                return self._from_stream(first, n)
            except _broken_stream():  # held open between reads, the server dropped it
                self._close_stream()
        with about(f"s3://{self._loc.bucket}/{self._loc.path}"):
            response = self._client.get_object(Bucket=self._loc.bucket, Key=self._loc.path,
                                               Range=f"bytes={first}-{first + n - 1}",
                                               **self._if_match())
            if _status(response) == 206:
                return response["Body"].read()
            self._close_stream()  # Range ignored: the whole object again, read as it comes
            self._stream, self._stream_pos = response["Body"], 0
            return self._from_stream(first, n)

    def _from_stream(self, first: int, n: int) -> bytes:
        while self._stream_pos < first:
            skipped = self._stream.read(min(_SKIP_BYTES, first - self._stream_pos))
            if not skipped:
                break
            self._stream_pos += len(skipped)
        data = _read_exactly(self._stream, n)
        self._stream_pos += len(data)
        return data

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self._close_stream()
        super().close()


def open_read(loc: Location):
    return io.BufferedReader(RangeReader(loc), buffer_size=current_settings().read_block_size)


def opened(_loc: Location, stream) -> Opened:
    """The identity of the object ``stream`` (:func:`open_read`'s) reads, from its open."""
    return stream.raw.opened()


def identity(loc: Location) -> Opened:
    """The object's identity from its HEAD (FileNotFoundError when there is none)."""
    head = _head(loc)
    return _identity(loc, head.get("ETag"), head.get("LastModified"), head["ContentLength"])


def _identity(loc: Location, etag_value, last_modified, length: int) -> Opened:
    return Opened(loc.uri, length, _version(etag_value, last_modified, length),
                  f"etag:{_etag_text(etag_value)}" if etag_value else None)


def open_write(loc: Location) -> AtomicWriter:
    def publish(temp_path: str) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import ClientError

        uri = f"s3://{loc.bucket}/{loc.path}"
        try:
            with about(uri):
                get_client().upload_file(temp_path, loc.bucket, loc.path,
                                         Config=transfer_config())
        except S3UploadFailedError as err:
            # boto3 names the temporary file and wraps the cause (raised while handling it):
            # a mistyped bucket is said as a read of it says it (_missing)
            failed = err.__context__
            if isinstance(failed, ClientError) and \
                    failed.response.get("Error", {}).get("Code") == "NoSuchBucket":
                raise _no_bucket(loc) from err
            raise

    staging = upload_dir()
    sweep_stale(staging, UPLOAD_PREFIX)  # uploads a killed process never finished
    return AtomicWriter(publish, staging, UPLOAD_PREFIX + temp_tag())


def is_missing(err) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound")


def read_if_exists(loc: Location) -> bytes | None:
    """The object's bytes in one GET, or None when there is no such object (a missing
    bucket is FileNotFoundError, as for :func:`exists`): a small record read this way costs
    one request, not a HEAD to ask and a GET."""
    response = _get(loc, missing_ok=True)
    if response is None:
        return None
    with about(f"s3://{loc.bucket}/{loc.path}"):
        return response["Body"].read()


def exists(loc: Location) -> bool:
    """Whether the object exists. A missing bucket is an error (FileNotFoundError)."""
    return _head(loc, missing_ok=True) is not None


@contextmanager
def _listing(bucket: str, prefix: str):
    """Name ``s3://bucket/prefix`` in an S3 error raised inside (:func:`about`); a missing
    bucket is FileNotFoundError, worded as a read in it is (:func:`_missing`), not
    'S3 ListObjectsV2 failed: NoSuchBucket …'."""
    from botocore.exceptions import ClientError

    try:
        with about(f"s3://{bucket}/{prefix}"):
            yield
    except ClientError as err:
        _missing(err, Location("s3", bucket, prefix), missing_ok=False)  # raises
        raise


def is_dir(loc: Location) -> bool:
    prefix = loc.path.rstrip("/") + "/" if loc.path else ""
    with _listing(loc.bucket, prefix):
        resp = get_client().list_objects_v2(Bucket=loc.bucket, Prefix=prefix, MaxKeys=1)
    return resp.get("KeyCount", 0) > 0


def size(loc: Location) -> int:
    return _head(loc)["ContentLength"]


def version(loc: Location) -> str | None:
    head = _head(loc, missing_ok=True)
    if head is None:
        return None
    return _version(head.get("ETag"), head.get("LastModified"), head["ContentLength"])


def _version(etag_value, last_modified, length: int) -> str:
    # a HEAD's and a GET's headers give the same token: a read's open can stand for a HEAD
    return f"{etag_value or ''}-{last_modified or ''}-{length}"


def _etag_text(etag_value) -> str:
    return str(etag_value).strip('"')


def etag_is_upload_of(etag_text: str, stream, size: int) -> bool:
    """Whether ``etag_text`` is the ETag S3 gives an object holding the ``size`` bytes
    ``stream`` reads, put as :func:`open_write` puts it: their MD5 for one PUT; for a
    multipart upload (``<hex>-<parts>``) the MD5 of the parts' MD5s at the part size the
    transfer manager takes for that size. S3 derives it from the bytes it stores, so a match
    says they are those; no match (another part size, SSE-KMS, some S3-compatible stores)
    says nothing of them. One read of ``stream`` at most, nothing sent."""
    import hashlib
    import math

    from s3transfer.utils import ChunksizeAdjuster

    digest, multipart, count = etag_text.partition("-")
    if not multipart:
        whole = hashlib.md5(usedforsecurity=False)
        while block := stream.read(1 << 20):
            whole.update(block)
        return whole.hexdigest() == digest
    part = ChunksizeAdjuster().adjust_chunksize(current_settings().multipart_chunksize, size)
    if count != str(max(1, math.ceil(size / part))):  # put with another part size
        return False
    parts = b""
    while chunk := stream.read(part):
        parts += hashlib.md5(chunk, usedforsecurity=False).digest()
    return hashlib.md5(parts, usedforsecurity=False).hexdigest() == digest


def etag(loc: Location) -> str:
    """The object's ETag (FileNotFoundError when there is none)."""
    return _etag_text(_head(loc)["ETag"])


def remove(loc: Location) -> bool:
    if not exists(loc):
        return False
    get_client().delete_object(Bucket=loc.bucket, Key=loc.path)
    return True


def move(src: Location, dst: Location) -> str:
    """Copy ``src`` to ``dst`` on the server, then delete ``src``
    (:func:`prox_tasks.storage.files.move`); returns the ETag the copy gave ``dst``, as S3
    answered the copy (a HEAD after it could name another writer's object put meanwhile).
    Up to the multipart threshold one CopyObject; past it a copy in parts
    (:func:`_copy_in_parts`), so a seed set's split larger than one CopyObject takes (5 GiB)
    is published too, its ETag the one its CompleteMultipartUpload answered."""
    from botocore.exceptions import ClientError

    client, config = get_client(), transfer_config()
    source = {"Bucket": src.bucket, "Key": src.path}
    with about(f"s3://{src.bucket}/{src.path}"):
        try:
            head = client.head_object(**source)
            if head["ContentLength"] < config.multipart_threshold:
                answer = client.copy_object(CopySource=source, Bucket=dst.bucket, Key=dst.path)
                written = answer["CopyObjectResult"]["ETag"]
            else:
                written = _copy_in_parts(client, source, head, dst, config)
        except ClientError as err:
            _missing(err, src, missing_ok=False)
            raise
        client.delete_object(**source)
    return _etag_text(written)


def _copy_in_parts(client, source: dict, head: dict, dst: Location, config) -> str:
    """``source`` (``head``: its HeadObject answer) copied to ``dst`` in UploadPartCopy
    parts, cut as boto3's managed copy cuts them (the transfer settings' part size, so
    :func:`etag_is_upload_of` reads the ETag alike), ``config.max_concurrency`` at a time,
    each only while the source is still the object headed (``CopySourceIfMatch``); returns
    the ETag its CompleteMultipartUpload answered. A failed copy aborts its upload.

    Not boto3's managed copy: it keeps that answer to itself, and reading it took an event
    handler on the process's shared client for each copy — a mutation boto3 does not make
    thread-safe, and a handler that took the answer of any copy to the same key: of two
    publishers racing for one key, one was told the other's ETag, and undoing its publish
    (:func:`remove_if_etag`) deleted the other's object."""
    import math
    from concurrent.futures import ThreadPoolExecutor

    from s3transfer.utils import ChunksizeAdjuster

    size = head["ContentLength"]
    part = ChunksizeAdjuster().adjust_chunksize(config.multipart_chunksize, size)
    count = max(1, math.ceil(size / part))
    target = {"Bucket": dst.bucket, "Key": dst.path}
    upload = client.create_multipart_upload(**target)["UploadId"]

    def copy_part(number: int) -> dict:
        first = (number - 1) * part
        answer = client.upload_part_copy(
            **target, UploadId=upload, PartNumber=number, CopySource=source,
            CopySourceRange=f"bytes={first}-{min(size, first + part) - 1}",
            CopySourceIfMatch=head["ETag"])  # fmt: skip
        return {"ETag": answer["CopyPartResult"]["ETag"], "PartNumber": number}

    try:
        with ThreadPoolExecutor(max(1, min(count, config.max_concurrency))) as pool:
            parts = list(pool.map(copy_part, range(1, count + 1)))
        answer = client.complete_multipart_upload(**target, UploadId=upload,
                                                  MultipartUpload={"Parts": parts})
    except BaseException:
        # its parts would be billed until cleanup_partial found them; the copy's own error
        # is the one to tell, not the abort's
        with suppress(Exception):
            client.abort_multipart_upload(**target, UploadId=upload)
        raise
    return answer["ETag"]


def remove_if_etag(loc: Location, etag_text: str) -> bool:
    """Delete the object at ``loc`` only while its ETag is ``etag_text`` (DeleteObject with
    If-Match: the check and the delete one step on the server). Returns False when another
    object is there now (left as it is); True when deleted or not there."""
    from botocore.exceptions import ClientError

    with about(loc.uri):
        try:
            get_client().delete_object(Bucket=loc.bucket, Key=loc.path, IfMatch=f'"{etag_text}"')
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            if not is_missing(err):
                raise
    return True


def remove_keys(bucket: str, keys: list[str]) -> None:
    """Delete ``keys`` of ``bucket``, 1,000 a request (S3's most for one DeleteObjects);
    a key not there is no error."""
    for first in range(0, len(keys), 1000):
        chunk = keys[first:first + 1000]
        with about(f"s3://{bucket}/{chunk[0]}"):
            answer = get_client().delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        if answer.get("Errors"):
            error = answer["Errors"][0]
            raise OSError(errno.EIO, f"S3 did not delete {len(answer['Errors'])} of "
                          f"{len(chunk)} objects ({error.get('Code')}: {error.get('Message')})",
                          f"s3://{bucket}/{error.get('Key')}")


def list_keys(bucket: str, prefix: str) -> list[str]:
    """Every key starting with ``prefix``, in S3's (lexicographic) order."""
    return [obj["Key"] for obj in list_objects(bucket, prefix)]


def list_objects(bucket: str, prefix: str) -> list[dict]:
    """The listing's entry (``Key``, ``ETag``, ``LastModified``, ``Size``) of every object
    under ``prefix``, in S3's (lexicographic) order: one request per 1,000 objects."""
    paginator = get_client().get_paginator("list_objects_v2")
    objects = []
    with _listing(bucket, prefix):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            objects.extend(page.get("Contents", []))
    return objects


def list_file_or_folder(bucket: str, key: str) -> list[dict]:
    """The listing's entry of the object ``key`` alone when there is one, else of every
    object under the folder ``key/``: what :func:`list_objects` gives, with no HEAD to ask
    which ``key`` names. The object ``key``, if any, is the first key listed with that
    prefix (S3 lists in byte order); the folder's keys follow keys such as ``key-2`` or
    ``key.bak`` (bytes below ``/``), so past a first page the rest is listed from ``key/``."""
    folder = key + "/"
    with _listing(bucket, key):
        page = get_client().list_objects_v2(Bucket=bucket, Prefix=key)
    listed = page.get("Contents", [])
    if listed and listed[0]["Key"] == key:
        return listed[:1]
    objects = [o for o in listed if o["Key"].startswith(folder)]
    if page.get("IsTruncated") and listed[-1]["Key"][len(key):len(key) + 1] <= "/":
        # the folder's keys may go on: from the last one listed, or its start
        after = objects[-1]["Key"] if objects else None
        paginator = get_client().get_paginator("list_objects_v2")
        with _listing(bucket, folder):
            for more in paginator.paginate(Bucket=bucket, Prefix=folder,
                                           **({"StartAfter": after} if after else {})):
                objects.extend(more.get("Contents", []))
    return objects


def listed_identity(bucket: str, obj: dict) -> Opened:
    """The identity of an object as its listing entry (:func:`list_objects`) gives it: the
    same size and fingerprint (ETag) as its HEAD's, with no request of its own."""
    return _identity(Location("s3", bucket, obj["Key"]), obj.get("ETag"),
                     obj.get("LastModified"), obj["Size"])


def versions_in(bucket: str, prefix: str) -> dict[str, str]:
    """``{key: version}`` of every object under ``prefix``, from the listing (one request
    per 1,000 objects instead of a HEAD each): ETag, last-modified and size."""
    return {obj["Key"]: f"{obj.get('ETag', '')}-{obj.get('LastModified', '')}-{obj.get('Size')}"
            for obj in list_objects(bucket, prefix)}


#: Seconds since an unfinished multipart upload started or last took a part within which it
#: may be a live writer's (another run publishing the same shard at the same moment): such
#: an upload is left alone. A writer sends a part every few seconds; S3's request signing
#: refuses clocks more than 15 minutes apart, so this also covers the skew of our clock.
LIVE_UPLOAD_S = 30 * 60


def cleanup_partial(loc: Location) -> int:
    """Abort the unfinished multipart uploads to ``loc``'s key that a killed writer left;
    returns how many.

    Uploads started, or given a part, in the last :data:`LIVE_UPLOAD_S` seconds are left: they
    may be a live writer's (two runs of one snapshot refining one shard at once, each
    publishing its own copy), and aborting one failed that run's publish with ``NoSuchUpload``
    after its shard's work. Each upload found costs a ListParts (normally there is none);
    credentials S3 refuses it (no ``s3:ListMultipartUploadParts``) judge by its start alone.
    """
    from datetime import UTC, datetime, timedelta

    client = get_client()
    resp = client.list_multipart_uploads(Bucket=loc.bucket, Prefix=loc.path)
    since = datetime.now(UTC) - timedelta(seconds=LIVE_UPLOAD_S)
    aborted = 0
    for upload in resp.get("Uploads", []):
        if upload["Key"] != loc.path or _active_since(client, loc, upload, since):
            continue
        client.abort_multipart_upload(Bucket=loc.bucket, Key=loc.path,
                                      UploadId=upload["UploadId"])
        aborted += 1
    return aborted


def _active_since(client, loc: Location, upload: dict, since) -> bool:
    """Whether multipart ``upload`` (a ListMultipartUploads entry) started or took a part
    after ``since``."""
    from botocore.exceptions import ClientError

    if upload.get("Initiated") and upload["Initiated"] > since:
        return True
    marker = {}
    while True:
        try:
            page = client.list_parts(Bucket=loc.bucket, Key=loc.path,
                                     UploadId=upload["UploadId"], **marker)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            if code == "NoSuchUpload":  # completed or aborted since it was listed: not ours
                return True
            if code in ("AccessDenied", "403"):  # credentials without ListParts: its start
                return False                     # (checked above) is all there is to go by
            raise
        if any(part["LastModified"] > since for part in page.get("Parts", [])):
            return True
        if not page.get("IsTruncated"):
            return False
        marker = {"PartNumberMarker": page["NextPartNumberMarker"]}
