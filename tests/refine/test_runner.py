"""Who booked an attempt, and whether it still runs: a real process killed with SIGKILL is
dead, a live one is not, an earlier Airflow try of the same task instance is dead wherever
it ran (the DAG task body books it failed before refining)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.pipeline import refresh
from prox_tasks.refine import runner
from prox_tasks.refine.booking import ShardBooking
from tests.pipeline.small_crawl import small_snapshot

PRINT_RUNNER = ("import json, time; from prox_tasks.refine.runner import current; "
                "print(json.dumps(current()), flush=True); time.sleep(120)")


def test_a_process_of_this_host_is_dead_once_killed_and_its_id_alone_is_not_enough():
    me = runner.current()
    child = subprocess.Popen([sys.executable, "-c", PRINT_RUNNER], stdout=subprocess.PIPE,
                             text=True)
    try:
        theirs = json.loads(child.stdout.readline())
        assert theirs["pid"] == child.pid and theirs["host"] == me["host"]
        assert runner.why_dead(theirs, me) is None  # it runs
        assert runner.why_dead(me, me) is None  # nor is this process dead to itself
        # the same id with another start time: the id was reused by another process
        reused = {**theirs, "started": theirs["started"] - 1}
        assert runner.why_dead(reused, me) == f"process {child.pid} on {me['host']} no longer runs"
        assert runner.why_dead({**theirs, "host": "another-host"}, me) is None  # can't tell
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert runner.why_dead(theirs, me) == f"process {child.pid} on {me['host']} no longer runs"
    # the same host name on another machine's boot, or in another process-id namespace
    # (containers may share a host name): its processes are not this one's to see
    assert theirs["machine"] and theirs["machine"] == me["machine"]
    assert runner.why_dead({**theirs, "machine": "another-boot/pid:[1]",
                            "installation": "another-machine-id"}, me) is None


@pytest.fixture
def short_stopping_grace(monkeypatch):
    """book_unfinished waits out its grace (20 s) for a try of another machine, which never
    books its stop here: 1 s takes the same path. tests/dags/test_stopped_refine.py's
    test_book_unfinished_leaves_a_try_marked_failed_to_book_its_own_stop runs the real grace
    against a try that does book its stop."""
    monkeypatch.setattr(refresh, "STOPPING_GRACE_S", 1.0)


def _task_try(run_id: str, try_number: int) -> dict:
    return {"dag_id": "prox_refine_snapshot", "run_id": run_id, "task_id": "refine_shard",
            "map_index": 0, "try_number": try_number}


def test_an_airflow_retry_books_the_killed_try_failed_wherever_it_ran(tmp_path, tagger_model,
                                                                     caplog):
    """Try 1 of a refine task was killed on another worker (its supervisor reported it
    failed; no callback ran): its shard stayed `running`. Try 2 — on this machine — books it
    failed before refining it again; a shard another DAG run refines on another machine is
    not its to judge."""
    snapshot = small_snapshot(tmp_path, 4)
    batches = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                           backend=None, task_try=_task_try("scheduled__1", 1))
    # another machine cannot be had in a test: its bookings are written as its runner would
    # (a host name and a process of its own), by the booking code itself
    elsewhere = {"host": "worker-b.invalid", "pid": 4242, "started": 1}
    with Catalog(snapshot["catalog_url"]) as catalog:
        ShardBooking(catalog, snapshot["name"], {
            **elsewhere, "airflow": _task_try("scheduled__1", 1)}).start(0, False)
        ShardBooking(catalog, snapshot["name"], {
            **elsewhere, "airflow": _task_try("backfill__1", 1)}).start(1, False)
    caplog.clear()
    with caplog.at_level("WARNING", logger="prox_tasks"):
        result = refresh.refine_batch(batches[0], _task_try("scheduled__1", 2))
    assert [s["status"] for s in result["shards"]] == ["refined"]
    # not "died": a run that ended with the catalog unreachable booked nothing either
    assert ("snapshot crawl-2026-01-02, shard 0: this attempt's end was not booked (Airflow "
            "try 1 of refine_shard (map index 0) ended without booking it): its refine process "
            "was killed (SIGKILL, out of memory, or a lost worker) or could not reach the "
            "catalog as it ended") in caplog.messages
    with Catalog(snapshot["catalog_url"]) as catalog:
        shard = catalog.get_shard(snapshot["name"], 0)
        assert (shard["status"], shard["attempts"]) == ("done", 2)
        # the same try number of another DAG run, elsewhere: it may still run
        mine = ShardBooking(catalog, snapshot["name"], runner.current(_task_try("scheduled__1", 2)))
        assert mine.book_dead([1]) == 0
        assert catalog.get_shard(snapshot["name"], 1)["status"] == "running"
        assert catalog.get_snapshot(snapshot["name"])["status"] == "planned"  # the run goes on


def test_once_every_refine_task_of_a_run_ended_its_attempts_left_running_are_failed(
        tmp_path, tagger_model, short_stopping_grace):
    """The last try of a refine task was killed on another worker: no retry comes to book
    it. The DAG's book_unfinished task (all refine tasks ended) books its attempt failed
    and the snapshot failed; a shard another DAG run refines stays as booked."""
    snapshot = small_snapshot(tmp_path, 4)
    refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                 backend=None, task_try=_task_try("scheduled__1", 1))
    elsewhere = {"host": "worker-b.invalid", "pid": 4242, "started": 1}  # as in the test above
    with Catalog(snapshot["catalog_url"]) as catalog:
        ShardBooking(catalog, snapshot["name"], {
            **elsewhere, "airflow": _task_try("scheduled__1", 4)}).start(0, False)
        ShardBooking(catalog, snapshot["name"], {
            **elsewhere, "airflow": _task_try("backfill__1", 1)}).start(1, False)
    closing = {**_task_try("scheduled__1", 1), "task_id": "book_unfinished", "map_index": -1}
    assert refresh.book_unfinished(snapshot, closing) == 1
    assert refresh.book_unfinished(None, closing) == 0  # resolve failed: nothing booked
    with Catalog(snapshot["catalog_url"]) as catalog:
        shards = catalog.get_shards(snapshot["name"])
        booked = catalog.get_snapshot(snapshot["name"])
    assert [s["status"] for s in shards] == ["failed", "running"]
    assert "this attempt's end was not booked" in shards[0]["error"]
    assert "Airflow try 4 of refine_shard (map index 0)" in shards[0]["error"]
    assert booked["status"] == "failed" and "this attempt's end was not booked" in booked["error"]


def skip_without_machine_id() -> None:
    """Skip where the system has no machine id (a restart is not told from another
    machine there)."""
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            with open(path) as found:
                if found.read().strip():
                    return
        except OSError:
            pass
    pytest.skip("no machine id here: a restart cannot be told from another machine")


def before_the_restart(record: dict) -> dict:
    """``record`` (a runner, :func:`runner.current`) as this host wrote it before it last
    restarted: another boot id, the same installation. A restart cannot be had in a test,
    so the record is rewritten as the boot before would have written it (a simulated
    fault); the process it names is real and runs now."""
    _boot, _, namespace = record["machine"].partition("/")
    return {**record, "machine": f"00000000-0000-4000-8000-000000000000/{namespace}"}


def test_a_process_of_this_host_before_it_restarted_is_dead_whatever_its_id_is_now():
    """A machine restarted under `prox refine` (power loss, a kernel update): its claim and
    its `running` bookings named a process of the boot before, which cannot run any more —
    yet, on another boot id, it was judged "another machine" and held them for good. The
    same host name and installation (/etc/machine-id) under another boot is this machine
    restarted; another installation, or none recorded, is still another machine; another
    process-id namespace in this boot (a container) still cannot be seen into."""
    skip_without_machine_id()
    me = runner.current()
    child = subprocess.Popen([sys.executable, "-c", PRINT_RUNNER], stdout=subprocess.PIPE,
                             text=True)
    try:
        theirs = json.loads(child.stdout.readline())
        assert runner.why_dead(theirs, me) is None  # it runs, in this boot
        restarted = before_the_restart(theirs)  # its id runs now: not what decides
        assert runner.why_dead(restarted, me) == (
            f"process {child.pid} on {me['host']} ran before the machine restarted")
        assert runner.why_dead({**restarted, "installation": "another-machine-id"}, me) is None
        assert runner.why_dead({k: v for k, v in restarted.items() if k != "installation"},
                               me) is None
        assert runner.why_dead({**restarted, "host": "another-host"}, me) is None
        _boot, _, namespace = theirs["machine"].partition("/")
        container = {**theirs, "machine": f"{_boot}/pid:[1]", "started": 1}
        assert runner.why_dead(container, me) is None
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)


def test_a_shard_whose_try_died_is_booked_failed_once_and_the_next_run_retakes_it(
        tmp_path, tagger_model, short_stopping_grace):
    """The scheduler failed a refine task's last try on a heartbeat timeout (its worker
    lost, the try killed outright: no callback, its shard left `running`). book_unfinished
    books it failed once — its own retry books nothing more and leaves the snapshot's error
    as it was —, and the next DAG run refines the shard again as a second attempt, ending
    `done` and the snapshot `refined`."""
    snapshot = small_snapshot(tmp_path, 4)
    items = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                         backend=None, task_try=_task_try("scheduled__1", 1))
    elsewhere = {"host": "worker-b.invalid", "pid": 4242, "started": 1}  # as in the tests above
    with Catalog(snapshot["catalog_url"]) as catalog:
        ShardBooking(catalog, snapshot["name"], {
            **elsewhere, "airflow": _task_try("scheduled__1", 2)}).start(0, False)
    closing = {**_task_try("scheduled__1", 1), "task_id": "book_unfinished", "map_index": -1}
    assert refresh.book_unfinished(snapshot, closing) == 1
    with Catalog(snapshot["catalog_url"]) as catalog:
        first = catalog.get_snapshot(snapshot["name"])
    assert refresh.book_unfinished(snapshot, {**closing, "try_number": 2}) == 0
    with Catalog(snapshot["catalog_url"]) as catalog:
        shard = catalog.get_shard(snapshot["name"], 0)
        assert (shard["status"], shard["attempts"]) == ("failed", 1)
        assert catalog.get_snapshot(snapshot["name"])["error"] == first["error"]
    # the next DAG run: plans again (the same plan), refines every shard, collects
    rerun = _task_try("scheduled__2", 1)
    again = refresh.plan(snapshot, target_docs=2, max_map_length=8, model=str(tagger_model),
                         backend=None, task_try=rerun)
    assert [i["shards"] for i in again] == [i["shards"] for i in items]
    results = [refresh.refine_batch(item, {**rerun, "map_index": n})
               for n, item in enumerate(again)]
    assert [s["status"] for r in results for s in r["shards"]] == ["refined", "refined"]
    refresh.collect(snapshot, results, {**rerun, "task_id": "collect", "map_index": -1})
    with Catalog(snapshot["catalog_url"]) as catalog:
        shards = catalog.get_shards(snapshot["name"])
        booked = catalog.get_snapshot(snapshot["name"])
    assert [(s["status"], s["attempts"]) for s in shards] == [("done", 2), ("done", 1)]
    assert booked["status"] == "refined" and booked["error"] is None


def test_outside_an_airflow_task_no_dag_run_is_told_ended_and_airflow_is_not_imported():
    """why_run_ended asks Airflow only from inside a task (its supervisor); a ``prox``
    command (a fresh process) tells no DAG run ended, and imports no Airflow to find out."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from prox_tasks.refine import runner\n"
            "held = {'host': 'w7', 'pid': 1, 'airflow': {'dag_id': 'prox_seed_label',\n"
            "        'run_id': 'manual__1', 'task_id': 'sample', 'map_index': -1}}\n"
            "print(runner.why_run_ended(held), any(m.startswith('airflow') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.split() == ["None", "False"]
