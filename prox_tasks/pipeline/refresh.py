"""Task bodies of ``prox_refine_snapshot``: resolve → plan → refine (mapped) → collect →
gate → release. Every function takes and returns JSON-ready values (they travel as XCom)."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Collection
from contextlib import contextmanager

from prox_tasks.pipeline import settings
from prox_tasks.pipeline.errors import RunError, check_absolute, check_catalog_shared

log = logging.getLogger(__name__)


@contextmanager
def open_catalog(url: str | None):
    from prox_tasks.catalog import Catalog

    catalog = Catalog(settings.catalog_url(url))
    try:
        yield catalog
    finally:
        catalog.close()


#: What names the refine DAG's snapshot, said when its name is booked for another folder
#: (``<output_root>/snapshots/<name>``): not ``prox``'s ``--name``.
SNAPSHOT_NAME_PARAM = "snapshot_name, or the output_root it was written under"


def resolve_snapshot(params: dict, ds: str | None, run_id: str | None = None,
                     given: Collection[str] | None = None) -> dict:
    """Name, input and output of the snapshot this run refines.

    The input is ``params["input_uri"]`` with the run's date filled in (``{ds}`` …); the
    snapshot is named ``params["snapshot_name"]``, else ``crawl-<ds>``, else (a manual run
    without a logical date) ``run-<run id>``; it is written to ``<output_root>/snapshots/<name>``.
    Its release ``partition`` is the run's date, None without one (an undated release, see
    :mod:`prox_tasks.release.release` for which release is ``latest``).

    ``format`` is the Param's, or, when ``given`` (the keys of the run's ``dag_run.conf``;
    None: every Param counts as given) lacks it, the folder's plan's
    (:func:`~prox_tasks.corpus.planner.planned_settings`, the rule :func:`plan` reads by):
    ``wait_for_partition`` of a scheduled run into a snapshot planned with ``format=jsonl``
    looks for the files the plan reads (Spark's ``part-….json``), not for files named as a
    known format, which never come.

    Raises:
        RunError: the input needs a date the run does not have, gate thresholds that no
            snapshot could pass (a min above its max), a relative ``input_uri``,
            ``output_root`` or ``model`` (it would resolve against whichever worker's
            folder), a ``partition_marker`` that is not a hidden file name or given for a glob ``input_uri``, ``backend=openai`` without ``PROX_OPENAI_SERVERS``, or a ``catalog_url`` that is not a database URL, names a driver not installed, or a SQLite file by a relative path or in memory.
            An ``output_root`` under a file, when ``format`` is left to the folder's plan.
            An S3 ``output_root`` in a bucket that does not exist, or that the credentials
            may not write (:func:`check_output_writable`).
        prox_tasks.storage.names.InvalidName: the snapshot name is not a safe path component.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from prox_tasks.catalog.engine import check_url
    from prox_tasks.models.resolver import MODEL_CHOICES
    from prox_tasks.quality import GateThresholds
    from prox_tasks.storage import join_uri, to_uri
    from prox_tasks.storage.marker import check_marked_input
    from prox_tasks.storage.names import check_name, safe_name

    try:
        GateThresholds.from_mapping(params, "dag")  # the gate's own checks, before any work
    except ValueError as err:
        raise RunError(f"{err} (fix the run's Params)") from err
    check_absolute(params, ("input_uri", "output_root"))
    check_absolute(params, ("model",), MODEL_CHOICES)  # refine tasks load it on other workers
    require_openai_servers(params.get("backend"), "the environment of every Airflow worker")
    input_uri = settings.render_partition(settings.param_or_default(params, "input_uri"), ds)
    name = params.get("snapshot_name") or (f"crawl-{ds}" if ds else safe_name(f"run-{run_id}"))
    check_name(name, "snapshot name")
    try:
        marker = settings.partition_marker(params.get("partition_marker"))
        # before the sensor: a glob's marker is never there, and it would wait hours for it
        check_marked_input(input_uri, marker)
    except ValueError as err:
        raise RunError(f"{err} (fix the run's Params)") from err
    root = settings.param_or_default(params, "output_root")
    catalog_url = settings.catalog_url(params.get("catalog_url"))
    try:
        make_url(catalog_url)
    except ArgumentError:
        raise RunError("catalog_url is not a database URL (e.g. postgresql+psycopg2://user@host"
                       "/prox or sqlite:////abs/path/catalog.sqlite; the password belongs in "
                       "PROX_CATALOG_URL, not in a Param)") from None
    try:  # before any task books into it: retrying cannot install a driver
        check_url(catalog_url)
    except ValueError as err:
        raise RunError(f"{err} (the catalog_url Param, else PROX_CATALOG_URL)") from None
    check_catalog_shared(catalog_url, params)
    output_uri = to_uri(join_uri(root, "snapshots", name))
    # before the partition is waited for and read: plan's manifest write would be refused
    # after it, and retried
    check_output_writable(root, output_uri)
    return {
        "name": name, "partition": ds or None, "input_uri": to_uri(input_uri),
        "output_uri": output_uri, "release_root": to_uri(root),
        "catalog_url": settings.catalog_url_to_pass_on(catalog_url), "logical_date": ds,
        "run_id": run_id,
        "format": (params.get("format") or None) if given is None or "format" in given
        else _planned_format(output_uri),
        "partition_marker": marker,
    }


def check_output_writable(root: str, output_uri: str) -> None:
    """Refuse an ``output_root`` (``root``) the snapshot folder ``output_uri`` cannot be
    written under, as ``prox plan`` and ``prox refine`` refuse their ``--output``
    (:func:`~prox_tasks.storage.check_writable`): on S3 a bucket that does not exist, or
    credentials that may read and list it but not write there (a write that writes
    nothing). Locally nothing is asked: the folder is made when written.

    Raises:
        RunError: Naming output_root and S3's refusal with what to grant; not retried.
    """
    from prox_tasks.storage import check_writable

    try:
        check_writable(output_uri, folders=True)
    except FileNotFoundError as err:  # no such bucket
        raise _output_refused(err, output_uri) from err
    except Exception as err:
        from botocore.exceptions import ClientError  # only S3 raises it: imported then

        if not isinstance(err, ClientError):
            raise
        from prox_tasks.cli.errors import describe_error

        raise RunError(f"output_root {root!r} cannot be written: {describe_error(err, 'dag')}") \
            from err


def _planned_format(output_uri: str) -> str | None:
    """The ``format`` the plan in snapshot folder ``output_uri`` reads its input by
    (:func:`~prox_tasks.corpus.planner.planned_settings`; None: by the files' names).

    Raises:
        RunError: ``output_uri`` is under a file (an ``output_root`` that is one), said as
            :func:`plan` says it, once, not retried: the folder's plan cannot be read there.
    """
    from prox_tasks.corpus.planner import planned_settings

    try:
        return planned_settings(output_uri, {}, {})[1]["format"]
    except NotADirectoryError as err:  # read_plan takes a missing folder as no plan
        if _names_output(err, output_uri):
            raise _output_refused(err, output_uri) from err
        raise


def _output_refused(err: OSError, output_uri: str) -> RunError:
    """The refusal of an ``output_root`` the snapshot folder ``output_uri`` cannot be
    written under (:func:`_names_output` says ``err`` is about it), ``err`` worded as
    ``prox`` words it: ``str(err)`` gave Python's ``[Errno 2] … 's3://…'``."""
    from prox_tasks.cli.errors import describe_error

    return RunError(f"{describe_error(err, 'dag')}: the snapshot folder {output_uri} cannot be written there: check "
                    "output_root (else PROX_CORPUS_ROOT): a folder or S3 bucket that exists, "
                    "or one this worker may create")


def _names_output(err: OSError, output_uri: str) -> bool:
    """Whether ``err`` names the snapshot folder ``output_uri``, a folder above it (an
    ``output_root`` under a path that does not exist, e.g. ``/proc/prox``, or under a
    file, or in an S3 bucket that does not exist) or a file in it: ``plan`` writing its
    plan there, not reading the input, which a missing partition's error names."""
    from prox_tasks.storage import compared_uri

    if not err.filename:  # the readers' "no input files at …" names no file
        return False
    try:
        named, output = compared_uri(str(err.filename)), compared_uri(output_uri)
    except ValueError:
        return False
    return named == output or output.startswith(named + "/") or named.startswith(output + "/")


def require_openai_servers(backend: str | None, where: str) -> None:
    """Refuse ``backend=openai`` where the environment gives a level no pool
    (``PROX_OPENAI_SERVERS``, or ``PROX_OPENAI_DOC_SERVERS`` and ``..._CHUNK_SERVERS``): every try of
    every refine task would fail building its engine (retried, with backoff, for nothing).

    Args:
        backend: The run's ``backend`` Param.
        where: Whose environment lacks it, for the message (the run's first task checks
            its worker's; a refine task, on a GPU worker, its own).

    Raises:
        RunError: Naming the variable to set, or the other way (another backend).
    """
    if backend != "openai":
        return
    from prox_tasks.inference.openai_engine import pools_from_environment

    if not pools_from_environment():
        raise RunError(f"backend=openai needs PROX_OPENAI_SERVERS in {where}: the "
                       "OpenAI-compatible servers' base URLs, comma-separated (e.g. "
                       "http://gpu-1:8000/v1,http://gpu-2:8000/v1), or a pool per level, "
                       "PROX_OPENAI_DOC_SERVERS and PROX_OPENAI_CHUNK_SERVERS (docs/deploy.md); "
                       "or trigger with another backend")


def shard_batches(n_shards: int, max_map_length: int, per_task: int = 1) -> list[list[int]]:
    """Shard indices per mapped task: ``per_task`` consecutive shards each (one per worker
    process of the task), more when there are more shards than Airflow may map
    (``[core] max_map_length``)."""
    if max_map_length < 1 or per_task < 1:
        raise ValueError("max_map_length and per_task must be positive")
    size = max(per_task, -(-n_shards // max_map_length))
    return [list(range(i, min(i + size, n_shards))) for i in range(0, n_shards, size)]


def partition_arrived(snapshot: dict) -> bool:
    """Whether the run's input (``snapshot["input_uri"]``) holds a readable file yet: one
    named as a known format, or any file when ``snapshot["format"]`` (the Param) says how
    to read them. Files that are there but not in that format have arrived too: waiting
    cannot change them, and ``plan`` fails at once naming them.

    With a completion marker (``snapshot["partition_marker"]``, e.g. ``_SUCCESS``), only
    the marker counts: a partition written in several files holds a readable file long
    before its last one has landed."""
    from prox_tasks.corpus.readers import FormatMismatch, input_files
    from prox_tasks.storage.marker import marker_present, names_a_file

    marker = snapshot.get("partition_marker")
    if marker:
        # an input naming one file never holds a marker: waiting cannot change that, and
        # plan fails at once saying so
        if marker_present(snapshot["input_uri"], marker) or names_a_file(snapshot["input_uri"]):
            return True
        log.info("crawl partition %s is not complete yet: no %s", snapshot["input_uri"],
                 marker)
        return False
    try:
        return bool(input_files(snapshot["input_uri"], snapshot.get("format")))
    except FileNotFoundError:
        log.info("crawl partition %s has not arrived yet", snapshot["input_uri"])
        return False
    except FormatMismatch as err:
        log.warning("crawl partition %s has arrived but cannot be read: %s",
                    snapshot["input_uri"], err)
        return True


def missing_partition(snapshot: dict, waited_s: float) -> str:
    """What a run that waited ``waited_s`` seconds in vain for its crawl partition fails with:
    which input is missing, for which date, and where to set the wait."""
    hours = waited_s / 3600
    waited = f"{hours:.1f} h" if hours >= 1 else f"{waited_s:.0f} s"
    if snapshot.get("partition_marker"):
        from prox_tasks.storage.marker import marker_uri

        return (f"crawl partition {snapshot.get('partition') or '(undated)'} is not complete: "
                f"its marker {snapshot['partition_marker']} is not at "
                f"{marker_uri(snapshot['input_uri'], snapshot['partition_marker'])} after "
                f"waiting {waited} (PROX_PARTITION_WAIT_S); deliver the partition with its "
                "marker and clear this task, or check input_uri and partition_marker")
    return (f"crawl partition {snapshot.get('partition') or '(undated)'} has not arrived: no "
            f"readable JSONL, Parquet or WET file at {snapshot['input_uri']} after waiting "
            f"{waited} (PROX_PARTITION_WAIT_S); deliver it and clear this task, or check "
            "input_uri (the run's date fills {ds})")


def plan(snapshot: dict, target_docs: int | None, max_map_length: int, model: str | None,
         backend: str | None, reprocess: bool = False,
         keep_threshold: float | None = None, quality: str | None = None,
         limits: dict | None = None, workers: int | None = None,
         task_try: dict | None = None, *, text_field: str = "text",
         id_field: str = "id", given: Collection[str] | None = None) -> list[dict]:
    """Plan the shards, register the snapshot; one work item per mapped refine task.

    ``task_try`` (:func:`~prox_tasks.refine.runner.current`'s ``airflow``: the DAG's task
    try) books the plan as this DAG run's, so a failure of its refine tasks is booked over
    the snapshot's status and a failure of a run replaced since is not.

    ``text_field`` and ``id_field`` name the input rows' fields and ``snapshot["format"]``
    (the ``format`` Param; None: by the files' names) how the files are read; the manifest
    keeps them, so every shard reads its rows the same way.

    ``workers`` (:func:`~prox_tasks.pipeline.settings.refine_workers`: the Param, else
    ``PROX_REFINE_WORKERS``, else 1) is the processes each refine task runs: a work item then
    holds that many shards, refined side by side on the task's machine. Each work item's
    shards are written as a part of the manifest (:meth:`~prox_tasks.corpus.manifest.Manifest.write_part`)
    that its task reads instead of the whole plan; the item names the plan's id and
    ``manifest.json``'s version, so a task whose plan was replaced since refuses
    (:class:`~prox_tasks.corpus.manifest.PlanReplaced`).

    ``limits`` (the run's Params, :class:`~prox_tasks.refine.limits.Limits` fields; unset
    ones from ``PROX_<NAME>``) are resolved here once and travel with every work item, so
    all shards refine under the same limits whatever a worker's environment holds. Into a
    snapshot refined before (no ``reprocess``), a limit, ``quality``, and for the snapshot's
    model ``backend`` (``auto``) and ``keep_threshold``, left unset are the snapshot's, as
    ``model`` is
    (:func:`~prox_tasks.refine.options.as_refined`).

    ``given`` (the keys of the run's ``dag_run.conf``; None: every setting counts as given)
    names the Params the run's trigger gave. Into a snapshot refined before, a
    ``quality``, ``backend``, ``keep_threshold`` or limit whose Param is not among them is
    unset too: a scheduled run, or a backfill without it in ``--dag-run-conf``, holds the
    Param's default, which it did not choose (:func:`given_settings`). A new snapshot, or
    ``reprocess``, takes the Params' values, defaults included.

    ``target_docs`` None (the Param left empty) keeps the size the folder's plan was made
    with (:func:`~prox_tasks.corpus.planner.planned_settings`: a rerun, a ``prox plan
    --target-docs 300``; a new folder: 10,000 documents a shard). ``text_field``,
    ``id_field`` and ``format`` whose Param is not in ``given`` are the folder's plan's
    (:func:`~prox_tasks.corpus.planner.planned_settings`: a scheduled run into a snapshot
    planned with ``--text-field raw_content``; reprocess too, as for its size); a new folder
    takes the Params'.

    The same input and settings give the same plan, so a rerun reuses it. A different plan
    for an existing snapshot folder (the input changed) is refused
    (:class:`prox_tasks.corpus.ManifestConflict`) unless ``reprocess``, which replans and
    refines every shard again.

    Raises:
        prox_tasks.catalog.SnapshotNameTaken: The snapshot's name is booked for another
            folder (checked before anything is written; again as the plan is booked).
    """
    from prox_tasks.corpus import ManifestConflict, plan_shards
    from prox_tasks.corpus.duplicates import index_duplicates
    from prox_tasks.corpus.manifest import refuse_if_released
    from prox_tasks.corpus.planner import planned_settings, read_plan
    from prox_tasks.corpus.readers import EmptyInput
    from prox_tasks.models import SHIPPED_MODEL, resolve_model
    from prox_tasks.models.resolver import shipped_version, typed_here
    from prox_tasks.refine import runner as runners
    from prox_tasks.refine.booking import failure_booked, register_plan
    from prox_tasks.refine.limits import DuplicateIdError, Limits, refuse_duplicates
    from prox_tasks.refine.options import (
        as_refined,
        check_refine_options,
        snapshot_refined,
    )
    from prox_tasks.storage.marker import PartitionIncomplete, require_marker

    # a deployment variable read deep inside a shard: refused before the plan is written
    settings.check_refine_settings()
    try:
        Limits.resolve(limits)  # a bad Param named before anything is read
        workers = settings.refine_workers(workers)
    except ValueError as err:
        raise RunError(f"{err} (fix the run's Params)") from err
    with open_catalog(snapshot["catalog_url"]) as catalog:
        # as prox refine and prox plan check it: before the plan is written, else a refused
        # run left a plan and a settings claim in a folder the catalog does not book
        catalog.check_snapshot_name(snapshot["name"], snapshot["output_uri"],
                                    SNAPSHOT_NAME_PARAM)
    # what the Params leave empty a rerun keeps as the snapshot was refined (reprocess: afresh)
    recorded, recorded_model = (None, None) if reprocess else snapshot_refined(snapshot["output_uri"])
    if recorded is not None and given is not None:
        quality, backend, keep_threshold, limits = given_settings(
            given, quality, backend, keep_threshold, limits)
    # resolved once here, so every mapped shard refines with the same model; a rerun that
    # names none keeps the model the snapshot's published shards were refined with
    # a typed folder of another installation's shipped model: this one's, by its version
    resolved = (None if model else recorded_model) or typed_here(
        resolve_model(model, catalog_url=settings.catalog_url(snapshot["catalog_url"])),
        recorded_model)
    log.info("model: %s (%s%s)", resolved.uri, resolved.source,
             f", version {resolved.version}" if resolved.version else "")
    model = resolved.uri
    kept = as_refined(recorded, model, None if backend in (None, "", "auto") else backend,
                      quality or None, keep_threshold, limits)
    backend, quality, keep_threshold, limits = (kept["backend"], kept["quality"],
                                                kept["keep_threshold"], kept["limits"])
    try:
        check_refine_options(workers, None, None if keep_threshold is None
                             else {"line_threshold": keep_threshold}, model, backend)  # fmt: skip
    except (ValueError, FileNotFoundError) as err:
        # said with the run's Params, not prox's options (--model, --backend)
        from prox_tasks.setting_names import said_to

        raise RunError(f"{said_to(err, 'dag')} (fix the run's model, backend or keep_threshold Param)") from err
    try:
        chosen = Limits.resolve(limits)
    except ValueError as err:  # a recorded limit this prox cannot read
        raise RunError(f"{err} (give the run's limit Params, or reprocess=true)") from err
    if reprocess:  # before the plan is replaced and the shards are refined again
        refuse_if_released(snapshot["output_uri"], "reprocessing it")
    try:  # a partition still landing: planned now, its later files were never refined
        require_marker(snapshot["input_uri"], snapshot.get("partition_marker"))
    except PartitionIncomplete as err:
        raise RunError(str(err)) from err
    # no target_docs: the folder's plan's; a read Param the trigger did not give holds its
    # default, which it did not choose: the folder's plan reads its input as planned (a
    # scheduled run, a backfill)
    try:
        # read once (a GET on S3) for both below; an output_root under a file is said below
        planned = read_plan(snapshot["output_uri"])
        targets, reading = planned_settings(
            snapshot["output_uri"], None if target_docs is None else {"target_docs": target_docs},
            {key: value for key, value in (("text_field", text_field), ("id_field", id_field),
                                           ("format", snapshot.get("format")))
             if given is None or key in given}, plan=planned)  # fmt: skip
        manifest = plan_shards(snapshot["input_uri"], snapshot["output_uri"],
                               **targets, overwrite=bool(reprocess), plan=planned,
                               max_doc_bytes=chosen.max_doc_bytes, **reading)
    except EmptyInput as err:  # a green run that gates and releases nothing hides it
        raise RunError(f"no documents in {snapshot['input_uri']}: the partition's files are "
                       "empty; deliver the crawl and clear this task, or check input_uri "
                       f"({err})") from err
    except (FileNotFoundError, NotADirectoryError) as err:
        if _names_output(err, snapshot["output_uri"]):  # writing the plan, not reading input
            raise _output_refused(err, snapshot["output_uri"]) from err
        if not isinstance(err, FileNotFoundError):
            raise
        from prox_tasks.corpus.readers import checked_as

        raise RunError(checked_as(err, "check input_uri (the run's date fills {ds}) and that "
                                  "the partition has arrived")) from err
    except ManifestConflict as err:  # the planner words prox plan's way out: said anew
        from prox_tasks.corpus.manifest import released_as

        # the way out first (an alert may cut a long line); reprocess would be refused for a
        # released snapshot, its files being what the release points at
        way_out = ("this snapshot was released: give this rerun another snapshot_name (its "
                   "plan and shards are new)" if released_as(snapshot["output_uri"]) else
                   "trigger the run with reprocess=true to replace the plan and refine every "
                   "shard again, or give it another snapshot_name")
        raise RunError(f"{err.uri} holds another plan: {way_out}; it differs in "
                       f"{err.differences}") from err
    from prox_tasks.storage import version_of

    # read at once: a plan replaced from now on shows its refine tasks another version
    plan_of = {"manifest_id": manifest.id, "manifest_version": version_of(manifest.uri)}
    try:
        refuse_duplicates(index_duplicates(manifest), chosen, "dag")  # plan_shards' list
    except DuplicateIdError as err:
        raise RunError(str(err)) from err
    refining = {"model": model or None, "backend": backend or None,
                "keep_threshold": keep_threshold, "quality": settings.quality_filter(quality),
                "limits": chosen.to_dict()}  # what every work item refines with
    if model == str(SHIPPED_MODEL):  # a worker whose prox lives elsewhere finds its own folder
        refining["shipped_version"] = shipped_version()  # of that version (_refine_options)
    # claimed before any refine task starts: a settings conflict fails here once, not in
    # every refine task; reprocess takes the claim over (once, here: not in each task)
    _claim_settings(snapshot, manifest, refining, bool(reprocess))
    shards = shard_batches(len(manifest.shards), max_map_length, workers)
    with open_catalog(snapshot["catalog_url"]) as catalog:
        runner = runners.current(task_try)
        register_plan(catalog, snapshot["name"], manifest, runner, option=SNAPSHOT_NAME_PARAM,
                      logical_date=snapshot.get("logical_date"), dag_run_id=snapshot.get("run_id"))
        # a failure from here on is this plan's, booked with its own error: no refine task
        # runs to book one, and the snapshot must not stay `planned`
        with failure_booked(catalog, snapshot["name"], runner):
            manifest.write_parts(shards)  # what each item's task reads of the plan
    log.info("snapshot %s: %d docs in %d shards", snapshot["name"], manifest.total_docs,
             len(manifest.shards))
    batches = []
    for indices in shards:
        label = (f"shard-{indices[0]:05d}" if len(indices) == 1
                 else f"shards-{indices[0]:05d}-{indices[-1]:05d}")
        batches.append({"snapshot": snapshot["name"], "output_uri": snapshot["output_uri"],
                        "catalog_url": snapshot["catalog_url"], "shards": indices,
                        "label": label, "workers": workers,
                        "reprocess": bool(reprocess), **refining})
    return [{**batch, **plan_of} for batch in batches]


#: The Params of the settings a rerun into a refined snapshot keeps as the snapshot's where
#: its trigger does not give them (:func:`~prox_tasks.refine.options.as_refined`), besides
#: the limits'; ``model`` and ``target_docs`` need none: their defaults are empty.
INHERITED_PARAMS = ("quality_filter", "backend", "keep_threshold")


def given_settings(given: Collection[str], quality: str | None, backend: str | None,
                   keep_threshold: float | None, limits: dict | None) -> tuple:
    """``quality``, ``backend``, ``keep_threshold`` and ``limits`` (a run's Params) with
    those whose Param is not in ``given`` (the run's ``dag_run.conf`` keys) unset (None; a
    limit left out), logged. Airflow fills a Param the trigger did not pass with its
    default, and a concrete default (``quality_filter`` off, each limit's number) would
    otherwise be refused by a snapshot refined with another value, as a change the run
    asked for."""
    unset = [name for name in (*INHERITED_PARAMS, *(limits or {})) if name not in given]
    if unset:
        log.info("Params not given by this run's trigger (its conf), taken as the snapshot "
                 "was refined: %s", ", ".join(unset))
    return (quality if "quality_filter" in given else None,
            backend if "backend" in given else None,
            keep_threshold if "keep_threshold" in given else None,
            {name: value for name, value in (limits or {}).items() if name in given})


def _refine_options(batch: dict) -> dict:
    """The model, backend, options, quality filter and limits a work item refines with, as
    :func:`~prox_tasks.refine.workers.refine_shards` takes them: the model where this
    worker's prox finds it (:func:`~prox_tasks.models.resolver.installed_here`)."""
    from prox_tasks.models.resolver import installed_here

    backend, threshold = batch.get("backend"), batch.get("keep_threshold")
    # the plan's machine's shipped model, found where this worker's prox keeps it when it is
    # the same version (a work item of a prox before shipped_version: when the folder says)
    return {"model": installed_here(batch.get("model"), batch.get("shipped_version")),
            "backend": None if backend in (None, "", "auto") else backend,
            "backend_options": None if threshold is None
            else {"line_threshold": float(threshold)},
            "quality": batch.get("quality") or "off", "limits": batch.get("limits")}  # fmt: skip


def _claim_settings(snapshot: dict, manifest, refining: dict, reprocess: bool) -> None:
    """Claim the snapshot folder for this run's settings (``refining``: a work item's;
    :func:`~prox_tasks.refine.claim.claim_settings`), or refuse a run whose settings differ
    from those another run claimed it for or its published shards were refined with, naming
    the way out: another ``snapshot_name`` for a released snapshot, else ``reprocess`` too."""
    from prox_tasks.corpus.manifest import released_as
    from prox_tasks.refine.claim import claim_for_options
    from prox_tasks.refine.step import SettingsConflict

    options = _refine_options(refining)
    try:
        # the refine tasks rely on it, whoever claimed first
        claim_for_options(snapshot["output_uri"], manifest, options["backend"],
                          options["backend_options"],
                          lambda backend_options: _request_of(options, backend_options),
                          take_over=reprocess, for_others=True)  # fmt: skip
    except SettingsConflict as err:
        changed = ", ".join(err.differences)
        if released_as(snapshot["output_uri"]):
            raise RunError(f"snapshot {snapshot['name']} was released refined with other "
                           f"settings ({changed}); give this run another snapshot_name to "
                           "refine it with these") from None
        raise RunError(f"snapshot {snapshot['name']} was refined, or is being refined by "
                       f"another run, with other settings ({changed}); trigger with "
                       "reprocess=true to refine it again with these, or give another "
                       "snapshot_name") from None


def _request_of(options: dict, backend_options: dict | None) -> dict:
    """The request (:func:`~prox_tasks.refine.step.shard_request`) a run refines with:
    ``options`` as :func:`_refine_options` gives them, with ``backend_options``."""
    from prox_tasks.refine.step import shard_request

    return shard_request(options["model"], options["backend"], backend_options, None,
                         options["limits"], options["quality"])


def _claimed_for(batch: dict) -> bool:
    """Whether the snapshot folder of work item ``batch`` is still claimed for its plan and
    settings (:mod:`~prox_tasks.refine.claim`): no other run took the claim over since."""
    from prox_tasks.refine.claim import claimed_request
    from prox_tasks.refine.step import same_request

    options = _refine_options(batch)
    claimed = claimed_request(batch["output_uri"], batch["manifest_id"])
    return claimed is not None and same_request(
        claimed, _request_of(options, options["backend_options"]))


#: What a refine task returns per shard (the rest — its accounting in full, its statistics,
#: its files' URIs and checksums — is in the shard's status record): enough to see in the
#: task's XCom what happened to each shard, not its totals' detail.
XCOM_SHARD_FIELDS = ("shard_index", "docs_read", "docs_kept", "docs_dropped",
                     "docs_quarantined")


def task_result(label: str, results: list[dict]) -> dict:
    """A refine task's XCom for its shards' ``results`` (:func:`~prox_tasks.refine.workers.
    refine_shards`): what they add up to, folded by the rule ``prox refine`` totals its run
    with (:meth:`~prox_tasks.refine.stats.RunResults.folded`: accountings, model trouble,
    tokens, shards refined and reused), and a short line per shard. ``collect`` pulls every
    task's at once, so its size per shard is what a 100,000-shard run pulls 100,000 times."""
    from prox_tasks.refine.stats import RunResults

    run = RunResults(kept=0)  # no result kept: the short lines below say each shard's
    for result in results:
        run.add(result)
    shards = [{**{k: result["accounting"].get(k) for k in XCOM_SHARD_FIELDS},
               "status": result["status"], "wall_seconds": result["wall_seconds"],
               "worker_pid": result.get("pid")} for result in results]  # fmt: skip
    versions = sorted({str(r["model_version"]) for r in results if r.get("model_version")})
    return {"label": label, "run": run.folded(), "model_versions": versions, "shards": shards}


def collect_totals(results: list[dict]) -> tuple[dict, list[str]]:
    """Totals over refine tasks' XComs (:func:`task_result`) and the model versions that
    refined their shards: :meth:`~prox_tasks.refine.stats.RunResults.totals`, the totals
    ``prox refine`` says of a run (model trouble included: ``requests_failed``,
    ``replies_oversized`` …), with ``reused`` (shards reused) and ``wall_seconds`` (the
    shards' summed). A task run before its XCom held its folded run (a DAG run upgraded in
    flight) adds its accounting totals, else its shards' accountings, as it returned them
    then, and its shards by status (its model trouble and tokens went unrecorded)."""
    from prox_tasks.refine.stats import RunResults, accounting_totals

    run = RunResults(kept=0)
    for result in results:
        if "run" not in result:  # an XCom of an earlier prox
            result = {"run": {
                "shards": len(result["shards"]),
                "accounting": result.get("totals") or accounting_totals(result["shards"]),
                "work": Counter("shards_" + s["status"] for s in result["shards"]
                                if s.get("status"))}, **result}  # fmt: skip
        run.merge(result["run"])
    shards = [s for r in results for s in r["shards"]]
    totals = run.totals()
    totals.update(shards=run.shards, reused=totals["shards_skipped"],
                  wall_seconds=round(sum(float(s.get("wall_seconds") or 0) for s in shards), 3))
    versions = {v for r in results for v in r.get("model_versions", ())}
    versions.update(str(s["model_version"]) for s in shards if s.get("model_version"))
    return totals, sorted(versions)


def refine_batch(batch: dict, task_try: dict | None = None) -> dict:
    """Refine the shards of one work item (a published shard is reused unless
    ``reprocess``) with one loaded model — in ``batch["workers"]`` processes when given, as
    ``prox refine --workers`` — each booked in the catalog
    (:class:`prox_tasks.refine.booking.ShardBooking`); a failure, a refusal before any shard
    ran included, books the snapshot ``failed``
    (:func:`~prox_tasks.refine.booking.failure_booked`). ``task_try``: the Airflow
    task try (:func:`~prox_tasks.refine.runner.current`), which books each attempt: the next
    try books the attempts of one killed outright failed. A stop by Airflow (SIGTERM) is
    raised as :class:`~prox_tasks.termination.Terminated` (:data:`STOPPED_BY_AIRFLOW`), so it
    is booked as such. Returns the task's XCom (:func:`task_result`)."""
    from prox_tasks.termination import raise_on_sigterm

    # Airflow stops a task with SIGTERM (then SIGKILL 5 s later) and, by itself, lets it run
    # on: raised here, the stop books the attempt and the snapshot failed, publishes nothing
    with raise_on_sigterm(STOPPED_BY_AIRFLOW):
        return _refine_batch(batch, task_try)


#: What a refine task stopped by Airflow (SIGTERM) books as its attempt's and its
#: snapshot's error.
STOPPED_BY_AIRFLOW = ("terminated (SIGTERM): Airflow stopped this refine task (marked failed "
                      "or cleared, the task or its DAG run, or its worker shutting down) "
                      "before its shard was published; clear the task to refine on from the "
                      "shard's checkpoints")


def _refine_batch(batch: dict, task_try: dict | None) -> dict:
    from prox_tasks.corpus.manifest import load_plan
    from prox_tasks.refine import runner as runners
    from prox_tasks.refine.booking import ShardBooking
    from prox_tasks.refine.workers import refine_shards

    # its own shards of the plan, not the whole manifest (a work item from before parts:
    # the whole); outside the booking: a replaced plan's snapshot is the new run's to book
    manifest = load_plan(batch["output_uri"], list(batch["shards"]), batch.get("manifest_id"),
                         batch.get("manifest_version"))
    _say_unversioned(batch)
    with open_catalog(batch.get("catalog_url")) as catalog:
        booking = ShardBooking(catalog, batch["snapshot"], runners.current(task_try))
        with booking.failures_booked():  # a refusal here too: the run failed
            # the resolve task checked its own worker's environment; a GPU worker's may differ
            require_openai_servers(batch.get("backend"), "this refine worker's environment")
            results = refine_shards(batch["output_uri"], list(batch["shards"]),
                                    manifest=manifest,
                                    workers=int(batch.get("workers") or 1),
                                    force=bool(batch.get("reprocess")),
                                    booking=booking,
                                    settings_claimed=True,  # by the plan task
                                    **_refine_options(batch))  # fmt: skip
    return task_result(batch["label"], results)


def _say_unversioned(batch: dict) -> None:
    """Log how a work item planned by a prox before work items carried their shipped
    model's version (no ``shipped_version``: a refine task of such a run cleared after an
    upgrade) refines, when it names another installation's shipped line tagger, gone: with
    this installation's (:func:`~prox_tasks.models.resolver.installed_here`: no version
    known), its published shards checked against the versions they record (another
    release's: ``SettingsConflict``). One still there is refined with as its files say."""
    from prox_tasks.models.resolver import SHIPPED_MODEL, shipped_elsewhere, shipped_version

    model = batch.get("model")
    if "shipped_version" in batch or not shipped_elsewhere(model) \
            or _refine_options(batch)["model"] == model:  # its folder is there: its files say
        return
    log.warning("work item %s was planned by an earlier prox, whose work items do not say "
                "which version their shipped model is: %s, the shipped line tagger of a prox "
                "installed elsewhere, is taken for this installation's, %s (version %s); "
                "shards published before are reused only where they record that version "
                "(another release's are refused: reprocess=true refines the snapshot anew)",
                batch.get("label"), model, SHIPPED_MODEL, shipped_version())


def book_unfinished(snapshot: dict | None, task_try: dict, refine_failed: int = 0) -> int:
    """Once every refine task of this DAG run has ended (``task_try``: the task that calls
    this, of the same run), book what they left unbooked. Returns the attempts booked; 0
    without a snapshot (``resolve`` failed) or without a plan booked (``plan`` failed first).

    - Attempts left ``running`` (a try killed outright books nothing, and Airflow runs no
      failure callback when only its process dies) are booked failed, and the snapshot
      failed with why (:func:`~prox_tasks.refine.booking.book_dead`).
    - ``refine_failed``: this run's refine tasks that failed (Airflow's count of the state
      ``failed``). One killed before it started any shard (out of memory loading the model,
      a lost worker), or marked failed in Airflow before it ran, left no attempt to find:
      the snapshot is booked failed saying so, unless a try booked its own error already.
      Refine tasks that never ran because a task before them failed (``upstream_failed``)
      are not counted: they refined nothing, and the snapshot's booking is that task's
      (the plan books its own failure) or another run's.
    """
    from prox_tasks.refine import runner as runners
    from prox_tasks.refine.booking import book_dead, book_failed
    from prox_tasks.wording import count

    if not snapshot:
        return 0
    runner = runners.current(task_try)
    with open_catalog(snapshot["catalog_url"]) as catalog:
        if catalog.get_snapshot(snapshot["name"]) is None:  # plan failed before booking it
            return 0
        _wait_for_stopping_tries(catalog, snapshot["name"], runner)
        dead = book_dead(catalog, snapshot["name"], runner, run_ended=True)
        if refine_failed and catalog.get_snapshot(snapshot["name"])["status"] != "failed":
            book_failed(catalog, snapshot["name"],
                        f"{count(refine_failed, 'refine task')} of this run failed without "
                        "booking why (killed before refining a shard: out of memory, SIGKILL, "
                        "a lost worker; or marked failed in Airflow before it ran): read the "
                        "task logs, then clear the tasks to refine the rest", runner)
        return dead


#: Seconds ``book_unfinished`` leaves a refine try of its run that may still run to book its
#: own end. A task marked failed in the UI is failed at once, so this task can start while
#: the try still refines: its supervisor sends it SIGTERM at its next heartbeat (at most
#: 5 s), and SIGKILL 5 s after that; the try books its stop meanwhile. Read at each call
#: (tests that book a try of another machine, never known dead, shorten it).
STOPPING_GRACE_S = 20.0


def _wait_for_stopping_tries(catalog, name: str, me: dict) -> None:
    """Wait, at most :data:`STOPPING_GRACE_S` seconds, while an attempt of ``me``'s DAG run
    is ``running`` and its process may still run (not known dead: on another machine, or alive on this
    one): a try marked failed while it refined, not yet stopped. Booked dead at once, it
    was booked 'ended without booking it' while it ran, and its own stop ('Airflow stopped
    this refine task') or publish booked nothing over that. A try killed outright on this
    machine is not waited for."""
    from prox_tasks.refine import runner as runners

    deadline = time.monotonic() + STOPPING_GRACE_S
    while time.monotonic() < deadline:
        if not any(runners.why_ended(s.get("runner"), me)
                   and not runners.why_dead(s.get("runner"), me)
                   for s in catalog.get_shards(name, status="running")):  # fmt: skip
            return
        time.sleep(0.5)


def _refuse_missing_results(work: list[dict] | None, results: list[dict]) -> None:
    """Refuse to collect when a refine task of ``work`` returned no result: Airflow hands
    ``collect`` the results of the tasks that returned one, and a refine task marked
    success in the UI while it ran (its process stopped by SIGTERM, its shard unpublished)
    returned none. Collected, the run booked the snapshot refined with that shard's
    documents missing and its gate failed telling to clear "failed" refine tasks, when none
    had failed.

    Raises:
        RunError: naming the refine tasks to clear.
    """
    if work is None or len(results) >= len(work):
        return
    returned = {r.get("label") for r in results}
    missing = [item["label"] for item in work if item["label"] not in returned]
    raise RunError(f"{len(work) - len(results)} of {len(work)} refine_shard tasks ended "
                   f"without a result ({', '.join(missing[:10])}"
                   f"{', …' if len(missing) > 10 else ''}): marked success while they ran, or "
                   "before; their shards were not written; clear those refine_shard tasks with their "
                   "downstream tasks to refine them (the shards already written are reused)")


def collect(snapshot: dict, results: list[dict], task_try: dict | None = None,
            work: list[dict] | None = None) -> dict:
    """Totals over all refined shards; the snapshot becomes ``refined`` in the catalog.
    ``task_try``: this Airflow task try (:func:`~prox_tasks.refine.runner.current`), of the
    DAG run whose plan task booked the plan; ``work``: its work items (:func:`plan`), one per
    refine task, whose results ``results`` must hold (None: not checked).

    A ``prox refine`` rerun that booked the plan since and finished it with this run's plan
    and settings leaves the folder as this run would: the plan is booked as this run's
    again (:func:`~prox_tasks.refine.booking.take_back_completed`), and the totals name
    that run (``completed_by``); the gate and release go on. A verdict booked on it since
    (``prox gate``: ``gated`` or ``quarantined``; ``released``) is kept, not booked back to
    ``refined``: this run's gate judges the same files again.

    Raises:
        RunError: A refine task ended without a result (marked success in the UI while it
            ran: its shard was never published), booked as the snapshot's error: clearing
            that task, not retrying this one, refines its shards.
        prox_tasks.refine.booking.RunReplaced: Another run (a later DAG run, ``prox refine
            --force`` with other settings, a ``prox refine`` still refining or of another
            plan) booked the plan since: nothing is booked, and this run's gate and release
            do not run (the folder is that run's).
        prox_tasks.corpus.readers.NoDocuments: Every record was quarantined (as ``prox
            refine`` fails then): the snapshot is booked failed, no gate, no release.
    """
    from prox_tasks.refine import runner as runners
    from prox_tasks.refine.booking import (
        book_refined,
        failure_booked,
        refuse_if_replaced,
        take_back_completed,
    )
    from prox_tasks.refine.checkpoint import remove_empty_checkpoint_folders
    from prox_tasks.refine.stats import refuse_if_all_quarantined

    totals, versions = collect_totals(results)
    runner = runners.current(task_try)
    with open_catalog(snapshot["catalog_url"]) as catalog:
        completed_by = work and take_back_completed(
            catalog, snapshot["name"], runner, work[0].get("manifest_id"),
            lambda: _claimed_for(work[0]))
        if completed_by:
            totals["completed_by"] = completed_by
        refuse_if_replaced(catalog, snapshot["name"], runner, "collect")
        with failure_booked(catalog, snapshot["name"], runner):  # as prox refine books it
            _refuse_missing_results(work, results)
            refuse_if_all_quarantined(totals, snapshot["input_uri"], snapshot["output_uri"])
        remove_empty_checkpoint_folders(snapshot["output_uri"])  # every shard published
        # a snapshot another run completed keeps the verdict a `prox gate` (or release)
        # booked on it since: booked `refined` again, a collect whose gate then never ran
        # left it unjudged. Its files are what that gate judged (a gated folder takes no
        # more shards but those a failed gate found unwritten), and this run's gate, next,
        # judges them again
        refined_any = totals["reused"] < totals["shards"] and not completed_by
        book_refined(catalog, snapshot["name"], versions, refined_any=refined_any,
                     runner=runner)
    log.info("snapshot %s refined: %s", snapshot["name"], totals)
    return totals


def released_history(catalog, exclude: str, size: int) -> list[dict]:
    """Gate metrics of the last ``size`` released snapshots (oldest first), except one
    (the gate takes the larger of ``history_size`` and ``history_min``: it counts the
    releases up to the minimum, and draws its bounds from the last ``history_size``)."""
    from prox_tasks.release import GATE_SUITE

    return catalog.released_gate_stats(GATE_SUITE, exclude, size)


def gate(snapshot: dict, thresholds: dict, task_try: dict | None = None) -> dict:
    """Run the quality gate and record it; a failure quarantines the snapshot. A released
    snapshot keeps the result it was released with (nothing is judged again); that result is
    recorded only where the catalog has no gate of it (released after a gate without a name,
    or into another catalog), so that ``prox release`` can record the release there.
    The folder is marked gated (:func:`~prox_tasks.refine.claim.mark_gated`): a run still
    refining its plan publishes no more shards over what the gate judged.

    Args:
        snapshot: The run's snapshot (:func:`resolve_snapshot`).
        thresholds: :class:`~prox_tasks.quality.GateThresholds` fields.
        task_try: The Airflow task try (:func:`~prox_tasks.refine.runner.current`): a run
            whose plan another run booked since gates nothing. None (``prox gate``): not
            checked, and a failed check names prox's options instead of the DAG's Params.

    Raises:
        prox_tasks.refine.booking.RunReplaced: ``task_try``'s DAG run was replaced.
        prox_tasks.quality.GateFailed: the snapshot failed (after it was recorded).
        RunError: no snapshot of that name is booked in the catalog.
        prox_tasks.catalog.SnapshotNameTaken: the name is booked for another folder (its
            row, status and releases are not this folder's to change).
    """
    from prox_tasks.quality import GateFailed, GateThresholds, run_gate

    limits = GateThresholds.from_mapping(thresholds)
    with open_catalog(snapshot["catalog_url"]) as catalog:
        if catalog.get_snapshot(snapshot["name"]) is None:
            raise RunError(f"no snapshot {snapshot['name']!r} in the catalog: give the name "
                           "the refine booked it under (`prox catalog list snapshots`)")
        # the name's option as the caller knows it: prox gate's --name, the DAG's Param
        catalog.check_snapshot_name(snapshot["name"], snapshot["output_uri"],
                                    "--name" if task_try is None else SNAPSHOT_NAME_PARAM)
        _refuse_if_replaced(catalog, snapshot["name"], task_try, "gate")
        history = released_history(catalog, snapshot["name"],
                                   max(limits.history_size, limits.history_min))
        result = run_gate(snapshot["output_uri"], limits, history, run_name=snapshot["name"],
                          caller="cli" if task_try is None else "dag")
        _mark_gated(catalog, snapshot, result)
        from prox_tasks.release import GATE_SUITE

        if not result.kept_from_release or catalog.latest_quality_report(
                snapshot["name"], GATE_SUITE) is None:
            _record_gate(catalog, snapshot["name"], result)
    summary = result.summary()
    if not result.passed:
        raise GateFailed(result)
    return summary


def _refuse_if_replaced(catalog, name: str, task_try: dict | None, step: str) -> None:
    """:func:`~prox_tasks.refine.booking.refuse_if_replaced` for an Airflow task try; a
    call outside Airflow (``task_try`` None: ``prox gate``) is no run's step."""
    if task_try is not None:
        from prox_tasks.refine import runner as runners
        from prox_tasks.refine.booking import refuse_if_replaced

        refuse_if_replaced(catalog, name, runners.current(task_try), step)


def _mark_gated(catalog, snapshot: dict, result) -> None:
    """Freeze the folder's plan the gate judged (before its verdict is booked: a crash in
    between leaves it frozen and ``refined``, and the gate's retry books it)."""
    mark_judged(snapshot["output_uri"], result, snapshot["name"],
                (catalog.get_snapshot(snapshot["name"]) or {}).get("manifest_id"))


def mark_judged(output_uri: str, result, name: str | None = None,
                manifest_id: str | None = None) -> None:
    """Freeze ``output_uri`` for what the gate ``result`` judged
    (:func:`~prox_tasks.refine.claim.mark_gated`): the DAG's gate, ``prox gate`` with or
    without ``--name`` — its ``gate.json`` is what a release checks either way.

    Args:
        output_uri: The snapshot folder.
        result: The gate's :class:`~prox_tasks.quality.GateResult`.
        name: The snapshot's name in the catalog (None: a gate without one), named by the
            refusals of the runs the mark stops.
        manifest_id: The plan the catalog booked (None: the one the gate judged).
    """
    from prox_tasks.corpus import load_manifest
    from prox_tasks.refine.claim import mark_gated

    manifest_id = manifest_id or result.metrics.get("manifest_id") \
        or load_manifest(output_uri).id  # fmt: skip
    # a plan's shards are 0..n-1; those without a judged file may still be published. A
    # passing gate found every one written (its `complete` check); so did a release's,
    # whose gate.json may predate shard_checksums
    judged, unwritten = result.shard_checksums or {}, []
    if not result.passed:
        unwritten = [i for i in range(int(result.metrics.get("shards_planned") or 0))
                     if str(i) not in judged]
    mark_gated(output_uri, manifest_id, name, "gated" if result.passed else "quarantined",
               unwritten)


def _record_gate(catalog, name: str, result) -> None:
    """Book the gate's result: a report (not again when a retry found the same as the last
    one), and the snapshot ``gated`` or ``quarantined`` (a ``released`` one stays so)."""
    from prox_tasks.release import GATE_SUITE

    last = catalog.latest_quality_report(name, GATE_SUITE)
    same = last is not None and (bool(last["success"]), last["stats"]) == (
        result.passed, json.loads(json.dumps(result.metrics)))  # as the catalog stores it
    if not same:
        catalog.add_quality_report(name, GATE_SUITE, result.passed, stats=result.metrics,
                                   report_uri=result.data_docs_uri)
    if (catalog.get_snapshot(name) or {}).get("status") != "released":
        catalog.update_snapshot(name, status="gated" if result.passed else "quarantined")


def release(snapshot: dict, dry_run: bool = False, task_try: dict | None = None) -> dict:
    """Release the gated snapshot (``latest`` written last); nothing in a dry run. The
    release names the model version its shards were refined with. Returns the release
    record with its shards counted, not listed (``record_uri`` holds the list): the task's
    result is an XCom row, and the list grows with the snapshot (~190 bytes a shard).

    Raises:
        prox_tasks.refine.booking.RunReplaced: ``task_try``'s DAG run (an Airflow task try)
            was replaced by another run since it planned: it releases nothing.
    """
    from prox_tasks.release import origin, release_snapshot

    if task_try is not None:  # a replaced run releases nothing, a dry run included
        with open_catalog(snapshot["catalog_url"]) as catalog:
            _refuse_if_replaced(catalog, snapshot["name"], task_try, "release")
    if dry_run:
        log.info("dry run: %s passed its gate and is not released", snapshot["name"])
        return {"name": snapshot["name"], "released": False, "dry_run": True}
    with open_catalog(snapshot["catalog_url"]) as catalog:
        record = release_snapshot(snapshot["output_uri"], snapshot["release_root"],
                                  snapshot["name"], partition=snapshot["partition"],
                                  catalog=catalog,
                                  released_by=origin.dag_run((task_try or {}).get("dag_id"),
                                                             snapshot.get("run_id")),
                                  # a refusal names the DAG's Param, not prox's --name
                                  option=SNAPSHOT_NAME_PARAM)
    return {**record, "shards": len(record["shards"]), "released": True, "dry_run": False}
