"""One API over local disk and S3: open, exists, list (folders, prefixes, globs), atomic put."""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import io
import os
import shutil
from collections.abc import Callable

from prox_tasks.storage import local, s3
from prox_tasks.storage.compressed import (
    CorruptStreamError,
    compression_to_read,
    open_decompressed,
    refuse_compressed_twice,
)
from prox_tasks.storage.opened import Opened
from prox_tasks.storage.uri import GLOB_CHARS, Location, is_glob, parse_uri

COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def _backend(loc: Location):
    return s3 if loc.scheme == "s3" else local


def compression_of(uri: str) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``None``, from the file name's extension."""
    for ext, name in COMPRESSIONS.items():
        if str(uri).lower().endswith(ext):
            return name
    return None


class ReadDigests:
    """Hashes fed with what one read of a file returns, so a file read anyway need not be
    fetched again to be hashed (on S3, a GET of the whole object).

    Attributes:
        stored: Fed the file's bytes as stored (compressed or not); None: not hashed.
        content: Fed its bytes decompressed; None: not hashed.

    Each holds the file's whole digest once the read has reached the end of the file.
    """

    def __init__(self, stored=None, content=None) -> None:
        self.stored, self.content = stored, content


class _Hashing(io.RawIOBase):
    """A binary reader feeding every byte read from it to ``hashes``."""

    def __init__(self, inner, hashes: list) -> None:
        super().__init__()
        self._inner, self._hashes = inner, hashes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        for digest in self._hashes:
            digest.update(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
            super().close()


def _hashed(stream, hashes: list):
    hashes = [h for h in hashes if h is not None]
    return io.BufferedReader(_Hashing(stream, hashes), 1 << 20) if hashes else stream


def open_uri(uri: str | os.PathLike, mode: str = "rb", compression: str | None = None,
             encoding: str = "utf-8", *, digests: ReadDigests | None = None,
             misnamed=None, expect: Callable[[Opened], None] | None = None):
    """Open ``uri`` for reading (``"rb"``, ``"rt"``) or atomic writing (``"wb"``, ``"wt"``).

    A file opened for writing is published only when closed without error: a local temp
    file renamed into place, or an S3 upload that completes. Used as a context manager, an
    exception inside the block leaves the old content (or nothing) in place.

    Args:
        uri: A path, ``file://`` or ``s3://`` URI.
        mode: ``"rb"``, ``"rt"``, ``"wb"`` or ``"wt"``.
        compression: ``"gzip"``, ``"zstd"``, ``"infer"`` (writing: from the extension;
            reading: from the first bytes where they contradict the extension, a plain file
            named ``.gz`` read as plain with a warning: :func:`compression_to_read`) or
            ``None``.
        encoding: Text encoding for ``"rt"``/``"wt"``.
        digests: Reading: hashes fed with what is read (:class:`ReadDigests`).
        misnamed: Reading with ``"infer"``: called with a warning's text when the first
            bytes overrule a compressed name (:func:`compression_to_read`).
        expect: Reading: called with the file's identity (:class:`Opened`) as its open found
            it, before a byte is returned; what it raises closes the file and propagates.
            On S3 this costs no request (the opening GET's ETag and Content-Range), and
            the later reads ask for that ETag: the bytes read are the ones checked.
    """
    if mode not in ("rb", "rt", "r", "wb", "wt", "w"):
        raise ValueError(f"unsupported mode {mode!r}")
    loc = parse_uri(uri)
    reading = mode.startswith("r")
    sniff = compression == "infer" and reading
    if compression == "infer":
        compression = compression_of(loc.path)
    if (digests is not None or expect is not None) and not reading:
        raise ValueError("digests and expect are for a file read, not written")
    raw = _backend(loc).open_read(loc) if reading else _backend(loc).open_write(loc)
    if expect is not None:
        try:
            expect(_backend(loc).opened(loc, raw))
        except BaseException:
            raw.close()
            raise
    if sniff:  # peeks: the digests still see every byte
        try:
            compression = compression_to_read(raw, loc.uri, compression, misnamed)
        except CorruptStreamError:
            raw.close()
            raise
    if digests is None:
        stream = _compressed(raw, compression, reading) if compression else raw
    elif compression:
        stream = _hashed(_compressed(_hashed(raw, [digests.stored]), compression, reading),
                         [digests.content])  # fmt: skip
    else:
        stream = _hashed(raw, [digests.stored, digests.content])
    if sniff and compression:  # peeks, as above
        try:
            refuse_compressed_twice(stream, loc.uri, compression)
        except CorruptStreamError:
            stream.close()
            raise
    if "b" in mode:
        return stream
    if reading:
        return io.TextIOWrapper(stream, encoding=encoding, newline="")
    return _AtomicText(stream, encoding=encoding)


class _AtomicText(io.TextIOWrapper):
    """Text over an atomic writer: an exception inside ``with`` aborts instead of publishing."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
            return
        self.detach().abort()


def _compressed(raw, compression: str, reading: bool):
    if reading:
        return open_decompressed(raw, compression)
    if compression == "gzip":
        import gzip

        # mtime=0 and no file name: the same content always gives the same bytes.
        return _Closing(gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0), raw)
    if compression == "zstd":
        import zstandard

        return _Closing(zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False), raw)
    raise ValueError(f"unknown compression {compression!r}")


class _Closing(io.BufferedIOBase):
    """A compressing writer over an atomic file: close publishes both in order; a failure
    while finishing the compressed stream (disk full…) aborts instead of publishing a part."""

    def __init__(self, inner, raw):
        super().__init__()
        self._inner, self._raw = inner, raw

    def writable(self):
        return True

    def write(self, data):
        return self._inner.write(data)

    def flush(self):
        if not self._inner.closed:
            self._inner.flush()

    def close(self):
        if self.closed:
            return
        try:
            self._inner.close()
        except BaseException:
            self.abort()
            raise
        self._raw.close()
        super().close()

    def abort(self):
        try:
            # finish the compressor into the temp file that is thrown away next, so it never
            # writes to a closed file later (when garbage-collected)
            with contextlib.suppress(Exception):
                self._inner.close()
            if hasattr(self._raw, "abort"):
                self._raw.abort()
            else:
                self._raw.close()
        finally:
            super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def check_writable(*uris: str | os.PathLike | None, folders: bool = False) -> None:
    """Fail before a long run where writing its results to ``uris`` (None: none) would
    fail at its end: an S3 bucket that does not exist is FileNotFoundError, worded as a read
    in it is (one HeadBucket per bucket per process). A local folder is made when written.

    ``folders``: ``uris`` are the folders the run writes into (an output folder); on S3 a
    write into each is tried too, one that writes nothing
    (:func:`~prox_tasks.storage.s3.check_folder_writable`): credentials that may read and
    list the bucket but not write it are refused (AccessDenied, raised as S3 answered it)
    before the input is read. Without it ``uris`` are files (``prox label``'s and ``prox
    execute``'s outputs): the write is tried in the folder each is written into, never at
    the file's own key (a store ignoring the condition would replace that file)."""
    for uri in uris:
        loc = parse_uri(uri) if uri else None
        if loc is not None and loc.scheme == "s3":
            s3.check_bucket(loc)
            # a file's folder: labeling with a paid teacher, then refused at the upload,
            # lost the labels (prox label --output into a prefix the key may only read)
            folder = loc if folders else Location("s3", loc.bucket, loc.path.rpartition("/")[0])
            s3.check_folder_writable(folder)


def exists(uri: str | os.PathLike) -> bool:
    """True when ``uri`` names an existing file (or, locally, a folder)."""
    loc = parse_uri(uri)
    return _backend(loc).exists(loc)


def size_of(uri: str | os.PathLike) -> int:
    loc = parse_uri(uri)
    return _backend(loc).size(loc)


def version_of(uri: str | os.PathLike) -> str | None:
    """A token that changes whenever the file at ``uri`` is rewritten (local: modification
    time and size; S3: ETag, last-modified and size), or None when there is no such file."""
    loc = parse_uri(uri)
    return _backend(loc).version(loc)


def versions_in(folder_uri: str | os.PathLike) -> dict[str, str]:
    """``{file URI: version}`` of the files directly in a folder (or under an S3 prefix),
    in one listing rather than a :func:`version_of` each; empty when there is none. The
    tokens change when a file is rewritten, as :func:`version_of`'s do (not equal to them)."""
    loc = parse_uri(folder_uri)
    if loc.scheme == "s3":
        prefix = loc.path.rstrip("/") + "/" if loc.path else ""
        return {Location("s3", loc.bucket, key).uri: version
                for key, version in s3.versions_in(loc.bucket, prefix).items()}
    try:
        entries = list(os.scandir(loc.path))
    except FileNotFoundError:
        return {}
    out = {}
    for entry in entries:
        if entry.is_file():
            out[Location("file", "", entry.path).uri] = local.version_of_stat(entry.stat())
    return out


def identity_of(uri: str | os.PathLike) -> Opened:
    """The file's identity (:class:`Opened`) as opening it would find it, without opening
    it: a stat, an S3 HEAD. FileNotFoundError when there is no such file."""
    loc = parse_uri(uri)
    return _backend(loc).identity(loc)


def content_fingerprint(uri: str | os.PathLike) -> str:
    """What identifies the file's bytes: ``sha256:<hex>`` of a local file (read once), the
    ``etag:<ETag>`` of an S3 object (S3 derives it from the bytes; no download)."""
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        return f"etag:{s3.etag(loc)}"
    digest = hashlib.sha256()
    with open(loc.path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def remove(uri: str | os.PathLike) -> bool:
    """Delete one file; returns False when it was not there."""
    loc = parse_uri(uri)
    return _backend(loc).remove(loc)


def remove_all(uris: list[str]) -> None:
    """Delete the files ``uris`` (those not there are no error), in their order: on S3
    1,000 a request (DeleteObjects), where :func:`remove` sends a HEAD and a DELETE each."""
    batch: list[Location] = []

    def flush() -> None:
        if batch:
            s3.remove_keys(batch[0].bucket, [loc.path for loc in batch])
            batch.clear()

    for uri in uris:
        loc = parse_uri(uri)
        if loc.scheme != "s3":
            flush()
            local.remove(loc)
            continue
        if batch and (batch[0].bucket != loc.bucket or len(batch) == 1000):
            flush()
        batch.append(loc)
    flush()


def cleanup_partial(uri: str | os.PathLike) -> int:
    """Remove what a killed writer of ``uri`` left: local temp files, S3 unfinished uploads."""
    loc = parse_uri(uri)
    return _backend(loc).cleanup_partial(loc)


def is_hidden(relative: str) -> bool:
    """Whether :func:`list_uri` leaves out the file at ``relative`` (a path below the folder
    listed): Hadoop's convention, names starting with "." or "_" are temp files and markers.
    A part that is ``.`` or ``..`` alone is neither: no path on disk lists one, but an S3 key
    may hold it verbatim (``in/../part-0.jsonl``, a path joined by hand), an object of the
    prefix like any other, which was left out without a word."""
    return any(part.startswith((".", "_")) and part not in (".", "..")
               for part in relative.split("/") if part)  # fmt: skip


def list_uri(uri: str | os.PathLike, include_hidden: bool = False) -> list[str]:
    """The files ``uri`` names, sorted: a file, a folder or prefix (recursive), or a glob.

    Names beginning with ``.`` or ``_`` below the folder (temp files, markers) are left out
    unless ``include_hidden``. Globs use ``fnmatch`` rules on the whole path (``*`` also
    crosses ``/`` on S3; locally ``**`` is recursive). A name with ``*``, ``?`` or ``[``
    that is a file (``a[1].jsonl``, which as a glob matches ``a1.jsonl`` and not itself)
    is that file: locally always, on S3 when no object matches it as a glob (no request
    more for a glob that matches).
    """
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        return _list_s3(loc, include_hidden)
    # a file; or a named pipe, a link to nothing or a loop of links, for the reader to
    # refuse by name (walked as a folder, each was "no input files" or a bare OSError)
    if os.path.lexists(loc.path) and not os.path.isdir(loc.path):
        return [loc.uri]
    if is_glob(uri):
        base = _glob_root(loc.path)
        paths = local.glob_files(loc.path)
    else:
        base = loc.path.rstrip("/")
        paths = local.list_files(loc, None if include_hidden else is_hidden)
    return sorted(
        Location("file", "", p).uri
        for p in paths
        if include_hidden or not is_hidden(os.path.relpath(p, base))
    )


def _glob_root(path: str) -> str:
    head = GLOB_CHARS.split(path, 1)[0]
    return head.rsplit("/", 1)[0] or "/"


def _list_s3(loc: Location, include_hidden: bool) -> list[str]:
    return sorted(_listed_s3(loc, include_hidden))


def _listed_s3(loc: Location, include_hidden: bool) -> dict[str, Opened]:
    """``{URI: identity}`` of the objects :func:`list_uri` lists, from the listing alone: a
    key named without a trailing ``/`` is listed as a prefix, which tells whether it is an
    object itself (no HEAD first)."""
    if GLOB_CHARS.search(loc.path):
        root = _glob_root("/" + loc.path)[1:]
        # listed from the glob's literal head, not its folder: ``seed/_staged-*`` lists the
        # staged files, not every object of the seed set (one request, not one per 1,000)
        prefix = GLOB_CHARS.split(loc.path, 1)[0]
        try:
            objects = [o for o in s3.list_objects(loc.bucket, prefix)
                       if fnmatch.fnmatchcase(o["Key"], loc.path)]
        except FileNotFoundError as err:  # the bucket: named with the glob given, not its root
            raise FileNotFoundError(err.errno, err.strerror, loc.uri) from None
        if not objects:  # an object named so: what the name means (list_uri)
            named = s3.list_file_or_folder(loc.bucket, loc.path)
            if named and named[0]["Key"] == loc.path:
                return {loc.uri: s3.listed_identity(loc.bucket, named[0])}
    elif loc.path and not loc.path.endswith("/"):
        objects = s3.list_file_or_folder(loc.bucket, loc.path)
        if objects and objects[0]["Key"] == loc.path:  # an object: a file, not a folder
            return {loc.uri: s3.listed_identity(loc.bucket, objects[0])}
        root = loc.path
    else:
        prefix = loc.path.rstrip("/") + "/" if loc.path else ""
        root = prefix.rstrip("/")
        objects = s3.list_objects(loc.bucket, prefix)
    return {Location("s3", loc.bucket, o["Key"]).uri: s3.listed_identity(loc.bucket, o)
            for o in objects
            if not o["Key"].endswith("/") and (include_hidden or not is_hidden(o["Key"][len(root):]))}


def names_in(folder_uri: str | os.PathLike) -> set[str]:
    """The names of the files under a folder (or S3 prefix) as :func:`list_uri` lists them,
    without the folder: one listing (a request per 1,000 objects on S3) where asking for
    each expected file would be a request each. Empty when there is none.

    Raises:
        FileNotFoundError: On S3, the bucket does not exist (``S3 bucket 'x' does not
            exist``): a mistyped bucket must not pass for a folder with nothing in it.
    """
    try:
        return {uri.rpartition("/")[2] for uri in list_uri(folder_uri)}
    except FileNotFoundError:
        if parse_uri(folder_uri).scheme == "s3":
            raise  # a missing prefix lists empty: only the bucket is missing
        return set()


def identities_in(uri: str | os.PathLike, include_hidden: bool = False) -> dict[str, Opened]:
    """``{file URI: identity}`` (:class:`Opened`) of every file :func:`list_uri` lists. On S3
    from the listing itself — ETag, size, last-modified: one request per 1,000 objects, not
    a HEAD each —; locally a stat each (its fingerprint, a hash, is left to the caller)."""
    loc = parse_uri(uri)
    if loc.scheme == "s3":
        return _listed_s3(loc, include_hidden)
    found = {}
    for listed in list_uri(uri, include_hidden):
        try:
            found[listed] = local.identity(parse_uri(listed))
        except OSError as err:
            # removed since listed, or a link to nothing or a loop of links: as if unlisted
            # (the reader refuses a link it cannot follow, naming it and the way out)
            if err.errno not in (errno.ENOENT, errno.ELOOP):
                raise
    return found


def holds(uri: str | os.PathLike, data: bytes, found: Opened | None) -> bool:
    """Whether the file at ``uri``, whose identity ``found`` a listing gave (None: not
    listed), holds exactly ``data``: on S3 from the listing's ETag when it is the one an
    upload of ``data`` gets (:func:`prox_tasks.storage.s3.etag_is_upload_of`), else by
    reading it — an ETag that is not (SSE-KMS, some S3-compatible stores) says nothing of
    the bytes, and taking it for a difference rewrote such a file on every run; locally by
    reading it.
    Either is far cheaper than an atomic write's fsync and rename."""
    if found is None or found.size != len(data):
        return False
    if _etag_vouches(uri, found, io.BytesIO(data)):
        return True
    try:
        return read_bytes(uri) == data
    except FileNotFoundError:  # removed since listed
        return False


def holds_file(uri: str | os.PathLike, path: str | os.PathLike, found: Opened | None) -> bool:
    """Whether the file at ``uri``, whose identity ``found`` a listing gave (None: not
    listed), holds exactly the bytes of the local file ``path``, as :func:`holds` tells for
    bytes in memory, without holding either file: sizes first (from the listing), then on
    S3 the listing's ETag against the one an upload of ``path`` gets (``path`` read once,
    no download), else both read a block at a time and compared (on S3 a GET of the object).
    """
    if found is None or found.size != os.path.getsize(path):
        return False
    with open(path, "rb") as local:
        if _etag_vouches(uri, found, local):
            return True
        local.seek(0)
        try:
            with open_uri(uri, "rb") as stored:
                while block := local.read(1 << 20):
                    if stored.read(len(block)) != block:
                        return False
                return not stored.read(1)
        except FileNotFoundError:  # removed since listed
            return False


def _etag_vouches(uri: str | os.PathLike, found: Opened, content) -> bool:
    """Whether the S3 object ``uri`` (identity ``found``) has an ETag an upload of the bytes
    ``content`` reads gets: S3 derived it from the bytes it stores, so they are those. False
    for a local file (its fingerprint is a hash to compute) or an ETag that proves nothing."""
    if parse_uri(uri).scheme != "s3" or not (found.fingerprint or "").startswith("etag:"):
        return False
    return s3.etag_is_upload_of(found.fingerprint.removeprefix("etag:"), content, found.size)


def put_atomic(uri: str | os.PathLike, data: bytes | str | os.PathLike | io.IOBase) -> str:
    """Write ``data`` to ``uri`` atomically; returns the content's SHA-256.

    ``data`` may be bytes, text (UTF-8), or a readable binary file object. To publish an
    existing local file, pass an open file object.
    """
    with open_uri(uri, "wb") as out:
        if isinstance(data, str):
            out.write(data.encode("utf-8"))
        elif isinstance(data, bytes | bytearray | memoryview):
            out.write(data)
        else:
            shutil.copyfileobj(data, out, 1 << 20)
    return out.sha256


def move(source: str | os.PathLike, target: str | os.PathLike) -> str | None:
    """Publish the complete file ``source`` as ``target`` (same storage), replacing it:
    locally one ``os.replace`` (atomic, the folder synced), on S3 a server-side copy then
    the source deleted (a reader sees the old object or the whole new one, never a part).

    Returns:
        On S3 the ETag the copy gave ``target``, as S3 answered the copy; None locally.

    Raises:
        FileNotFoundError: No file at ``source``.
        ValueError: ``source`` and ``target`` on different storages (or buckets).
    """
    src, dst = parse_uri(source), parse_uri(target)
    if src.scheme != dst.scheme or (src.scheme == "s3" and src.bucket != dst.bucket):
        raise ValueError(f"cannot move {source} to {target}: another storage")
    return _backend(src).move(src, dst)


def read_bytes(uri: str | os.PathLike) -> bytes:
    with open_uri(uri, "rb") as f:
        return f.read()


def read_json(uri: str | os.PathLike):
    """The JSON document at ``uri`` (a status record, a gate result, a pointer), or None when
    there is no such file; on S3 one GET (no HEAD first)."""
    import json

    loc = parse_uri(uri)
    data = _backend(loc).read_if_exists(loc)
    return None if data is None else json.loads(data)
