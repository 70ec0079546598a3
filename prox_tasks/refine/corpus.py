"""Refine a whole corpus outside Airflow: plan shards, then refine each with one backend.

The same functions as the Airflow DAG (:func:`prox_tasks.corpus.plan_shards`, then
:func:`~prox_tasks.refine.workers.refine_shards`): the model is loaded once per process —
this one, or each of ``workers`` processes refining shards in parallel. Re-running the same command resumes: published shards are skipped and an
interrupted shard resumes from its checkpoints.
"""

from __future__ import annotations

import math
import time

from prox_tasks.corpus.duplicates import index_duplicates
from prox_tasks.corpus.manifest import MANIFEST_NAME, refuse_if_released, replan_way_out
from prox_tasks.refine import runner as runners
from prox_tasks.refine.booking import ShardBooking, book_failed, book_refined, register_plan
from prox_tasks.refine.checkpoint import remove_empty_checkpoint_folders
from prox_tasks.refine.claim import claim_for_options
from prox_tasks.refine.limits import Limits, refuse_duplicates
from prox_tasks.refine.options import (
    as_refined,
    check_refine_options,
    snapshot_refined,
)
from prox_tasks.refine.stats import RunResults, refuse_if_all_quarantined
from prox_tasks.refine.step import shard_request
from prox_tasks.refine.workers import WorkerPool, refine_shards
from prox_tasks.storage import exists, join_uri
from prox_tasks.wording import crawl_files


def plan(input_uri: str, output_uri: str, shards: int | None = None,
         target_docs: int | None = None, overwrite: bool = False, **read_options):
    """Plan (or re-open) the snapshot's shards; ``shards`` asks for about that many,
    ``target_docs`` for shards of that many documents, and neither for the folder's plan's
    own targets (:func:`~prox_tasks.corpus.planner.planned_settings`: a ``prox plan
    --target-docs 300`` is refined as planned; a new folder: 10,000 documents a shard);
    ``overwrite`` replaces another plan of the folder (``prox refine --replan``).
    ``text_field``, ``id_field`` or ``format`` None (or not given) is the folder's plan's
    (:func:`~prox_tasks.corpus.planner.planned_settings`; a new folder: the defaults)."""
    from prox_tasks.corpus import plan_shards
    from prox_tasks.corpus.planner import (
        PLANNED_READING,
        READ_SETTINGS,
        planned_settings,
        read_plan,
        read_settings,
        unchanged_plan,
    )

    as_planned = shards is None and target_docs is None  # the plan's own targets
    planned = read_plan(output_uri)  # once (a GET on S3), for its settings and reuse
    targets, reading = planned_settings(output_uri, None if as_planned else {}, {
        key: value for key, value in read_options.items()
        if key in PLANNED_READING and value is not None}, plan=planned)  # fmt: skip
    read_options = {**read_options, **reading}

    if as_planned:
        return plan_shards(input_uri, output_uri, **targets, overwrite=overwrite,
                           plan=planned, **read_options)
    if shards is not None and target_docs is None:
        if shards < 1:
            raise ValueError("--shards must be at least 1")
        # a rerun counts the documents from its plan when the input did not change
        counted = unchanged_plan(input_uri, output_uri, read_settings(**read_options),
                                 compare=READ_SETTINGS, plan=planned) or plan_shards(
            input_uri, output_uri, target_docs=1 << 62, write=False, **read_options)
        target_docs = max(1, math.ceil(counted.total_docs / shards))
    return plan_shards(input_uri, output_uri, target_docs=target_docs, overwrite=overwrite,
                       plan=planned, **read_options)


def starts_workers_early(output_uri: str, workers: int) -> bool:
    """Whether :func:`refine_corpus` starts its workers before planning: for a new snapshot
    (no manifest yet) with more than one worker. A resumed one refines what is left, maybe
    one shard, which needs no worker process."""
    return workers > 1 and not exists(join_uri(output_uri, MANIFEST_NAME))


def refine_corpus(input_uri: str, output_uri: str, *, model: str | None = None,
                  backend: str | None = None, backend_options: dict | None = None,
                  shards: int | None = None, target_docs: int | None = None,
                  policy: dict | None = None, checkpoint_every: int | None = None,
                  force: bool = False, replan: bool = False, progress=None,
                  limits: dict | None = None, model_name: str = "refiner",
                  catalog_url: str | None = None, workers: int = 1,
                  threads: int | None = None, quality: str | None = None, catalog=None,
                  snapshot: str | None = None,
                  **read_options) -> dict:
    """Refine every shard of ``input_uri`` into ``output_uri``.

    Args:
        input_uri: File, folder, prefix or glob of JSONL/Parquet/WET.
        output_uri: Output folder (manifest, shards, quarantine, status).
        model: Model URI, ``"default"``, ``"promoted"`` or None (resolved by
            :func:`prox_tasks.models.resolve_model`: None is the promoted model, else the
            shipped default).
        backend: Backend name.
        backend_options: Backend options.
        shards: About how many shards to cut the corpus into.
        target_docs: Documents per shard (instead of ``shards``).
        policy: Executor policy fields.
        checkpoint_every: Documents per in-shard checkpoint (None: ``max_batch_docs``).
        force: Refine published shards again, and take over the folder's settings claim
            from another run's settings (:mod:`~prox_tasks.refine.claim`).
        replan: Replace the folder's plan when this run's differs (other shards, an input
            changed since), as ``prox plan --overwrite`` does: the old plan's shards are
            removed and every shard is refined; refused for a released snapshot.
        progress: A bar over the documents (``reset(total)`` once planned, ``update(n)``
            after each batch), e.g. the ``prox`` command's tqdm bar; None: no bar.
        limits: :class:`~prox_tasks.refine.limits.Limits` fields (per document and batch,
            duplicate-id policy); ``max_doc_bytes`` is also the planning limit.
        model_name: Registry and catalog name of the promoted model.
        catalog_url: Catalog holding the promoted model (default ``PROX_CATALOG_URL``).
        workers: Worker processes refining shards in parallel, each with its own backend
            (:func:`~prox_tasks.refine.workers.refine_shards`).
        threads: CPU threads per worker for the model (None: see ``refine_shards``).
        quality: Document-quality decision, ``off``/``report``/``drop`` (see
            :mod:`prox_tasks.labeling.doc_quality`); reported apart from junk drops. None:
            the snapshot's (a rerun), else ``$PROX_QUALITY_FILTER``, else ``off``; so are
            ``limits`` not given and a tagger's keep threshold
            (:func:`~prox_tasks.refine.options.as_refined`).
        catalog: A :class:`prox_tasks.catalog.Catalog` to book the snapshot and its shards
            in (:mod:`prox_tasks.refine.booking`, as the DAG does), or None.
        snapshot: The catalog's snapshot name (required with ``catalog``).
        **read_options: ``text_field``, ``id_field``, ``format``, ``max_doc_bytes``; the
            first three None: the snapshot's plan's (a rerun), else text, id, by names.

    Returns:
        JSON-ready summary: totals (``docs_read`` counts a cut or corrupt input file's
        quarantine entry as a record, ``documents_read`` does not and ``files_cut`` counts
        them), model version, seconds, the shards' statistics' ``seconds`` by phase summed
        (``phase_seconds``), when each worker process refined (``worker_timeline``:
        :meth:`~prox_tasks.refine.stats.RunResults.timeline`), and shards' results (those
        :class:`~prox_tasks.refine.stats.RunResults` keeps; ``results_left_out`` says how
        many are not there).

    Raises:
        SettingsConflict: Without ``force``, the folder is claimed for (or its shards were
            refined with) other settings — by an earlier run or one running now; raised
            once the plan is read, before any shard is refined or booked.
        ManifestConflict: Without ``replan``, the folder holds another plan.
        NoDocuments: Every record read was quarantined (the shards and their quarantine
            are written; :func:`~prox_tasks.refine.stats.refuse_if_all_quarantined`).
    """
    from prox_tasks.corpus.planner import ManifestConflict
    from prox_tasks.models import resolve_model
    from prox_tasks.models.resolver import located_levels, typed_here
    from prox_tasks.pipeline.settings import check_refine_settings, quality_filter

    started = time.perf_counter()
    check_refine_settings()  # those read deep inside a shard: before anything is planned
    # a rerun keeps what it does not give as the snapshot was refined (--force: afresh)
    recorded, recorded_model = (None, None) if force else snapshot_refined(output_uri)
    # a typed folder of another installation's shipped model: this one's, by its version
    resolved = (None if model else recorded_model) or typed_here(
        resolve_model(model, name=model_name, catalog_url=catalog_url), recorded_model)
    model = resolved.uri
    # each level's folder located as the model is: recorded where it is, whatever the spelling
    backend_options = located_levels(backend_options)
    kept = as_refined(recorded, model, backend, quality,
                      (backend_options or {}).get("line_threshold"), limits)
    backend, quality, limits = kept["backend"], quality_filter(kept["quality"]), kept["limits"]
    if kept["keep_threshold"] is not None:
        backend_options = {**(backend_options or {}), "line_threshold": kept["keep_threshold"]}
    # before any output
    settings = check_refine_options(workers, checkpoint_every, backend_options, model, backend,
                                    refines_here=True)
    chosen = Limits.resolve(limits)
    read_options.setdefault("max_doc_bytes", chosen.max_doc_bytes)
    # the backend of shards reused (their results name none): the one asked for, and a line
    # tagger runs on the tagger backend only; a generative model's automatic choice is the
    # machine's that refined them, unknown here
    asked_backend = backend or ("tagger" if settings.get("kind", "causal_lm") != "causal_lm"
                                else None)  # fmt: skip
    if force:  # refused before any shard is booked: a refusal is not a failed attempt
        refuse_if_released(output_uri, "refining it again (--force)")
    if catalog is not None:  # before the plan is written
        catalog.check_snapshot_name(snapshot, output_uri)
    # a new snapshot: the workers start (imports, model load) while the corpus is planned
    pool = WorkerPool(workers, threads, model, backend, backend_options) \
        if starts_workers_early(output_uri, workers) else None  # fmt: skip
    booked = False  # whether this run's plan is in the catalog (its failure is booked too)
    try:
        try:
            manifest = plan(input_uri, output_uri, shards, target_docs, overwrite=replan,
                            **read_options)
        except ManifestConflict as err:  # the planner names prox plan's way out
            # short: a command's one-line error is cut at 400 characters
            way_out = replan_way_out(output_uri, "use a new output folder or run again with "
                                                 "--replan")
            raise ManifestConflict(
                f"{err.uri} holds another plan: {way_out}; it differs in {err.differences}",
                err.uri, err.differences
            ) from err
        refuse_duplicates(index_duplicates(manifest), chosen)
        # before the catalog books anything: a run with other settings is refused here
        backend_options, _ = claim_for_options(
            output_uri, manifest, backend, backend_options, lambda options: shard_request(
                model, backend, options, policy, chosen.to_dict(), quality),
            take_over=force, runner=runners.current())  # this process refines: killed, its claim lapses
        if catalog is not None:
            register_plan(catalog, snapshot, manifest)
            booked = True
        if progress is not None:
            progress.reset(total=manifest.total_docs)
        results = RunResults()  # folded as each shard ends: none held past its end
        refine_shards(output_uri, [s.index for s in manifest.shards], workers=workers,
                      threads=threads, model=model, backend=backend,
                      backend_options=backend_options, force=force,
                      progress=None if progress is None else progress.update, policy=policy,
                      checkpoint_every=checkpoint_every, limits=chosen.to_dict(),
                      quality=quality, booking=None if catalog is None
                      else ShardBooking(catalog, snapshot), pool=pool, settings_claimed=True,
                      collect=results.add)  # fmt: skip
        # every record quarantined: nothing refined, the run fails (booked failed below)
        refuse_if_all_quarantined(results.accounting.to_dict(), input_uri, output_uri)
        remove_empty_checkpoint_folders(manifest.output_uri)  # every shard published
    except BaseException as err:  # an operator listing the catalog must not see `planned`
        if pool is not None:  # stopped while planning too: workers still loading end, boundedly
            pool.stop()
        if booked:
            book_failed(catalog, snapshot, err)
        raise
    finally:
        if pool is not None:
            pool.close()
    totals = results.totals()
    if catalog is not None:  # every shard is written (a failed one raised)
        book_refined(catalog, snapshot, results.model_versions,
                     refined_any=totals.get("shards_refined", 0) > 0)
    return {"output": manifest.output_uri, "manifest": manifest.uri, "shards": results.shards,
            "model": resolved.uri, "model_source": resolved.source,
            "model_version": ",".join(sorted(results.model_versions)),
            "backend": ",".join(sorted(results.backends)) or asked_backend,
            "workers": workers, **totals,
            # files the input lists that the plan did not read for their format
            "input_files_skipped": len(manifest.skipped_files),
            "input_files_skipped_named": [f["uri"] for f in manifest.skipped_files[:3]],
            # how many of them are a crawl's WARC or WAT files (no rename reads text from one)
            "input_files_skipped_crawl": crawl_files([f["uri"] for f in manifest.skipped_files]),
            "seconds": round(time.perf_counter() - started, 3),
            "phase_seconds": {k: round(v, 4) for k, v in sorted(results.phase_seconds.items())},
            "worker_timeline": results.timeline(), "results": results.results,
            "results_left_out": results.left_out}  # fmt: skip
