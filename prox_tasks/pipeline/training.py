"""Task bodies of ``prox_train_refiner``: find the seed set → train (both levels, one
artifact) → evaluate against the promoted model → promote when better."""

from __future__ import annotations

import logging

from prox_tasks.pipeline import settings
from prox_tasks.pipeline.errors import RunError, check_absolute, check_catalog_shared

log = logging.getLogger(__name__)


def resolve_seed_set(params: dict, triggering_events: list[dict]) -> dict:
    """The seed set to train on: the ``seed_uri`` Param, else the newest seed-set Asset
    event that triggered the run.

    Raises:
        RunError: no seed set at all, a relative ``seed_uri``, ``registry`` or ``base``
            path (it would resolve against whichever worker's folder), a SQLite catalog by
            a relative path or in memory (:func:`~prox_tasks.pipeline.errors.check_catalog_shared`).
        prox_tasks.models.NoModelError: ``base`` ``promoted`` with none promoted.
        prox_tasks.training.run.TrainingRefused: what ``train`` would refuse
            (:func:`~prox_tasks.training.run.checked_seed_set`): Params that cannot train,
            a base of another kind or without a model, a seed set that cannot be read or
            holds nothing to train or validate on.
    """
    from prox_tasks.models.resolver import MODEL_CHOICES

    check_absolute(params, ("seed_uri", "registry"))
    # train may run on another worker; "default" and "promoted" as `prox train --base` takes them
    check_absolute(params, ("base",), MODEL_CHOICES)
    registry = settings.param_or_default(params, "registry")
    catalog_url = _run_catalog(registry, params)
    if catalog_url:
        check_catalog_shared(catalog_url, params)
    uri = params.get("seed_uri") or next(
        (e["uri"] for e in reversed(triggering_events) if e.get("uri")), None)
    if not uri:
        # a seed set registered while this DAG was paused queued no event: say where its
        # URI is, since the user who meets this has one and needs its manifest's URI
        raise RunError(
            "no seed set: pass seed_uri, a seed set's manifest.json "
            f"({settings.seed_root()}/<name>/manifest.json: the uri a prox_seed_label run's "
            "register task returns), or let a prox_seed_set event trigger the run (Airflow "
            "queues one only while prox_train_refiner is unpaused)")
    _check_exists(uri, "seed_uri")
    if params.get("base") and params["base"] not in MODEL_CHOICES:
        _check_exists(params["base"], "base")
    seed = {"uri": uri, "registry": registry,
            "catalog_url": catalog_url and settings.catalog_url_to_pass_on(catalog_url)}
    from prox_tasks.training.run import check_incumbent, checked_seed_set

    # the train task's job neither gates nor promotes (evaluate and promote do, always), so
    # its checks leave out the incumbent they load: a removed or damaged one failed evaluate,
    # retried, after the training had run and published
    check_incumbent(registry, settings.REFINER_NAME)
    # what train would refuse after waiting for the gpu pool (the Params, the base model —
    # 'promoted' with none promoted, resolved as train resolves it: this run's registry, then
    # its catalog —, a seed set that is empty, cut short or without what the Params need:
    # its first SAMPLE_ROWS lines a file, every file opened; train checks every row); of
    # the gold pages train leaves out, train's log says it (once a run, not in both tasks)
    checked_seed_set(_job(seed, params), caller="dag", sample_rows=SAMPLE_ROWS, warn=False)
    return seed


def _run_catalog(registry: str, params: dict) -> str | None:
    """The catalog a run books its model in, by ``prox train``'s rule
    (:func:`~prox_tasks.pipeline.settings.registry_catalog`): the ``catalog_url`` Param when
    given; else the default catalog for the default registry, and none for a registry
    elsewhere — booked in the default catalog, its model was what ``prox refine`` served
    whenever the default registry promoted none."""
    given = params.get("catalog_url")
    return settings.registry_catalog(registry, settings.catalog_url(given) if given else None)


def _catalog(seed: dict) -> str | None:
    """The catalog of a run whose ``resolve_seed_set`` returned ``seed`` (None: it books in
    none), with the password its return value left out taken from this worker's environment."""
    return settings.catalog_url(seed["catalog_url"]) if seed.get("catalog_url") else None


#: Lines of each seed-set file ``resolve_seed_set`` reads to check it: a seed set of tens of
#: thousands of pages on S3 is not read once more before ``train`` reads (and checks) it all.
SAMPLE_ROWS = 1000


def _check_exists(uri: str, param: str) -> None:
    """A path or URI that is not there fails the run at once, not after three tries."""
    import os

    from prox_tasks.storage import exists, list_uri, parse_uri

    location = parse_uri(uri)
    found = (os.path.exists(location.path) if location.scheme == "file"
             else exists(uri) or bool(list_uri(uri)))  # fmt: skip
    if not found:
        raise RunError(f"{param} {uri} does not exist (fix the {param} Param)")


#: The train DAG's Params that are :class:`~prox_tasks.training.run.TrainJob` fields.
_JOB_FIELDS = {"kind": "kind", "base": "base", "epochs": "epochs", "random_seed": "seed_value",
               "threads": "threads", "max_eval_docs": "max_eval_docs",
               "select_epoch": "select_epoch", "backend": "backend", "retrain": "retrain"}


def _job(seed: dict, params: dict):
    """The :class:`~prox_tasks.training.run.TrainJob` of a run: its Params (an empty one:
    the job's default) on ``seed``; published, not promoted (the promote task decides)."""
    from prox_tasks.training.run import TrainJob

    given = {field: params[param] for param, field in _JOB_FIELDS.items()
             if params.get(param) not in (None, "")}
    return TrainJob(seed=seed["uri"], output=seed["registry"], name=settings.REFINER_NAME,
                    catalog=_catalog(seed), promote=False, gold_gate=False, **given)


def train(seed: dict, params: dict) -> dict:
    """Train and publish (not promote) a refiner; returns its record and metrics (``reused``:
    the registry held it, published by a run of the same seed set, Params and code, and it
    was not trained again: :func:`~prox_tasks.training.run.run_training`). A stop by
    Airflow (SIGTERM) is raised as :class:`~prox_tasks.termination.Terminated`
    (:data:`STOPPED_BY_AIRFLOW`): the training ends at once, nothing half-published."""
    from prox_tasks.termination import raise_on_sigterm
    from prox_tasks.training.run import run_training

    # Airflow stops a task with SIGTERM (then SIGKILL 5 s later) and, by itself, lets it run
    # on: a training went on to publish, cut short where the SIGKILL found it
    with raise_on_sigterm(STOPPED_BY_AIRFLOW):
        out = run_training(_job(seed, params), caller="dag")  # refusals name the DAG's Params
    # reused: the registry held the model this seed set, Params and code train (a retry
    # after the model was published), returned without training it again
    return {k: out[k] for k in ("name", "version", "uri", "kind", "metrics", "seed_set",
                                "reused")}


#: What a train task stopped by Airflow (SIGTERM) fails with.
STOPPED_BY_AIRFLOW = ("terminated (SIGTERM): Airflow stopped this train task (marked failed "
                      "or cleared, the task or its DAG run, or its worker shutting down) "
                      "before its model was published; clear the task to train on from its "
                      "last epoch checkpoint")


def evaluate(seed: dict, candidate: dict, params: dict) -> dict:
    """Metrics of the promoted model on the same validation documents (None without one),
    and — unless the ``gold_gate`` Param is off — candidate and incumbent (the promoted
    model, else the shipped default) on the shipped human-gold set
    (:func:`prox_tasks.training.promotion.measure_incumbent`, as ``prox train``)."""
    from prox_tasks.registry import ModelRegistry

    # with its catalog, as the promote task's: both resolve the same gold incumbent
    registry = ModelRegistry(seed["registry"], catalog=_catalog(seed))
    return _measure(seed, candidate, params, registry)()


def _measure(seed: dict, candidate: dict, params: dict, registry):
    """The incumbent measurement of the evaluate task, ready to be taken (again)."""
    from functools import partial

    from prox_tasks.training.promotion import measure_incumbent

    return partial(measure_incumbent, registry, candidate,
                   partial(validation_documents, seed, params),
                   threads=params.get("threads") or 2, backend=params.get("backend") or None,
                   gold_gate=params.get("gold_gate", True))  # fmt: skip


def validation_documents(seed: dict, params: dict):
    """The validation pages the evaluate and promote tasks score the promoted model on:
    those the train task scored the candidate on — the first ``max_eval_docs`` of the seed
    set's validation split, the gold set's pages left out as the train task left them out
    (its job's gold set) — read from their files when scored (a manifest's training files
    are not read at all)."""
    from prox_tasks.evaluation.goldset import gold_pages
    from prox_tasks.training.seedset import load_seed_set

    seed_set = load_seed_set(seed["uri"], stream=True, validation_only=True,
                             leave_out=gold_pages(_job(seed, params).gold_set))
    return seed_set.validation.first(params.get("max_eval_docs"))


def promote(seed: dict, candidate: dict, incumbent: dict, params: dict | None = None) -> dict:
    """Promote the candidate when it beats the incumbent promoted now (registry and
    catalog), through :func:`prox_tasks.training.promotion.decide_promotion` as ``prox
    train`` does: the evaluate task's measurement (``incumbent``) is decided on while its
    incumbent is still promoted; when another model was promoted since, this task measures
    the candidate against that one again (gold gate and validation) and decides on that.

    A candidate that is already the promoted model reports ``promoted`` too: a retry of a
    promotion whose files were written before the task failed completes it (and its Asset
    event is sent) instead of being skipped as not promoted.

    The registry is the truth: when the swap happened but booking it in the catalog failed
    (:class:`~prox_tasks.registry.CatalogNotBooked`), the promotion is reported — the
    ``prox_refiner`` Asset event is sent, as refining uses the model now — with
    ``catalog_booked`` False and why in ``catalog_error``, for :func:`book_catalog` to fail
    on loudly (``remeasured`` is None then: unknown); ``catalog_booked`` is None without a
    catalog.
    """
    from prox_tasks.registry import CatalogNotBooked, ModelRegistry
    from prox_tasks.training.promotion import decide_promotion

    registry = ModelRegistry(seed["registry"], catalog=_catalog(seed))
    measure = _measure(seed, candidate, params or {}, registry)
    booked, error, remeasured = (True if registry.catalog else None), None, None
    try:
        decision, measured = decide_promotion(registry, candidate, measure, measured=incumbent)
        remeasured = measured is not incumbent
    except CatalogNotBooked as err:
        decision, booked, error = err.decision, False, f"{err} ({err.__cause__})"
        log.error("%s", error)  # the task succeeds: book_catalog fails on it after the event
    log.info("%s %s: %s (%s)", candidate["name"], candidate["version"],
             "promoted" if decision.promoted else "not promoted", decision.reason)
    return {"promoted": decision.left_promoted,
            "reason": decision.reason, "incumbent": decision.incumbent,
            "remeasured": remeasured, "catalog_booked": booked, "catalog_error": error,
            "version": candidate["version"], "uri": candidate["uri"],
            "registry": seed["registry"]}


def book_catalog(seed: dict, decision: dict) -> dict:
    """Book in the catalog the model a promotion left unbooked (``catalog_booked`` False):
    the version ``promoted.json`` names now. Nothing to do otherwise.

    Raises:
        RunError: the catalog still cannot be written: the run fails (and alerts) though
            refining serves the promoted model — the catalog's lineage and the report's
            model would be stale; the message says how to book it.
    """
    from prox_tasks.registry import ModelRegistry, rebook_advice

    if decision.get("catalog_booked") is not False:
        return {"booked": decision.get("catalog_booked")}
    registry = ModelRegistry(seed["registry"], catalog=_catalog(seed))
    try:
        version = registry.book_promoted(settings.REFINER_NAME, decision["version"])
    except Exception as err:
        raise RunError(
            f"{settings.REFINER_NAME} {decision['version']} is promoted in the registry "
            f"{seed['registry']} (refining uses it: the prox_refiner Asset event was sent) but "
            f"the catalog {seed['catalog_url']} cannot book it: {err}. "
            + rebook_advice(err, decision["version"], seed["registry"], None, registry.catalog,
                            "clear this task (it books what promoted.json names)")
        ) from err
    log.info("booked %s %s in the catalog", settings.REFINER_NAME, version)
    return {"booked": True, "version": version}
