"""The production shape, smallest run: LocalExecutor on a PostgreSQL metadata DB, the corpus
on S3 (moto), the catalog on PostgreSQL; a run triggered through the REST API succeeds, its
refine tasks running worker processes (``workers_per_task``) inside the executor's tasks."""

from __future__ import annotations

import json

import pytest

from tests.dags.crawl import sample_rows
from tests.dags.services import no_scheduled_run
from tests.deploy.deployment import Deployment, DeploymentConfig

pytestmark = pytest.mark.slow
DAG = "prox_refine_snapshot"


def test_rest_triggered_run_succeeds_on_postgres_and_s3(postgres, s3_server, s3_bucket,
                                                        tmp_path):
    from prox_tasks.catalog import Catalog
    from prox_tasks.storage import put_atomic, read_bytes

    rows = sample_rows(24)
    put_atomic(f"{s3_bucket}/crawl/part-0.jsonl",
               "".join(json.dumps(r) + "\n" for r in rows))
    conf = {"input_uri": f"{s3_bucket}/crawl/", "output_root": f"{s3_bucket}/corpus",
            "snapshot_name": "smoke", "target_docs": 10, "max_drop_rate": 0.95,
            "workers_per_task": 2}
    config = DeploymentConfig(executor="LocalExecutor", env=no_scheduled_run())  # none beside the triggered run
    with Deployment(config, tmp_path, postgres, s3_endpoint=s3_server.endpoint_url) as d:
        d.airflow.unpause(DAG)  # new DAGs start paused, as in any deployment
        run_id = d.airflow.trigger(DAG, conf)
        run = d.airflow.wait_run(DAG, run_id, timeout=240)
        assert run["state"] == "success", d.airflow.tail()
        refined = {t["rendered_map_index"]: t["map_index"]
                   for t in d.airflow.task_instances(DAG, run_id) if t["task_id"] == "refine_shard"}
        shards = sorted(refined)
        pair = d.airflow.request(
            "GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/refine_shard/xcomEntries/"
            "return_value", params={"map_index": refined["shards-00000-00001"]})
        assert pair.status_code == 200, pair.text
        catalog = Catalog(d.catalog_url)
        booked = catalog.get_shards("smoke")
    assert shards == ["shard-00002", "shards-00000-00001"]  # 2 shards per task
    value = pair.json()["value"]
    value = json.loads(value) if isinstance(value, str) else value
    pids = {shard["worker_pid"] for shard in value["shards"]}
    assert None not in pids and 1 <= len(pids) <= 2  # refined by the task's worker processes
    assert d.metadata_url.startswith("postgresql") and d.catalog_url.startswith("postgresql")
    assert [s["attempts"] for s in booked] == [1, 1, 1]
    assert sum(s["docs_read"] for s in booked) == len(rows)
    latest = json.loads(read_bytes(f"{s3_bucket}/corpus/latest.json"))
    assert latest["name"] == "smoke"
