"""prox_refine_snapshot: nightly refinement of the day's crawl partition, gated release."""

from __future__ import annotations

from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from prox_partition import PartitionSensor

from prox_tasks.pipeline import dag_config as cfg
from prox_tasks.pipeline import refresh, settings
from prox_tasks.pipeline.errors import check_conf, fail_fast

REFINER = Asset(*cfg.REFINER)
REFINED_CORPUS = Asset(*cfg.REFINED_CORPUS)

DOC = """
# Refine a corpus snapshot

Refines one crawl partition the ProX way and releases it only when it passes the quality gate.

1. **resolve** — the run's input (`input_uri` with `{ds}` filled in) and the snapshot folder
   `<output_root>/snapshots/<snapshot_name or crawl-ds>`; an S3 `output_root` whose bucket
   is missing, or that the credentials may read but not write, fails here once.
   **wait_for_partition** — a
   scheduled or backfill run waits for a late crawl partition (deferred to the triggerer, a
   look every `PROX_PARTITION_POKE_S`, at most `PROX_PARTITION_WAIT_S`, then it fails once
   naming what is missing); a manual run waits only with `wait_for_partition`. **A partition
   delivered in several files (Spark's `part-…` files) needs `partition_marker`** (default
   `PROX_PARTITION_MARKER`, e.g. `_SUCCESS`): the wait then ends only once that file is in
   the folder, and `plan` refuses the partition without it. Unset, the first readable file
   ends the wait, and files landing later are never refined.
2. **plan** — shards of `target_docs` documents (`manifest.json`, deterministic; empty: a
   folder already planned keeps its plan's size, a new one takes 10,000); the
   rows' text and id are read from `text_field` and `id_field` (e.g. `raw_content`), every
   file as `format` (`jsonl` for Spark's `part-00000-….json`; empty: by the files' names);
   those three, left out of the run's conf, are the folder's plan's when it has one.
   `keep_threshold` (tagger models) overrides the model's calibrated keep threshold: higher
   keeps more text (word recall up, precision down). `quality_filter` adds the
   document-quality decision apart from junk drops: `report` scores and counts low-quality
   documents, `drop` also drops them (counted as `dropped_low_quality`). The limits
   (`max_doc_bytes` … `max_batch_lines`, `max_program_chars`, `max_normalize_growth`) and the
   `duplicate_ids` policy hold for every shard of the run (defaults: `PROX_<NAME>`). In a
   snapshot refined before, those the run's conf does not pass (a scheduled run, a backfill
   without them in `--dag-run-conf`) are the snapshot's, as an empty `model` is.
3. **refine_shard** — one mapped task per shard (pool `gpu`; named `shard-00042`), grouped
   when there are more shards than `max_map_length`. With `workers_per_task` N, each task
   takes N shards and refines them in N processes side by side (`shards-00000-00001`). Complete shards are reused unless
   `reprocess`; every retry rewrites the same shard atomically. A task reads only its
   shards' part of the plan; one whose plan was replaced meanwhile fails, refining nothing.
4. **collect** — totals; a run whose plan a later run booked since (the same snapshot
   planned again, e.g. with `reprocess`) fails here (`RunReplaced`, no retries, naming that
   run), and its gate and release do not run — unless a `prox refine` rerun finished the
   snapshot with this run's plan and settings: collect names it (`completed_by`) and the
   run goes on (a verdict `prox gate` booked on it since is kept; the gate judges again). **book_unfinished** (once every refine task
   has ended, however) books failed the shard attempts a task killed outright left
   `running` in the catalog, and the snapshot failed when a refine task failed. A run
   none of whose records became a document (every one quarantined) fails at collect
   (`NoDocuments`, no retries, naming the reasons and the quarantine folder), as `prox
   refine` does.
5. **quality_gate** — Great Expectations suites (thresholds are Params);
   a failure quarantines the snapshot and fails the run. Once gated (or quarantined), the
   folder takes no more shards from a run still refining it (`GatedSnapshot`) until
   `reprocess`, except shards the gate found unwritten. Data Docs: `<snapshot>/_quality/`.
6. **release** — `<output_root>/latest.json` is replaced last; emits `prox_refined_corpus`
   (its extra: name, partition, record, latest, model). A dry run, or a release made
   before, is skipped and emits nothing. An empty partition fails at **plan**.

Runs at once: `PROX_MAX_ACTIVE_RUNS` (default 1). A triggered run stays **queued** while
that many runs are active — a scheduled run waiting in `wait_for_partition` included, for up
to `PROX_PARTITION_WAIT_S` — and starts when one ends: deliver (or mark failed) the run
holding the slot, or raise `PROX_MAX_ACTIVE_RUNS` (the `gpu` pool still bounds the refine
tasks). A backfill's runs are bounded by its own `--max-active-runs`.

Backfill historical crawls: `airflow backfill create --dag-id prox_refine_snapshot
--from-date 2026-01-01 --to-date 2026-01-31`. The **PROX report** view shows every snapshot.
"""


@dag(
    dag_id="prox_refine_snapshot",
    description="Nightly: refine the day's crawl partition, gate it with Great Expectations, "
                "release it as latest.json",
    owner_links=cfg.owner_links(),
    dagrun_timeout=cfg.dagrun_timeout("PROX_REFRESH_TIMEOUT_S", 24 * 3600),
    # Each run covers one day's crawl partition: the data interval [D, D+1) runs after D ends.
    schedule=cfg.refresh_schedule(),
    start_date=cfg.start_date(),
    catchup=cfg.flag("PROX_CATCHUP"),
    max_active_runs=cfg.max_active_runs(),
    default_args=cfg.default_args(),
    params={name: Param(**spec) for name, spec in cfg.refresh_params().items()},
    doc_md=DOC,
    tags=["prox", "refine"],
)
def prox_refine_snapshot():
    # multiple_outputs=False: a task returning ``dict`` would otherwise also push each of its
    # keys as an XCom of its own, twice the rows and bytes (a refine task's shard list, the
    # release record); downstream tasks take the whole value
    @task(multiple_outputs=False)
    def resolve(params=None, ds=None, run_id=None, dag=None, dag_run=None) -> dict:
        """Check the run's Params; name the snapshot and its input partition."""
        with fail_fast(AirflowFailException):
            check_conf(dag_run.conf, dag.params)
            # a format the conf does not give is the folder's plan's (the sensor's too)
            return refresh.resolve_snapshot(dict(params), ds, run_id, set(dag_run.conf or {}))

    @task
    def plan(snapshot: dict, params=None, ti=None, dag_run=None) -> list[dict]:
        """Cut the input into shards (`manifest.json`); one work item per mapped task. Into
        a snapshot refined before, a refine setting the trigger's conf does not give (a
        scheduled run, a backfill) is the snapshot's, not its Param's default; so is, in a
        folder already planned, a `text_field`, `id_field` or `format` it does not give."""
        with fail_fast(AirflowFailException):
            return refresh.plan(snapshot, params["target_docs"],
                                cfg.map_length(params["max_map_length"]),
                                params["model"], params["backend"], params["reprocess"],
                                params.get("keep_threshold"),
                                params.get("quality_filter") or "off", cfg.limits_of(params),
                                params.get("workers_per_task"), cfg.task_try(ti),
                                text_field=settings.param_or_default(params, "text_field"),
                                id_field=settings.param_or_default(params, "id_field"),
                                # params holds every Param, its default where the trigger
                                # passed none; the run's conf, only what it passed
                                given=set(dag_run.conf or {}))

    @task(pool=cfg.POOL_GPU, queue=cfg.gpu_queue(), execution_timeout=cfg.shard_timeout(),
          multiple_outputs=False, map_index_template="{{ prox_shard_label }}", inlets=[REFINER])
    def refine_shard(batch: dict, ti=None) -> dict:
        """Refine the shard(s) of one work item; progress lines every `PROX_PROGRESS_EVERY`
        documents (default 1,000: docs/s, ETA, model, documents resumed from checkpoints)."""
        get_current_context()["prox_shard_label"] = batch["label"]
        with fail_fast(AirflowFailException):  # e.g. duplicate ids under the `fail` policy
            return refresh.refine_batch(batch, cfg.task_try(ti))

    @task(multiple_outputs=False)
    def collect(snapshot: dict, results, work=None, ti=None) -> dict:
        """Totals over every shard; the snapshot becomes `refined` in the catalog. A run
        whose plan a later run booked since fails here, without retries (`RunReplaced`):
        its gate and release are that run's — but for a `prox refine` rerun that finished
        it with this run's plan and settings (the totals name it: `completed_by`). So does a
        run with a refine task that returned nothing (marked success while it ran): clear
        that task."""
        with fail_fast(AirflowFailException):
            return refresh.collect(snapshot, list(results[:]),  # one request for all shards
                                   cfg.task_try(ti), work)

    @task(multiple_outputs=False)
    def quality_gate(snapshot: dict, totals: dict, params=None, ti=None) -> dict:
        """Great Expectations suites over the snapshot; a failure lists each failed check
        with its observed value and threshold. Data Docs and `gate.json`: the PROX report's
        snapshot page (Browse → PROX report)."""
        with fail_fast(AirflowFailException):  # a failed gate: retrying cannot help
            return refresh.gate(snapshot, dict(params), cfg.task_try(ti))

    @task(outlets=[REFINED_CORPUS], multiple_outputs=False)
    def release(snapshot: dict, gate: dict, params=None, outlet_events=None, ti=None) -> dict:
        """Re-check the gate and every shard's checksum; replace `latest.json` last. Skipped
        (no `prox_refined_corpus` event) in a dry run and when the release was made before."""
        with fail_fast(AirflowFailException):
            result = refresh.release(snapshot, params["dry_run"], cfg.task_try(ti))
        if not result.get("new"):  # nothing released now: DAGs on the Asset must not run
            raise AirflowSkipException("dry run: nothing released" if result.get("dry_run")
                                       else f"{result['name']} was released before")
        outlet_events[REFINED_CORPUS].extra = {
            k: result.get(k) for k in ("name", "partition", "record_uri", "latest", "model")}
        return result

    @task(trigger_rule="all_done")
    def book_unfinished(ti=None) -> int:
        """Once every refine task has ended (succeeded, failed, or killed outright after its
        last try): book failed the shard attempts they left `running` in the catalog, and
        the snapshot failed when a refine task failed (refine tasks that never ran, their
        upstream failed, are no failure of refining: not counted)."""
        failed = ti.get_ti_count(dag_id=ti.dag_id, task_ids=["refine_shard"],
                                 run_ids=[ti.run_id], states=["failed"])
        return refresh.book_unfinished(ti.xcom_pull(task_ids="resolve"), cfg.task_try(ti), failed)

    snapshot = resolve()
    work = plan(snapshot)
    PartitionSensor(task_id="wait_for_partition", snapshot=snapshot,
                    poke_interval=cfg.partition_poke(), timeout=cfg.partition_wait(),
                    deferrable=cfg.flag("PROX_PARTITION_DEFERRABLE", True),
                    doc_md="Wait until the crawl partition has arrived (scheduled and backfill "
                    "runs; a manual run only with `wait_for_partition`) — with `partition_marker`, "
                    "until that file is there — in the triggerer: no "
                    "worker slot is held while waiting. After `PROX_PARTITION_WAIT_S` it fails "
                    "once, naming the missing input.") >> work
    results = cfg.documented(refine_shard).expand(batch=work)
    results >> book_unfinished()
    totals = collect(snapshot, results, work)
    release(snapshot, quality_gate(snapshot, totals))


prox_refine_snapshot()
