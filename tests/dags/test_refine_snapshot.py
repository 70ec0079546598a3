"""End-to-end ``dag.test()`` runs of prox_refine_snapshot against a real SQLite metadata DB."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from datetime import timedelta

import pytest

from prox_tasks.models import SHIPPED_MODEL
from tests.dags.crawl import sample_rows, write_jsonl
from tests.dags.refine_dag import DAY, refine_world, run, tis


@pytest.fixture(scope="module")
def world(tmp_path_factory, parsed_dagbag):
    """This module's crawl, corpus and catalog (:func:`refine_world`)."""
    return refine_world(tmp_path_factory, parsed_dagbag)


def statuses(world, name):
    folder = world["corpus"] / "snapshots" / name / "_status"
    return {p.name: json.loads(p.read_text())["sha256"] for p in sorted(folder.glob("*.json"))}


@pytest.fixture(scope="module")
def released(world):
    return run(world, "clean")


def test_run_releases_the_snapshot(world, released):
    from prox_tasks.catalog import Catalog

    assert released.state == "success"
    ti = tis(released)
    assert {ti[("refine_shard", i)].rendered_map_index for i in range(3)} == {
        "shard-00000", "shard-00001", "shard-00002"}
    assert all(t.state == "success" for t in ti.values())
    latest = json.loads((world["corpus"] / "latest.json").read_text())
    assert latest["name"] == "clean" and latest["docs"] > 0
    # the release record names the run that released it
    assert latest["released_by"] == {"origin": "dag_run", "dag_id": "prox_refine_snapshot",
                                     "run_id": released.run_id}
    snapshot = world["corpus"] / "snapshots" / "clean"
    assert latest["snapshot_uri"] == f"file://{snapshot}"
    assert (snapshot / "_quality" / "data_docs" / "index.html").exists()
    assert json.loads((snapshot / "_quality" / "gate.json").read_text())["passed"]
    catalog = Catalog(world["catalog"])
    assert catalog.get_snapshot("clean")["status"] == "released"
    # the release task books its run: a later rerun's plan overwrites the snapshot's run only
    assert [(r["release"], r["dag_run_id"]) for r in catalog.list_releases()] == [
        ("clean", released.run_id)]
    shards = catalog.get_shards("clean")
    assert [s["status"] for s in shards] == ["done"] * 3
    assert sum(s["docs_read"] for s in shards) == 30


def test_gate_and_release_link_to_the_report(world, released):
    """The extra links as the API server computes them: the serialized task's
    ``get_extra_links`` with the plugin's global links, for the run's task instances."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag("prox_refine_snapshot")
    ti = tis(released)
    page = "/prox/snapshots/clean"
    for task_id in ("quality_gate", "release"):
        task = dag.get_task(task_id)
        assert {"PROX report", "Data Docs", "gate.json"} <= set(task.extra_links)
        links = {name: task.get_extra_links(ti[(task_id, -1)], name) for name in task.extra_links}
        assert links == {"PROX report": page, "Data Docs": f"{page}/docs/index.html",
                         "gate.json": f"{page}/gate.json"}
    plan = dag.get_task("plan")
    assert not any(plan.get_extra_links(ti[("plan", -1)], name) for name in plan.extra_links)


def test_corrupted_shard_fails_gate_releases_nothing_and_notifies(world, released,
                                                                   monkeypatch):
    from prox_tasks.catalog import Catalog
    from tests.pipeline.loopback_servers import WebhookServer

    before = (world["corpus"] / "latest.json").read_bytes()
    bad = write_jsonl(world["root"] / "crawl" / "bad.jsonl", sample_rows(20), garbage=10)
    with WebhookServer() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_PROX_ALERTS", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": hook.port, "schema": "alert"}))
        dag_run = run(world, "corrupt", input_uri=str(bad))
    assert dag_run.state == "failed"
    [alert] = [h["body"] for h in hook.received]  # one message: the gate, not retried
    assert alert["task_id"] == "quality_gate" and alert["dag_id"] == "prox_refine_snapshot"
    assert "quarantine_rate" in alert["error"] and "expected at most 0.05" in alert["error"]
    # what to change is named as the DAG's user sets it: Params, not prox's options
    assert "(or the text_field Param), or allow more (the max_quarantine_rate Param)" in \
        alert["error"] and "--" not in alert["error"], alert["error"]
    ti = tis(dag_run)
    assert ti[("quality_gate", -1)].state == "failed"
    assert ti[("quality_gate", -1)].try_number == 1  # a failed gate is not retried
    assert ti[("release", -1)].state == "upstream_failed"
    assert (world["corpus"] / "latest.json").read_bytes() == before
    assert not (world["corpus"] / "releases" / "corrupt.json").exists()
    gate = json.loads((world["corpus"] / "snapshots" / "corrupt" / "_quality" /
                       "gate.json").read_text())
    assert not gate["passed"] and gate["metrics"]["docs_quarantined"] == 10
    catalog = Catalog(world["catalog"])
    assert catalog.get_snapshot("corrupt")["status"] == "quarantined"
    assert [r["release"] for r in catalog.list_releases()] == ["clean"]


def test_a_partition_whose_every_record_is_quarantined_fails_at_collect(world, released,
                                                                        monkeypatch):
    """A partition none of whose records is a document (its text under another field) went
    through collect as `refined` and failed only at the gate, as a quarantine rate — and
    prox refine exited 0 on it. collect now refuses it, as prox refine does (one rule,
    :func:`prox_tasks.refine.stats.refuse_if_all_quarantined`): it fails without retries,
    naming the reasons, the quarantine folder and the field the text is in; the snapshot is
    booked failed, nothing is gated or released. The task's failure text is prox refine's
    line (exit 2 there: an input to fix), without the type name ("NoDocuments: no
    documents …" said nothing more to whoever fixes the input)."""
    from prox_tasks.catalog import Catalog
    from tests.pipeline.loopback_servers import WebhookServer

    before = (world["corpus"] / "latest.json").read_bytes()
    rows = [{"id": r["id"], "content": r["text"]} for r in sample_rows(4)]
    unread = write_jsonl(world["root"] / "crawl" / "content.jsonl", rows)
    with WebhookServer() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_PROX_ALERTS", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": hook.port, "schema": "alert"}))
        dag_run = run(world, "unread", input_uri=str(unread))
    assert dag_run.state == "failed"
    folder = (world["corpus"] / "snapshots" / "unread").as_uri()
    [alert] = [h["body"] for h in hook.received]  # one message: collect, not retried
    assert alert["task_id"] == "collect", alert
    assert alert["error"].startswith(  # the alert names the exception Airflow failed on
        f"AirflowFailException: no documents in {unread.as_uri()}: all its 4 records were quarantined "
        f"(4 missing_text), each with its reason and detail in {folder}/quarantine/: "), \
        alert["error"]
    assert alert["error"].endswith("set the text_field Param to content if it is the text"), \
        alert["error"]
    ti = tis(dag_run)
    assert ti[("refine_shard", 0)].state == "success"
    assert ti[("collect", -1)].state == "failed" and ti[("collect", -1)].try_number == 1
    assert ti[("quality_gate", -1)].state == "upstream_failed"
    assert ti[("release", -1)].state == "upstream_failed"
    snapshot = Catalog(world["catalog"]).get_snapshot("unread")
    assert snapshot["status"] == "failed" and snapshot["error"].startswith(
        f"NoDocuments: no documents in {unread.as_uri()}: all its 4 records were quarantined "
        f"(4 missing_text), each with its reason and detail in {folder}/quarantine/: "), \
        snapshot["error"]
    # a DAG's error names its Param (docs/airflow.md), not prox's --text-field
    assert snapshot["error"].endswith("; 4 of them hold a string in 'content': set the "
                                      "text_field Param to content if it is the text"), \
        snapshot["error"]
    assert (world["corpus"] / "latest.json").read_bytes() == before
    assert not (world["corpus"] / "snapshots" / "unread" / "_quality").exists()


def _wait_for_retry(db_url: str, stop: threading.Event, blocked, deadline: float,
                    catalog_url: str, seen: dict, meanwhile=None) -> None:
    """Remove the fault once the blocked shard's first try has failed; ``seen`` gets the
    catalog's snapshot row as it was between the tries, and ``meanwhile`` (a callable) runs
    then, before the fault is removed. The retry is due once the fault is gone, whatever
    the task's ``retry_delay``: the try's ``retry_delay_override`` (Airflow's own, which a
    retry policy sets) is made 0 then."""
    import sqlalchemy

    from prox_tasks.catalog import Catalog

    engine = sqlalchemy.create_engine(db_url)
    where = ("WHERE dag_id='prox_refine_snapshot' AND task_id='refine_shard' AND map_index=1 "
             "AND run_id LIKE 'manual__%'")
    query = sqlalchemy.text(f"SELECT state FROM task_instance {where}")
    while not stop.is_set() and time.monotonic() < deadline:
        with engine.connect() as conn:
            states = [r[0] for r in conn.execute(query)]
        if "up_for_retry" in states:
            with Catalog(catalog_url) as catalog:
                seen.update(catalog.get_snapshot(blocked.parent.parent.name) or {})
            if meanwhile is not None:
                meanwhile()
            shutil.rmtree(blocked, ignore_errors=True)  # meanwhile may have removed it
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(
                    f"UPDATE task_instance SET retry_delay_override=0 {where} "
                    "AND state='up_for_retry'"))
            return
        time.sleep(0.05)


def test_shard_failing_once_succeeds_on_retry_with_identical_output(world, released):
    import os

    # A real fault: the path shard 1 is published to is taken by a directory, so the
    # atomic rename fails (IsADirectoryError) until it is removed after the first try.
    blocked = world["corpus"] / "snapshots" / "retry" / "shards" / "shard-00001.parquet"
    (blocked / "stale").mkdir(parents=True)
    stop, seen = threading.Event(), {}
    watcher = threading.Thread(target=_wait_for_retry, args=(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], stop, blocked,
        time.monotonic() + 240, world["catalog"], seen), daemon=True)
    watcher.start()
    try:
        dag_run = run(world, "retry")
    finally:
        stop.set()
        watcher.join()
    assert dag_run.state == "success"
    ti = tis(dag_run)
    assert ti[("refine_shard", 1)].try_number == 2
    assert ti[("refine_shard", 0)].try_number == 1
    assert statuses(world, "retry") == statuses(world, "clean")
    from prox_tasks.catalog import Catalog

    # between the tries an operator saw the run's failure, not `planned`
    assert seen["status"] == "failed" and "IsADirectoryError" in seen["error"]
    catalog = Catalog(world["catalog"])
    snapshot = catalog.get_snapshot("retry")
    assert (snapshot["status"], snapshot["error"]) == ("released", None)
    shards = catalog.get_shards("retry")  # booked by the refine task (refine.booking)
    assert [s["attempts"] for s in shards] == [1, 2, 1]
    assert [s["status"] for s in shards] == ["done"] * 3
    # each attempt names its task try: the next try books one killed outright failed
    assert [(s["runner"]["airflow"]["map_index"], s["runner"]["airflow"]["try_number"])
            for s in shards] == [(0, 1), (1, 2), (2, 1)]
    assert snapshot["runner"]["airflow"]["run_id"] == dag_run.run_id  # the plan task's run
    latest = json.loads((world["corpus"] / "latest.json").read_text())
    assert latest["name"] == "retry"  # same partition, later name: latest moves to it


def test_a_run_whose_plan_another_run_replaced_gates_and_releases_nothing(world, released,
                                                                          capfd):
    """While this DAG run waits to retry a shard (a real fault: the shard's path is taken
    by a directory), another DAG run's `plan` task plans the snapshot again with `reprocess`
    (run here as that task runs it). This run's retry then refines its shard, but its
    `collect` fails at once (`RunReplaced`, not retried), naming the run that replaced it;
    its gate and release never run: `latest.json` stays, nothing is released, and the
    catalog keeps what the other run booked."""
    import os

    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import dag_config as cfg
    from prox_tasks.pipeline import refresh

    conf = {**world["defaults"], "input_uri": str(world["crawl"]),
            "output_root": str(world["corpus"]), "catalog_url": world["catalog"],
            "snapshot_name": "replaced", "target_docs": 10}
    other = {"dag_id": "prox_refine_snapshot", "run_id": "manual__the-reprocess-run",
             "task_id": "plan", "map_index": -1, "try_number": 1}

    def other_run_plans_it_again() -> None:  # what that run's plan task calls
        snapshot = refresh.resolve_snapshot(conf, DAY.date().isoformat(), other["run_id"])
        refresh.plan(snapshot, conf["target_docs"], cfg.map_length(conf["max_map_length"]),
                     conf["model"], conf["backend"], True, conf.get("keep_threshold"),
                     conf.get("quality_filter") or "off", cfg.limits_of(conf),
                     conf.get("workers_per_task"), other)

    latest = (world["corpus"] / "latest.json").read_bytes()
    blocked = world["corpus"] / "snapshots" / "replaced" / "shards" / "shard-00001.parquet"
    (blocked / "stale").mkdir(parents=True)
    stop = threading.Event()
    watcher = threading.Thread(target=_wait_for_retry, args=(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], stop, blocked,
        time.monotonic() + 240, world["catalog"], {}, other_run_plans_it_again), daemon=True)
    watcher.start()
    try:
        dag_run = run(world, "replaced")
    finally:
        stop.set()
        watcher.join()
    ti = tis(dag_run)
    assert ti[("refine_shard", 1)].try_number == 2  # the replan happened between its tries
    assert dag_run.state == "failed"
    assert (ti[("collect", -1)].state, ti[("collect", -1)].try_number) == ("failed", 1)
    assert ti[("quality_gate", -1)].state == "upstream_failed"
    assert ti[("release", -1)].state == "upstream_failed"
    logged = capfd.readouterr()
    assert ("snapshot replaced was planned again by another run (airflow:prox_refine_snapshot/"
            "manual__the-reprocess-run)") in logged.out + logged.err
    assert "this run's collect is refused" in logged.out + logged.err
    assert (world["corpus"] / "latest.json").read_bytes() == latest
    assert not (world["corpus"] / "releases" / "replaced.json").exists()
    with Catalog(world["catalog"]) as catalog:
        snapshot = catalog.get_snapshot("replaced")
        assert "replaced" not in [r["release"] for r in catalog.list_releases()]
    assert snapshot["status"] == "planned"  # as the other run booked it, not gated by this
    assert snapshot["runner"]["airflow"]["run_id"] == other["run_id"]


def test_a_run_a_prox_refine_rerun_finished_with_its_settings_goes_on_to_release(
        world, monkeypatch):
    """While this DAG run waits to retry a shard (a real fault: the shard's path is taken
    by a directory), `prox refine` (a real CLI process) refines the same snapshot with the
    same settings: it books the plan as its own and finishes every shard. That collect
    failed with `RunReplaced`, paging someone over a complete, correct snapshot; it now
    names the run that completed it and the DAG run gates and releases the snapshot.

    `prox gate` (a CLI process too) gates it before the retry: collect, taking the plan
    back, booked it `refined` again (a state moved backwards: a collect whose gate never
    ran left a judged snapshot unjudged). It keeps `gated` now, and the DAG's gate judges
    the same files again, booking no second report."""
    import subprocess
    import sys

    from prox_tasks.catalog import Catalog
    from prox_tasks.pipeline import refresh
    from prox_tasks.release import GATE_SUITE

    name = "finished-by-cli"
    folder = world["corpus"] / "snapshots" / name
    blocked = folder / "shards" / "shard-00001.parquet"
    (blocked / "stale").mkdir(parents=True)
    cli = {}

    def prox_refine_reruns_it() -> None:  # the fault gone, the rerun finishes the snapshot
        shutil.rmtree(blocked)
        cli["run"] = subprocess.run(
            [sys.executable, "-m", "prox_tasks.cli", "refine", "--no-progress", "--input",
             str(world["crawl"]), "--output", str(folder), "--name", name, "--catalog",
             world["catalog"], "--target-docs", "10"],
            capture_output=True, text=True, timeout=180)
        with Catalog(world["catalog"]) as catalog:
            cli["booked"] = catalog.get_snapshot(name)
        cli["gate"] = subprocess.run(
            [sys.executable, "-m", "prox_tasks.cli", "gate", "--snapshot", str(folder),
             "--name", name, "--catalog", world["catalog"]],
            capture_output=True, text=True, timeout=180)

    gated = refresh.gate

    def dag_gate(snapshot, *args, **kwargs):  # what the DAG's gate finds booked
        with Catalog(world["catalog"]) as catalog:
            cli["before_dag_gate"] = catalog.get_snapshot(name)["status"]
        return gated(snapshot, *args, **kwargs)

    monkeypatch.setattr(refresh, "gate", dag_gate)

    refine = world["dag"].get_task("refine_shard")
    delays = refine.retry_delay, refine.max_retry_delay
    # the retry waits for the rerun (seconds of model loading), as a real retry's backoff
    # does: due only once the watcher has run it (a fixed 60 s waited ~40 s past its end,
    # and a rerun slower than 60 s on a loaded machine raced the retry)
    refine.retry_delay = refine.max_retry_delay = timedelta(minutes=10)
    stop = threading.Event()
    watcher = threading.Thread(target=_wait_for_retry, args=(
        os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], stop, blocked,
        time.monotonic() + 240, world["catalog"], {}, prox_refine_reruns_it), daemon=True)
    watcher.start()
    try:
        dag_run = run(world, name)
    finally:
        refine.retry_delay, refine.max_retry_delay = delays
        stop.set()
        watcher.join()
    assert cli["run"].returncode == 0, cli["run"].stderr
    # the rerun booked the plan as its own process's and finished it
    assert cli["booked"]["status"] == "refined" and "airflow" not in cli["booked"]["runner"]
    assert cli["gate"].returncode == 0, cli["gate"].stdout + cli["gate"].stderr
    assert cli["before_dag_gate"] == "gated"  # collect took the plan back, not the verdict
    ti = tis(dag_run)
    assert ti[("refine_shard", 1)].try_number == 2  # the rerun ran between its tries
    assert dag_run.state == "success", {k: t.state for k, t in ti.items()}
    totals = ti[("collect", -1)].xcom_pull(task_ids="collect")
    assert totals["completed_by"].startswith("process:")
    assert str(cli["booked"]["runner"]["pid"]) in totals["completed_by"]
    assert json.loads((world["corpus"] / "releases" / f"{name}.json").read_text())[
        "name"] == name
    with Catalog(world["catalog"]) as catalog:
        snapshot = catalog.get_snapshot(name)
        releases = {r["release"]: r["dag_run_id"] for r in catalog.list_releases()}
        reports = catalog._all(
            "SELECT q.success FROM quality_reports q JOIN snapshots s ON s.id = q.snapshot_id"
            " WHERE s.name = :n AND q.suite = :q", n=name, q=GATE_SUITE)
    assert snapshot["status"] == "released"
    assert snapshot["runner"]["airflow"]["run_id"] == dag_run.run_id
    assert releases[name] == dag_run.run_id
    assert len(reports) == 1 and reports[0]["success"]  # the DAG's gate found the same


def test_a_snapshot_name_booked_for_another_folder_is_refused_before_planning(world,
                                                                              capfd):
    """`snapshot_name` booked for a folder under another `output_root`: `plan` fails once,
    naming the Param, and writes nothing. It was refused only at booking, after the plan
    and its settings claim were written into a folder the catalog does not book."""
    from prox_tasks.catalog import Catalog

    booked = world["root"] / "elsewhere" / "snapshots" / "taken"
    with Catalog(world["catalog"]) as catalog:
        catalog.register_snapshot("taken", world["crawl"].as_uri(), booked.as_uri())
    dag_run = run(world, "taken")
    assert dag_run.state == "failed"
    ti = tis(dag_run)
    assert (ti[("plan", -1)].state, ti[("plan", -1)].try_number) == ("failed", 1)
    logged = capfd.readouterr()
    assert (f"snapshot name 'taken' is booked for {booked.as_uri()} (status planned), not "
            f"{(world['corpus'] / 'snapshots' / 'taken').as_uri()}; name this one apart "
            "(snapshot_name, or the output_root it was written under)") \
        in logged.out + logged.err
    assert not (world["corpus"] / "snapshots" / "taken").exists()


def test_more_shards_than_max_map_length_are_grouped_and_dry_run_releases_nothing(world, released):
    before = (world["corpus"] / "latest.json").read_bytes()
    dag_run = run(world, "grouped", max_map_length=2, dry_run=True)
    assert dag_run.state == "success"
    names = sorted(t.rendered_map_index for (task_id, _), t in tis(dag_run).items()
                   if task_id == "refine_shard")
    assert names == ["shard-00002", "shards-00000-00001"]
    assert statuses(world, "grouped") == statuses(world, "clean")
    assert (world["corpus"] / "latest.json").read_bytes() == before
    assert not (world["corpus"] / "releases" / "grouped.json").exists()
    # nothing released: the release task is skipped, and DAGs on the Asset are not woken
    assert tis(dag_run)[("release", -1)].state == "skipped"
    assert _asset_events(dag_run) == []


def _asset_events(dag_run) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return [dict(e.extra or {}) for e in session.query(AssetEvent).filter(
            AssetEvent.source_dag_id == dag_run.dag_id,
            AssetEvent.source_run_id == dag_run.run_id)]


def test_a_release_emits_one_asset_event_naming_it(world, released):
    [extra] = _asset_events(released)
    assert extra["name"] == "clean" and extra["latest"] is True
    assert extra["record_uri"].endswith("releases/clean.json")


def test_workers_per_task_refine_a_task_s_shards_in_processes_side_by_side(world, released):
    """``workers_per_task=2``: two tasks (two shards, then the last), the first refining its
    shards in worker processes (the last, alone, in the task's own), and the same published
    bytes as one process per task."""
    dag_run = run(world, "two-workers", workers_per_task=2)
    assert dag_run.state == "success"
    refined = {t.rendered_map_index: t for (task_id, _), t in tis(dag_run).items()
               if task_id == "refine_shard"}
    assert sorted(refined) == ["shard-00002", "shards-00000-00001"]
    pair = refined["shards-00000-00001"].xcom_pull(task_ids="refine_shard",
                                                   map_indexes=refined["shards-00000-00001"].map_index)
    pids = {shard["worker_pid"] for shard in pair["shards"]}
    # refined by the task's worker processes (which of the two takes which shard is the
    # scheduler's: a worker that is up first may take both)
    assert None not in pids and os.getpid() not in pids and 1 <= len(pids) <= 2
    assert {s["worker_pid"] for s in refined["shard-00002"].xcom_pull(
        task_ids="refine_shard", map_indexes=refined["shard-00002"].map_index)["shards"]} == {None}
    assert statuses(world, "two-workers") == statuses(world, "clean")


@pytest.mark.parametrize(("conf", "task_id", "says"), [
    ({"target_dox": 5}, "resolve", "unknown conf key 'target_dox' (did you mean 'target_docs'?)"),
    ({"keep_treshold": 0.7}, "resolve",
     "unknown conf key 'keep_treshold' (did you mean 'keep_threshold'?)"),
    ({"input_uri": "/no/such/crawl/{ds}"}, "plan", "no input files at"),
    ({"max_doc_lines": 300_000}, "plan", "one document would not fit in a batch"),
    ({"model": "/no/such/model"}, "plan", "no model at /no/such/model"),
    ({"backend": "vllm"}, "plan", "the line tagger runs on the tagger backend, not 'vllm'"),
    # a weights file, not its folder; a keep threshold for a generative model: refused at
    # plan (both were planned and claimed, then failed in the refine tasks)
    ({"model": f"{SHIPPED_MODEL}/model.safetensors"}, "plan", "is a file, not a model folder"),
    ({"model": "HF_FOLDER", "keep_threshold": 0.7}, "plan",
     "is for line-tagger models; "),
    # another tool's model (a BERT masked LM): planned, then vLLM failed in every refine task
    ({"model": "BERT_FOLDER"}, "plan", "is no causal LM: its config.json is a BertForMaskedLM"),
    ({"min_drop_rate": 0.9, "max_drop_rate": 0.1}, "resolve", "the min_drop_rate Param 0.9 is above the max_drop_rate Param 0.1"),
    # no server for the openai backend: every try of every refine task failed (retried)
    ({"model": "HF_FOLDER", "backend": "openai"}, "resolve",
     "backend=openai needs PROX_OPENAI_SERVERS in the environment of every Airflow worker"),
    ({"input_uri": "EMPTY"}, "plan", "the partition's files are empty"),
    # JSONL files read as another format: the files will not change on a retry
    ({"format": "parquet"}, "plan", "is not a parquet file"),
    ({"format": "wet", "wait_for_partition": True}, "plan", "is not a wet file"),
])
def test_a_run_that_cannot_succeed_fails_at_once(world, conf, task_id, says, capfd,
                                                 monkeypatch):
    monkeypatch.delenv("PROX_OPENAI_SERVERS", raising=False)
    if conf.get("input_uri") == "EMPTY":  # a partition that arrived with empty files
        empty = world["root"] / "empty-crawl"
        empty.mkdir(exist_ok=True)
        (empty / "part-0.jsonl").write_text("")
        conf = {**conf, "input_uri": str(empty)}
    if conf.get("model") == "HF_FOLDER":  # a Hugging Face folder: a generative model
        folder = world["root"] / "hf-model"
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text("{}")
        conf = {**conf, "model": str(folder)}
    if conf.get("model") == "BERT_FOLDER":  # another tool's model folder
        folder = world["root"] / "bert-model"
        folder.mkdir(exist_ok=True)
        (folder / "config.json").write_text(
            '{"model_type": "bert", "architectures": ["BertForMaskedLM"]}')
        conf = {**conf, "model": str(folder)}
    dag_run = run(world, f"never-{task_id}-{'-'.join(conf)}", **conf)
    assert dag_run.state == "failed"
    ti = tis(dag_run)[(task_id, -1)]
    assert (ti.state, ti.try_number) == ("failed", 1)  # not retried
    logged = capfd.readouterr()
    assert says in logged.out + logged.err  # the task log says what to fix
    # the failure notifier looked up prox_alerts (not defined here) through the Task SDK:
    # no DeprecationWarning of Airflow's old lookup under every failed task's error
    assert "get_connection_from_secrets" not in logged.out + logged.err


@pytest.fixture(scope="module")
def repeated_crawl(world):
    """34 documents in 4 shards of 10; four repeat an id of an earlier shard's document (one
    id three times), and one has 1,813 lines."""
    base = sample_rows(30)
    again = [{**row, "id": base[k]["id"]} for row, k in zip(sample_rows(4, start=30),
                                                             (0, 3, 14, 0))]  # fmt: skip
    rows = base[:12] + again[:1] + base[12:25] + again[1:2] + base[25:] + again[2:]
    return write_jsonl(world["root"] / "repeated" / "2026-01-05.jsonl", rows)


def test_limit_params_and_the_duplicate_policy_reach_every_shard(world, repeated_crawl):
    """Params chosen for one run: max_doc_lines quarantines the long document; duplicate
    ids across shards are quarantined (keep_first) by every shard; read = written +
    quarantined holds; the gate counts the duplicates and finds none written."""
    from prox_tasks.corpus import read_refined_rows

    dag_run = run(world, "repeated", input_uri=str(repeated_crawl), max_doc_lines=1000,
                  duplicate_ids="keep_first", max_program_chars=4096,
                  max_quarantine_rate=0.5)  # fmt: skip
    assert dag_run.state == "success"
    snapshot = world["corpus"] / "snapshots" / "repeated"
    status = [json.loads(p.read_text()) for p in sorted((snapshot / "_status").glob("*.json"))]
    reasons = [s["quarantine_reasons"] for s in status]
    assert sum(r.get("duplicate_id", 0) for r in reasons) == 4
    assert sum(r.get("too_many_lines", 0) for r in reasons) == 1
    assert [r.get("duplicate_id", 0) for r in reasons] == [0, 1, 1, 2]
    read = sum(s["docs_read"] for s in status)
    assert read == 34 == sum(s["docs_written"] + s["docs_quarantined"] for s in status)
    ids = [r["id"] for r in read_refined_rows(str(snapshot))]
    assert len(ids) == len(set(ids)) == 29
    metrics = json.loads((snapshot / "_quality" / "gate.json").read_text())["metrics"]
    assert (metrics["duplicate_ids_quarantined"], metrics["duplicate_ids_written"]) == (4, 0)
    plan = tis(dag_run)[("plan", -1)].xcom_pull(task_ids="plan")
    assert {b["limits"]["max_doc_lines"] for b in plan} == {1000}
    assert {b["limits"]["max_program_chars"] for b in plan} == {4096}


def test_duplicate_policy_fail_refuses_the_snapshot_at_planning(world, repeated_crawl, capfd):
    dag_run = run(world, "repeated-fail", input_uri=str(repeated_crawl), duplicate_ids="fail")
    assert dag_run.state == "failed"
    ti = tis(dag_run)[("plan", -1)]
    assert (ti.state, ti.try_number) == ("failed", 1)  # not retried
    logged = capfd.readouterr()
    assert "3 document ids occur more than once" in logged.out + logged.err


def test_a_released_snapshot_is_never_refined_again_in_place(world, released, capfd):
    """Reprocessing a released snapshot, or rerunning it with other settings, would change
    the files its release record and latest.json point at: both fail at once."""
    before = statuses(world, "clean")
    reprocessed = run(world, "clean", reprocess=True, keep_threshold=0.95)
    assert reprocessed.state == "failed"
    ti = tis(reprocessed)[("plan", -1)]
    assert (ti.state, ti.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    assert "was released as clean" in logged.out + logged.err
    other = run(world, "clean", keep_threshold=0.95)  # no reprocess: not silently reused
    assert other.state == "failed"
    ti = tis(other)[("plan", -1)]  # once, at plan: not in every refine task
    assert (ti.state, ti.try_number) == ("failed", 1)
    assert ("refine_shard", 0) not in tis(other)
    logged = capfd.readouterr()
    assert "keep_threshold None -> 0.95); give this run another snapshot_name" in (
        logged.out + logged.err)
    assert statuses(world, "clean") == before
    assert run(world, "clean").state == "success"  # the same settings again: reused as is


def test_a_gated_snapshot_missing_a_judged_shard_is_refused_at_plan(world, capfd):
    """The gate judged every shard (a dry run: gated, not released); then shard 2's files
    went. A rerun without reprocess fails once, at ``plan``, with GatedSnapshot: no refine
    task starts and no model refines shard 2 (no checkpoint of it). Before, the plan passed,
    shard 2's task refined it and was refused only at its publish."""
    gated = run(world, "frozen", dry_run=True)
    assert gated.state == "success"
    folder = world["corpus"] / "snapshots" / "frozen"
    (folder / "_status" / "shard-00002.json").unlink()
    (folder / "shards" / "shard-00002.parquet").unlink()
    capfd.readouterr()
    again = run(world, "frozen", dry_run=True)
    assert again.state == "failed"
    ti = tis(again)
    assert (ti[("plan", -1)].state, ti[("plan", -1)].try_number) == ("failed", 1)
    assert not [i for task_id, i in ti if task_id == "refine_shard" and i >= 0]  # none mapped
    logged = capfd.readouterr()
    assert "GatedSnapshot: shard 2 of " in logged.out + logged.err
    assert "is not published and was not refined: snapshot frozen there was gated " \
        "(gated)" in logged.out + logged.err
    assert not (folder / "_checkpoints" / "shard-00002").exists()
    assert not (folder / "shards" / "shard-00002.parquet").exists()


def test_text_and_id_fields_of_another_name_are_params(world):
    """A crawl whose rows hold their text in ``raw_content`` and their id in ``doc_id`` (as
    RedPajama's do): with the ``text_field``/``id_field`` Params every document is refined
    under its own id, none quarantined as missing_text (without them, prox refine
    --text-field worked and the DAG could not read such a crawl at all)."""
    from prox_tasks.corpus import read_refined_rows

    rows = [{"doc_id": r["id"], "raw_content": r["text"]} for r in sample_rows(12)]
    crawl = write_jsonl(world["root"] / "raw" / "2026-01-05.jsonl", rows)
    dag_run = run(world, "raw-content", input_uri=str(crawl), text_field="raw_content",
                  id_field="doc_id")
    assert dag_run.state == "success"
    snapshot = world["corpus"] / "snapshots" / "raw-content"
    status = [json.loads(p.read_text()) for p in sorted((snapshot / "_status").glob("*.json"))]
    assert [(s["docs_read"], s["docs_quarantined"]) for s in status] == [(10, 0), (2, 0)]
    assert sorted(r["id"] for r in read_refined_rows(str(snapshot))) == sorted(
        r["doc_id"] for r in rows)


def test_a_successful_run_leaves_no_empty_checkpoint_folder(world):
    """Every snapshot the DAG refined kept an empty ``_checkpoints/`` (each shard's folder
    went as it was published, the shared parent stayed): its collect task removes it."""
    rows = [{"id": r["id"], "text": r["text"]} for r in sample_rows(12)]
    crawl = write_jsonl(world["root"] / "raw" / "2026-01-06.jsonl", rows)
    assert run(world, "tidy", input_uri=str(crawl)).state == "success"
    snapshot = world["corpus"] / "snapshots" / "tidy"
    assert (snapshot / "shards").is_dir() and not (snapshot / "_checkpoints").exists()


def spark_partition(folder, rows):
    """A partition as Spark writes JSON Lines: ``part-…-c000.json`` and ``.json.gz`` files,
    whose names show no format prox knows."""
    import gzip

    first = write_jsonl(folder / "part-00000-5f3c-c000.json", rows[:7])
    with gzip.open(folder / "part-00001-5f3c-c000.json.gz", "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in rows[7:])
    return first.parent


def test_a_spark_partition_is_refined_with_the_format_param(world):
    """``format=jsonl`` (``prox refine --format jsonl``): the sensor finds the partition,
    the plan reads both files, every shard refines its documents. Before, no Param could
    say so, and the run failed at plan with 'no input files … pass --format (format=)'."""
    from prox_tasks.corpus import load_manifest, read_refined_rows

    rows = sample_rows(12)
    crawl = spark_partition(world["root"] / "spark" / "2026-01-05", rows)
    dag_run = run(world, "spark", input_uri=str(crawl), format="jsonl",
                  wait_for_partition=True)  # the sensor looks with the format too
    assert dag_run.state == "success"
    assert tis(dag_run)[("wait_for_partition", -1)].state == "success"
    snapshot = world["corpus"] / "snapshots" / "spark"
    manifest = load_manifest(str(snapshot))
    assert manifest.settings["format"] == "jsonl"
    assert [f.uri.rsplit("/", 1)[1] for f in manifest.files] == [
        "part-00000-5f3c-c000.json", "part-00001-5f3c-c000.json.gz"]
    assert sorted(r["id"] for r in read_refined_rows(str(snapshot))) == sorted(
        r["id"] for r in rows)


def test_a_run_not_giving_format_waits_for_the_files_its_snapshot_s_plan_reads(world):
    """A snapshot planned with `prox plan --format jsonl` (a real CLI process) over a Spark
    partition; a run whose conf leaves `format` out (a scheduled run, a backfill) and that
    waits for its partition. `plan` reads the files as the folder's plan does, but
    `wait_for_partition` looked by the files' names, found no readable file among
    `part-….json` and `.json.gz`, and waited until it failed 'has not arrived' (6 h by
    default; 4 s here). It now looks as the plan reads: the run refines the partition."""
    import subprocess
    import sys

    crawl = spark_partition(world["root"] / "spark-planned" / "2026-01-05", sample_rows(12))
    folder = world["corpus"] / "snapshots" / "spark-planned"
    cli = subprocess.run([sys.executable, "-m", "prox_tasks.cli", "plan", "--input", str(crawl),
                          "--output", str(folder), "--target-docs", "10", "--format", "jsonl"],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    conf = {key: value for key, value in world["defaults"].items() if key != "format"}
    conf.update(input_uri=str(crawl), output_root=str(world["corpus"]),
                catalog_url=world["catalog"], snapshot_name="spark-planned", target_docs=10,
                wait_for_partition=True)
    dag, sensor = world["dag"], world["dag"].get_task("wait_for_partition")
    waits = sensor.timeout, sensor.poke_interval
    sensor.timeout, sensor.poke_interval = 4, 1
    # dag.test() runs share the DAG object's Params: an earlier run's format must not leak
    dag.params["format"] = None
    try:
        dag_run = dag.test(logical_date=DAY, run_conf=conf)
    finally:
        sensor.timeout, sensor.poke_interval = waits
    ti = tis(dag_run)
    assert ti[("resolve", -1)].xcom_pull(task_ids="resolve")["format"] == "jsonl"
    assert ti[("wait_for_partition", -1)].state == "success"
    assert dag_run.state == "success", {k: t.state for k, t in ti.items()}


def test_on_s3_each_refine_task_reads_its_part_of_the_plan_not_the_manifest(
        world, moto_server, s3_bucket, monkeypatch):
    """A snapshot in S3 (moto's server over HTTP): each refine task GETs its own part of the
    plan, once, and no refine task GETs manifest.json — whose bytes grow with the shards,
    so a run of S shards in B tasks read S x B of them. Counted by the S3 server, from the
    first part read to the last shard's status write (the tasks run one after another)."""
    monkeypatch.setenv("PROX_S3_ENDPOINT_URL", moto_server.endpoint_url)
    monkeypatch.setenv("PROX_S3_ADDRESSING_STYLE", "path")
    moto_server.faults.seen.clear()
    dag_run = run(world, "on-s3", output_root=f"{s3_bucket}/corpus", target_docs=5)
    assert dag_run.state == "success"
    folder = "/" + s3_bucket.removeprefix("s3://") + "/corpus/snapshots/on-s3/"
    seen = [(m, p.removeprefix(folder)) for m, p in moto_server.faults.seen
            if p.startswith(folder)]
    tasks = [t for (task_id, _), t in tis(dag_run).items() if task_id == "refine_shard"]
    parts = [p for m, p in seen if m == "GET" and p.startswith("_manifest_parts/")]
    assert len(tasks) == 6 and len(parts) == len(set(parts)) == 6
    start = seen.index(("GET", parts[0]))
    end = max(i for i, (m, p) in enumerate(seen) if m == "PUT" and p.startswith("_status/"))
    assert ("GET", "manifest.json") in seen[:start]  # the plan task's
    assert ("GET", "manifest.json") not in seen[start:end], seen[start:end]


def _after_plan(monkeypatch, fault):
    """Run ``fault`` once the run's ``plan`` task has planned: in ``dag.test()`` every task
    runs in this process, so a refine worker whose environment or disk differs from the
    plan worker's (a fault of two machines) is made by changing this one's in between."""
    from prox_tasks.pipeline import refresh

    planned = refresh.plan

    def plan_then_fault(*args, **kwargs):
        try:
            return planned(*args, **kwargs)
        finally:
            fault()

    monkeypatch.setattr(refresh, "plan", plan_then_fault)


def _refused_late(world, dag_run, name, says):
    from prox_tasks.catalog import Catalog

    assert dag_run.state == "failed"
    ti = tis(dag_run)
    assert ti[("plan", -1)].state == "success"
    assert {ti[("refine_shard", i)].state for i in range(3)} == {"failed"}
    assert ti[("book_unfinished", -1)].state == "success"  # it kept the refine task's error
    with Catalog(world["catalog"]) as catalog:
        snapshot = catalog.get_snapshot(name)
        shards = catalog.get_shards(name)
    # the catalog says the run failed and why, not `planned` for ever
    assert snapshot["status"] == "failed", snapshot
    assert says in snapshot["error"], snapshot["error"]
    assert [s["status"] for s in shards] != ["running"] * 3


def test_a_refine_worker_without_the_openai_pool_books_the_run_failed(world, monkeypatch):
    """``backend=openai``: the first task's worker has ``PROX_OPENAI_SERVERS``, the refine
    worker not; each refine task refuses at once (no retries) and books the run failed."""
    monkeypatch.setenv("PROX_OPENAI_SERVERS", "http://127.0.0.1:9/v1")
    _after_plan(monkeypatch, lambda: monkeypatch.delenv("PROX_OPENAI_SERVERS"))
    model = world["root"] / "hf-model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text('{"model_type": "llama"}')
    (model / "model.safetensors").write_bytes(b"")
    (model / "tokenizer.json").write_text("{}")  # all the openai backend reads of it
    dag_run = run(world, "no-pool", backend="openai", model=str(model))
    _refused_late(world, dag_run, "no-pool", "PROX_OPENAI_SERVERS")


def test_a_refine_worker_that_cannot_load_the_model_books_the_run_failed(world, monkeypatch):
    """The model was there when the run was planned, and is broken where it refines."""
    model = world["root"] / "broken-model"
    shutil.copytree(SHIPPED_MODEL, model, dirs_exist_ok=True)
    _after_plan(monkeypatch, lambda: (model / "model.safetensors").write_bytes(b"not weights"))
    dag_run = run(world, "no-model", model=str(model))
    _refused_late(world, dag_run, "no-model", "")


def test_a_snapshot_planned_before_offsets_gets_them_from_its_next_run(world):
    """A snapshot folder whose plan (and its work items' parts) was written before segments
    recorded byte offsets: its next run's plan task adds them to the same plan (the same
    id: every published shard is kept, none refined again) and writes its parts with them,
    so the refine tasks' late shards seek from then on."""
    from prox_tasks.corpus import load_manifest
    from prox_tasks.corpus.manifest import PARTS_FOLDER, _digest

    folder = world["corpus"] / "snapshots" / "planned-before-offsets"
    assert run(world, "planned-before-offsets", dry_run=True).state == "success"
    planned = load_manifest(str(folder))
    assert all(s.segments[0].byte_offset for s in planned.shards[1:])
    published = statuses(world, "planned-before-offsets")

    def without_offsets(data: dict) -> dict:
        for shard in data["shards"]:
            for segment in shard["segments"]:
                del segment["byte_offset"]
        return data

    for path in (folder / PARTS_FOLDER / planned.id).iterdir():  # as written before offsets
        part = without_offsets(json.loads(path.read_text()))
        del part["digest"]
        path.write_text(json.dumps({**part, "digest": _digest(part)}, sort_keys=True) + "\n")
    manifest = without_offsets(json.loads((folder / "manifest.json").read_text()))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    assert "byte_offset" not in (folder / "manifest.json").read_text()
    assert load_manifest(str(folder)).id == planned.id

    dag_run = run(world, "planned-before-offsets", dry_run=True)
    assert dag_run.state == "success"
    assert load_manifest(str(folder)).to_json() == planned.to_json()  # the same plan, offsets
    for path in (folder / PARTS_FOLDER / planned.id).iterdir():
        assert '"byte_offset"' in path.read_text()
    assert statuses(world, "planned-before-offsets") == published  # none refined again


def test_a_plan_that_fails_after_booking_its_plan_books_its_own_error(world):
    """The plan task booked the plan, then failed writing the refine tasks' parts of it (a
    real fault: the parts' folder is taken by a file). Its refine tasks never ran
    (upstream_failed): book_unfinished counted them as failed refine tasks and booked the
    snapshot failed as "killed before refining a shard: out of memory, SIGKILL, a lost
    worker", sending the operator after memory. The plan's own error is booked, and
    book_unfinished books nothing over it."""
    from prox_tasks.catalog import Catalog

    folder = world["corpus"] / "snapshots" / "no-parts"
    folder.mkdir(parents=True)
    (folder / "_manifest_parts").write_text("a file where the plan's parts go")
    dag_run = run(world, "no-parts")
    assert dag_run.state == "failed"
    ti = tis(dag_run)
    assert ti[("plan", -1)].state == "failed"
    assert ti[("refine_shard", -1)].state == "upstream_failed"
    assert ti[("book_unfinished", -1)].state == "success"
    with Catalog(world["catalog"]) as catalog:
        snapshot = catalog.get_snapshot("no-parts")
    assert snapshot["status"] == "failed", snapshot
    assert "_manifest_parts" in snapshot["error"], snapshot["error"]
    assert "killed" not in snapshot["error"] and "refine task" not in snapshot["error"]


def test_a_folder_planned_by_prox_plan_is_refined_as_planned_with_target_docs_empty(world):
    """The `target_docs` Param always said 10,000: a snapshot folder planned with another
    size (`prox plan --target-docs 7`, a run triggered with 7) failed its plan task with
    'holds another plan … target_docs 7 -> 10000', and the way offered, reprocess, threw
    its shards away for shards of 10,000. Left empty (the default), the plan is kept as
    planned (same id); a new folder is still cut by 10,000; a size named is still held to."""
    from prox_tasks.cli import main
    from prox_tasks.corpus import load_manifest

    folder = world["corpus"] / "snapshots" / "sized-by-plan"
    assert main(["plan", "--input", str(world["crawl"]), "--output", str(folder),
                 "--target-docs", "7"]) == 0
    planned = load_manifest(str(folder))
    assert world["defaults"]["target_docs"] is None
    dag_run = run(world, "sized-by-plan", target_docs=None, dry_run=True)
    assert dag_run.state == "success"
    assert load_manifest(str(folder)).id == planned.id and len(planned.shards) == 5
    assert len(statuses(world, "sized-by-plan")) == 5
    assert run(world, "sized-by-plan", target_docs=10, dry_run=True).state == "failed"
    assert run(world, "sized-by-default", target_docs=None, dry_run=True).state == "success"
    new = load_manifest(str(world["corpus"] / "snapshots" / "sized-by-default"))
    assert new.settings["target_docs"] == 10_000


def test_cleared_path_and_field_params_take_their_defaults(world, monkeypatch, caplog):
    """The trigger form sends a cleared field as null: clearing ``input_uri``,
    ``output_root``, ``text_field`` or ``id_field`` to get the default its description names
    was refused ("None is not of type 'string'"). Each now takes its default (here
    PROX_CRAWL_TEMPLATE and PROX_CORPUS_ROOT), logged."""
    import logging

    monkeypatch.setenv("PROX_CRAWL_TEMPLATE", str(world["root"] / "crawl" / "{ds}.jsonl"))
    monkeypatch.setenv("PROX_CORPUS_ROOT", str(world["corpus"]))
    cleared = {name: None for name in ("input_uri", "output_root", "text_field", "id_field")}
    with caplog.at_level(logging.INFO, logger="prox_tasks.pipeline.settings"):
        dag_run = run(world, "cleared", dry_run=True, **cleared)
    assert dag_run.state == "success"
    status = world["corpus"] / "snapshots" / "cleared" / "_status"
    assert sum(json.loads(p.read_text())["docs_read"] for p in status.glob("*.json")) == 30
    assert "Param output_root is empty: taking its default" in caplog.text


@pytest.mark.parametrize("change", ["rewritten", "removed"])
def test_an_input_changed_after_planning_fails_its_refine_tasks_at_once_naming_the_way_out(
        world, monkeypatch, change):
    """The crawl's file was rewritten (a late re-delivery) or removed between the run's
    ``plan`` task and its refine tasks. Each refine task read it and failed with a bare
    ``RuntimeError: … changed since the manifest was planned`` or ``FileNotFoundError`` —
    retried with backoff though the file will not change back — and the catalog booked no
    way out. Each fails now on its first try, naming the file and the way out (the
    ``reprocess`` Param), and nothing is published from other bytes."""
    from prox_tasks.catalog import Catalog

    crawl = world["root"] / f"changing-{change}" / "2026-01-05.jsonl"
    crawl.parent.mkdir()
    shutil.copy(world["crawl"], crawl)

    def change_it():
        if change == "removed":
            crawl.unlink()
        else:
            crawl.write_text(crawl.read_text().replace('"text": "', '"text": "(again) '))

    _after_plan(monkeypatch, change_it)
    name = f"changed-{change}"
    dag_run = run(world, name, input_uri=str(crawl))
    assert dag_run.state == "failed"
    ti = tis(dag_run)
    assert ti[("plan", -1)].state == "success"
    assert {(ti[("refine_shard", i)].state, ti[("refine_shard", i)].try_number)
            for i in range(3)} == {("failed", 1)}  # not retried  # fmt: skip
    with Catalog(world["catalog"]) as catalog:
        snapshot = catalog.get_snapshot(name)
    assert snapshot["status"] == "failed", snapshot
    assert "2026-01-05.jsonl" in snapshot["error"] and "reprocess" in snapshot["error"], \
        snapshot["error"]  # fmt: skip
    assert not (world["corpus"] / "snapshots" / name / "shards").exists() or not any(
        (world["corpus"] / "snapshots" / name / "shards").iterdir())


def untouched_dag():
    """The refine DAG parsed anew: its Params hold their declared defaults, as a real
    trigger's do (``dag.test()`` leaves an earlier run's conf in the DAG object's Params)."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.airflow_env import REPO

    return DagBag(dag_folder=str(REPO / "dags" / "prox_refine_snapshot.py")).get_dag(
        "prox_refine_snapshot")


def test_a_run_whose_conf_leaves_a_setting_out_keeps_the_snapshots(world, capfd):
    """A snapshot refined by ``prox refine --quality-filter report --max-doc-lines 1000``,
    then a DAG run passing neither (a scheduled run, a backfill without them in
    ``--dag-run-conf``): its Params still held their defaults (off, 100000), and its plan
    was refused (``quality 'report' -> 'off'``). Now a Param the run's conf does not give is
    the snapshot's, as in ``prox refine``: every shard is reused. One the conf gives and
    that differs is refused as before; a new snapshot takes the Params' defaults."""
    from prox_tasks.cli import main

    corpus = world["root"] / "inherit-corpus"  # its own latest.json
    snapshot = corpus / "snapshots" / "cli-report"
    assert main(["refine", "--json", "--no-progress", "--input", str(world["crawl"]),
                 "--output", str(snapshot), "--target-docs", "10", "--quality-filter",
                 "report", "--max-doc-lines", "1000"]) == 0
    capfd.readouterr()

    def requests(name):
        folder = corpus / "snapshots" / name / "_status"
        return [json.loads(p.read_text())["request"] for p in sorted(folder.glob("*.json"))]

    def shards(name):
        return {p.name: p.stat().st_mtime_ns
                for p in sorted((corpus / "snapshots" / name / "shards").glob("*"))}

    refined = shards("cli-report")
    conf = {"input_uri": str(world["crawl"]), "output_root": str(corpus),
            "catalog_url": world["catalog"], "snapshot_name": "cli-report", "target_docs": 10}
    rerun = untouched_dag().test(logical_date=DAY, run_conf=conf)
    logged = capfd.readouterr()
    assert rerun.state == "success", (logged.out + logged.err)[-2000:]
    assert shards("cli-report") == refined  # every shard reused, none refined again
    assert [(r["quality"], r["limits"]["max_doc_lines"]) for r in requests("cli-report")] \
        == [("report", 1000)] * 3  # fmt: skip

    other = untouched_dag().test(logical_date=DAY, run_conf={**conf, "quality_filter": "drop"})
    assert other.state == "failed"
    ti = tis(other)[("plan", -1)]
    assert (ti.state, ti.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    # released by the run before: the way out is another snapshot name
    assert "was released refined with other settings (quality 'report' -> 'drop'); give " \
        "this run another snapshot_name" in logged.out + logged.err  # fmt: skip
    assert shards("cli-report") == refined

    new = untouched_dag().test(logical_date=DAY, run_conf={**conf, "snapshot_name": "new"})
    assert new.state == "success"
    defaults = world["defaults"]
    assert [(r["quality"], r["limits"]["max_doc_lines"]) for r in requests("new")] \
        == [(defaults["quality_filter"], defaults["max_doc_lines"])] * 3  # fmt: skip


def test_a_run_whose_conf_leaves_the_read_params_out_reads_the_snapshot_as_planned(
        world, capfd):
    """A snapshot of a Spark crawl planned by ``prox plan --text-field raw_content
    --id-field doc_id --format jsonl``, then a DAG run into it whose conf gives none of
    them (a scheduled run, a backfill, a cleared task's rerun): its Params held their
    defaults (text, id, by names), and its plan failed. Now a read Param the conf does not
    give is the plan's: the plan is reused and every document read under its own id. One
    the conf gives and that differs is refused as before, naming it and reprocess."""
    from prox_tasks.cli import main
    from prox_tasks.corpus import load_manifest, read_refined_rows

    rows = [{"doc_id": r["id"], "raw_content": r["text"]} for r in sample_rows(12)]
    crawl = spark_partition(world["root"] / "spark-read" / "2026-01-05", rows)
    corpus = world["root"] / "read-corpus"
    folder = corpus / "snapshots" / "read-as-planned"
    assert main(["plan", "--input", str(crawl), "--output", str(folder), "--target-docs",
                 "5", "--text-field", "raw_content", "--id-field", "doc_id", "--format",
                 "jsonl"]) == 0
    planned = load_manifest(str(folder))
    capfd.readouterr()
    conf = {"input_uri": str(crawl), "output_root": str(corpus), "dry_run": True,
            "catalog_url": world["catalog"], "snapshot_name": "read-as-planned"}
    rerun = untouched_dag().test(logical_date=DAY, run_conf=conf)
    logged = capfd.readouterr()
    assert rerun.state == "success", (logged.out + logged.err)[-3000:]
    assert load_manifest(str(folder)).id == planned.id
    status = [json.loads(p.read_text()) for p in sorted((folder / "_status").glob("*.json"))]
    assert [(s["docs_read"], s["docs_quarantined"]) for s in status] == [(5, 0), (5, 0),
                                                                         (2, 0)]
    assert sorted(r["id"] for r in read_refined_rows(str(folder))) == sorted(
        r["doc_id"] for r in rows)

    other = untouched_dag().test(logical_date=DAY, run_conf={**conf, "id_field": "id"})
    assert other.state == "failed"
    logged = capfd.readouterr()
    assert "holds another plan: trigger the run with reprocess=true" in logged.out + \
        logged.err and "id_field 'doc_id' -> 'id'" in logged.out + logged.err  # fmt: skip
    assert load_manifest(str(folder)).id == planned.id


#: Where another installation of prox keeps its shipped model (an old virtual environment).
ELSEWHERE = "/opt/prox-old-venv/lib/python3.11/site-packages/prox_tasks/models/line-tagger"


def refined_elsewhere(world, name: str, version: str | None = None) -> list:
    """Refine snapshot ``name`` with `prox refine` (a real CLI process) and the shipped model,
    then make its claim and shard records name that model at :data:`ELSEWHERE`, as another
    installation writes them (refined with ``version`` when given: another prox release's
    shipped model). Returns the records."""
    import subprocess
    import sys

    folder = world["corpus"] / "snapshots" / name
    cli = subprocess.run(
        [sys.executable, "-m", "prox_tasks.cli", "refine", "--no-progress", "--input",
         str(world["crawl"]), "--output", str(folder), "--name", name, "--catalog",
         world["catalog"], "--target-docs", "10"], capture_output=True, text=True, timeout=180)
    assert cli.returncode == 0, cli.stderr
    records = [folder / "_refine_settings.json", *sorted((folder / "_status").glob("*.json"))]
    for record in records:
        text = record.read_text()
        assert json.dumps(str(SHIPPED_MODEL)) in text, record
        record.write_text(text.replace(json.dumps(str(SHIPPED_MODEL)), json.dumps(ELSEWHERE)))
        if version and record.parent.name == "_status":
            record.write_text(json.dumps({**json.loads(record.read_text()),
                                          "model_version": version}))
    return records


def test_a_snapshot_refined_by_a_prox_installed_elsewhere_is_refined_on_by_this_one(world):
    """`prox refine` (a real CLI process) refines a snapshot with the shipped model; its
    claim and shard records are then made to name that model where another installation of
    the same prox release keeps it (a scheduler whose prox lives at another path, an old
    virtual environment removed), as that installation writes them, and a shard is lost.
    The DAG's plan task took that folder for the snapshot's model and its refine task
    stopped: 'no model at …'. The shipped model is the same version here: the rerun refines
    the lost shard with this installation's folder, byte for byte as before, reuses the
    others, and the shard's record keeps the snapshot's request."""
    name = "moved-installation"
    folder = world["corpus"] / "snapshots" / name
    records = refined_elsewhere(world, name)
    lost = folder / "shards" / "shard-00001.parquet"
    refined = lost.read_bytes()
    # a refine task on a worker whose prox lives elsewhere than the plan machine's: its work
    # item names the plan machine's folder of the shipped model, read as the task reads it
    from prox_tasks.models.resolver import shipped_version
    from prox_tasks.pipeline import refresh
    from prox_tasks.refine.workers import refine_shards

    lost.unlink()
    item = {"model": ELSEWHERE, "shipped_version": shipped_version(), "backend": None,
            "keep_threshold": None, "quality": "off", "limits": None}
    assert refresh._refine_options({**item, "shipped_version": "line_tagger-000000000000"})[
        "model"] == ELSEWHERE  # another release's: not this worker's model
    result = refine_shards(str(folder), [1], settings_claimed=True,
                           **refresh._refine_options(item))
    assert [r["status"] for r in result] == ["refined"]
    assert lost.read_bytes() == refined
    lost.unlink()  # and the DAG's rerun, its plan task reading the snapshot's records
    dag_run = run(world, name, dry_run=True)
    ti = tis(dag_run)
    assert dag_run.state == "success", {k: t.state for k, t in ti.items()}
    assert lost.read_bytes() == refined
    shards = [s for i in range(3) for s in ti[("refine_shard", i)].xcom_pull(
        task_ids="refine_shard", map_indexes=i)["shards"]]  # fmt: skip
    assert sorted(s["status"] for s in shards) == ["refined", "skipped", "skipped"]
    for record in records:
        assert json.loads(record.read_text())["request"]["model"] == ELSEWHERE, record


def test_a_snapshot_refined_by_another_release_s_shipped_model_is_still_refused(world):
    """Another prox release shipped another default (the shards record another version):
    the rerun is refused, naming the version, with no model and with ``--model default``."""
    from prox_tasks.refine.corpus import refine_corpus
    from prox_tasks.refine.options import ModelNotFound
    from prox_tasks.refine.step import SettingsConflict

    name = "moved-release"
    folder = world["corpus"] / "snapshots" / name
    refined_elsewhere(world, name, version="line_tagger-000000000000")
    (folder / "shards" / "shard-00001.parquet").unlink()
    with pytest.raises(ModelNotFound, match="refined with another version"):
        refine_corpus(str(world["crawl"]), str(folder), target_docs=10)
    with pytest.raises(SettingsConflict, match="line_tagger-000000000000"):
        refine_corpus(str(world["crawl"]), str(folder), model="default", target_docs=10)
    # typed, that release's folder is not this one's either: its version is another
    with pytest.raises(ModelNotFound, match="give --model default"):
        refine_corpus(str(world["crawl"]), str(folder), model=ELSEWHERE, target_docs=10)


def test_a_typed_folder_of_another_installations_shipped_model_is_this_ones_when_known(
        world, capfd):
    """`model` (the Param; `prox refine --model`) typed as another installation's folder of
    the shipped line tagger, since gone: a snapshot whose records name that folder with this
    release's version was refused at plan ('no model at …', the hint speaking of another
    version), though the same folder read from its records was refined on with this
    installation's. Typed, it is mapped now by the version the snapshot's shards record;
    into a new folder, where no record says its version, the plan fails once, saying to
    give `default`."""
    from prox_tasks.refine.corpus import refine_corpus

    name = "typed-elsewhere"
    folder = world["corpus"] / "snapshots" / name
    refined_elsewhere(world, name)
    lost = folder / "shards" / "shard-00001.parquet"
    refined = lost.read_bytes()
    lost.unlink()
    refine_corpus(str(world["crawl"]), str(folder), model=ELSEWHERE, target_docs=10)
    assert lost.read_bytes() == refined
    lost.unlink()
    dag_run = run(world, name, model=ELSEWHERE, dry_run=True)
    ti = tis(dag_run)
    assert dag_run.state == "success", {k: t.state for k, t in ti.items()}
    assert lost.read_bytes() == refined
    assert ti[("plan", -1)].xcom_pull(task_ids="plan")[0]["model"] == str(SHIPPED_MODEL)

    dag_run = run(world, "typed-elsewhere-new", model=ELSEWHERE)
    assert dag_run.state == "failed"
    plan = tis(dag_run)[("plan", -1)]
    assert (plan.state, plan.try_number) == ("failed", 1)
    logged = capfd.readouterr()
    assert (f"ModelNotFound: no model at {ELSEWHERE} (the line tagger shipped with a prox "
            "installed at /opt/prox-old-venv/lib/python3.11/site-packages, gone from there; "
            "which version it was is not known here") in logged.out + logged.err
    assert "give --model default (the DAG's model Param: default)" in logged.out + logged.err
    assert not (world["corpus"] / "snapshots" / "typed-elsewhere-new").exists()
