"""Which snapshot folders the report reads: only those below its configured output roots.

The report opens the folder a catalog row names (``output_uri``): its gate result, Data Docs,
manifest and shards. Whoever can write a row of the catalog could otherwise make the API
server read and serve any folder it can reach (another team's bucket with the server's S3
credentials, a local folder outside the corpus), and one malformed URI broke every page that
lists snapshots. So a row is read only when its ``output_uri`` is a path, ``file://`` or
``s3://`` URI inside one of :func:`prox_tasks.pipeline.settings.report_roots`
(``PROX_REPORT_ROOTS``, else ``PROX_CORPUS_ROOT``): a local folder by its real path (symlinks
followed, ``..`` resolved), an S3 prefix in the same bucket. Any other row is listed from the
catalog alone and its pages are refused with :class:`OutsideRoots`, which says what to set.
"""

from __future__ import annotations

import errno
import os
import stat

from prox_tasks.storage import Location, parse_uri, real_uri


class OutsideRoots(PermissionError):
    """A catalog row's ``output_uri`` the report must not read (outside its roots, or not a
    URI it knows)."""


class NotServed(FileNotFoundError):
    """A file of a snapshot's folder the report does not read (:func:`served_file` refuses
    it): a link out of the folder, a ``..`` path, or not a regular file. A
    :class:`FileNotFoundError`, so a page that shows what is there treats it as absent."""


def _real(uri: str) -> Location:
    """``uri`` parsed, a local path by its real path: symlinks followed and ``..`` resolved
    (:func:`prox_tasks.storage.real_uri`, the one place prox follows links).

    Raises:
        ValueError: not a path, ``file://`` or ``s3://`` URI.
    """
    return parse_uri(real_uri(uri))


def _inside(loc: Location, root: Location) -> bool:
    if loc.scheme != root.scheme or loc.bucket != root.bucket:
        return False
    if loc.scheme == "file":
        return os.path.commonpath([loc.path, root.path]) == root.path
    prefix = root.path.strip("/")
    return not prefix or loc.path.strip("/") == prefix or loc.path.startswith(prefix + "/")


def served_file(uri: str, snapshot_uri: str) -> bool:
    """Whether the report may serve ``uri`` as a file of the snapshot at ``snapshot_uri``
    (one :func:`check_output_uri` let it read): inside the snapshot's folder by real path,
    with no ``..`` segment, and a local one a regular file.

    A symlink the Data Docs folder holds (or ``_quality`` made one) would otherwise serve
    any file the API server can read; a ``..`` in a URL path would leave the folder (an
    S3 key is not resolved: it is refused as written, before parsing resolves a local
    one); and a FIFO would hang the request.
    """
    if ".." in str(uri).split("/"):
        return False
    try:
        loc, base = _real(uri), _real(snapshot_uri)
    except ValueError:
        return False
    if not _inside(loc, base):
        return False
    if loc.scheme != "file":
        return True
    try:
        return stat.S_ISREG(os.stat(loc.path).st_mode)
    except (OSError, ValueError):  # missing, unreadable, or a NUL in the name
        return False


def snapshot_file(uri: str, snapshot_uri: str) -> str:
    """``uri`` when the report may read it as a file of the snapshot at ``snapshot_uri``
    (:func:`served_file`, the one check): every file of a snapshot the report opens (its
    plan, refined shards, gate result, status files) goes through here, so a link planted
    in the folder is not followed out of ``PROX_REPORT_ROOTS``.

    Raises:
        FileNotFoundError: There is no such file.
        NotServed: It is there but not the report's to read (saying why).
    """
    if served_file(uri, snapshot_uri):
        return uri
    try:
        loc = parse_uri(uri)
    except ValueError:
        loc = None
    if loc is not None and loc.scheme == "file" and not os.path.lexists(loc.path):
        raise FileNotFoundError(errno.ENOENT, "no such file", uri)
    raise NotServed(f"{uri} is not a file of the snapshot's folder {snapshot_uri} (a link "
                    "out of it, a `..` path or not a regular file): the report does not "
                    "read it")


def served_manifest(output_uri: str):
    """The plan of the snapshot at ``output_uri`` (:func:`prox_tasks.corpus.load_manifest`),
    read only when :func:`snapshot_file` lets the report read its ``manifest.json``.

    Raises:
        FileNotFoundError: The folder holds no plan.
        NotServed: Its manifest is a link out of the folder (or not a regular file).
    """
    from prox_tasks.corpus import load_manifest
    from prox_tasks.corpus.manifest import MANIFEST_NAME
    from prox_tasks.storage import join_uri

    snapshot_file(join_uri(output_uri, MANIFEST_NAME), output_uri)
    return load_manifest(output_uri)


def refusal(output_uri: str | None) -> str | None:
    """Why the report must not read the snapshot at ``output_uri`` (None: it may)."""
    from prox_tasks.pipeline.settings import report_roots

    roots = report_roots()
    where = (
        f"the report reads snapshots only below {', '.join(roots)} (PROX_REPORT_ROOTS, "
        "else PROX_CORPUS_ROOT, in the API server's environment): add the snapshot's "
        "output root there, or correct the catalog row"
    )
    try:
        loc = _real(output_uri or "")
        if not output_uri or not loc.path.strip("/"):
            raise ValueError("it names no folder")
    except ValueError as err:
        return f"the catalog's output_uri {output_uri!r} is not a snapshot folder ({err}); {where}"
    for root in roots:
        try:
            if _inside(loc, _real(root)):
                return None
        except ValueError:  # a malformed root in the setting: it admits nothing
            continue
    return f"the catalog's output_uri {output_uri} lies outside the report's roots; {where}"


def check_output_uri(output_uri: str | None) -> str:
    """``output_uri`` when the report may read it.

    Raises:
        OutsideRoots: Saying why not and what to set (:func:`refusal`).
    """
    why = refusal(output_uri)
    if why is not None:
        raise OutsideRoots(why)
    return output_uri
