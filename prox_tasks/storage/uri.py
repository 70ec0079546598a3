"""URI parsing: plain paths, ``file://`` and ``s3://``.

Local paths are made absolute so a URI names the same file whatever the working directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlparse

GLOB_CHARS = re.compile(r"[*?\[]")
#: ``s3:/bucket/key``, ``s3:bucket``, ``file:/path``: a URI with a slash missing, which as a
#: plain path would be a local folder named ``s3:`` below the working directory.
SCHEME_WITHOUT_SLASHES = re.compile(r"(?i)^(s3a?|file):(?!//)")


class InvalidURI(ValueError):
    """A URI prox cannot take (``s3:/bucket/key``, an S3 URI without a bucket, another
    scheme): a mistake in how a command was called (exit 2), which a retry cannot mend."""


@dataclass(frozen=True)
class Location:
    """A parsed URI.

    Attributes:
        scheme: ``"file"`` or ``"s3"``.
        bucket: The S3 bucket (``""`` for local files).
        path: The absolute local path, or the S3 key (no leading slash).
    """

    scheme: str
    bucket: str
    path: str

    @property
    def uri(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.path}"
        return f"file://{self.path}"

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def parse_uri(uri: str | os.PathLike) -> Location:
    """Parse ``uri`` (a plain path, ``file://`` or ``s3://`` URI) into a :class:`Location`.

    Raises:
        InvalidURI: A scheme with a slash missing, an unsupported scheme, a ``file://`` URI
            naming a remote host or an S3 URI without a bucket.
    """
    text = os.fspath(uri)
    typo = SCHEME_WITHOUT_SLASHES.match(text)
    if typo:  # else written silently to ./s3:/bucket/key, where no one looks for it
        scheme = typo.group(1).lower()
        form = "file:///abs/path or a plain path" if scheme == "file" else "s3://bucket/key"
        raise InvalidURI(f"{text} is not a URI: write {form} (two slashes after "
                         f"{typo.group(0)}); ./{text} for a local folder of that name")
    if "://" not in text:
        return Location("file", "", _local(text))
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        # Verbatim, as Location.uri writes it: a file named "p%41.jsonl", "h#1.jsonl" or
        # "q?x.jsonl" must round-trip (unquoting or urlparse would read another file).
        host, _, path = text.split("://", 1)[1].partition("/")
        if host not in ("", "localhost"):
            raise InvalidURI(f"file URI with a remote host is not supported: {text}")
        return Location("file", "", _local("/" + path))
    if scheme in ("s3", "s3a"):
        if not parsed.netloc:
            raise InvalidURI(f"S3 URI without a bucket: {text}")
        # Keep the key verbatim: urlparse would drop "?..." and "#..." parts of a key.
        key = text.split("://", 1)[1].split("/", 1)[1] if "/" in text.split("://", 1)[1] else ""
        return Location("s3", parsed.netloc, key)
    raise InvalidURI(f"unsupported URI scheme {scheme!r} in {text} (use a path, file:// or s3://)")


def _local(path: str) -> str:
    keep_slash = path.endswith("/") and len(path) > 1
    path = os.path.abspath(os.path.expanduser(path))
    return path + "/" if keep_slash else path


def to_uri(uri: str | os.PathLike) -> str:
    """The canonical form of ``uri``: ``file:///abs/path`` or ``s3://bucket/key``."""
    return parse_uri(uri).uri


def compared_uri(uri: str | os.PathLike) -> str:
    """``uri`` as :func:`same_uri` compares it: canonical, without trailing slashes (for
    sorting or keying lists of URIs the same way)."""
    return to_uri(uri).rstrip("/")


def same_uri(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file or folder: equal once canonical, but for
    trailing slashes (``out/`` and ``out``: a shell's completion adds one)."""
    return compared_uri(a) == compared_uri(b)


def real_uri(uri: str | os.PathLike) -> str:
    """The file ``uri`` names once its symbolic links are followed (local paths; an S3 key
    as :func:`compared_uri`): what a command compares its input with the file it writes.
    ``in.jsonl``, a link to ``out.jsonl``, and ``out.jsonl`` name one file, which writing
    the output replaces while (or before) it is read as the input."""
    return real_uris([uri])[0]


def real_uris(uris: Iterable[str | os.PathLike]) -> list[str]:
    """:func:`real_uri` of each of ``uris``, each folder resolved once: a folder's 100,000
    listed files cost a ``realpath`` of every path component each (5 ``lstat`` calls a
    file, 2.4 s more than the listing), here one ``lstat`` a file (is it a link?)."""
    folders: dict[str, str] = {}
    return [_real(uri, folders) for uri in uris]


def _real(uri: str | os.PathLike, folders: dict[str, str]) -> str:
    loc = parse_uri(uri)
    if loc.scheme != "file":
        return compared_uri(uri)
    folder, name = os.path.split(loc.path)
    if name in ("", ".", ".."):  # names no file of the folder: resolved whole (a realpath
        # has no trailing slash but the root's, which its URI keeps: "file:" is none)
        return Location("file", "", os.path.realpath(loc.path)).uri
    if folder not in folders:
        folders[folder] = os.path.realpath(folder or ".")
    path = os.path.join(folders[folder], name)
    if os.path.islink(path):  # the file itself a link: followed (its target may be one)
        path = os.path.realpath(path)
    return Location("file", "", path).uri  # absolute and normal: no second parse


def join_uri(base: str | os.PathLike, *parts: str) -> str:
    """Join path parts onto ``base`` with ``/``, keeping its scheme."""
    loc = parse_uri(base)
    path = loc.path
    for part in parts:
        part = part.strip("/")
        if part:
            path = (path.rstrip("/") + "/" + part) if path else part
    return Location(loc.scheme, loc.bucket, path).uri


def is_glob(uri: str | os.PathLike) -> bool:
    """True when ``uri`` contains a wildcard (``*``, ``?`` or ``[``)."""
    return bool(GLOB_CHARS.search(parse_uri(uri).path))
