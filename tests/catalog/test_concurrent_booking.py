"""Two runs booking the same name at once — a scheduled refresh and a manual rerun of one
snapshot, two trainings publishing one version, two seed-set runs of one name — on SQLite
and PostgreSQL, in real processes.

Each booking looks for its row, then inserts it when there was none. Here the test holds
the other run's INSERT open (uncommitted) while the runs book, so each finds no row and its
INSERT meets the held one: on PostgreSQL it waits for it, then failed on the unique
constraint with an ``IntegrityError`` traceback. Now it books over the row the other run
inserted, or — that row naming another folder — is refused as a name taken. (SQLite's
``BEGIN IMMEDIATE`` makes the runs wait before they look, so there it passed before too.)
"""

from __future__ import annotations

import multiprocessing
import time

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.corpus import load_manifest, plan_shards
from tests.corpus.conftest import write_jsonl

RUNS = 2

#: What the other run inserts (and holds uncommitted), by case.
HELD = {
    "snapshot": ("INSERT INTO snapshots (name, input_uri, output_uri, status, created_at,"
                 " updated_at) VALUES ('snap', 'file:///in', :folder, 'planned', 't', 't')"),
    "seed_set": ("INSERT INTO seed_sets (name, teacher, uri, num_docs, created_at)"
                 " VALUES ('seeds', 'teacher', :folder, 3, 't')"),
    "model": ("INSERT INTO models (name, version, uri, promoted, created_at)"
              " VALUES ('refiner', 'v1', :folder, 0, 't')"),
    "shards": ("INSERT INTO shards (snapshot_id, shard_index, docs_planned, bytes_planned)"
               " SELECT id, 0, 1, 1 FROM snapshots WHERE name = 'snap'"),
}
HELD["dag_plan"] = HELD["snapshot"]  # the refine DAG's plan task booking its snapshot


def _book(url: str, case: str, folder: str, ready, outcomes) -> None:
    """A child process: the booking of ``case`` for ``folder``, as the CLI and the DAG tasks
    make it; its outcome ("booked" or the error's type and text)."""
    from prox_tasks.catalog import Catalog

    ready.set()
    catalog = Catalog(url)
    try:
        if case == "snapshot":
            catalog.register_snapshot("snap", "file:///in", folder)
        elif case == "seed_set":
            catalog.register_seed_set("seeds", "teacher", folder, 3)
        elif case == "dag_plan":  # as the DAG's plan task books it (pipeline.refresh.plan)
            from prox_tasks.pipeline.refresh import SNAPSHOT_NAME_PARAM
            from prox_tasks.refine.booking import register_plan

            register_plan(catalog, "snap", load_manifest(folder), option=SNAPSHOT_NAME_PARAM)
        elif case == "model":
            catalog.register_model("refiner", "v1", folder, registry="file:///registry")
        else:  # the plan's shards, booked by a rerun planning the snapshot again
            catalog.register_snapshot("snap", "file:///in", folder,
                                      manifest=load_manifest(folder))
        outcomes.put("booked")
    except Exception as err:  # noqa: BLE001 - the outcome the test judges
        outcomes.put(f"{type(err).__name__}: {err}")
    finally:
        catalog.close()


def _race(url: str, case: str, held_folder: str, folder: str) -> list[str]:
    """Hold the other run's INSERT of ``case`` (for ``held_folder``) open while ``RUNS``
    processes book ``case`` for ``folder``; commit it once they wait on it; their outcomes."""
    from sqlalchemy import text

    holder = Catalog(url)
    ctx = multiprocessing.get_context("spawn")
    outcomes = ctx.Queue()
    ready = [ctx.Event() for _ in range(RUNS)]
    runs = [ctx.Process(target=_book, args=(url, case, folder, r, outcomes)) for r in ready]
    try:
        with holder.engine.connect() as conn:
            with conn.begin():
                conn.execute(text(HELD[case]), {"folder": held_folder})
                for run in runs:
                    run.start()
                deadline = time.monotonic() + 120
                while not all(r.is_set() for r in ready):
                    assert time.monotonic() < deadline and all(r.is_alive() for r in runs)
                    time.sleep(0.02)
                _until_they_wait(holder, url, deadline)
            # committed: the runs go on
        found = [outcomes.get(timeout=120) for _ in runs]
        for run in runs:
            run.join(60)
        return found
    finally:
        for run in runs:
            if run.is_alive():
                run.kill()
        holder.close()


def _until_they_wait(holder: Catalog, url: str, deadline: float) -> None:
    """Until ``RUNS`` sessions wait on the held row (PostgreSQL: they looked, found nothing,
    and their INSERT waits for the held one); on SQLite, briefly (they wait on its lock)."""
    from sqlalchemy import text

    if url.startswith("sqlite"):
        time.sleep(0.5)
        return
    waiting = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                   " AND datname = current_database()")
    while True:
        with holder.engine.connect() as watch:  # a transaction sees one snapshot of the view
            if watch.execute(waiting).scalar() >= RUNS:
                return
        assert time.monotonic() < deadline, "the runs never waited on the held row"
        time.sleep(0.02)


@pytest.mark.parametrize("case", ["snapshot", "seed_set", "model"])
def test_runs_booking_one_name_for_one_folder_at_once_all_book_one_row(catalog_url, case):
    found = _race(catalog_url, case, "file:///data/one", "file:///data/one")
    assert found == ["booked"] * RUNS
    catalog = Catalog(catalog_url)
    try:
        table = {"snapshot": "snapshots", "seed_set": "seed_sets", "model": "models"}[case]
        assert catalog._one(f"SELECT count(*) AS n FROM {table}")["n"] == 1  # noqa: S608
    finally:
        catalog.close()


@pytest.mark.parametrize(("case", "taken"), [("snapshot", "SnapshotNameTaken"),
                                             ("seed_set", "SeedSetNameTaken")])
def test_a_run_booking_a_name_taken_meanwhile_for_another_folder_is_refused(catalog_url,
                                                                           case, taken):
    found = _race(catalog_url, case, "file:///data/first", "file:///data/second")
    assert len(found) == RUNS and all(f.startswith(f"{taken}: ") for f in found), found
    assert all("file:///data/first" in f and "name this one apart" in f for f in found)
    catalog = Catalog(catalog_url)
    try:
        row = (catalog.get_snapshot("snap") if case == "snapshot"
               else catalog.get_seed_set("seeds"))  # fmt: skip
        assert row[("output_uri" if case == "snapshot" else "uri")] == "file:///data/first"
    finally:
        catalog.close()


def test_the_dag_booking_a_snapshot_name_taken_meanwhile_names_its_param(catalog_url,
                                                                         tmp_path):
    """The refine DAG's plan booking a snapshot name another run booked meanwhile for
    another folder was refused with "name this one apart (--name)": prox's option, which a
    DAG run has not; the name checked before the booking named the same. Both name the
    snapshot_name Param (on PostgreSQL the runs find no row first: the refusal is the one
    after the insert met the other run's)."""
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "text": f"doc {i}"}
                                              for i in range(4)])  # fmt: skip
    out = str(tmp_path / "out")
    plan_shards(inp, out, target_docs=2)
    found = _race(catalog_url, "dag_plan", "file:///data/first", out)
    assert len(found) == RUNS and all(f.startswith("SnapshotNameTaken: ") for f in found), found
    assert all(f.endswith("name this one apart (snapshot_name, or the output_root it was "
                          "written under)") for f in found), found
    catalog = Catalog(catalog_url)
    try:
        assert catalog.get_snapshot("snap")["output_uri"] == "file:///data/first"
        assert catalog.get_shards("snap") == []
    finally:
        catalog.close()


def test_runs_planning_one_snapshot_at_once_book_each_shard_once(catalog_url, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "text": f"doc {i}"}
                                              for i in range(6)])  # fmt: skip
    out = str(tmp_path / "out")
    manifest = plan_shards(inp, out, target_docs=2)
    catalog = Catalog(catalog_url)
    try:
        catalog.register_snapshot("snap", "file:///in", out)
        found = _race(catalog_url, "shards", out, out)
        assert found == ["booked"] * RUNS
        shards = catalog.get_shards("snap")
        assert [s["shard_index"] for s in shards] == [s.index for s in manifest.shards]
        assert [s["docs_planned"] for s in shards] == [s.docs for s in manifest.shards]
    finally:
        catalog.close()


def test_two_runs_finishing_one_shard_at_once_count_it_once_in_the_totals(catalog_url):
    """Two runs book the same shard done at once (a ``--force`` rerun and the run it
    replaced): the snapshot's shard totals (migration 0011, what the report's overview
    reads) count it once. The first run's booking is held after it wrote the shard row,
    uncommitted, while the second books. On PostgreSQL the second run read the shard as
    it was before the first (``running``), then waited for the first's row lock, and added
    a second 'done' to the totals; each booking now writes the snapshot's row first, so the
    second waits there and reads the shard as the first committed it. (SQLite's ``BEGIN
    IMMEDIATE`` makes it wait before it reads.)"""
    import threading

    from sqlalchemy import event

    accounting = {"docs_read": 10, "docs_written": 9, "docs_kept": 8, "docs_dropped": 1,
                  "docs_quarantined": 1}
    with Catalog(catalog_url) as catalog:
        catalog.register_snapshot("snap", "in", "out")
        catalog._plan_shard(catalog.get_snapshot("snap")["id"], 0, 10, 100)
        catalog.start_shard("snap", 0)
    first, second = Catalog(catalog_url), Catalog(catalog_url)
    written, go = threading.Event(), threading.Event()

    def hold(conn, cursor, statement, *args):
        if statement.startswith("UPDATE shards SET status = 'done'"):
            written.set()
            assert go.wait(30)

    event.listen(first.engine, "after_cursor_execute", hold)
    errors = []

    def book(catalog):
        try:
            catalog.finish_shards("snap", [(0, accounting, 1.0)])
        except Exception as err:  # noqa: BLE001 - the test says it
            errors.append(err)

    runs = [threading.Thread(target=book, args=(first,))]
    runs[0].start()
    assert written.wait(30)
    runs.append(threading.Thread(target=book, args=(second,)))
    runs[1].start()
    time.sleep(1.0)  # the second run reaches the point where it waits for the first
    go.set()
    for run in runs:
        run.join(60)
    first.close()
    second.close()
    assert errors == []
    with Catalog(catalog_url) as catalog:
        [row] = catalog.report("snapshot_summary", suite=None, snapshot="snap")
    assert (row["shards"], row["shards_done"], row["attempts"], row["docs_kept"],
            row["docs_dropped"], row["docs_quarantined"]) == (1, 1, 1, 8, 1, 1)


def test_a_shard_booking_writes_its_snapshot_s_row_once(catalog_url):
    """Each booking of a shard wrote its snapshot's row twice: a no-op UPDATE to lock it,
    then the totals (two row versions a booking on PostgreSQL, left to its vacuum). The row
    is now locked without a write (``FOR UPDATE``; SQLite's BEGIN IMMEDIATE locks it all):
    one write a booking, the totals."""
    from sqlalchemy import event

    accounting = {"docs_read": 10, "docs_written": 9, "docs_kept": 8, "docs_dropped": 1,
                  "docs_quarantined": 1}
    with Catalog(catalog_url) as catalog:
        catalog.register_snapshot("snap", "in", "out")
        writes = []
        event.listen(catalog.engine, "before_cursor_execute",
                     lambda conn, cursor, statement, *args: writes.append(statement)
                     if statement.lstrip().upper().startswith("UPDATE SNAPSHOTS") else None)
        catalog._plan_shard(catalog.get_snapshot("snap")["id"], 0, 10, 100)
        assert len(writes) == 1, writes
        catalog.start_shard("snap", 0)
        assert len(writes) == 2, writes
        catalog.finish_shards("snap", [(0, accounting, 1.0)])
        assert len(writes) == 3, writes
        [row] = catalog.report("snapshot_summary", suite=None, snapshot="snap")
    assert (row["shards"], row["shards_done"], row["attempts"], row["docs_kept"]) == (1, 1, 1, 8)
