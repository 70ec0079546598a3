"""One line that says what failed and where, for any exception a ``prox`` command ends with."""

from __future__ import annotations

import errno

from prox_tasks.setting_names import CALLERS
from prox_tasks.wording import shortened, shown

#: Where the line of an error another library raised is cut (its message can quote a whole
#: request or document): in its middle, where such a quote sits, so that what it failed on
#: and where (a file, a line, a column: often at its end) both stay.
MAX_CHARS = 400
#: Characters of the end of such a line (or of one prox raised) kept after the cut.
KEPT_END = 120
#: ... and one prox raised: written for a person, it ends with what to do, which a cut at
#: MAX_CHARS left out ("… or name a model with --model: a refiner artifact folder, a Hugging
#: Face…"); its quotes of files and causes are bounded where it is raised. Prox's own
#: whatever its type: a ValueError raised by prox (prox label's "--warc: … none has its
#: response among …") lost its way out to the cut. Past this bound (a list of thousands of
#: names) it is cut in its middle too, its way out kept.
MAX_OWN_CHARS = 2000


class CommandFailed(Exception):
    """A command's own account of a failure it caught, printed whole (no type name, not cut:
    the cause it quotes is cut already, by :func:`describe_error`, and the way on after it
    must stay). The cause is ``__cause__`` (``raise CommandFailed(...) from err``): ``-v``
    prints its traceback. ``code``: the command's exit code (2: a setting to fix, which
    running the same command again cannot get past)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


#: How to give an environment prox's stack: a wheel declares no dependencies (they are pinned
#: in requirements*.txt, torch's CPU build from its own index), so ``pip install prox-*.whl``
#: alone installs none of them.
STACK_INSTALL = ("install prox's pinned stack into it first: torch's CPU wheel, then "
                 "requirements.txt with constraints.txt (GPU machines: requirements-gpu.txt), "
                 "from the prox source the package was built from, then the package with "
                 "pip install --no-deps (docs/deploy.md, \"Installing prox from a wheel\")")


def missing_dependency(err: BaseException) -> str | None:
    """The line for ``err`` when it is a library of prox's stack missing from this Python
    environment (``No module named 'numpy'`` from ``pip install prox-*.whl`` into an
    environment without the stack), else None. Imports nothing of the stack,
    unlike :func:`describe_error` (SQLAlchemy): it must work in an environment without it."""
    import importlib.util
    import sys

    if not isinstance(err, ModuleNotFoundError) or not err.name:
        return None
    package = err.name.partition(".")[0]
    if package == "prox_tasks":
        return None  # prox's own module: a broken install or a bug, not the stack
    try:
        installed = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        installed = False
    if installed:  # a module an installed library lacks: its version, said by the error itself
        return None
    return (f"the Python package {package!r} is not installed in the environment at "
            f"{sys.prefix}: {STACK_INSTALL}")


def exit_code(err: BaseException) -> int:
    """The exit code of a command that ended with ``err``: a :class:`CommandFailed`'s own,
    2 for a setting to fix that running the same command again cannot get past
    (:func:`setting_errors`), else 1."""
    if isinstance(err, CommandFailed):
        return err.code
    return 2 if isinstance(err, setting_errors()) else 1


def setting_errors() -> tuple[type[BaseException], ...]:
    """The errors of a setting to fix, whichever command raised them (exit 2):
    :class:`~prox_tasks.models.NoModelError` (``--model promoted``/``--base promoted`` and
    nothing promoted), :class:`~prox_tasks.registry.PromotedVersionGone` (the promoted
    version removed from its registry), :class:`~prox_tasks.refine.options.NotAModelFolder`
    (``--model`` no model it can load), :class:`~prox_tasks.models.artifact.ModelDamaged`
    (a model folder's ``refiner.json`` or ``artifact.json`` that cannot be read),
    :class:`~prox_tasks.registry.DecisionRecordDamaged` (a registry's decision record that
    cannot be read: reading it again cannot help), :class:`~prox_tasks.inference.openai_engine.
    PoolMisconfigured` (an openai pool set up wrong), :class:`~prox_tasks.catalog.engine.
    CatalogURLInvalid` (the catalog URL no database URL, or its driver not installed: a bare
    ``postgresql://``), :class:`~prox_tasks.catalog.engine.NotACatalog` (a SQLite file
    that is no prox catalog), :class:`~prox_tasks.pipeline.settings.SettingInvalid` (a
    deployment variable whose value prox cannot use: ``PROX_PROGRESS_EVERY=1k``) and
    :class:`~prox_tasks.labeling.cache.CacheNotWritable` (the llm teacher's ``--cache-dir``
    read-only), :class:`~prox_tasks.catalog.catalog.SnapshotNameTaken` and
    :class:`~prox_tasks.catalog.catalog.SeedSetNameTaken` (a snapshot or seed-set name the
    catalog holds for another folder: name this one apart) and
    :class:`~prox_tasks.corpus.readers.IdFieldMissing` (``--id-field`` naming a field the
    rows lack), :class:`~prox_tasks.corpus.manifest.OutputNotAFolder` (a snapshot's
    ``--output`` named as a ``.json`` file), :class:`~prox_tasks.corpus.manifest.UnreadablePlan` (a snapshot's
    ``manifest.json`` cut short or edited: plan and refine again), :class:`~prox_tasks.training.run.TrainingRefused`
    (``prox train``'s settings, or a seed set it cannot train on: no training or validation
    documents, one class only), :class:`~prox_tasks.storage.names.InvalidName` (a snapshot,
    release, seed-set or model name that is no one path component: ``--name ../evil``),
    :class:`~prox_tasks.storage.uri.InvalidURI` (``--input s3:/crawl/``: a slash missing),
    :class:`~prox_tasks.connections.ConnectionNotFound` (``PROX_S3_CONN_ID`` or ``--conn-id``
    naming no Airflow connection, as an endpoint without its scheme is a setting) and
    :class:`~prox_tasks.corpus.readers.UnreadableInput` (an input file prox cannot open: a
    named pipe, a link to nothing or a loop of links, no read permission; the same files
    stay so until someone fixes them), :class:`~prox_tasks.corpus.readers.NoDocuments` (an
    input that held records, every one quarantined: the same input read the same way
    quarantines them again; the message names the quarantine and the counts by reason),
    :class:`~prox_tasks.corpus.readers.NoInputFiles` and
    :class:`~prox_tasks.corpus.readers.EmptyInput` (an input naming no file, or whose files
    hold no record at all: the same command finds the same nothing until the data is
    delivered or ``--input`` corrected; prox does not wait for data, the refine DAG's
    partition sensor does), :class:`~prox_tasks.corpus.readers.FormatMismatch` (an input
    file not in the format asked, or of none prox reads: a folder of such files alone is
    ``NoInputFiles``, one named alone was this, exit 1), :class:`~prox_tasks.evaluation.files.NothingToScore`
    (``prox eval``'s gold or refined rows holding nothing to score: a malformed or
    mis-encoded gold file, saying why its rows were skipped). The DAGs fail their task on each without retries
    (:func:`prox_tasks.pipeline.errors.cannot_succeed`)."""
    from prox_tasks.catalog.catalog import SeedSetNameTaken, SnapshotNameTaken
    from prox_tasks.catalog.engine import CatalogURLInvalid, NotACatalog
    from prox_tasks.connections import ConnectionNotFound
    from prox_tasks.corpus.manifest import OutputNotAFolder, UnreadablePlan
    from prox_tasks.corpus.readers import (
        EmptyInput,
        FormatMismatch,
        IdFieldMissing,
        NoDocuments,
        NoInputFiles,
        UnreadableInput,
    )
    from prox_tasks.evaluation.files import NothingToScore
    from prox_tasks.inference.openai_engine import PoolMisconfigured
    from prox_tasks.labeling.cache import CacheNotWritable
    from prox_tasks.models import NoModelError
    from prox_tasks.models.artifact import ModelDamaged
    from prox_tasks.pipeline.settings import SettingInvalid
    from prox_tasks.refine.options import NotAModelFolder
    from prox_tasks.registry import DecisionRecordDamaged, PromotedVersionGone
    from prox_tasks.storage.names import InvalidName
    from prox_tasks.storage.uri import InvalidURI
    from prox_tasks.training.run import TrainingRefused

    return NoModelError, PromotedVersionGone, NotAModelFolder, ModelDamaged, PoolMisconfigured, \
        DecisionRecordDamaged, CatalogURLInvalid, NotACatalog, \
        SettingInvalid, CacheNotWritable, SnapshotNameTaken, SeedSetNameTaken, IdFieldMissing, \
        OutputNotAFolder, TrainingRefused, InvalidName, UnreadableInput, InvalidURI, \
        ConnectionNotFound, NothingToScore, NoDocuments, NoInputFiles, EmptyInput, \
        FormatMismatch, UnreadablePlan  # fmt: skip


def file_in_the_way(err: OSError) -> str | None:
    """The file that stands where a folder is needed, when that is why ``err`` happened: a
    path through a file (``ENOTDIR``: ``out/manifest.json`` where ``out`` is a file) or a
    folder to create where a file is (``EEXIST`` from a ``makedirs``); None otherwise."""
    import os

    if err.errno not in (errno.ENOTDIR, errno.EEXIST) or not isinstance(err.filename, str):
        return None
    path = err.filename.removeprefix("file://").rstrip("/")
    if err.errno == errno.EEXIST:  # only makedirs raises it for a path that is a file
        return path if os.path.isfile(path) else None
    while path and not os.path.lexists(path):  # up to the first part that exists
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return path if path and not os.path.isdir(path) else None


def _oserror(err: OSError) -> str:
    # shown: a line feed in a path would become a space in the one line, another path
    where = shown(err.filename) if err.filename is not None else ""
    if err.filename2 is not None:
        where = f"{where} -> {shown(err.filename2)}"
    if err.errno == errno.ENOSPC:  # every command's writes are atomic: a rerun finishes
        return (f"disk full{' writing ' + str(where) if where else ''} ({err.strerror}): "
                f"free space there, then run the same command again")
    blocker = file_in_the_way(err)
    if blocker is not None:
        from prox_tasks.pipeline.settings import prox_home

        target = f" (for {where})" if str(where).rstrip("/") != blocker else ""
        # the default catalog, registry and runs live under PROX_HOME: say it is that one
        # (a PROX_TMPDIR below a file is a SettingInvalid naming it: tempfiles.scratch_dir)
        named = f"{blocker} (PROX_HOME)" if blocker == prox_home() else blocker
        return (f"{named} is a file where a folder is needed{target}: give a path whose "
                "folders are folders, or move that file away")
    if err.strerror:
        return f"{err.strerror}{': ' + str(where) if where else ''}"
    return f"{type(err).__name__}: {err}"


#: Where a DAG task's S3 credentials must be given: each task may run on another worker.
WORKER_ENVIRONMENT = " in the environment of every Airflow worker"
#: Where the AWS chain takes credentials from, for a user without any.
S3_CHAIN = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role"


def credentials_missing() -> tuple[type[BaseException], ...]:
    """botocore's errors for S3 credentials it finds none of, or cannot use as given (a key
    without its secret, an AWS_PROFILE no file holds): no retry finds them."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError, ProfileNotFound

    return (NoCredentialsError, PartialCredentialsError, ProfileNotFound)


def s3_credentials_advice(environment: str = "") -> str:
    """What a user without usable S3 credentials can do (botocore only says it found none):
    when ``PROX_S3_CONN_ID`` names the Airflow connection the settings come from, fill that
    connection's keys; else give them as the AWS chain takes them, or name a connection.
    ``environment`` (" in the environment of every Airflow worker"): where the chain's
    variables must be set."""
    from prox_tasks.storage.s3_client import connection_in_use

    conn_id = connection_in_use()
    if conn_id:
        return (f"the Airflow connection {conn_id!r} (PROX_S3_CONN_ID) holds no access key: "
                "set its login and password (or extra aws_access_key_id and "
                f"aws_secret_access_key), or give credentials as the AWS chain takes them "
                f"({S3_CHAIN}){environment} (docs/storage.md)")
    return (f"give credentials as the AWS chain takes them ({S3_CHAIN}){environment}, or "
            "name an Airflow connection holding them in PROX_S3_CONN_ID (docs/storage.md)")


def _credentials_failed(err: BaseException) -> str:
    """What failed for want of S3 credentials (:func:`describe_error` adds the advice)."""
    from botocore.exceptions import NoCredentialsError

    where = "; ".join(getattr(err, "__notes__", ()))
    if isinstance(err, NoCredentialsError):  # botocore's "Unable to locate credentials"
        return f"S3: no credentials to read or write {where or 'S3'}"
    return f"S3: {err}" + (f" ({where})" if where else "")
#: What a user whose S3 endpoint does not answer can do (botocore names only the URL), where
#: the endpoint's setting is not known (:func:`s3_endpoint_advice` names it when it is).
S3_ENDPOINT = ("nothing answers there: start the S3 server or correct the endpoint "
               "(PROX_S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or the "
               "endpoint_url of PROX_S3_CONN_ID's connection; docs/storage.md)")


def s3_endpoint_advice() -> str:
    """What to do when the S3 endpoint does not answer, naming the setting it came from
    (:func:`~prox_tasks.storage.s3_client.endpoint_setting`): with the endpoint set by
    AWS_ENDPOINT_URL, a list of three variables sent the user to PROX_S3_ENDPOINT_URL first.
    None set (or unknown now): :data:`S3_ENDPOINT`'s list."""
    from prox_tasks.storage.s3_client import endpoint_setting

    where = endpoint_setting()
    if where is None:
        return S3_ENDPOINT
    return (f"nothing answers there: start the S3 server or correct the endpoint, set by "
            f"{where} (docs/storage.md)")


#: The permission (IAM action) each S3 operation prox sends needs, named when S3 refuses it.
S3_PERMISSIONS = {
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
    "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket", "DeleteObject": "s3:DeleteObject",
    "DeleteObjects": "s3:DeleteObject",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListParts": "s3:ListMultipartUploadParts",  # cleanup_partial: is an upload live?
    "CopyObject": "s3:GetObject on its source and s3:PutObject",  # storage.move: publishing
    "UploadPartCopy": "s3:GetObject on its source and s3:PutObject",  # a large one's parts
}  # fmt: skip
#: Where the credentials in use come from, for a user whose credentials S3 refuses.
S3_CREDENTIAL_SETTINGS = ("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an "
                          "instance role, or PROX_S3_CONN_ID's connection; docs/storage.md")


def s3_refusal_advice(code: str, operation: str) -> str | None:
    """What to do when S3 refuses ``operation`` with ``code`` for the credentials sent
    (S3 says only "Access Denied", or that it knows no such key), else None."""
    if code in ("AccessDenied", "AllAccessDisabled", "403"):  # "403": a HEAD has no body
        permission = S3_PERMISSIONS.get(operation, f"s3:{operation}")
        return (f"the S3 credentials in use may not do this: grant them {permission} there "
                "(the bucket's policy, or the IAM policy of their user or role), or give "
                f"credentials that may ({S3_CREDENTIAL_SETTINGS})")
    if code == "InvalidAccessKeyId":
        return ("the S3 store knows no such access key: check the credentials "
                f"({S3_CREDENTIAL_SETTINGS}) and that the endpoint is the store they belong to "
                "(PROX_S3_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)")
    if code == "SignatureDoesNotMatch":
        return ("the secret key does not belong to the access key: check the secret "
                f"({S3_CREDENTIAL_SETTINGS})")
    if code in ("ExpiredToken", "TokenRefreshRequired", "InvalidToken"):
        return ("the session token has expired or is not valid: renew the credentials (aws "
                "sso login, a new AWS_SESSION_TOKEN) or give others "
                f"({S3_CREDENTIAL_SETTINGS})")
    return None


def _s3(err, environment: str = "") -> tuple[str, str] | None:
    """``err``, an S3 error, as what failed (S3's words, which a cut may shorten) and what to
    do (prox's, said whole; may be empty; credentials to set ``environment``, as
    :func:`s3_credentials_advice`); None for another error."""
    try:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
        )
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return None
    where = "; ".join(getattr(err, "__notes__", ()))  # the URI (storage.s3.about)
    if isinstance(err, S3UploadFailedError) and isinstance(err.__context__, ClientError):
        # boto3 wraps the refused PUT in a message naming its temporary file: say the PUT's
        where, err = where or "; ".join(getattr(err.__context__, "__notes__", ())), \
            err.__context__
    if isinstance(err, ClientError):
        info = err.response.get("Error", {})
        code, message = info.get("Code", "?"), info.get("Message", "")
        return (f"S3 {err.operation_name} failed: {code} {message}".strip() + (
            f" ({where})" if where else ""), s3_refusal_advice(code, err.operation_name) or "")
    if isinstance(err, credentials_missing()):
        return _credentials_failed(err), s3_credentials_advice(environment)
    if isinstance(err, EndpointConnectionError):
        return f"S3: {err}", s3_endpoint_advice()
    if isinstance(err, BotoCoreError):
        return f"S3: {err}", ""
    return None


def _catalog_unreachable(err) -> tuple[str, str] | None:
    """A database the catalog URL names that could not be connected to (PostgreSQL not
    running, a mistyped host, port, database or user), as the driver's words and what to do;
    None for another error, and for another engine's (Airflow's metadata database): only
    the catalog engine's errors carry its note (:func:`prox_tasks.catalog.engine.
    make_engine`). A SQLite file that cannot be opened is said as such: no server to start.
    SQLAlchemy's own line ends with a link to its error pages and says nothing of where the
    URL comes from."""
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    if not isinstance(err, OperationalError) or err.statement is not None:
        return None  # a statement's error: the database answered
    from prox_tasks.catalog.engine import CATALOG_SERVER_NOTE, URL_GIVEN

    notes = getattr(err, "__notes__", ())
    cause = " ".join(str(err.orig).split())
    if (file := _sqlite_catalog_file(err)) is not None:  # no server to start: its file
        return (f"the SQLite catalog {file} cannot be opened: {cause}",
                f"check that it is a file its folder lets prox write, or correct the catalog "
                f"URL ({URL_GIVEN}; docs/storage.md)")
    if CATALOG_SERVER_NOTE not in notes:
        return None  # another engine's (Airflow's metadata database): not the catalog URL
    if "authentication failed" in cause or "no password supplied" in cause:
        # the server answered and refused the login: nothing to start, a user or password
        advice = (f"the server refused the login: correct the user and password in the "
                  f"catalog URL ({URL_GIVEN}; docs/storage.md), or set that user's password on the server "
                  "(ALTER ROLE … PASSWORD)")
    elif "does not exist" in cause:  # a database or role: create it, or name the right one
        advice = (f"create it (createdb, CREATE DATABASE / CREATE ROLE) or correct the catalog "
                  f"URL ({URL_GIVEN}; docs/storage.md)")
    else:
        advice = (f"start the database server or correct the catalog URL ({URL_GIVEN}; "
                  "docs/storage.md)")
    return f"the catalog's database cannot be reached: {cause}", advice


def _catalog_refused(err) -> tuple[str, str] | None:
    """The catalog's PostgreSQL refusing its user a statement (SQLSTATE 42501, "permission
    denied for schema public": since PostgreSQL 15 only a database's owner may create tables
    in its ``public`` schema, so a ``prox`` role given a database someone else owns cannot
    migrate it), said with the grant to ask for; None for another error or engine.
    SQLAlchemy's line held the whole statement and a link to its error pages."""
    try:
        from sqlalchemy.exc import DBAPIError
    except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
        return None
    from prox_tasks.catalog.engine import CATALOG_SERVER_NOTE, URL_GIVEN

    if (not isinstance(err, DBAPIError) or getattr(err.orig, "pgcode", None) != "42501"
            or CATALOG_SERVER_NOTE not in getattr(err, "__notes__", ())):
        return None
    cause = str(err.orig).strip().splitlines()[0]
    return (f"the catalog's database refused its user: {cause}",
            "let that user create the catalog's tables (the database's owner: ALTER DATABASE "
            "… OWNER TO …; or GRANT CREATE, USAGE ON SCHEMA public TO …, and the same on "
            f"the tables already made), or correct the catalog URL ({URL_GIVEN}; "
            "docs/storage.md)")


def _catalog_full(err) -> tuple[str, str] | None:
    """A SQLite catalog on a full disk (SQLite says "database or disk is full", naming no
    file) as a full disk, with the catalog's file its engine noted."""
    import sqlite3

    orig = getattr(err, "orig", None)
    if not isinstance(orig, sqlite3.Error) or getattr(orig, "sqlite_errorname", "") != "SQLITE_FULL":
        return None
    file = _sqlite_catalog_file(err)
    where = f" {file}" if file is not None else ""
    return (f"disk full writing the SQLite catalog{where} ({orig})",
            "free space there, then run the same command again")


def _sqlite_catalog_file(err) -> str | None:
    """The SQLite catalog file whose engine raised ``err`` (the note it adds), else None."""
    from prox_tasks.catalog.engine import CATALOG_NOTE

    return next((note[len(CATALOG_NOTE):] for note in getattr(err, "__notes__", ())
                 if note.startswith(CATALOG_NOTE)), None)


def describe_error(err: BaseException, caller: str = "cli") -> str:
    """``err`` as one line (no traceback): a command's own account, a setting to fix
    (:func:`setting_errors`), a run's refusal (:func:`_refusal`) and an unknown connection
    as written, S3 errors by operation and code, OS errors by cause and path (disk full
    named as such), anything else as ``Type: message``.

    The one wording of an error for its user: ``prox`` prints it, and a DAG task failing
    without retries says it (:func:`prox_tasks.pipeline.errors.fail_fast`, ``caller="dag"``:
    an error that words itself names the DAG's Params, S3 credentials are to be set in every
    worker's environment); the task log reads as the command would.
    """
    from prox_tasks.connections import ConnectionNotFound
    from prox_tasks.setting_names import said_to

    if caller not in CALLERS:
        raise ValueError(f"caller {caller!r} is not one of {', '.join(CALLERS)}")
    environment = WORKER_ENVIRONMENT if caller == "dag" else ""
    text, advice = None, ""  # advice: prox's way out, after the cut of what failed
    # written to be read as is: a setting to fix names the setting and what to give it (its
    # type name, "NotACatalog: …", said nothing more to whoever sets it); so does a refusal
    # that says what to change as a setting does ("RunError: no snapshot 'x' in the catalog")
    if isinstance(err, (CommandFailed, ConnectionNotFound, *setting_errors())) or _refusal(err):
        text = said_to(err, caller)
    elif (known := _s3(err, environment) or _catalog_full(err) or _catalog_unreachable(err)
          or _catalog_refused(err)) is not None:
        text, advice = known
    if text is None and isinstance(err, OSError) and type(err).__name__ != "CorruptStreamError":
        text = _oserror(err)
    if text is None:
        said = said_to(err, caller)
        text = f"{type(err).__name__}: {said}" if said else type(err).__name__
    line = " ".join(text.split())  # one line, whatever the message held
    if isinstance(err, CommandFailed):
        return line
    # cut in its middle either way: prox's way out, and another's where, are at its end
    line = shortened(line, MAX_OWN_CHARS if _prox_said(err) else MAX_CHARS, KEPT_END)
    return f"{line}: {advice}" if advice else line


def _refusal(err: BaseException) -> bool:
    """Whether ``err`` is a :class:`~prox_tasks.pipeline.errors.RunError` or a
    :class:`~prox_tasks.release.ReleaseRefused`: a run, or a command, that cannot succeed
    as it was asked, whose message says what to change ("no snapshot 'x' in the catalog:
    give the name …"; "… released as x, but its files are no longer those …: restore the
    files"); its type name says nothing more (``prox release`` prints it bare too).
    The other refusals keep theirs: it names what conflicts (``SettingsConflict``,
    ``ManifestConflict``), which their messages do not repeat."""
    from prox_tasks.pipeline.errors import RunError
    from prox_tasks.release import ReleaseRefused

    return isinstance(err, (RunError, ReleaseRefused))


def _prox_said(err: BaseException) -> bool:
    """Whether prox wrote ``err``'s message: an error type of prox's, or one raised by a
    ``raise`` in prox's code (the last frame of its traceback is prox's) — prox raises
    ValueError, FileNotFoundError, RuntimeError with messages of its own."""
    import os

    if type(err).__module__.startswith("prox_tasks."):
        return True
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PROX_DIR)


#: The folder of prox's own code (a frame there raised what prox wrote).
_PROX_DIR = __file__.rsplit("/cli/", 1)[0] + "/"
