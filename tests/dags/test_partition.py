"""The late-partition sensor defers to a trigger, which ``dag.test()`` runs inline."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.dags.airflow_env import HOME, REPO
from tests.dags.crawl import sample_rows, write_jsonl

DAY = datetime(2026, 1, 6, tzinfo=UTC)


def _refine_dag(wait_s: int):
    """The refine DAG parsed with a 1 s look and a ``wait_s`` wait (read when the file is
    parsed)."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    saved = {k: os.environ.get(k) for k in ("PROX_PARTITION_POKE_S", "PROX_PARTITION_WAIT_S")}
    os.environ.update(PROX_PARTITION_POKE_S="1", PROX_PARTITION_WAIT_S=str(wait_s))
    try:
        dag = DagBag(dag_folder=str(REPO / "dags" / "prox_refine_snapshot.py")).get_dag(
            "prox_refine_snapshot")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert dag.get_task("wait_for_partition").deferrable
    assert dag.get_task("wait_for_partition").timeout == wait_s
    return dag


@pytest.fixture(scope="module")
def late_dag(airflow_db):
    """A 12 s wait: room for the file to land on a loaded machine while the trigger waits."""
    return _refine_dag(12)


@pytest.fixture(scope="module")
def impatient_dag(airflow_db):
    """A 3 s wait: a partition that never arrives is given up on all the same, and the test
    does not sit out a wait sized for one that does arrive."""
    return _refine_dag(3)


def deferred_triggers() -> list[tuple[int, str]]:
    """(id, classpath) of the triggers the metadata DB holds: a deferred task's trigger."""
    with sqlite3.connect(HOME / "airflow.db", timeout=60) as db:
        return db.execute("SELECT id, classpath FROM trigger ORDER BY id").fetchall()


def _run(dag, tmp_path, name):
    conf = {"input_uri": str(tmp_path / "crawl" / "{ds}"), "output_root": str(tmp_path / "out"),
            "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}", "snapshot_name": name,
            "wait_for_partition": True}
    run = dag.test(logical_date=DAY, run_conf=conf)
    return run, {ti.task_id: ti for ti in run.get_task_instances()}


def test_a_late_partition_is_waited_for_in_the_trigger(late_dag, tmp_path):
    before = deferred_triggers()

    def deliver():  # once the sensor has deferred: the file lands while the trigger waits
        deadline = time.monotonic() + 300
        while deferred_triggers() == before and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        write_jsonl(tmp_path / "crawl" / "2026-01-06" / "part-0.jsonl", sample_rows(5))

    courier = threading.Thread(target=deliver)
    courier.start()
    run, tis = _run(late_dag, tmp_path, "late")
    courier.join()
    sensor = tis["wait_for_partition"]
    assert (sensor.state, sensor.try_number) == ("success", 1)
    assert sensor.trigger_id is not None  # it deferred, and the trigger saw the file land
    assert (sensor.trigger_id, "prox_partition.PartitionTrigger") in deferred_triggers()
    assert run.state == "success" and tis["release"].state == "success"


def test_a_partition_that_never_arrives_fails_once_saying_what_is_missing(
        impatient_dag, tmp_path, capfd):
    run, tis = _run(impatient_dag, tmp_path, "never")
    sensor = tis["wait_for_partition"]
    assert (sensor.state, sensor.try_number) == ("failed", 1)  # no retry of a timed-out wait
    assert sensor.trigger_id is not None
    assert run.state == "failed" and tis["plan"].state != "success"
    logged = capfd.readouterr()
    says = "crawl partition 2026-01-06 has not arrived: no readable JSONL, Parquet or WET file at"
    assert says in logged.out + logged.err
    assert str(tmp_path / "crawl" / "2026-01-06") in logged.out + logged.err


def test_the_trigger_keeps_the_format_param_through_the_triggerer_s_row(dagbag, tmp_path):
    """What the triggerer runs is rebuilt from the trigger row (classpath, encrypted kwargs):
    with the ``format`` Param it fires on a Spark partition (``part-…-c000.json``), which a
    look by the files' names never finds; a row written before the Param still loads."""
    import asyncio
    import importlib

    from airflow.models.trigger import Trigger

    from tests.dags.test_refine_snapshot import spark_partition

    def import_string(classpath):  # as the triggerer loads a trigger's class
        module, name = classpath.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)

    def rebuilt(trigger):
        row = Trigger.from_object(trigger)
        return import_string(row.classpath)(**row.kwargs)

    def first_event(trigger):
        async def first():
            async for event in trigger.run():
                return event.payload
        return asyncio.run(first())

    PartitionTrigger = import_string("prox_partition.PartitionTrigger")  # in plugins/

    crawl = str(spark_partition(tmp_path / "crawl", sample_rows(8)))
    now = time.time()
    trigger = rebuilt(PartitionTrigger(crawl, 0.1, now + 0.3, now, "jsonl"))
    assert trigger.format == "jsonl"
    assert first_event(trigger)["status"] == "arrived"
    by_names = rebuilt(PartitionTrigger(crawl, 0.1, now + 0.3, now))
    assert by_names.format is None and first_event(by_names)["status"] == "missing"
    classpath, kwargs = trigger.serialize()
    kwargs.pop("format")  # a trigger deferred before the Param existed
    assert import_string(classpath)(**kwargs).format is None


def _marked_run(dag, tmp_path, name, **conf):
    """A run of the refine DAG with ``partition_marker=_SUCCESS``."""
    conf = {"input_uri": str(tmp_path / "crawl" / "{ds}"), "output_root": str(tmp_path / "out"),
            "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}", "snapshot_name": name,
            "partition_marker": "_SUCCESS", **conf}
    run = dag.test(logical_date=DAY, run_conf=conf)
    return run, {ti.task_id: ti for ti in run.get_task_instances()}


def test_a_partition_in_several_files_is_planned_once_its_marker_lands(late_dag, tmp_path):
    """Spark writes part-00000, part-00001, then ``_SUCCESS``. The first file alone made the
    sensor fire and the plan take it alone: the later file was never refined (and a rerun
    was refused, the snapshot released). With the marker the sensor waits for it, and the
    plan takes every file; the marker itself is not read."""
    from prox_tasks.corpus import load_manifest

    partition = tmp_path / "crawl" / "2026-01-06"
    write_jsonl(partition / "part-00000.jsonl", sample_rows(4))  # landed before the run
    before, ended = deferred_triggers(), threading.Event()

    def deliver():  # while the trigger waits: the second file, then the marker, last
        deadline = time.monotonic() + 300
        while deferred_triggers() == before and time.monotonic() < deadline:
            if ended.wait(0.2):  # the run ended without deferring: nothing to deliver to
                return
        time.sleep(1)
        write_jsonl(partition / "part-00001.jsonl", sample_rows(3, start=4))
        (partition / "_SUCCESS").write_bytes(b"")

    courier = threading.Thread(target=deliver)
    courier.start()
    try:
        run, tis = _marked_run(late_dag, tmp_path, "marked", wait_for_partition=True)
    finally:
        ended.set()
        courier.join()
    sensor = tis["wait_for_partition"]
    assert sensor.state == "success" and sensor.trigger_id is not None  # it waited
    assert run.state == "success" and tis["release"].state == "success"
    manifest = load_manifest(str(tmp_path / "out" / "snapshots" / "marked"))
    assert [f.uri.rsplit("/", 1)[1] for f in manifest.files] == [
        "part-00000.jsonl", "part-00001.jsonl"]
    assert manifest.total_docs == 7


def test_plan_refuses_a_partition_without_its_marker_naming_it(airflow_db, tmp_path):
    """The plan task's body (a run cleared past its sensor, a manual run): a partition whose
    marker is not there yet is refused, naming the marker and the folder; nothing planned."""
    from prox_tasks.pipeline import dag_config as cfg
    from prox_tasks.pipeline import refresh
    from prox_tasks.pipeline.errors import RunError

    partition = tmp_path / "crawl" / "2026-01-06"
    write_jsonl(partition / "part-00000.jsonl", sample_rows(4))
    params = {name: spec.get("default") for name, spec in cfg.refresh_params().items()}
    params.update(input_uri=str(tmp_path / "crawl" / "{ds}"), output_root=str(tmp_path / "out"),
                  catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite'}",
                  snapshot_name="unmarked", partition_marker="_SUCCESS")
    snapshot = refresh.resolve_snapshot(params, "2026-01-06")
    with pytest.raises(RunError) as refused:
        refresh.plan(snapshot, None, 16, params["model"], params["backend"])
    assert (f"crawl partition file://{partition} is not complete: its marker _SUCCESS is not "
            f"there (file://{partition / '_SUCCESS'})") in str(refused.value)
    assert not (tmp_path / "out" / "snapshots" / "unmarked" / "manifest.json").exists()


def test_a_marker_param_that_could_be_read_as_input_is_refused(late_dag, tmp_path):
    """A marker named as data (``DONE.jsonl``) would be read as a document file: refused by
    the Param's schema before any task runs."""
    with pytest.raises(Exception, match="partition_marker"):
        _marked_run(late_dag, tmp_path, "bad", partition_marker="DONE.jsonl")


def test_on_s3_the_trigger_waits_for_the_marker_not_the_first_file(
        airflow_db, moto_server, s3_bucket):
    """On S3 (moto's server over HTTP), rebuilt from its trigger row as the triggerer does:
    a partition with its first part but no ``_SUCCESS`` has not arrived; once the marker is
    put it has. A row written before the Param (no ``partition_marker``) still loads and
    fires on the first file, as before."""
    import asyncio
    import importlib

    from airflow.models.trigger import Trigger

    from prox_tasks.storage import put_atomic

    def rebuilt(trigger):
        row = Trigger.from_object(trigger)
        module, name = row.classpath.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)(**row.kwargs)

    def first_event(trigger):
        async def first():
            async for event in trigger.run():
                return event.payload
        return asyncio.run(first())

    PartitionTrigger = importlib.import_module("prox_partition").PartitionTrigger
    partition = f"{s3_bucket}/crawl/2026-01-06"
    put_atomic(f"{partition}/part-00000.jsonl", b'{"id": "1", "text": "a line"}\n')
    now = time.time()
    marked = rebuilt(PartitionTrigger(partition, 0.1, now + 0.5, now, None, "_SUCCESS"))
    assert marked.partition_marker == "_SUCCESS"
    assert first_event(marked)["status"] == "missing"
    put_atomic(f"{partition}/_SUCCESS", b"")
    now = time.time()
    assert first_event(rebuilt(PartitionTrigger(partition, 0.1, now + 5, now, None,
                                                "_SUCCESS")))["status"] == "arrived"
    _, kwargs = marked.serialize()
    kwargs.pop("partition_marker")  # a trigger deferred before the Param existed
    old = PartitionTrigger(**kwargs)
    assert old.partition_marker is None and first_event(old)["status"] == "arrived"
