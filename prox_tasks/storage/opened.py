"""What opening a file for reading learnt of it, for a caller that must know which bytes it
reads (a shard's input file checked against its plan) without asking the store again."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Opened:
    """The identity of a file as its open found it.

    Attributes:
        uri: The file's canonical URI.
        size: Its length in bytes.
        version: As :func:`prox_tasks.storage.version_of` gives it (local: modification
            time and size; S3: ETag, last-modified and size).
        fingerprint: As :func:`prox_tasks.storage.content_fingerprint` gives it when the open
            knows it for free (S3: ``etag:<ETag>`` of the opening GET); None for a local
            file, whose fingerprint is its hash (a read of the whole file).
    """

    uri: str
    size: int
    version: str
    fingerprint: str | None = None
