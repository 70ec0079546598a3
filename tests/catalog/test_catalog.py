"""The catalog API and its report queries, on SQLite and PostgreSQL."""

import pytest

from prox_tasks.catalog import Catalog, SnapshotNameTaken, default_url
from prox_tasks.corpus import Quarantine, plan_shards, read_shard, write_refined_shard
from tests.corpus.conftest import refine_rows, write_jsonl


@pytest.fixture
def catalog(catalog_url):
    cat = Catalog(catalog_url)
    yield cat
    cat.close()


def _refine_snapshot(catalog, name, tmp_path, rows, created_at=None):
    inp = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    out = str(tmp_path / name)
    manifest = plan_shards(inp, out, target_docs=10)
    catalog.register_snapshot(name, inp, out, manifest=manifest, created_at=created_at)
    for shard in manifest.shards:
        assert catalog.start_shard(name, shard.index) == 1
        quarantine = Quarantine()
        acc = write_refined_shard(out, shard.index,
                                  refine_rows(read_shard(manifest, shard.index, quarantine)),
                                  quarantine=quarantine)
        catalog.finish_shard(name, shard.index, acc, wall_seconds=0.5)
    return manifest


def test_snapshot_and_shard_life_cycle(catalog, tmp_path, sample_rows):
    rows = [*sample_rows[:24], {"id": "bad", "text": ""}]
    manifest = _refine_snapshot(catalog, "cc-2024-22", tmp_path, rows)
    snap = catalog.get_snapshot("cc-2024-22")
    assert (snap["num_shards"], snap["docs_planned"], snap["manifest_id"]) == \
        (3, 25, manifest.id)
    shards = catalog.get_shards("cc-2024-22")
    assert [s["status"] for s in shards] == ["done"] * 3
    assert sum(s["docs_read"] for s in shards) == 25
    assert sum(s["docs_quarantined"] for s in shards) == 1
    assert shards[2]["quarantine_reasons"] == {"empty_text": 1}
    assert all(len(s["checksum"]) == 64 for s in shards)
    # A retried shard counts its attempts; a failure keeps its error.
    assert catalog.start_shard("cc-2024-22", 1) == 2
    catalog.fail_shard("cc-2024-22", 1, "worker lost")
    failed = catalog.get_shard("cc-2024-22", 1)
    assert (failed["status"], failed["error"], failed["attempts"]) == ("failed", "worker lost", 2)
    progress = {r["status"]: r for r in catalog.report("shard_progress", snapshot="cc-2024-22")}
    assert progress["done"]["shards"] == 2 and progress["failed"]["attempts"] == 2
    # Registering the same plan again changes nothing.
    catalog.register_snapshot("cc-2024-22", manifest.input_uri, manifest.output_uri,
                              manifest=manifest, status="refined")
    assert len(catalog.get_shards("cc-2024-22")) == 3
    assert catalog.get_shard("cc-2024-22", 1)["attempts"] == 2  # its history kept
    replanned = plan_shards(manifest.input_uri, manifest.output_uri, target_docs=20,
                            overwrite=True)
    catalog.register_snapshot("cc-2024-22", manifest.input_uri, replanned.output_uri,
                              manifest=replanned)
    assert [s["docs_planned"] for s in catalog.get_shards("cc-2024-22")] == [20, 5]
    # The name stands for its folder: another folder's plan does not take it over.
    elsewhere = plan_shards(manifest.input_uri, str(tmp_path / "elsewhere"), target_docs=20)
    with pytest.raises(SnapshotNameTaken, match="'cc-2024-22' is booked for"):
        catalog.register_snapshot("cc-2024-22", manifest.input_uri, elsewhere.output_uri,
                                  manifest=elsewhere)
    assert catalog.get_snapshot("cc-2024-22")["output_uri"] == manifest.output_uri


def test_unbalanced_accounting_is_refused(catalog):
    catalog.register_snapshot("s", "in", "out")
    with pytest.raises(ValueError, match="does not balance"):
        catalog.finish_shard("s", 0, {"docs_read": 10, "docs_written": 8,
                                      "docs_quarantined": 1})


def test_drop_rate_per_snapshot_over_time(catalog, tmp_path, sample_rows):
    _refine_snapshot(catalog, "later", tmp_path, sample_rows[:20],
                     created_at="2024-06-01T00:00:00+00:00")
    _refine_snapshot(catalog, "earlier", tmp_path, [*sample_rows[20:30], {"id": "x", "text": ""}],
                     created_at="2024-05-01T00:00:00+00:00")
    report = catalog.report("drop_rate_by_snapshot")
    assert [r["snapshot"] for r in report] == ["earlier", "later"]
    for r in report:
        assert r["docs_read"] == r["docs_kept"] + r["docs_dropped"] + r["docs_quarantined"]
        assert float(r["drop_rate"]) == pytest.approx(r["docs_dropped"] / (r["docs_kept"] + r["docs_dropped"]), abs=1e-4)
    assert float(report[0]["quarantine_rate"]) == pytest.approx(1 / 11, abs=1e-4)
    assert catalog.report("quarantine_reasons", snapshot="earlier")[0]["reasons"] == \
        '{"empty_text": 1}'


def test_seed_sets_models_and_promotion(catalog):
    catalog.register_seed_set("seeds-v1", "rules", "file:///seeds.jsonl", 500, {"kept": 0.7})
    catalog.register_model("refiner", "1", "file:///m1", metrics={"f1": 0.61},
                           seed_set="seeds-v1", promoted=True)
    catalog.register_model("refiner", "2", "file:///m2", metrics={"f1": 0.55})
    assert catalog.promoted_model("refiner")["version"] == "1"
    catalog.update_model_metrics("refiner", "2", {"f1": 0.70})
    catalog.promote_model("refiner", "2")
    models = catalog.list_models("refiner")
    assert [(m["version"], m["promoted"]) for m in models] == [("1", False), ("2", True)]
    assert catalog.promoted_model("refiner")["metrics"] == {"f1": 0.70}
    board = catalog.report("model_leaderboard")
    assert board[0]["version"] == "2" and board[1]["seed_set"] == "seeds-v1"
    with pytest.raises(KeyError):
        catalog.promote_model("refiner", "9")


def test_releases_need_a_passing_quality_report(catalog):
    catalog.register_snapshot("s", "in", "out", status="refined")
    catalog.register_model("refiner", "1", "file:///m1")
    failed = catalog.add_quality_report("s", "refined_snapshot", False, {"failed": 2})
    with pytest.raises(ValueError, match="failed"):
        catalog.register_release("r1", "s", "file:///r1", quality_report_id=failed)
    passed = catalog.add_quality_report("s", "refined_snapshot", True, {"failed": 0})
    assert catalog.latest_quality_report("s")["id"] == passed
    catalog.register_release("r1", "s", "file:///r1", quality_report_id=passed,
                             model=("refiner", "1"), docs=123)
    assert catalog.get_snapshot("s")["status"] == "released"
    [release] = catalog.list_releases()
    assert (release["release"], release["gate_passed"], release["docs"]) == ("r1", True, 123)
    with pytest.raises(ValueError, match="exists"):
        catalog.register_release("r1", "s", "file:///r1", quality_report_id=passed)


def test_unknown_report_is_a_clear_error(catalog):
    with pytest.raises(KeyError, match="no report"):
        catalog.report("nope")


def test_default_url(monkeypatch, tmp_path):
    monkeypatch.delenv("PROX_CATALOG_URL", raising=False)
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    assert default_url() == f"sqlite:///{tmp_path}/home/catalog.sqlite"
    monkeypatch.setenv("PROX_CATALOG_URL", "postgresql://u@h/db")
    assert default_url() == "postgresql://u@h/db"
    monkeypatch.delenv("PROX_CATALOG_URL")
    Catalog().close()
    assert (tmp_path / "home" / "catalog.sqlite").exists()


def test_a_promotion_in_one_registry_keeps_another_registrys_promotion(catalog):
    catalog.register_model("refiner", "prod-1", "s3://prod/refiner/prod-1", promoted=True,
                           registry="s3://prod")
    catalog.register_model("refiner", "exp-1", "file:///exp/refiner/exp-1", promoted=True,
                           registry="file:///exp")
    promoted = {m["version"]: m["registry"] for m in catalog.list_models() if m["promoted"]}
    assert promoted == {"prod-1": "s3://prod", "exp-1": "file:///exp"}
    assert catalog.promoted_model("refiner", registry="s3://prod")["version"] == "prod-1"
    assert catalog.promoted_model("refiner", registry="file:///exp")["version"] == "exp-1"
    assert catalog.promoted_model("refiner")["version"] == "exp-1"  # the latest promotion
    catalog.register_model("refiner", "prod-2", "s3://prod/refiner/prod-2", promoted=True,
                           registry="s3://prod")
    promoted = sorted(m["version"] for m in catalog.list_models() if m["promoted"])
    assert promoted == ["exp-1", "prod-2"]
    assert catalog.promoted_model("refiner")["version"] == "prod-2"
    assert catalog.promoted_model("refiner", registry="s3://nowhere") is None


def test_a_seed_set_name_is_not_moved_to_another_folder(catalog):
    """Registering seed set ``name`` for another folder moved its row there: a model trained
    on the first one pointed at the second. It is refused; the same folder updates its row."""
    from prox_tasks.catalog.catalog import SeedSetNameTaken

    first = catalog.register_seed_set("s", "rules", "file:///seeds/a", 10)
    assert catalog.register_seed_set("s", "rules", "file:///seeds/a", 12) == first
    with pytest.raises(SeedSetNameTaken, match="seed set name 's' is registered for "
                       "file:///seeds/a, not file:///seeds/b; name this one apart"):
        catalog.register_seed_set("s", "diff", "file:///seeds/b", 20)
    row = catalog.get_seed_set("s")
    assert (row["uri"], row["teacher"], row["num_docs"]) == ("file:///seeds/a", "rules", 12)


def test_a_seed_set_name_is_one_path_component_as_a_snapshot_name_is(catalog):
    """register_seed_set took any name (``build_seed_set(name="x y")`` registered it); the
    seed DAG refuses such a seed_set_name, and register_snapshot such a snapshot name."""
    from prox_tasks.storage.names import InvalidName

    for name in ("x y", "a/b", ".."):
        with pytest.raises(InvalidName, match="invalid seed-set name"):
            catalog.register_seed_set(name, "rules", "file:///seeds/a", 10)
        assert catalog.get_seed_set(name) is None


def test_a_seed_set_folder_written_with_or_without_its_trailing_slash_keeps_its_row(catalog):
    """prox label --seed-set --output seeds/ (a shell's completion adds the slash) after
    --output seeds was refused as SeedSetNameTaken 'registered for .../seeds, not
    .../seeds/': one folder (storage.uri.same_uri, as for a snapshot's). Its row keeps the
    first spelling."""
    first = catalog.register_seed_set("s", "rules", "s3://bucket/seeds", 10)
    catalog.check_seed_set_name("s", "s3://bucket/seeds/")
    assert catalog.register_seed_set("s", "rules", "s3://bucket/seeds/", 12) == first
    row = catalog.get_seed_set("s")
    assert (row["uri"], row["num_docs"]) == ("s3://bucket/seeds", 12)


def test_a_sqlite_file_that_is_no_catalog_is_refused_untouched(tmp_path, capsys):
    """--catalog (or PROX_CATALOG_URL) naming another program's SQLite file got the
    catalog's tables written into it and the snapshot booked there; a file that is no
    database failed with "DatabaseError: file is not a database". Both are refused before
    anything is written, naming the way out, exit 2 (a setting to fix: it exited 1, as a
    failure a rerun may get past); an empty file becomes a catalog."""
    import sqlite3
    from pathlib import Path

    from prox_tasks.cli import main

    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = other.read_bytes()
    src = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
        "commoncrawl_warc" / "whirlwind.warc.wet.gz"  # fmt: skip
    assert main(["refine", "--input", str(src), "--output", str(tmp_path / "out"),
                 "--model", "default", "--catalog", f"sqlite:///{other}",
                 "--no-progress"]) == 2  # a setting to fix: a rerun cannot get past it
    err = capsys.readouterr().err
    assert f"{other} is a SQLite database but no prox catalog (its tables: users); nothing " \
        "was written to it: give a catalog's URL (--catalog or --url, else " \
        "PROX_CATALOG_URL), or a path where no file is yet" in err, err
    assert other.read_bytes() == before and not (tmp_path / "out").exists()
    text = tmp_path / "notes.txt"
    text.write_text("not a database, but long enough to be read as one's header\n" * 3)
    assert main(["catalog", "--url", f"sqlite:///{text}", "list", "snapshots"]) == 2
    assert f"{text} is not a SQLite database, so no prox catalog: give a catalog's URL" in \
        capsys.readouterr().err
    from prox_tasks.catalog.engine import NotACatalog

    with pytest.raises(NotACatalog):
        Catalog(f"sqlite:///{other}")
    empty = tmp_path / "new.sqlite"
    empty.touch()
    Catalog(f"sqlite:///{empty}").close()  # an empty file: a new catalog


def test_a_folder_written_with_or_without_its_trailing_slash_keeps_its_name(catalog, tmp_path):
    """`prox refine --output out/` booked, then `--output out` (or the reverse): one folder,
    one name: not refused as another folder's name, nor booked apart under a digest."""
    catalog.register_snapshot("out", "in", f"{tmp_path.as_uri()}/out/", status="failed")
    catalog.check_snapshot_name("out", str(tmp_path / "out"))
    assert catalog.default_snapshot_name(str(tmp_path / "out")) == "out"
    assert catalog.default_snapshot_name(f"{tmp_path}/out//") == "out"
    with pytest.raises(SnapshotNameTaken):
        catalog.check_snapshot_name("out", str(tmp_path / "out2"))


def _statements(catalog):
    """The queries (SELECT statements) ``catalog`` sends from now on (a list that fills)."""
    from sqlalchemy import event

    sent = []

    def record(conn, cursor, statement, *_):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append(statement)

    event.listen(catalog.engine, "before_cursor_execute", record)
    return sent


def test_the_gate_history_is_one_query_whatever_the_number_of_releases(catalog):
    """The gate's history (refresh.released_history) asked for the latest gate report of
    every release ever booked, one query each: a nightly catalog adds a release a night, so
    after three years each gate sent ~1,000 queries for the 10 it keeps. Now one query,
    with the same rows: the latest report of the suite per released snapshot, passing and
    with stats, the last ``size`` of them, oldest first, the excluded snapshot left out."""
    from prox_tasks.pipeline.refresh import released_history
    from prox_tasks.release import GATE_SUITE

    def book(name, *reports, release=True):
        catalog.register_snapshot(name, "in", f"out/{name}", status="refined")
        ids = [catalog.add_quality_report(name, suite, ok, stats)
               for suite, ok, stats in reports]
        passing = [i for i, (_, ok, _) in zip(ids, reports, strict=True) if ok]
        if release:
            catalog.register_release(name, name, f"file:///r/{name}",
                                     quality_report_id=passing[0] if passing else None)

    for n in range(4):
        book(f"night-{n}", (GATE_SUITE, True, {"night": n}))
    book("regated-failed", (GATE_SUITE, True, {"night": "old"}), (GATE_SUITE, False, {"x": 1}))
    book("other-suite-last", (GATE_SUITE, True, {"night": 4}), ("other", True, {"x": 2}))
    book("no-stats", (GATE_SUITE, True, None))
    book("empty-stats", (GATE_SUITE, True, {}))
    book("not-released", (GATE_SUITE, True, {"night": "unreleased"}), release=False)
    book("this-one", (GATE_SUITE, True, {"night": "this"}))
    sent = _statements(catalog)
    assert released_history(catalog, "this-one", 3) == [{"night": 2}, {"night": 3},
                                                        {"night": 4}]
    assert released_history(catalog, "this-one", 10) == [{"night": n} for n in range(5)]
    assert released_history(catalog, "night-0", 2) == [{"night": 4}, {"night": "this"}]
    assert len(sent) == 3, sent  # one a call: was one per release, plus the list
    for n in range(5, 40):
        book(f"night-{n}", (GATE_SUITE, True, {"night": n}))
    sent.clear()
    assert released_history(catalog, "this-one", 3) == [{"night": n} for n in (37, 38, 39)]
    assert len(sent) == 1, sent


def test_a_release_looks_its_name_up_without_listing_every_release(catalog, tmp_path):
    """Releasing checked whether its name was booked by listing every release of the
    catalog (the release_history report, three times a release): rows that grow by one a
    night. Now one lookup of the name (release.release_booked)."""
    from prox_tasks.release import GATE_SUITE
    from prox_tasks.release.release import catalog_refusal

    for n in range(3):
        catalog.register_snapshot(f"night-{n}", "in", f"{tmp_path}/night-{n}", status="refined")
        report = catalog.add_quality_report(f"night-{n}", GATE_SUITE, True, {"n": n})
        catalog.register_release(f"night-{n}", f"night-{n}", "file:///r",
                                 quality_report_id=report)
    catalog.register_snapshot("new", "in", f"{tmp_path}/new", status="refined")
    catalog.add_quality_report("new", GATE_SUITE, True, {"n": 3})
    sent = _statements(catalog)
    assert catalog_refusal(catalog, "new", f"{tmp_path}/new") is None
    assert catalog_refusal(catalog, "night-1", f"{tmp_path}/night-1") is None  # booked: fine
    assert catalog.release_booked("night-2") and not catalog.release_booked("new")
    assert not [s for s in sent if "FROM releases r" in s], sent  # the whole list's query


def test_the_snapshot_summary_sums_shards_without_sorting_their_rows(tmp_path):
    """The report's snapshot list (the snapshot_summary report, every view of the PROX
    report) grouped the join of snapshots, shards and the latest gate report by every
    column, the report's stats text included: SQLite sorted every shard row of every
    snapshot with those columns (a temporary B-tree), 2 s a view for a year of nightly
    snapshots of 500 shards. The shards are now summed per snapshot id, then joined: no
    sort of shard rows, the same totals."""
    import json
    import sqlite3

    from prox_tasks.release import GATE_SUITE

    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    for name, shards in (("a", 3), ("b", 0), ("c", 2)):
        catalog.register_snapshot(name, "in", f"{tmp_path}/{name}", status="refined")
        for index in range(shards):
            catalog._plan_shard(catalog.get_snapshot(name)["id"], index, 10, 100)
    catalog.start_shard("a", 0)
    catalog.finish_shard("a", 0, {"docs_read": 10, "docs_written": 9, "docs_kept": 8,
                                  "docs_dropped": 1, "docs_quarantined": 1}, wall_seconds=1.0)
    catalog.start_shard("a", 1)
    catalog.add_quality_report("a", GATE_SUITE, False, {"n": 1})
    catalog.add_quality_report("a", GATE_SUITE, True, {"n": 2})
    catalog.add_quality_report("a", "other", False, {"n": 3})
    rows = {r["name"]: r for r in catalog.report("snapshot_summary", suite=GATE_SUITE,
                                                  snapshot=None)}
    assert [(rows[n]["shards"], rows[n]["shards_done"], rows[n]["attempts"], rows[n]["docs_kept"],
             rows[n]["docs_dropped"], rows[n]["docs_quarantined"]) for n in "abc"] == \
        [(3, 1, 2, 8, 1, 1), (0, 0, 0, 0, 0, 0), (2, 0, 0, 0, 0, 0)]  # fmt: skip
    assert (rows["a"]["gate_success"], json.loads(rows["a"]["gate_stats"])) == (1, {"n": 2})
    assert rows["b"]["gate_success"] is None
    [only] = catalog.report("snapshot_summary", suite=None, snapshot="a")
    assert (only["name"], only["shards"], json.loads(only["gate_stats"])) == ("a", 3, {"n": 3})
    sql = catalog._report_sql("snapshot_summary")
    with sqlite3.connect(f"{tmp_path}/cat.sqlite") as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}",  # noqa: S608
                                               {"suite": GATE_SUITE, "snapshot": None})]
    assert not [step for step in plan if "GROUP BY" in step], plan
    # nor does it read a shard row: the totals are the snapshot's own (migration 0011)
    assert not [step for step in plan if "shards" in step or " sh " in f"{step} "], plan
    catalog.close()


def _totals_of_rows(catalog, name):
    """What snapshot_summary summed over snapshot ``name``'s shard rows before 0011."""
    rows = catalog.get_shards(name)
    done = [r for r in rows if r["status"] == "done"]
    return (len(rows), len(done), sum(r["attempts"] for r in rows),
            *(sum(r[k] or 0 for r in done)
              for k in ("docs_kept", "docs_dropped", "docs_quarantined")))


def test_each_booking_of_a_shard_keeps_its_snapshots_totals(catalog, tmp_path, sample_rows):
    """The overview's list (snapshot_summary) reads each snapshot's shard totals, kept by
    every booking of its shards (a plan, a re-plan with fewer shards, a start, a finish
    alone or in a group, a failure, a dead attempt, a withdrawn attempt, a shard not run, a
    shard no plan booked): after each, the same as summing its shard rows. Another
    snapshot's totals stay as they are."""
    from prox_tasks.refine import runner as runners

    rows = [*sample_rows[:24], {"id": "bad", "text": ""}]
    manifest = _refine_snapshot(catalog, "s", tmp_path, rows)  # plan, start and finish 3
    _refine_snapshot(catalog, "other", tmp_path, sample_rows[:10])
    other = catalog.report("snapshot_summary", suite=None, snapshot="other")

    def summary():
        [row] = catalog.report("snapshot_summary", suite=None, snapshot="s")
        snap = catalog.get_snapshot("s")  # the snapshot's own columns, which the list reads
        assert (snap["shards_booked"], snap["shards_done"], snap["shard_attempts"],
                snap["done_docs_kept"]) == (row["shards"], row["shards_done"], row["attempts"],
                                            row["docs_kept"])
        return tuple(row[k] for k in ("shards", "shards_done", "attempts", "docs_kept",
                                      "docs_dropped", "docs_quarantined"))

    assert summary() == _totals_of_rows(catalog, "s") == (3, 3, 3, 16, 8, 1)
    me = runners.current()
    steps = [
        lambda: catalog.fail_shard("s", 0, "its record does not balance"),  # a done shard's
        lambda: catalog.shard_not_run("s", 1, "not run: stopped"),
        lambda: catalog.start_shard("s", 1, me),
        lambda: catalog.fail_running_shard("s", 1, {"host": "elsewhere"}, "not mine"),
        lambda: catalog.fail_running_shard("s", 1, me, "died"),
        lambda: catalog.start_shard("s", 2, me),
        lambda: catalog.withdraw_attempt("s", 2),
        lambda: catalog.shard_not_run("s", 2, "not run: another shard failed"),
        lambda: catalog.start_shard("s", 0),
        lambda: catalog.fail_shard("s", 0, "worker lost"),
        lambda: catalog.finish_shards("s", [(i, {"docs_read": 4, "docs_written": 3,
                                                 "docs_kept": 2, "docs_dropped": 1,
                                                 "docs_quarantined": 1}, 1.0)
                                            for i in (0, 1, 2, 5)]),  # 5: booked by no plan
        lambda: catalog.start_shard("s", 7),  # nor 7
        lambda: catalog.register_snapshot(  # a re-plan of 2 shards: the rows past them go
            "s", manifest.input_uri, manifest.output_uri,
            manifest=plan_shards(manifest.input_uri, manifest.output_uri, target_docs=20,
                                 overwrite=True)),
        lambda: catalog._plan_shard(catalog.get_snapshot("s")["id"], 4, 3, 30),
    ]
    seen = set()
    for step in steps:
        step()
        seen.add(summary())
        assert summary() == _totals_of_rows(catalog, "s"), step
    assert len(seen) >= 8  # the steps changed the totals
    assert catalog.report("snapshot_summary", suite=None, snapshot="other") == other


def test_the_drop_rate_report_sums_shards_without_sorting_their_rows(tmp_path, sample_rows):
    """`prox catalog report drop_rate_by_snapshot` grouped the done shards joined to their
    snapshot by its name and date: SQLite sorted every shard row (580 ms for a year of
    nightly snapshots of 500 shards). The shards are summed per snapshot id along its index
    first: no sort of shard rows; the rates are test_drop_rate_per_snapshot_over_time's."""
    import sqlite3

    catalog = Catalog(f"sqlite:///{tmp_path}/cat.sqlite")
    _refine_snapshot(catalog, "s", tmp_path, sample_rows[:20])
    catalog.register_snapshot("planned-only", "in", f"{tmp_path}/p", status="planned")
    [row] = catalog.report("drop_rate_by_snapshot")  # a snapshot without done shards: none
    assert (row["snapshot"], row["shards_done"], row["docs_read"]) == ("s", 2, 20)
    sql = catalog._report_sql("drop_rate_by_snapshot")
    with sqlite3.connect(f"{tmp_path}/cat.sqlite") as conn:
        plan = [step[3] for step in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]  # noqa: S608
    assert not [step for step in plan if "GROUP BY" in step], plan
    # nor does it read a shard row: the done shards' totals are the snapshot's own (0011)
    assert not [step for step in plan if "shards" in step or " sh " in f"{step} "], plan
    catalog.close()


def test_a_long_error_is_stored_cut_in_its_middle_keeping_where_it_failed(tmp_path):
    """A shard's or snapshot's error was stored as its first 4,000 characters: a traceback
    or an error quoting a document lost its end, where it says which file and line failed.
    It is cut in its middle now, its end kept."""
    from prox_tasks.catalog import Catalog

    error = "ValueError: " + "y" * 9000 + ' (File "/data/part-7.jsonl", line 4211)'
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        catalog.register_snapshot("s", "in", "out")
        catalog.start_shard("s", 0)
        catalog.fail_shard("s", 0, error)
        catalog.fail_snapshot("s", error)
        for stored in (catalog.get_shard("s", 0)["error"], catalog.get_snapshot("s")["error"]):
            assert len(stored) == 4000 and stored.startswith("ValueError: yyy")
            assert stored.endswith('y (File "/data/part-7.jsonl", line 4211)'), stored[-80:]
