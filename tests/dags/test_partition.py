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
