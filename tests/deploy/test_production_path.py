"""The production path end to end, all real parts on loopback: the Airflow scheduler,
dag-processor and api-server with the LocalExecutor on a PostgreSQL metadata DB; crawl
partitions, seed set, model registry, snapshots and releases on S3 (moto server); the prox
catalog on PostgreSQL.

A model is trained and promoted into the S3 registry (prox_train_refiner through the REST
API); then a nightly run, a manual run triggered with exactly what the UI's Trigger form
sends by default (every Param's default, the logical date "now"), and a backfill of two
past dates. Afterwards ``latest.json`` points at the newest dated partition, every release
names the promoted model's version (release JSON and catalog), and the catalog holds one
attempt per shard that was refined.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.dags.crawl import sample_rows
from tests.dags.services import nightly_schedule, wait_for_runs
from tests.deploy.deployment import Deployment, DeploymentConfig

pytestmark = pytest.mark.slow
REFINE, TRAIN = "prox_refine_snapshot", "prox_train_refiner"
PER_DAY = 12


def ui_default_conf(airflow, dag_id: str) -> dict:
    """The conf the UI's Trigger form sends untouched: every Param at its default."""
    r = airflow.request("GET", f"/api/v2/dags/{dag_id}/details")
    assert r.status_code == 200, r.text
    params = r.json()["params"]
    return {name: p["value"] if isinstance(p, dict) and "value" in p else p
            for name, p in params.items()}


def test_train_nightly_manual_and_backfill_on_the_production_shape(postgres, s3_server,
                                                                   s3_bucket, tmp_path):
    from prox_tasks.catalog import Catalog
    from prox_tasks.labeling import get_teacher
    from prox_tasks.labeling.seedset import build_seed_set
    from prox_tasks.models import SHIPPED_MODEL
    from prox_tasks.storage import put_atomic, read_bytes

    def crawl_partition(day: str, i: int) -> None:  # different pages each day
        put_atomic(f"{s3_bucket}/crawl/{day}/part-0.jsonl", "".join(
            json.dumps(r) + "\n" for r in sample_rows(PER_DAY, start=i * PER_DAY)))

    # two backfilled days, then the day of the nightly run the scheduler creates (its cron
    # fires hours from now: see nightly_schedule); the manual run's day is added when it starts
    cron, nightly = nightly_schedule()
    days = [(date.fromisoformat(nightly) - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    for i, day in enumerate(days):
        crawl_partition(day, i)
    seed_rows = f"{s3_bucket}/seed-input/pages.jsonl"
    put_atomic(seed_rows, "".join(json.dumps(r) + "\n"
                                  for r in sample_rows(40, start=4 * PER_DAY)))
    seed = build_seed_set(seed_rows, f"{s3_bucket}/seeds/e2e", get_teacher("rules"),
                          sample_size=40, name="e2e", register=False)
    env = {"PROX_MODEL_REGISTRY": f"{s3_bucket}/registry", "PROX_REFRESH_CRON": cron,
           "PROX_CRAWL_TEMPLATE": f"{s3_bucket}/crawl/{{ds}}/",
           "PROX_CORPUS_ROOT": f"{s3_bucket}/corpus", "PROX_SEED_ROOT": f"{s3_bucket}/seeds",
           "PROX_MAX_ACTIVE_RUNS": "2",
           # a dozen pages a day: deployment-wide gate defaults (the UI shows them as such)
           "PROX_GATE_HISTORY_MIN": "50", "PROX_GATE_MAX_DROP_RATE": "0.95"}
    config = DeploymentConfig(executor="LocalExecutor", env=env)
    with Deployment(config, tmp_path, postgres, s3_endpoint=s3_server.endpoint_url) as d:
        api = d.airflow
        # 1. train on the seed set and promote into the S3 registry
        api.unpause(TRAIN)
        train = api.wait_run(TRAIN, api.trigger(TRAIN, {
            "seed_uri": seed.manifest_uri, "base": str(SHIPPED_MODEL), "epochs": 1,
            "max_eval_docs": 8, "gold_gate": False}), timeout=300)
        assert train["state"] == "success", api.tail()
        promoted = json.loads(read_bytes(f"{s3_bucket}/registry/refiner/promoted.json"))
        # 2. the nightly run (the last complete day's partition) starts once the DAG is unpaused
        api.unpause(REFINE)
        # 3. a manual run as the UI's Trigger form sends it by default
        conf = ui_default_conf(api, REFINE)
        assert conf["model"] is None and conf["snapshot_name"] is None
        now = datetime.now(UTC)  # the day read here: the run's day even across midnight
        days.append(now.date().isoformat())
        crawl_partition(days[3], 3)
        manual = api.trigger(REFINE, conf, logical_date=now.isoformat())
        # 4. a backfill of the two dates before
        r = api.request("POST", "/api/v2/backfills", json={
            "dag_id": REFINE, "from_date": f"{days[0]}T00:00:00Z",
            "to_date": f"{days[1]}T23:59:59Z", "max_active_runs": 1})
        assert r.status_code == 200, r.text
        runs = wait_for_runs(api, REFINE, 4, timeout=420)
        catalog = Catalog(d.catalog_url)
        releases = {row["release"]: row for row in catalog.list_releases()}
        models = {row["release"]: row for row in catalog._all(
            "SELECT r.name AS release, m.version FROM releases r"
            " LEFT JOIN models m ON m.id = r.model_id")}
        shards = {name: catalog.get_shards(name) for name in releases}
        catalog.close()

    kinds = sorted((r["logical_date"][:10], r["run_type"], r["state"]) for r in runs)
    assert kinds == [(days[0], "backfill", "success"), (days[1], "backfill", "success"),
                     (days[2], "scheduled", "success"), (days[3], "manual", "success")]
    assert manual in {r["dag_run_id"] for r in runs}
    names = {f"crawl-{day}" for day in days}
    assert set(releases) == names
    latest = json.loads(read_bytes(f"{s3_bucket}/corpus/latest.json"))
    assert (latest["name"], latest["partition"]) == (f"crawl-{days[3]}", days[3])
    for name in names:  # every release names the promoted model, in its JSON and the catalog
        record = json.loads(read_bytes(f"{s3_bucket}/corpus/releases/{name}.json"))
        assert record["model"] == promoted["version"], name
        assert models[name]["version"] == promoted["version"], name
        booked = shards[name]
        assert [(s["status"], s["attempts"]) for s in booked] == [("done", 1)] * len(booked)
        assert sum(s["docs_read"] for s in booked) == PER_DAY
