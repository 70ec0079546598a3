"""The CeleryExecutor on loopback: a Redis broker, PostgreSQL, three workers.

The nightly DAG's mapped shards spread over the workers inside the ``gpu`` pool; a worker
killed (SIGKILL, with its task processes) in the middle of a shard loses nothing: the
scheduler sees the heartbeats stop, retries the task, another worker resumes from the
shard's checkpoint and publishes a shard byte-identical to the run without the kill.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.dags.crawl import repeated_rows, write_jsonl
from tests.dags.services import no_scheduled_run
from tests.deploy.deployment import Deployment, DeploymentConfig

pytestmark = pytest.mark.slow
DAG = "prox_refine_snapshot"
#: Three shards of eight checkpoint batches each: a kill right after a shard's first checkpoint
#: leaves seven batches (seconds of work) to go, so it lands in the middle of the shard. With
#: one 512-document batch of 800, a second of work was left: a slow poll could miss it.
SHARD_DOCS, SHARDS, BATCH_DOCS = 800, 3, 100
GPU_SLOTS = 2
#: One task slot per worker: a worker running a shard holds no other message (Airflow's Celery
#: workers ack late, prefetching one message per slot), so the GPU_SLOTS shards the pool lets
#: run at once must land on different workers. With two slots per worker Celery may hand both
#: to one worker, and "spread" would hold only by chance.
WORKERS, SLOTS_PER_WORKER = 3, 1


@pytest.fixture(scope="module")
def cluster(postgres, redis_broker, tmp_path_factory):
    root = tmp_path_factory.mktemp("celery")
    crawl = write_jsonl(root / "crawl" / "part-0.jsonl", repeated_rows(SHARD_DOCS * SHARDS))
    config = DeploymentConfig(
        executor="CeleryExecutor", workers=WORKERS, worker_concurrency=SLOTS_PER_WORKER,
        pools={"gpu": GPU_SLOTS, "teacher_api": 4}, parallelism=8,
        env=no_scheduled_run())
    with Deployment(config, root, postgres, redis=redis_broker) as deployment:
        deployment.airflow.unpause(DAG)
        yield deployment, crawl


def conf(crawl: Path, output_root: Path, name: str = "celery") -> dict:
    """Each run its own snapshot name: the catalog books a name for one folder."""
    return {"input_uri": str(crawl), "output_root": str(output_root), "snapshot_name": name,
            "target_docs": SHARD_DOCS, "max_batch_docs": BATCH_DOCS, "max_drop_rate": 0.95,
            "dry_run": True}


def shard_tis(d: Deployment, run_id: str) -> list[dict]:
    return sorted((t for t in d.airflow.task_instances(DAG, run_id)
                   if t["task_id"] == "refine_shard"), key=lambda t: t["map_index"])


def max_overlap(tis: list[dict]) -> int:
    """Most task instances running at one moment (from their start and end dates)."""
    edges = sorted([(datetime.fromisoformat(t["start_date"]), 1) for t in tis]
                   + [(datetime.fromisoformat(t["end_date"]), -1) for t in tis])
    running = peak = 0
    for _, step in edges:  # at equal times an end (-1) sorts before a start (+1)
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture(scope="module")
def reference(cluster):
    """The run without a kill: its task instances and its snapshot folder."""
    d, crawl = cluster
    output = d.root / "reference"
    run_id = d.airflow.trigger(DAG, conf(crawl, output))
    run = d.airflow.wait_run(DAG, run_id, timeout=420)
    assert run["state"] == "success", d.airflow.tail()
    return shard_tis(d, run_id), output / "snapshots" / "celery"


def test_shards_spread_over_the_workers_within_the_gpu_pool(cluster, reference):
    d, _ = cluster
    tis, _ = reference
    assert len(tis) == SHARDS and all(t["state"] == "success" for t in tis)
    assert {t["queue"] for t in tis} == {"gpu"}
    assert {t["pool"] for t in tis} == {"gpu"}
    hosts = {t["hostname"] for t in tis}
    assert hosts <= set(d.workers) == {"worker-a", "worker-b", "worker-c"}
    # WORKERS * SLOTS_PER_WORKER slots, but the pool lets only GPU_SLOTS shards hold a model
    # at once; the shards the pool let run side by side ran on different workers
    assert max_overlap(tis) <= GPU_SLOTS
    assert len(hosts) >= 2


def wait_for_checkpoint(d: Deployment, run_id: str, snapshot: Path, timeout: float = 300):
    """The first shard with a checkpoint (one batch done) and no published status yet,
    with the worker running it."""
    deadline = time.monotonic() + timeout
    hosts: dict[int, str] = {}
    while time.monotonic() < deadline:
        for part in sorted(snapshot.glob("_checkpoints/shard-*/part-*.jsonl.zst")):
            index = int(part.parent.name.split("-")[1])
            if index in hosts and not (snapshot / "_status" / f"shard-{index:05d}.json").exists():
                return index, hosts[index]
        hosts.update({t["map_index"]: t["hostname"] for t in shard_tis(d, run_id)
                      if t["state"] == "running" and t["hostname"]})
        time.sleep(0.05)
    raise TimeoutError(f"no shard checkpointed in {timeout} s\n{d.airflow.tail()}")


def test_worker_killed_mid_shard_other_worker_finishes_it_identically(cluster, reference):
    d, crawl = cluster
    _, reference_snapshot = reference
    output = d.root / "killed"
    snapshot = output / "snapshots" / "celery-killed"
    run_id = d.airflow.trigger(DAG, conf(crawl, output, "celery-killed"))
    index, victim = wait_for_checkpoint(d, run_id, snapshot)
    d.kill_worker(victim)
    status = snapshot / "_status" / f"shard-{index:05d}.json"
    assert not status.exists(), "the shard was published before the kill: not mid-shard"

    run = d.airflow.wait_run(DAG, run_id, timeout=420)
    assert run["state"] == "success", d.airflow.tail()
    tries = d.airflow.tries(DAG, run_id, "refine_shard", index)
    assert tries[0]["hostname"] == victim and tries[0]["state"] != "success"
    assert tries[-1]["hostname"] != victim and tries[-1]["state"] == "success"
    for i in range(SHARDS):
        name = f"shards/shard-{i:05d}.parquet"
        assert (snapshot / name).read_bytes() == (reference_snapshot / name).read_bytes(), name


def test_worker_processes_per_task_in_a_celery_worker_publish_the_same_shards(cluster,
                                                                               reference):
    """``workers_per_task=2``: a Celery worker's task refines two shards in two processes
    of its own (forked from a fork server started inside the task), with the bytes of the
    run of one process per task."""
    import json

    d, crawl = cluster
    _, reference_snapshot = reference
    output = d.root / "two-per-task"
    run_id = d.airflow.trigger(DAG, {**conf(crawl, output, "celery-two"), "workers_per_task": 2})
    run = d.airflow.wait_run(DAG, run_id, timeout=420)
    assert run["state"] == "success", d.airflow.tail()
    tis = {t["rendered_map_index"]: t for t in shard_tis(d, run_id)}
    assert sorted(tis) == ["shard-00002", "shards-00000-00001"]
    pair = d.airflow.request(
        "GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/refine_shard/xcomEntries/"
        "return_value", params={"map_index": tis["shards-00000-00001"]["map_index"]})
    assert pair.status_code == 200, pair.text
    value = pair.json()["value"]
    value = json.loads(value) if isinstance(value, str) else value
    pids = {shard["worker_pid"] for shard in value["shards"]}
    assert None not in pids and 1 <= len(pids) <= 2
    snapshot = output / "snapshots" / "celery-two"
    for i in range(SHARDS):
        name = f"shards/shard-{i:05d}.parquet"
        assert (snapshot / name).read_bytes() == (reference_snapshot / name).read_bytes(), name
