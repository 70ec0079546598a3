"""A refine task stopped by Airflow in the middle of its shard, on a real Airflow (api-server,
scheduler, dag-processor on loopback, the LocalExecutor's task supervisor).

The operator marks the DAG run failed (the REST call the UI's "Mark as failed" makes). The
task's supervisor hears it at its next heartbeat and sends the task's process group SIGTERM,
then SIGKILL 5 s later; Airflow's own SIGTERM handler only calls ``on_kill`` and lets the
task run on. The task must stop at the SIGTERM: publish no part of its shard, book its
attempt and the snapshot failed saying Airflow stopped it (no task of the run books them
after a run marked failed: ``book_unfinished`` is skipped). Cleared, the task refines on
from the shard's checkpoints and publishes the bytes of a run never stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dags.crawl import repeated_rows, write_jsonl
from tests.dags.services import airflow_services, no_scheduled_run

pytestmark = pytest.mark.slow
#: The whole deployment (api-server, scheduler, dag-processor; ~200 s) runs with the other
#: scenarios; the default suite stops the refine task's body in a process of its own below.
ON_THE_SCHEDULER = pytest.mark.skipif(
    not os.environ.get("PROX_TEST_SCENARIOS"),
    reason="a refine task stopped on the real scheduler (~200 s): set PROX_TEST_SCENARIOS=1")
DAG = "prox_refine_snapshot"
#: One shard of 20 checkpoint batches (~30 s on 2 cores): stopped after its first
#: checkpoint, more than a heartbeat (at most 5 s) and the 5 s before SIGKILL are left.
SHARD_DOCS, BATCH_DOCS = 2000, 100


@pytest.fixture(scope="module")
def deployment(airflow_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("stopped")
    crawl = write_jsonl(root / "crawl" / "part-0.jsonl", repeated_rows(SHARD_DOCS))
    # (the scheduler's log server is on a port of its own: services.service_env)
    with airflow_services(no_scheduled_run()) as service:
        service.unpause(DAG)
        yield service, root, crawl


def _conf(root: Path, crawl: Path, name: str) -> dict:
    return {"input_uri": str(crawl), "output_root": str(root / "corpus"),
            "catalog_url": f"sqlite:///{root / 'catalog.sqlite'}", "snapshot_name": name,
            "model": "default", "target_docs": SHARD_DOCS, "max_batch_docs": BATCH_DOCS,
            "max_drop_rate": 0.95, "dry_run": True}


def _planned(root: Path, crawl: Path, name: str, shard_docs: int = SHARD_DOCS,
             task_try: dict | None = None) -> list[dict]:
    """The refine tasks' work items of snapshot ``name`` (the plan task's body, as
    ``task_try`` of a DAG run when given)."""
    from prox_tasks.pipeline import refresh

    conf = {**_conf(root, crawl, name), "catalog_url": f"sqlite:///{root / (name + '.sqlite')}",
            "output_root": str(root / name)}
    snapshot = refresh.resolve_snapshot(conf, None, name)
    return refresh.plan(snapshot, shard_docs, 1024, "default", None,
                        limits={"max_batch_docs": BATCH_DOCS}, task_try=task_try)


def _reference(root: Path, crawl: Path, shard_docs: int = SHARD_DOCS) -> Path:
    """The shard as a refine never stopped writes it (the refine task's body, here)."""
    from prox_tasks.pipeline import refresh

    for item in _planned(root, crawl, "reference", shard_docs):
        refresh.refine_batch(item)
    return root / "reference" / "snapshots" / "reference"


def _mid_shard(service, run_id: str, snapshot: Path, timeout: float = 300) -> None:
    """Wait until shard 0 has a checkpoint and is not published."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(snapshot.glob("_checkpoints/shard-00000/part-*")):
            assert not (snapshot / "_status" / "shard-00000.json").exists()
            return
        assert service.run(DAG, run_id)["state"] in ("queued", "running"), service.tail()
        time.sleep(0.05)
    raise TimeoutError(f"shard 0 never checkpointed\n{service.tail()}")


def _booked(root: Path, name: str) -> tuple[dict, list[dict]]:
    from prox_tasks.catalog import Catalog

    with Catalog(f"sqlite:///{root / 'catalog.sqlite'}") as catalog:
        return catalog.get_snapshot(name), catalog.get_shards(name)


@ON_THE_SCHEDULER
def test_a_run_marked_failed_mid_shard_books_it_stopped_and_a_clear_finishes_it(deployment):
    from prox_tasks.storage import processes

    service, root, crawl = deployment
    name = "stopped"
    snapshot = root / "corpus" / "snapshots" / name
    run_id = service.trigger(DAG, _conf(root, crawl, name))
    _mid_shard(service, run_id, snapshot)
    r = service.request("PATCH", f"/api/v2/dags/{DAG}/dagRuns/{run_id}", json={"state": "failed"})
    assert r.status_code == 200, r.text

    deadline = time.monotonic() + 60  # a heartbeat (5 s), the stop, its bookings
    while time.monotonic() < deadline and _booked(root, name)[1][0]["status"] == "running":
        time.sleep(0.2)
    runner = _booked(root, name)[1][0]["runner"]
    deadline = time.monotonic() + 30
    while processes.alive(runner["pid"], runner["started"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes.alive(runner["pid"], runner["started"])  # the task process ended
    booked, shards = _booked(root, name)
    assert shards[0]["status"] == "failed", (shards, service.tail())
    assert "Airflow stopped this refine task" in shards[0]["error"]
    assert booked["status"] == "failed" and "Airflow stopped" in booked["error"], booked
    # nothing of the shard published, no temporary file left; its checkpoints kept
    assert not (snapshot / "_status" / "shard-00000.json").exists()
    assert not (snapshot / "shards" / "shard-00000.parquet").exists()
    assert not [p.name for p in snapshot.rglob("*") if ".tmp" in p.name]
    assert any(snapshot.glob("_checkpoints/shard-00000/part-*"))
    assert service.wait_run(DAG, run_id, timeout=60)["state"] == "failed"

    # the operator clears the refine task and what follows it (the UI's Clear, downstream)
    r = service.request("POST", f"/api/v2/dags/{DAG}/clearTaskInstances", json={
        "dry_run": False, "dag_run_id": run_id, "task_ids": ["refine_shard"],
        "only_failed": False, "include_downstream": True})
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 60
    while service.run(DAG, run_id)["state"] == "failed" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert service.wait_run(DAG, run_id, timeout=300)["state"] == "success", service.tail()
    booked, shards = _booked(root, name)
    assert (booked["status"], booked["error"]) == ("gated", None)
    assert [(s["status"], s["attempts"]) for s in shards] == [("done", 2)]
    assert not any(snapshot.glob("_checkpoints/shard-00000/part-*"))  # resumed, then cleared
    reference = _reference(root, crawl)
    for part in ("shards/shard-00000.parquet", "quarantine/shard-00000.jsonl.gz"):
        assert (snapshot / part).read_bytes() == (reference / part).read_bytes(), part


def _refine_task_checkpointed(item: Path, snapshot: Path) -> subprocess.Popen:
    """The refine task's body (``refresh.refine_batch`` of the work item and try in ``item``)
    in a process of its own, without Airflow's handler, once it has checkpointed the first
    part of its shard in ``snapshot``: a SIGTERM then comes mid-shard."""
    task = subprocess.Popen(
        [sys.executable, "-c", "import json, sys\nfrom prox_tasks.pipeline import refresh\n"
         "refresh.refine_batch(*json.load(open(sys.argv[1])))", str(item)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not any(snapshot.glob("_checkpoints/shard-00000/part-*")):
        assert task.poll() is None and time.monotonic() < deadline, task.communicate()[0]
        time.sleep(0.02)
    return task


def test_a_refine_task_sent_sigterm_mid_shard_books_it_stopped_and_a_retry_finishes_it(tmp_path):
    """The refine task's body in a process of its own gets the SIGTERM Airflow's supervisor
    sends a task it stops, after the shard's first checkpoint: the process ends at once,
    nothing of the shard is published, the attempt and the snapshot are booked failed
    saying Airflow stopped it; the next try publishes the bytes of a refine never stopped."""
    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import refresh

    docs = 600
    crawl = write_jsonl(tmp_path / "crawl" / "part-0.jsonl", repeated_rows(docs))
    run = {"dag_id": DAG, "run_id": "manual__stopped", "map_index": -1}  # its tasks' tries
    [item] = _planned(tmp_path, crawl, "stopped", docs, {**run, "task_id": "plan", "try_number": 1})
    tries = [{**run, "task_id": "refine_shard", "map_index": 0, "try_number": n} for n in (1, 2)]
    (tmp_path / "item.json").write_text(json.dumps([item, tries[0]]))
    snapshot = tmp_path / "stopped" / "snapshots" / "stopped"
    task = _refine_task_checkpointed(tmp_path / "item.json", snapshot)
    task.send_signal(signal.SIGTERM)
    # the stop is the SIGTERM raised, not a deadline: a process that ran on would publish
    # the shard (checked below); 5 s (Airflow's SIGKILL) was passed under a load of 15
    logged = task.communicate(timeout=60)[0]
    assert task.returncode != 0 and "Terminated" in logged, logged

    with Catalog(f"sqlite:///{tmp_path / 'stopped.sqlite'}") as catalog:
        booked, shards = catalog.get_snapshot("stopped"), catalog.get_shards("stopped")
    assert shards[0]["status"] == "failed" and "Airflow stopped this refine task" in \
        shards[0]["error"], shards
    assert booked["status"] == "failed" and "Airflow stopped" in booked["error"], booked
    assert not (snapshot / "_status" / "shard-00000.json").exists()
    assert not (snapshot / "shards" / "shard-00000.parquet").exists()
    assert not [p.name for p in snapshot.rglob("*") if ".tmp" in p.name]
    assert any(snapshot.glob("_checkpoints/shard-00000/part-*"))

    refresh.refine_batch(item, tries[1])
    with Catalog(f"sqlite:///{tmp_path / 'stopped.sqlite'}") as catalog:
        shards = catalog.get_shards("stopped")
    assert [(s["status"], s["attempts"]) for s in shards] == [("done", 2)]
    reference = _reference(tmp_path, crawl, docs)
    for part in ("shards/shard-00000.parquet", "quarantine/shard-00000.jsonl.gz"):
        assert (snapshot / part).read_bytes() == (reference / part).read_bytes(), part


def test_book_unfinished_leaves_a_try_marked_failed_to_book_its_own_stop(tmp_path):
    """Only the refine task marked failed (not its DAG run): Airflow fails it at once, so
    ``book_unfinished`` (all_done) can run before the task's supervisor, at its next
    heartbeat, sends the SIGTERM. It booked the live attempt dead ('ended without booking
    it'), and the task's own stop booked nothing over that. It now gives a try that may
    still run time to book its stop: the attempt says Airflow stopped it. The refine task's
    body runs in a process of its own; the SIGTERM comes 2 s after book_unfinished starts."""
    import threading

    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import refresh

    docs = 6000  # a shard far longer than the 2 s before the SIGTERM, even on a fast machine
    crawl = write_jsonl(tmp_path / "crawl" / "part-0.jsonl", repeated_rows(docs))
    run = {"dag_id": DAG, "run_id": "manual__marked", "map_index": -1}
    [item] = _planned(tmp_path, crawl, "marked", docs, {**run, "task_id": "plan", "try_number": 1})
    refining = {**run, "task_id": "refine_shard", "map_index": 0, "try_number": 1}
    (tmp_path / "item.json").write_text(json.dumps([item, refining]))
    snapshot = tmp_path / "marked" / "snapshots" / "marked"
    task = _refine_task_checkpointed(tmp_path / "item.json", snapshot)
    heartbeat = threading.Timer(2.0, task.send_signal, (signal.SIGTERM,))
    heartbeat.start()
    try:
        refresh.book_unfinished({"name": "marked",
                                 "catalog_url": f"sqlite:///{tmp_path / 'marked.sqlite'}"},
                                {**run, "task_id": "book_unfinished", "try_number": 1},
                                refine_failed=1)
    finally:
        heartbeat.join()
        logged = task.communicate(timeout=60)[0]
    with Catalog(f"sqlite:///{tmp_path / 'marked.sqlite'}") as catalog:
        shards = catalog.get_shards("marked")
    assert shards[0]["status"] == "failed", (shards, logged)
    assert "Airflow stopped this refine task" in shards[0]["error"], shards
