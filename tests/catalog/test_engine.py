"""The catalog URL: a value that is not a database URL is named as such, in one line."""

import pytest

from prox_tasks.catalog import Catalog
from prox_tasks.cli import main


def test_a_catalog_url_that_is_not_a_url_is_named_without_echoing_it(monkeypatch, capsys):
    with pytest.raises(ValueError, match="is not a database URL"):
        Catalog("postgres//prox:hunter2@db/prox")
    monkeypatch.setenv("PROX_CATALOG_URL", "postgres//prox:hunter2@db/prox")
    assert main(["catalog", "status"]) == 2  # a setting to fix: running again cannot help
    err = capsys.readouterr().err
    assert "PROX_CATALOG_URL) is not a database URL" in err and len(err.splitlines()) == 1
    assert "hunter2" not in err and "ValueError" not in err


def test_a_postgresql_url_without_an_installed_driver_says_which_url_to_write(monkeypatch,
                                                                              capsys, tmp_path):
    """``postgresql://`` (as psql and most tools write it) asks SQLAlchemy for psycopg 3,
    which this install lacks (the real missing module, not a mock): the error names the
    URL that works instead of a bare ModuleNotFoundError, and never echoes the password."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg 3 is installed here: a bare postgresql:// URL works")
    with pytest.raises(ValueError, match=r"driver psycopg, which is not installed: .*"
                       r"postgresql\+psycopg2://user:pw@host/db"):
        Catalog("postgresql://prox:hunter2@127.0.0.1:1/prox")
    monkeypatch.setenv("PROX_CATALOG_URL", "postgresql://prox:hunter2@127.0.0.1:1/prox")
    assert main(["catalog", "status"]) == 2  # a setting to fix: running again cannot help
    err = capsys.readouterr().err
    assert err.startswith("prox catalog: the catalog URL asks for the database driver "
                          "psycopg, which is not installed"), err  # no "ValueError: "
    assert "postgresql+psycopg2://" in err and len(err.splitlines()) == 1
    assert "hunter2" not in err
    # prox refine, which opens the catalog itself, before anything is planned: the same
    out = tmp_path / "out"
    assert main(["refine", "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--catalog", "postgresql://prox:hunter2@127.0.0.1:1/prox",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prox refine: the catalog URL asks for the database driver"), err
    assert not out.exists()


def test_sigterm_during_a_catalog_statement_leaves_no_transaction_open(catalog_url):
    """A prox refine stopped by SIGTERM (Airflow stopping the task) or Ctrl-C while a
    catalog statement ran: the stop is raised inside SQLAlchemy's execute, which invalidates
    the connection and closes it, but SQLite keeps a connection whose statement the
    traceback still holds open, transaction and write lock too: every booking of the
    clean-up (the attempt failed, the snapshot failed) waited 60 s and failed 'database is
    locked'. A real SIGTERM arrives during a slow statement of a write transaction; another
    writer of the catalog is then not kept waiting."""
    import os
    import signal
    import threading

    from sqlalchemy import text

    from prox_tasks.termination import Terminated, raise_on_sigterm

    slow = "SELECT pg_sleep(3)" if catalog_url.startswith("postgresql") else (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 20000000)"
        " SELECT count(*) FROM r")
    with Catalog(catalog_url) as catalog, Catalog(catalog_url) as other:
        catalog.register_snapshot("snap", "file:///in", "file:///out")
        stop = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        with pytest.raises(Terminated), raise_on_sigterm():
            with catalog.engine.begin() as conn:
                conn.execute(text("UPDATE snapshots SET error = 'mid-stop' WHERE name = 'snap'"))
                stop.start()
                conn.execute(text(slow))
                pytest.fail("the statement ended before SIGTERM came: make it slower")
        stop.join()
        written = []
        writer = threading.Thread(target=lambda: written.append(
            other.update_snapshot("snap", error="booked after the stop")), daemon=True)
        writer.start()
        writer.join(10)
        assert written, "another writer waited on the stopped transaction"
        assert other.get_snapshot("snap")["error"] == "booked after the stop"
        catalog.update_snapshot("snap", error=None)  # this process's own clean-up writes
        assert catalog.get_snapshot("snap")["error"] is None
