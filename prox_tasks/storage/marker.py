"""A crawl partition's completion marker: the file a writer puts last (Spark's ``_SUCCESS``).

A partition delivered in several files (``part-00000…``, ``part-00001…``) holds a readable
file long before it is whole; planned then, the files landing later are never refined. With
a marker (:func:`prox_tasks.pipeline.settings.partition_marker`), the refine DAG's sensor
waits for it and planning refuses a partition without it.

The marker's name starts with ``_`` or ``.``: such names are never listed as input
(:func:`prox_tasks.storage.list_uri`), so the marker is never read as a document and a
plan's id does not change when it lands.
"""

from __future__ import annotations

import re

#: A marker: one file name, hidden from input listings (``_SUCCESS``, ``_DONE``, ``.done``);
#: the ``partition_marker`` Param's schema too.
MARKER_PATTERN = r"^[._][A-Za-z0-9._-]*[A-Za-z0-9]$"


class PartitionIncomplete(ValueError):
    """The partition's completion marker is not there: its files may still be landing."""


def check_marker_name(name: str, where: str) -> str:
    """``name`` when it is a marker's name (:data:`MARKER_PATTERN`).

    Raises:
        ValueError: Naming ``where`` it came from and the names allowed.
    """
    if not re.match(MARKER_PATTERN, name):
        raise ValueError(
            f"{where} {name!r} is not a marker file name: one name starting with "
            "'_' or '.' (e.g. _SUCCESS), which is never read as input"
        )
    return name


def marker_uri(input_uri: str, marker: str) -> str:
    """Where the marker of the partition folder ``input_uri`` lies."""
    from prox_tasks.storage import join_uri

    return join_uri(input_uri, marker)


def marker_present(input_uri: str, marker: str | None) -> bool:
    """Whether the partition is complete: its marker exists (True without a marker)."""
    from prox_tasks.storage import exists, is_glob

    if not marker:
        return True
    if is_glob(input_uri):  # no one folder: planning says so
        return False
    try:
        return exists(marker_uri(input_uri, marker))
    except FileNotFoundError:  # an S3 bucket not there (yet)
        return False


def check_marked_input(input_uri: str, marker: str | None) -> None:
    """Refuse a marker for an input that names no one folder (a glob), before any wait: its
    marker can never be found, so a sensor would wait out its whole timeout for it.

    Raises:
        PartitionIncomplete: Naming the marker and the glob.
    """
    from prox_tasks.storage import is_glob

    if marker and is_glob(input_uri):
        raise PartitionIncomplete(
            f"partition_marker {marker} needs input_uri to name the "
            f"partition's folder, not a glob ({input_uri})"
        )


def require_marker(input_uri: str, marker: str | None) -> None:
    """Refuse a partition whose marker is configured but absent.

    Raises:
        PartitionIncomplete: Naming the marker, the folder, and what to do.
    """
    check_marked_input(input_uri, marker)
    if not marker_present(input_uri, marker):
        if names_a_file(input_uri):
            raise PartitionIncomplete(
                f"partition_marker {marker} needs input_uri to name the partition's folder, "
                f"not one file ({input_uri}): name the folder the writer puts {marker} in, "
                "or set no marker for this input"
            )
        raise PartitionIncomplete(
            f"crawl partition {input_uri} is not complete: its marker {marker} is not there "
            f"({marker_uri(input_uri, marker)}); its files may still be landing. Wait for the "
            "writer to finish (it writes the marker last) and try again, or set "
            "partition_marker (--partition-marker, PROX_PARTITION_MARKER) to the marker it writes"
        )


def names_a_file(uri: str) -> bool:
    """Whether ``uri`` is one file, not a folder (asked only once a marker is missing: a
    HEAD on S3, where a prefix is never found so)."""
    import os

    from prox_tasks.storage import exists, parse_uri

    try:
        loc = parse_uri(uri)
        return exists(uri) and (loc.scheme == "s3" or os.path.isfile(loc.path))
    except (FileNotFoundError, OSError):
        return False
