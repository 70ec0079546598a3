"""Versioned migrations: applied automatically, once, in order, on SQLite and PostgreSQL."""

import json
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from prox_tasks.catalog import Catalog, MigrationError, load_migrations, sql_dir

TABLES = {"schema_migrations", "snapshots", "shards", "seed_sets", "models", "quality_reports",
          "releases"}


def test_fresh_catalog_applies_every_migration_once(catalog_url):
    catalog = Catalog(catalog_url)
    versions = [m.version for m in load_migrations()]
    assert versions == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert [m["version"] for m in catalog.applied_migrations()] == versions
    assert TABLES <= set(inspect(catalog.engine).get_table_names())
    shard_columns = {c["name"] for c in inspect(catalog.engine).get_columns("shards")}
    assert {"attempts", "checksum", "docs_quarantined", "wall_seconds"} <= shard_columns
    snapshot_columns = {c["name"] for c in inspect(catalog.engine).get_columns("snapshots")}
    assert {"logical_date", "dag_run_id", "model_version", "error"} <= snapshot_columns
    model_columns = {c["name"] for c in inspect(catalog.engine).get_columns("models")}
    assert {"registry", "promoted_at"} <= model_columns
    release_columns = {c["name"] for c in inspect(catalog.engine).get_columns("releases")}
    assert {"dag_run_id", "released_by"} <= release_columns
    assert catalog.migrate() == []  # idempotent
    again = Catalog(catalog_url)  # opening again migrates nothing
    assert [m["checksum"] for m in again.applied_migrations()] == \
        [m.checksum for m in load_migrations()]
    catalog.close()
    again.close()


def test_new_migrations_apply_on_the_next_open(catalog_url, tmp_path, monkeypatch):
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    Catalog(catalog_url).register_snapshot("s", "in", "out")
    (folder / "migrations" / "0099_snapshot_notes.sql").write_text(
        "-- a later release adds a column\nALTER TABLE snapshots ADD COLUMN notes TEXT;\n")
    catalog = Catalog(catalog_url)
    assert [m["version"] for m in catalog.applied_migrations()] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99]
    assert catalog.get_snapshot("s")["notes"] is None  # data kept, column added


def test_a_release_booked_before_0009_keeps_working_with_no_run(catalog_url, tmp_path,
                                                                 monkeypatch):
    """A catalog at migration 0008 with a release row (as register_release wrote it then):
    opening it adds the releasing run as empty, the release lists with no run, and a new
    release books its run."""
    from sqlalchemy import text

    from prox_tasks.catalog.catalog import now

    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    (folder / "migrations" / "0009_release_runs.sql").unlink()
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    with Catalog(catalog_url) as old:
        for name in ("crawl-old", "crawl-new"):
            old.register_snapshot(name, f"in/{name}", f"out/{name}")
        report = old.add_quality_report("crawl-old", "prox_gate", True, stats={})
        with old.engine.begin() as conn:  # the INSERT of register_release before 0009
            conn.execute(text(
                "INSERT INTO releases (name, snapshot_id, quality_report_id, model_id, uri,"
                " docs, notes, created_at) VALUES ('crawl-old', (SELECT id FROM snapshots"
                " WHERE name = 'crawl-old'), :q, NULL, 'out/crawl-old', 5, NULL, :c)"),
                {"q": report, "c": now()})
    monkeypatch.delenv("PROX_SQL_DIR")
    with Catalog(catalog_url) as catalog:
        assert catalog.applied_migrations()[-1]["version"] == 11
        catalog.register_release("crawl-new", "crawl-new", "out/crawl-new",
                                  dag_run_id="scheduled__2026-03-02T00:00:00+00:00")
        runs = {r["release"]: r["dag_run_id"] for r in catalog.list_releases()}
    assert runs == {"crawl-old": None, "crawl-new": "scheduled__2026-03-02T00:00:00+00:00"}


def test_releases_booked_before_0010_read_with_no_origin_and_new_ones_keep_theirs(
        catalog_url, tmp_path, monkeypatch):
    """A catalog at migration 0009 with two releases as register_release wrote them then
    (one by a DAG run, one with no run): opening it adds who released them as empty, both
    list with their run as before, and a new release keeps its origin (JSON, both dialects)."""
    from sqlalchemy import text

    from prox_tasks.catalog.catalog import now
    from prox_tasks.release import origin

    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    (folder / "migrations" / "0010_release_origins.sql").unlink()
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    run = "scheduled__2026-03-01T00:00:00+00:00"
    with Catalog(catalog_url) as old:
        for name in ("by-run", "no-run", "by-cli"):
            old.register_snapshot(name, f"in/{name}", f"out/{name}")
        with old.engine.begin() as conn:  # the INSERT of register_release at 0009
            for name, run_id in (("by-run", run), ("no-run", None)):
                conn.execute(text(
                    "INSERT INTO releases (name, snapshot_id, quality_report_id, model_id, uri,"
                    " docs, notes, dag_run_id, created_at) VALUES (:n, (SELECT id FROM"
                    " snapshots WHERE name = :n), NULL, NULL, :u, 5, NULL, :r, :c)"),
                    {"n": name, "u": f"out/{name}", "r": run_id, "c": now()})
    monkeypatch.delenv("PROX_SQL_DIR")
    cli = {"origin": "cli", "user": "alice", "host": "build-1"}
    with Catalog(catalog_url) as catalog:
        assert catalog.applied_migrations()[-1]["version"] == 11
        catalog.register_release("by-cli", "by-cli", "out/by-cli", released_by=cli)
        rows = {r["release"]: r for r in catalog.list_releases()}
    assert {n: (r["dag_run_id"], r["released_by"]) for n, r in rows.items()} == {
        "by-run": (run, None), "no-run": (None, None), "by-cli": (None, cli)}
    assert [origin.of_release(r["released_by"], r["dag_run_id"])["origin"]
            for r in rows.values()] == ["dag_run", "unknown", "cli"]


def test_a_catalog_before_0011_gets_each_snapshots_shard_totals_filled_in(
        catalog_url, tmp_path, monkeypatch):
    """A catalog at migration 0010 with shard rows as the booking wrote them then (done,
    failed, running, planned; one snapshot without shards): opening it adds each snapshot's
    shard totals summed from its rows, which the overview's list (snapshot_summary) reads,
    and the next booking adjusts them."""
    from sqlalchemy import text

    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    (folder / "migrations" / "0011_snapshot_shard_totals.sql").unlink()
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    shards = {"a": [("done", 1, 10, 9, 8, 1, 1), ("done", 2, 5, 5, 5, 0, 0),
                    ("failed", 3, None, None, None, None, None), ("running", 1, 7, 7, 7, 0, 0)],
              "b": [("planned", 0, None, None, None, None, None)], "c": []}
    with Catalog(catalog_url) as old:
        for name, rows in shards.items():
            old.register_snapshot(name, f"in/{name}", f"out/{name}")
            with old.engine.begin() as conn:  # the shard rows as the booking wrote them
                for index, (status, attempts, read, written, kept, dropped, quar) in \
                        enumerate(rows):
                    conn.execute(text(
                        "INSERT INTO shards (snapshot_id, shard_index, status, attempts,"
                        " docs_read, docs_written, docs_kept, docs_dropped, docs_quarantined)"
                        " VALUES ((SELECT id FROM snapshots WHERE name = :n), :i, :st, :at,"
                        " :r, :w, :k, :d, :q)"),
                        {"n": name, "i": index, "st": status, "at": attempts, "r": read,
                         "w": written, "k": kept, "d": dropped, "q": quar})
    monkeypatch.delenv("PROX_SQL_DIR")
    with Catalog(catalog_url) as catalog:
        assert catalog.applied_migrations()[-1]["version"] == 11
        totals = {r["name"]: (r["shards"], r["shards_done"], r["attempts"], r["docs_kept"],
                              r["docs_dropped"], r["docs_quarantined"])
                  for r in catalog.report("snapshot_summary", suite=None, snapshot=None)}
        assert totals == {"a": (4, 2, 7, 13, 1, 1), "b": (1, 0, 0, 0, 0, 0),
                          "c": (0, 0, 0, 0, 0, 0)}
        snapshot = catalog.get_snapshot("a")
        assert (snapshot["done_docs_read"], snapshot["done_docs_written"]) == (15, 14)
        catalog.finish_shard("a", 3, {"docs_read": 7, "docs_written": 7, "docs_kept": 6,
                                      "docs_dropped": 1, "docs_quarantined": 0})
        [row] = catalog.report("snapshot_summary", suite=None, snapshot="a")
        assert (row["shards_done"], row["docs_kept"], row["docs_dropped"]) == (3, 19, 2)


def test_an_edited_applied_migration_is_refused(catalog_url, tmp_path, monkeypatch):
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    Catalog(catalog_url)
    path = folder / "migrations" / "0002_shard_timing_and_release_counts.sql"
    path.write_text(path.read_text() + "\nCREATE INDEX ix_extra ON shards (status);\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        Catalog(catalog_url)


def test_a_failing_migration_rolls_back_and_is_not_recorded(catalog_url, tmp_path, monkeypatch):
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    Catalog(catalog_url)
    (folder / "migrations" / "0099_broken.sql").write_text(
        "CREATE TABLE half_done (x INTEGER);\nALTER TABLE no_such_table ADD COLUMN y TEXT;\n")
    with pytest.raises(DBAPIError, match="no_such_table"):  # the driver's error, either dialect
        Catalog(catalog_url)
    catalog = Catalog(catalog_url, auto_migrate=False)
    assert [m["version"] for m in catalog.applied_migrations()] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert "half_done" not in inspect(catalog.engine).get_table_names()


def test_concurrent_migrations_apply_once(catalog_url):
    errors, catalogs = [], []

    def open_catalog():
        try:
            catalogs.append(Catalog(catalog_url))
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=open_catalog) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [m["version"] for m in catalogs[0].applied_migrations()] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]


def test_migration_files_are_well_named():
    names = [p.name for p in sorted((sql_dir() / "migrations").glob("*.sql"))]
    assert names and all(Path(n).stem[:4].isdigit() for n in names)


def test_a_shard_booked_before_its_counters_were_added_says_not_recorded(
        catalog_url, tmp_path, monkeypatch, capsys):
    """A catalog at migration 0001 with a snapshot's shards as the booking wrote them then:
    opened by this prox (migrated for real), a done shard holds NULL in the counters later
    migrations added (wall time, drop reasons, program errors, input notices), which
    ``prox catalog list shards`` showed as blank cells and the report's shard table as
    "–", as if nothing were there. Both now say "not recorded" of a done shard (--json
    keeps null); a shard not done has no figures yet and stays blank."""
    import re

    from sqlalchemy import text

    from prox_tasks.cli import main
    from prox_tasks.report import pages

    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    for later in (folder / "migrations").glob("*.sql"):
        if not later.name.startswith("0001_"):
            later.unlink()
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    out = tmp_path / "out"
    with Catalog(catalog_url) as old:
        assert [m["version"] for m in old.applied_migrations()] == [1]
    with Catalog(catalog_url) as old, old.engine.begin() as conn:  # as booked at 0001
        conn.execute(text(
            "INSERT INTO snapshots (name, input_uri, output_uri, status, num_shards,"
            " docs_planned, created_at, updated_at) VALUES ('old', 'in', :o, 'refined', 2, 20,"
            " '2025-01-01T00:00:00', '2025-01-01T00:00:00')"), {"o": str(out)})
        for index, status, read in ((0, "done", 10), (1, "planned", None)):
            conn.execute(text(
                "INSERT INTO shards (snapshot_id, shard_index, status, attempts, docs_planned,"
                " bytes_planned, docs_read, docs_written, docs_kept, docs_dropped,"
                " docs_quarantined) VALUES ((SELECT id FROM snapshots WHERE name = 'old'),"
                " :i, :st, 1, 10, 100, :r, :r, :r, 0, 0)"),
                {"i": index, "st": status, "r": read})
    monkeypatch.delenv("PROX_SQL_DIR")
    assert main(["catalog", "migrate", "--url", catalog_url]) == 0
    assert "10 migrations applied now, at version 11" in capsys.readouterr().out
    assert main(["catalog", "list", "shards", "--snapshot", "old", "--url", catalog_url]) == 0
    header, done, planned, _ = capsys.readouterr().out.splitlines()
    columns = ("wall_seconds", "drop_reasons", "program_errors", "docs_with_program_errors",
               "input_notices")
    starts = [header.index(c) for c in columns]
    assert [done[s:s + 12] for s in starts] == ["not recorded"] * 5, done
    assert "not recorded" not in planned
    assert main(["catalog", "list", "shards", "--snapshot", "old", "--url", catalog_url,
                 "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [rows[0][c] for c in columns] == [None] * 5
    monkeypatch.setenv("PROX_REPORT_ROOTS", str(tmp_path))
    with Catalog(catalog_url) as catalog:
        page = pages.snapshot_page(catalog, "old", "/prox", "http://airflow")
    cells = [re.sub(r"<[^>]+>", " ", row).split() for row in page.split("<tr>")
             if "shard-0000" in row]
    assert [("not" in c, c[:2]) for c in cells] == [(True, ["shard-00000", "done"]),
                                                     (False, ["shard-00001", "planned"])]
