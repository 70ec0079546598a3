"""``prox catalog``: migrate, status, list, report."""

import json
import re

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.catalog.migrations import load_migrations
from prox_tasks.cli import main


def test_prox_catalog_commands(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["catalog", "--json", "--url", url, "migrate"]) == 0
    assert json.loads(capsys.readouterr().out)["applied_now"] == [m.version for m in load_migrations()]
    assert main(["catalog", "--json", "--url", url, "migrate"]) == 0
    assert json.loads(capsys.readouterr().out)["applied_now"] == []
    catalog = Catalog(url)
    catalog.register_snapshot("s", "in", "out")
    catalog.finish_shard("s", 0, {"docs_read": 3, "docs_written": 3, "docs_kept": 2,
                                  "docs_dropped": 1, "docs_quarantined": 0})
    assert main(["catalog", "--json", "--url", url, "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["rows"]["snapshots"] == 1 and status["rows"]["shards"] == 1
    assert main(["catalog", "--json", "--url", url, "list", "shards", "--snapshot", "s"]) == 0
    assert json.loads(capsys.readouterr().out)["docs_kept"] == 2
    assert main(["catalog", "--json", "--url", url, "report"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"name": "drop_rate_by_snapshot", "params": []} in reports
    assert main(["catalog", "--json", "--url", url, "report", "drop_rate_by_snapshot"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["snapshot"] == "s" and float(row["drop_rate"]) == 0.3333
    assert main(["catalog", "--json", "--url", url, "report", "shard_progress", "--param",
                 "snapshot=s"]) == 0
    assert json.loads(capsys.readouterr().out)["shards"] == 1
    assert main(["catalog", "--json", "--url", url, "report", "nope"]) == 2


def test_a_mistyped_catalog_or_snapshot_is_an_error_not_an_empty_listing(tmp_path, capsys):
    typo = tmp_path / "typo" / "cat.sqlite"
    for action in (["list", "snapshots"], ["status"], ["report", "shard_progress"]):
        assert main(["catalog", "--url", f"sqlite:///{typo}", *action]) == 2
        assert f"no catalog at {typo}" in capsys.readouterr().err
    assert not typo.parent.exists()  # nothing created
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["catalog", "--url", url, "migrate"]) == 0
    assert main(["catalog", "--url", url, "list", "shards", "--snapshot", "nope"]) == 2
    assert "no snapshot 'nope'" in capsys.readouterr().err
    # a report of a mistyped snapshot said "0 rows", exit 0; a parameter given twice took
    # the last silently
    for report in ("shard_progress", "quarantine_reasons"):
        assert main(["catalog", "--url", url, "report", report, "--param", "snapshot=nope"]) == 2
        assert "no snapshot 'nope' in the catalog" in capsys.readouterr().err
    Catalog(url).register_snapshot("s", "in", "out")
    assert main(["catalog", "--url", url, "report", "shard_progress", "--param", "snapshot=s",
                 "--param", "snapshot=t"]) == 2
    assert "--param snapshot given more than once" in capsys.readouterr().err
    assert main(["catalog", "--url", url, "report", "snapshot_summary", "--param", "snapshot=",
                 "--param", "suite=prox_gate"]) == 0  # an empty value: every snapshot
    assert capsys.readouterr().out.strip().endswith("1 row")


def test_looking_at_a_catalog_changes_nothing_and_says_it_is_behind(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.touch()  # e.g. created by hand, or a catalog of an older prox
    for action in (["status"], ["list", "snapshots"], ["report", "drop_rate_by_snapshot"]):
        assert main(["catalog", "--url", f"sqlite:///{empty}", *action]) == 2
        err = capsys.readouterr().err
        assert f"lacks {len(load_migrations())} migrations" in err and "migrate" in err
    import sqlite3

    with sqlite3.connect(empty) as db:  # nothing applied behind the user's back
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


def test_report_params_are_checked_against_the_report(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["catalog", "--url", url, "migrate"]) == 0
    capsys.readouterr()
    for params, says in (([], "takes --param snapshot=VALUE; missing snapshot"),
                         (["--param", "snapshot"], "KEY=VALUE, not 'snapshot'"),
                         (["--param", "snapshot=s", "--param", "bogus=1"], "unknown bogus")):
        assert main(["catalog", "--url", url, "report", "shard_progress", *params]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
        if "KEY=VALUE" not in says:  # the report's own refusal, said once
            assert err.startswith("prox catalog: report shard_progress takes "), err


def test_an_unknown_report_lists_the_reports_by_name_not_as_a_python_list(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["catalog", "--url", url, "migrate"]) == 0
    capsys.readouterr()
    assert main(["catalog", "--url", url, "report", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prox catalog: no report 'nope'; the reports are "
                          "drop_rate_by_snapshot, model_leaderboard, "), err
    assert "[" not in err


def test_looking_at_the_default_catalog_creates_nothing_when_there_is_none(tmp_path, monkeypatch,
                                                                           capsys):
    home = tmp_path / "home"  # PROX_HOME, not created yet: the default catalog is inside it
    monkeypatch.setenv("PROX_HOME", str(home))
    monkeypatch.delenv("PROX_CATALOG_URL", raising=False)
    default = home / "catalog.sqlite"
    for action in (["status"], ["list", "snapshots"], ["report"], ["report", "shard_progress"]):
        assert main(["catalog", *action]) == 2
        err = capsys.readouterr().err
        assert f"no catalog at {default}" in err and "prox catalog migrate" in err, err
    assert not home.exists()  # neither the file nor PROX_HOME
    elsewhere = tmp_path / "elsewhere" / "cat.sqlite"  # PROX_CATALOG_URL is the default too
    monkeypatch.setenv("PROX_CATALOG_URL", f"sqlite:///{elsewhere}")
    assert main(["catalog", "status"]) == 2
    assert f"no catalog at {elsewhere}" in capsys.readouterr().err
    assert not elsewhere.parent.exists()
    assert main(["catalog", "migrate"]) == 0  # migrate creates it
    assert main(["catalog", "status"]) == 0


def test_an_empty_report_param_is_null_so_snapshot_summary_lists_every_snapshot(tmp_path, capsys):
    """``snapshot_summary``'s query lists every snapshot for a NULL ``snapshot`` (the PROX
    report's list); from the command line an empty value passes it."""
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    catalog = Catalog(url)
    for name in ("a", "b"):
        catalog.register_snapshot(name, "in", f"out-{name}")
    catalog.close()
    capsys.readouterr()
    assert main(["catalog", "--json", "--url", url, "report", "snapshot_summary",
                 "--param", "snapshot=", "--param", "suite=prox_gate"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["name"] for r in rows) == ["a", "b"]
    assert main(["catalog", "--json", "--url", url, "report", "snapshot_summary",
                 "--param", "snapshot=b", "--param", "suite="]) == 0
    assert [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()] == ["b"]


def test_the_report_example_of_the_help_runs(tmp_path, capsys):
    """``prox catalog report --help`` shows how to list every snapshot: that command, as
    shown, lists them (it once left out ``suite``, and exited 2 with "missing suite")."""
    import pytest

    url = f"sqlite:///{tmp_path}/cat.sqlite"
    Catalog(url).register_snapshot("a", "in", "out-a")
    with pytest.raises(SystemExit):
        main(["catalog", "report", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    example = re.search(r"(snapshot_summary(?: --param \S+)+) lists every snapshot", shown)
    assert example, shown
    assert main(["catalog", "--json", "--url", url, "report", *example[1].split()]) == 0
    assert [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()] == ["a"]


def test_list_without_what_names_the_choices(tmp_path, capsys):
    """`prox catalog list` alone: the error names what can be listed (before: "the following
    arguments are required: what")."""
    import pytest

    with pytest.raises(SystemExit) as exit_:
        main(["catalog", "--url", f"sqlite:///{tmp_path}/cat.sqlite", "list"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().endswith(
        "the following arguments are required: {models,releases,shards,snapshots}")


def test_url_is_taken_after_the_action_too(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    assert main(["catalog", "migrate", "--url", url]) == 0
    Catalog(url).register_snapshot("s", "in", "out")
    capsys.readouterr()
    assert main(["catalog", "--json", "list", "snapshots", "--url", url]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "s"
    # given before the action, the action's own --url option does not reset it
    assert main(["catalog", "--json", "--url", url, "status"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["snapshots"] == 1


def test_a_listing_cuts_long_values_in_their_middle_and_says_so(tmp_path, capsys):
    """Values over 40 characters lost their end: every output_uri read
    'file:///…/corpus/snapshots…' (the snapshot's name cut off) and a failed shard's error
    its file. A value now keeps its head and its tail, and the count line says where the
    whole values are."""
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    catalog = Catalog(url)
    out = "file:///data/prox/corpus/snapshots/crawl-2026-03-02"
    catalog.register_snapshot("crawl-2026-03-02", "file:///data/crawl/2026-03-02", out)
    catalog.start_shard("crawl-2026-03-02", 1)
    catalog.fail_shard("crawl-2026-03-02", 1, "IsADirectoryError: [Errno 21] Is a directory: "
                       "/data/prox/corpus/snapshots/crawl-2026-03-02/shards/shard-00001.parquet")
    catalog.close()
    assert main(["catalog", "--url", url, "list", "snapshots"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cells = re.split(r"\s{2,}", lines[1])
    assert any(c.startswith("file:///data/prox") and c.endswith("/crawl-2026-03-02")
               for c in cells), cells  # the output folder's head and name
    assert lines[-1] == "1 snapshot (long values cut in their middle: --json prints them whole)"
    assert main(["catalog", "--url", url, "list", "shards", "--snapshot", "crawl-2026-03-02"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert "IsADirectoryError" in row and "shard-00001.parquet" in row, row
    assert main(["catalog", "--url", url, "status"]) == 0  # no listing, no such note
    assert "long values cut" not in capsys.readouterr().out


def test_status_counts_agree_in_number(tmp_path, capsys):
    """``1 snapshot``, not ``1 snapshots``."""
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    Catalog(url).register_snapshot("s", "in", "out")
    assert main(["catalog", "--url", url, "status"]) == 0
    line = capsys.readouterr().out
    assert "; 1 snapshot, 0 shards, 0 seed_sets, 0 models, 0 quality_reports, 0 releases" in line


def test_a_listing_shows_json_columns_as_json_not_python(tmp_path, capsys):
    """A JSON column (the runner that booked a snapshot) reads in a listing as ``--json``
    prints it, not as a Python dict (``{'host': 'vm', ...}``)."""
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    catalog = Catalog(url)
    catalog.register_snapshot("s", "in", "out")
    catalog.update_snapshot("s", runner={"host": "vm", "pid": 7})
    catalog.close()
    assert main(["catalog", "--url", url, "list", "snapshots"]) == 0
    table = capsys.readouterr().out
    assert '{"host": "vm", "pid": 7}' in table and "'host'" not in table


def test_the_report_list_and_list_shards_say_what_to_pass(tmp_path, capsys):
    """``prox catalog report`` listed bare names, and running one as listed was refused for a
    missing parameter; ``prox catalog list shards`` said "needs --snapshot" naming none to
    give. The list shows each report's parameters, and the refusal where to find names."""
    url = f"sqlite:///{tmp_path}/cat.sqlite"
    Catalog(url).register_snapshot("a", "in", "out-a")
    assert main(["catalog", "--url", url, "report"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert "shard_progress --param snapshot=VALUE" in listed, listed
    assert "snapshot_summary --param snapshot=VALUE --param suite=VALUE" in listed
    assert "model_leaderboard" in listed and listed[-1] == f"{len(listed) - 1} reports"
    for line in listed[:-1]:  # each, as listed with a value, runs
        assert main(["catalog", "--url", url, "report", *line.replace("VALUE", "a").split()]) == 0
    # --json: a listing, one JSON line a report (README), with the parameters the line shows
    # (it printed one array of bare names, so a script could not tell what to pass)
    capsys.readouterr()  # the reports' own tables
    assert main(["catalog", "--json", "--url", url, "report"]) == 0
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [" ".join([r["name"], *(f"--param {p}=VALUE" for p in r["params"])])
            for r in reports] == listed[:-1]
    assert main(["catalog", "--url", url, "list", "shards"]) == 2
    assert "--snapshot NAME (`prox catalog list snapshots` lists them)" in capsys.readouterr().err


def test_a_catalog_database_that_does_not_answer_says_what_to_start_or_correct(capsys):
    """`prox catalog status` (and `prox refine --catalog`) with PostgreSQL not running at the
    URL ended with SQLAlchemy's 'OperationalError: (psycopg2.OperationalError) connection to
    server … failed … (Background on this error at: https://sqlalche.me/…)', naming neither
    the setting the URL comes from nor what to do. A port where nothing listens: a real
    refused connection."""
    from tests.ports import refused_port

    url = f"postgresql+psycopg2://prox@127.0.0.1:{refused_port()}/catalog"
    assert main(["catalog", "--url", url, "status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prox catalog: the catalog's database cannot be reached: connection "
                          "to server at \"127.0.0.1\"")
    assert ("start the database server or correct the catalog URL (--catalog or --url, else "
            "PROX_CATALOG_URL") in err and "sqlalche.me" not in err


def test_a_refused_password_says_to_correct_the_url_not_to_start_a_server(capsys):
    """A wrong password in PROX_CATALOG_URL (a real server asking for it) ended 'the
    catalog's database cannot be reached: … password authentication failed for user
    "prox": start the database server or correct the catalog URL': the server runs; the
    user or password in the URL is what to fix."""
    from tests.deploy.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer().start()
    except PostgresUnavailable as why:
        pytest.skip(str(why))
    try:
        url = server.require_password("right")
        assert main(["catalog", "--url", url.replace(":right@", ":wrong@"), "status"]) == 1
        err = capsys.readouterr().err
        assert 'password authentication failed for user "prox"' in err, err
        assert ("the server refused the login: correct the user and password in the catalog URL "
                "(--catalog or --url, else PROX_CATALOG_URL") in err, err
        assert "start the database server" not in err and "wrong" not in err, err
    finally:
        server.stop()


def test_a_catalog_database_its_user_may_not_create_tables_in_says_what_to_grant(
        postgres_server, capsys):
    """A catalog database another role owns, prox's role given CONNECT only (PostgreSQL 15
    lets no one else create tables in ``public``): `prox catalog migrate` and `prox refine`
    ended "ProgrammingError: (psycopg2.errors.InsufficientPrivilege) permission denied for
    schema public LINE 1: CREATE TABLE … (Background on this error at: https://sqlalche.me/
    …)". Now the refusal and the grant to ask for."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name, role = f"owned_{uuid.uuid4().hex[:8]}", f"guest_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{name}" TO "{role}"'))
    admin.dispose()
    url = make_url(postgres_server).set(username=role, database=name)
    assert main(["catalog", "--url", url.render_as_string(hide_password=False), "migrate"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("prox catalog: the catalog's database refused its user: permission "
                          "denied for schema public: let that user create the catalog's "
                          "tables"), err
    assert "sqlalche.me" not in err and "CREATE TABLE" not in err, err


def test_a_catalog_database_that_does_not_exist_says_to_create_it(postgres_server, capsys):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_server).set(database="no_such_catalog")
    assert main(["catalog", "--url", url.render_as_string(hide_password=False), "status"]) == 1
    err = capsys.readouterr().err
    assert 'database "no_such_catalog" does not exist: create it (createdb' in err, err


def test_a_sqlite_catalog_that_cannot_be_opened_is_not_told_to_start_a_server(tmp_path, capsys):
    """A SQLite catalog whose file cannot be opened (here its path is a folder) was said as
    a database server that does not answer: 'the catalog's database cannot be reached:
    unable to open database file: start the database server …'. SQLite has no server: the
    line names the file and says to correct the URL or the file."""
    folder = tmp_path / "catalog.sqlite"
    folder.mkdir()
    assert main(["catalog", "--url", f"sqlite:///{folder}", "status"]) == 1
    err = capsys.readouterr().err
    assert "start the database server" not in err, err
    assert f"the SQLite catalog {folder} cannot be opened: unable to open database file" in err
    assert "correct the catalog URL (--catalog or --url, else PROX_CATALOG_URL" in err


def test_a_database_error_not_of_the_catalog_is_not_said_as_the_catalogs():
    """Another SQLAlchemy engine's connection error (Airflow's metadata database, read for
    PROX_S3_CONN_ID's connection) is no catalog's: it must not send the user to the catalog
    URL. A real refused connection of an engine that is not the catalog's."""
    from sqlalchemy import create_engine, text

    from prox_tasks.cli.errors import describe_error
    from tests.ports import refused_port

    engine = create_engine(f"postgresql+psycopg2://airflow@127.0.0.1:{refused_port()}/airflow")
    with pytest.raises(Exception) as caught:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    said = describe_error(caught.value)
    assert "catalog" not in said, said


def test_looking_at_a_catalog_whose_applied_migration_was_edited_says_so(tmp_path, monkeypatch,
                                                                         capsys):
    """`prox catalog status` over a catalog whose applied 0001 was edited since (PROX_SQL_DIR
    a copy of the migrations, one line added) printed "11 migrations applied; …", exit 0,
    while every command that writes to it refuses it: looking says it too, exit 2."""
    import shutil

    from prox_tasks.catalog.migrations import sql_dir

    url = f"sqlite:///{tmp_path}/cat.sqlite"
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    monkeypatch.setenv("PROX_SQL_DIR", str(folder))
    Catalog(url)
    path = next(iter(sorted((folder / "migrations").glob("0001_*.sql"))))
    path.write_text(path.read_text() + "\n-- edited\n")
    for action in (["status"], ["list", "snapshots"], ["report"]):
        assert main(["catalog", "--url", url, *action]) == 2, action
        err = capsys.readouterr().err
        assert f"{path.stem} was edited after it was applied" in err, err
        assert f"(the migrations of {folder} (PROX_SQL_DIR))" in err, err


def test_a_prox_sql_dir_without_migrations_is_a_setting_to_fix(tmp_path, monkeypatch, capsys):
    """PROX_SQL_DIR naming a folder without migrations ended "MigrationError: no catalog
    migrations in …: this prox installation is incomplete (reinstall it, or set
    PROX_SQL_DIR)", exit 1: the variable set is the mistake, not the installation."""
    monkeypatch.setenv("PROX_SQL_DIR", str(tmp_path / "nosql"))
    assert main(["catalog", "--url", f"sqlite:///{tmp_path}/cat.sqlite", "migrate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"prox catalog: PROX_SQL_DIR='{tmp_path}/nosql' holds no catalog "
                          "migrations"), err
    assert "correct it, or unset it" in err and "MigrationError" not in err, err
