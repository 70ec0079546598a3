"""Errors a retry cannot fix, and how the DAG tasks fail on them at once.

Every task retries with backoff (:func:`prox_tasks.pipeline.dag_config.default_args`): right
for a model server that is down or an S3 hiccup, wrong for a run that is configured wrong —
no logical date for a ``{ds}`` input, no input files, files not in the ``format`` asked, an
unknown ``conf`` key, a bad name, a failed quality gate, no S3 credentials on the worker
(or an Airflow connection it names that is not defined). Those raise here (or are listed in :data:`CANNOT_SUCCEED`) and the DAG
tasks turn them into Airflow's fail-without-retry exception with a message that says what
to fix (:func:`fail_fast`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class RunError(ValueError):
    """This run cannot succeed as it was triggered; the message says what to change."""


def cannot_succeed() -> tuple[type[BaseException], ...]:
    """The exception types that mean "retrying will not help"."""
    from prox_tasks.catalog.catalog import SeedSetNameTaken, SnapshotNameTaken
    from prox_tasks.catalog.engine import CatalogURLInvalid, NotACatalog
    from prox_tasks.cli.errors import credentials_missing
    from prox_tasks.connections import ConnectionNotFound
    from prox_tasks.corpus.manifest import (
        OutputNotAFolder,
        PlanReplaced,
        ReleasedSnapshot,
        UnreadablePlan,
    )
    from prox_tasks.corpus.partitions import PartitionConflict
    from prox_tasks.corpus.planner import ManifestConflict, StalePlan
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
    from prox_tasks.quality import GateFailed
    from prox_tasks.refine.booking import RunReplaced
    from prox_tasks.refine.claim import GatedSnapshot
    from prox_tasks.refine.limits import DuplicateIdError
    from prox_tasks.refine.options import NotAModelFolder
    from prox_tasks.refine.step import SettingsConflict
    from prox_tasks.registry import DecisionRecordDamaged, PromotedVersionGone
    from prox_tasks.release import ReleaseRefused
    from prox_tasks.storage.names import InvalidName
    from prox_tasks.storage.uri import InvalidURI
    from prox_tasks.training.divergence import TrainingDiverged
    from prox_tasks.training.run import TrainingRefused
    from prox_tasks.training.seedset import SeedSetChanged

    return (RunError, InvalidName, ManifestConflict, GateFailed, ReleaseRefused,
            DuplicateIdError, ReleasedSnapshot, SettingsConflict, NoModelError,
            SnapshotNameTaken, TrainingRefused, SeedSetChanged, PlanReplaced, FormatMismatch,
            GatedSnapshot, RunReplaced, SeedSetNameTaken, StalePlan, PoolMisconfigured,
            PartitionConflict, TrainingDiverged, NoDocuments, PromotedVersionGone,
            NotAModelFolder, ModelDamaged, CatalogURLInvalid, NotACatalog,
            SettingInvalid, CacheNotWritable, IdFieldMissing, ConnectionNotFound,
            DecisionRecordDamaged, OutputNotAFolder, UnreadableInput, InvalidURI,
            NothingToScore, NoInputFiles, EmptyInput, UnreadablePlan, *credentials_missing())


@contextmanager
def fail_fast(fail: type[Exception]) -> Iterator[None]:
    """Re-raise the errors of :func:`cannot_succeed` as ``fail`` (the DAGs pass
    ``airflow.sdk.exceptions.AirflowFailException``: the task fails now, no retries), worded
    as ``prox`` prints the same error (:func:`prox_tasks.cli.errors.describe_error`): an
    error that words itself for whoever set the setting (``worded(caller)``, as
    :class:`~prox_tasks.models.NoModelError`) is said the DAG's way (its Params, not
    ``prox``'s options), and S3 credentials not found with what to set on the workers. The
    task log said ``NoModelError: no promoted model …`` where ``prox`` said ``no promoted
    model …``: a type name says nothing more to whoever fixes the run."""
    try:
        yield
    except cannot_succeed() as err:
        from prox_tasks.cli.errors import describe_error

        raise fail(describe_error(err, "dag")) from err


def check_conf(conf: Mapping | None, params: Mapping) -> None:
    """Refuse ``conf`` keys that are not declared Params of the DAG (``dag.params``; a typo
    would otherwise be ignored silently and the run would use the default).

    Raises:
        RunError: naming each unknown key with the Params closest to it (``keep_treshold``:
            did you mean ``keep_threshold``?) first, then every accepted one, comma-separated.
    """
    import difflib

    unknown = sorted(set(conf or {}) - set(params))
    if not unknown:
        return
    named = []
    for key in unknown:
        meant = difflib.get_close_matches(str(key), [str(p) for p in params], n=2)
        named.append(f"{key!r} (did you mean {' or '.join(map(repr, meant))}?)" if meant
                     else repr(key))
    # the suggestions and the fix first: an alert or a UI line may cut a long message; the
    # Params as words, as the trigger form and docs show them (not a Python list)
    raise RunError(f"unknown conf key{'s' if len(unknown) > 1 else ''} {', '.join(named)}: "
                   "fix the trigger's conf (the run's Params); this DAG's Params are "
                   f"{', '.join(sorted(map(str, params)))}")


def check_absolute(params: Mapping, names: tuple[str, ...], choices: tuple[str, ...] = ()
                   ) -> None:
    """Refuse a relative path, or a URI of a scheme prox does not read, in the Params
    ``names`` (a string, or a list of them); empty ones are left to their defaults, and
    ``choices`` (words such as ``default``) are no path.

    Raises:
        RunError: naming the Param: a relative path would resolve against the folder of
            whichever worker runs the task; an unknown scheme (``s4://``) would fail every
            try of the task that reads it; whitespace around a path (a trailing space pasted
            into the trigger form) named another input ("no input files at s3://crawl/… ").
    """
    from prox_tasks.storage.uri import parse_uri

    for param in names:
        value = params.get(param)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            item = str(item or "")
            if item != item.strip():  # e.g. pasted into the trigger form with a trailing space
                raise RunError(f"{param} {item!r} starts or ends with whitespace: remove it "
                               "(it would name another file, folder or prefix than meant)")
            if not item or item in choices:
                continue
            if "://" in item:
                try:
                    parse_uri(item)
                except ValueError as err:
                    raise RunError(f"{param} {item!r}: {err}") from err
            elif not item.startswith("/"):
                raise RunError(f"{param} {item!r} is a relative path: give an absolute path or "
                               "a file:// or s3:// URI (a relative one would resolve against "
                               "the folder of whichever worker runs the task)")


def check_catalog_shared(url: str, params: Mapping) -> None:
    """Refuse a SQLite catalog named by a relative path (``sqlite:///catalog.sqlite``) or
    kept in memory (``sqlite://``), the run's ``catalog_url`` Param (in ``params``) or else
    ``PROX_CATALOG_URL`` (``url``, as :func:`prox_tasks.pipeline.settings.catalog_url`
    chose it): each task of the run would open its own, in the folder whichever worker
    runs it started in, or one gone when the task ends. (A refine run triggered so on the
    real scheduler booked its snapshot into a ``catalog.sqlite`` in the scheduler's working
    directory, which the PROX report never reads.)

    Raises:
        RunError: naming where the URL was given and the way out.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:  # no URL at all: refused, naming it, where the catalog is opened
        return
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database.startswith("/"):
        return
    given_by = "the catalog_url Param" if params.get("catalog_url") else "PROX_CATALOG_URL"
    kind = "in memory" if database in ("", ":memory:") else f"by a relative path ({database})"
    raise RunError(f"{given_by} names a SQLite catalog {kind}: each task would book into "
                   "its own, wherever the worker that runs it started; give an absolute "
                   "path, sqlite:////abs/path/catalog.sqlite (four slashes), or a "
                   "PostgreSQL URL")
