"""A data team's week on the production shape, all real parts on loopback: the scheduler,
dag-processor and api-server (LocalExecutor) on a PostgreSQL metadata DB, the prox catalog
on PostgreSQL, crawl partitions and corpus on S3 (moto's server over HTTP).

1. ``airflow backfill create`` over three past days, each run reading its own dated
   partition (``PROX_CRAWL_TEMPLATE=s3://…/crawl/{ds}/``); one shard of the middle day fails
   on every try (S3 refuses its upload: a real fault of the store). The runs of the backfill
   never overlap (``--max-active-runs 1``), each day has its own snapshot folder and catalog
   row, and the failed day is booked ``failed`` with its error.
2. The store recovers; the failed ``refine_shard`` is cleared (as the UI's Clear does, with
   its downstream tasks): the run succeeds, and its shards are byte for byte what ``prox
   refine`` writes from the same partition.
3. The same backfill again with ``--reprocess-behavior completed``: every day runs again and
   nothing changes — no shard refined again, no file rewritten, no release added.
4. A run marked failed from the UI while a shard waits for its retry, then a new run over
   the same snapshot: it reuses the shards written, refines the rest and releases; the
   catalog holds no attempt left ``running``.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest

from tests.dags.airflow_env import airflow_cli
from tests.dags.crawl import sample_rows
from tests.dags.services import nightly_schedule, wait_for_backfills, wait_for_runs
from tests.deploy.deployment import Deployment, DeploymentConfig

# 7–14 minutes on 2 cores (eight DAG runs through the real scheduler): kept out of the default
# suite, which must stay well under 30 minutes; the shorter live tests beside it cover each part
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.environ.get("PROX_TEST_SCENARIOS"),
    reason="a week of backfills on the real scheduler (7-14 min): set PROX_TEST_SCENARIOS=1")]
REFINE = "prox_refine_snapshot"
PER_DAY = 12


def _shard_upload_of(snapshot: str, shard: str):
    """A fault matcher: the PUTs of one shard's files of one snapshot."""
    def match(environ) -> bool:
        path = environ.get("PATH_INFO", "")
        return environ["REQUEST_METHOD"] == "PUT" and f"/snapshots/{snapshot}/" in path \
            and shard in path
    return match


def _checksums(bucket: str, name: str) -> dict:
    """Shard index -> the SHA-256 its status record gives, of snapshot ``name``."""
    from prox_tasks.storage import list_uri, read_bytes

    folder = f"{bucket}/corpus/snapshots/{name}/_status/"
    return {uri.rsplit("/", 1)[1]: json.loads(read_bytes(uri))["sha256"]
            for uri in sorted(list_uri(folder)) if uri.endswith(".json")}


def _objects(bucket: str, prefix: str) -> dict:
    """Key -> ETag and last-modified of every object under ``prefix``."""
    from prox_tasks.storage import get_client

    name = bucket.removeprefix("s3://")
    pages = get_client().get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix)
    return {o["Key"]: (o["ETag"], o["LastModified"]) for p in pages for o in p.get("Contents", [])}


def _wait_task_state(api, run_id: str, task_id: str, map_index: int, states: set,
                     timeout: float = 240) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in api.task_instances(REFINE, run_id):
            if (ti["task_id"], ti["map_index"]) == (task_id, map_index) and ti["state"] in states:
                return ti["state"]
        time.sleep(1)
    raise TimeoutError(f"{task_id}[{map_index}] of {run_id} never {states}\n{api.tail()}")


def test_backfill_clear_reprocess_and_a_run_marked_failed_on_s3(postgres, s3_server,
                                                                 s3_bucket, tmp_path):
    from prox_tasks.catalog import Catalog
    from prox_tasks.cli import main
    from prox_tasks.storage import put_atomic

    cron, nightly = nightly_schedule()
    end = datetime.fromisoformat(nightly)
    days = [(end - timedelta(days=n)).date().isoformat() for n in (3, 2, 1)]
    marked_day = (end - timedelta(days=5)).date().isoformat()
    for i, day in enumerate([*days, nightly, marked_day]):
        put_atomic(f"{s3_bucket}/crawl/{day}/part-0.jsonl", "".join(
            json.dumps(r) + "\n" for r in sample_rows(PER_DAY, start=i * PER_DAY)))
    env = {"PROX_REFRESH_CRON": cron, "PROX_CRAWL_TEMPLATE": f"{s3_bucket}/crawl/{{ds}}/",
           "PROX_CORPUS_ROOT": f"{s3_bucket}/corpus", "PROX_GATE_HISTORY_MIN": "50",
           # one retry, late enough to act between the tries
           "PROX_RETRIES": "1", "PROX_RETRY_DELAY_S": "20", "PROX_MAX_RETRY_DELAY_S": "20"}
    failing = f"crawl-{days[1]}"
    faults = s3_server.faults
    faults.arm(match=_shard_upload_of(failing, "shard-00001"))
    with Deployment(DeploymentConfig(executor="LocalExecutor", env=env), tmp_path, postgres,
                    s3_endpoint=s3_server.endpoint_url) as d:
        api = d.airflow
        backfill = ["backfill", "create", "--dag-id", REFINE, "--from-date", days[0],
                    "--to-date", f"{days[-1]}T23:59:59+00:00", "--max-active-runs", "1",
                    "--dag-run-conf", json.dumps({"target_docs": 4})]
        airflow_cli(*backfill, env=d.env)
        api.unpause(REFINE)  # the nightly run of its own day starts too
        runs = wait_for_runs(api, REFINE, 4, timeout=600)
        by_day = {r["logical_date"][:10]: r for r in runs}
        assert {day: by_day[day]["state"] for day in days} == {
            days[0]: "success", days[1]: "failed", days[2]: "success"}, api.tail()
        # --max-active-runs 1: one backfill run at a time
        spans = sorted((by_day[day]["start_date"], by_day[day]["end_date"]) for day in days)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
        failed_run = by_day[days[1]]["dag_run_id"]
        assert [t["state"] for t in api.tries(REFINE, failed_run, "refine_shard", 1)] == [
            "failed", "failed"]
        with Catalog(d.catalog_url) as catalog:
            rows = {day: catalog.get_snapshot(f"crawl-{day}") for day in days}
            assert rows[days[1]]["status"] == "failed" and rows[days[1]]["error"], rows[days[1]]
            # each run read its own dated partition into its own folder
            assert {day: (row["input_uri"], row["output_uri"]) for day, row in rows.items()} \
                == {day: (f"{s3_bucket}/crawl/{day}/", f"{s3_bucket}/corpus/snapshots/crawl-{day}")
                    for day in days}

        # 2. the store recovers; clear the failed shard with its downstream tasks
        faults.disarm()
        r = api.request("POST", f"/api/v2/dags/{REFINE}/clearTaskInstances", json={
            "dry_run": False, "dag_run_id": failed_run, "task_ids": [["refine_shard", 1]],
            "include_downstream": True, "only_failed": False, "reset_dag_runs": True})
        assert r.status_code == 200, r.text
        assert api.wait_run(REFINE, failed_run, timeout=300)["state"] == "success", api.tail()
        reference = f"{s3_bucket}/reference/{days[1]}"
        assert main(["refine", "--input", f"{s3_bucket}/crawl/{days[1]}/", "--output",
                     reference, "--target-docs", "4", "--no-progress"]) == 0
        from prox_tasks.storage import list_uri, read_bytes

        refined = {u.rsplit("/", 1)[1]: json.loads(read_bytes(u))["sha256"]
                   for u in sorted(list_uri(f"{reference}/_status/")) if u.endswith(".json")}
        assert _checksums(s3_bucket, failing) == refined
        with Catalog(d.catalog_url) as catalog:
            assert catalog.get_snapshot(failing)["status"] == "released"
            assert [s["attempts"] for s in catalog.get_shards(failing)] == [1, 3, 1]
            releases = sorted(r["release"] for r in catalog.list_releases())
            attempts = {day: [s["attempts"] for s in catalog.get_shards(f"crawl-{day}")]
                        for day in days}
        assert releases == sorted(f"crawl-{day}" for day in [*days, nightly])

        # 3. the backfill again, reprocessing completed runs: nothing changes
        before = _objects(s3_bucket, "corpus/")
        wait_for_backfills(api, REFINE, 1)
        airflow_cli(*backfill, "--reprocess-behavior", "completed", env=d.env)
        wait_for_backfills(api, REFINE, 2, timeout=600)
        runs = wait_for_runs(api, REFINE, 4, timeout=300)
        assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"])
                                                           for r in runs]
        assert _objects(s3_bucket, "corpus/snapshots/") == {
            k: v for k, v in before.items() if k.startswith("corpus/snapshots/")}
        with Catalog(d.catalog_url) as catalog:
            assert sorted(r["release"] for r in catalog.list_releases()) == releases
            assert {day: [s["attempts"] for s in catalog.get_shards(f"crawl-{day}")]
                    for day in days} == attempts

        # 4. a run marked failed from the UI while a shard waits for its retry
        marked = f"crawl-{marked_day}"
        faults.arm(match=_shard_upload_of(marked, "shard-00001"))
        first = api.trigger(REFINE, {"target_docs": 4},
                            logical_date=f"{marked_day}T06:00:00+00:00")
        _wait_task_state(api, first, "refine_shard", 1, {"up_for_retry"})
        r = api.request("PATCH", f"/api/v2/dags/{REFINE}/dagRuns/{first}",
                        json={"state": "failed"})
        assert r.status_code == 200, r.text
        faults.disarm()
        assert api.wait_run(REFINE, first, timeout=120)["state"] == "failed"
        with Catalog(d.catalog_url) as catalog:
            assert catalog.get_snapshot(marked)["status"] == "failed"
        again = api.trigger(REFINE, {"target_docs": 4},
                            logical_date=f"{marked_day}T07:00:00+00:00")
        assert api.wait_run(REFINE, again, timeout=300)["state"] == "success", api.tail()
        with Catalog(d.catalog_url) as catalog:
            snapshot = catalog.get_snapshot(marked)
            shards = catalog.get_shards(marked)
        assert snapshot["status"] == "released"
        assert snapshot["runner"]["airflow"]["run_id"] == again
        assert [s["status"] for s in shards] == ["done"] * 3
        assert sum(s["docs_read"] for s in shards) == PER_DAY
    # the nightly's partition is the newest: latest stays on it whatever ran after
    latest = json.loads(read_bytes(f"{s3_bucket}/corpus/latest.json"))
    assert latest["name"] == f"crawl-{nightly}"
