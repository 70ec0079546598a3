"""The SQLite metadata DB that the main job and docs/airflow.md's UI recipe set up waits out
another Airflow process's write: with Airflow's default (pysqlite waits 5 s), `airflow
backfill create` beside a busy scheduler, DAG processor and API server failed "database is
locked" (seen following docs/airflow.md on a real deployment)."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _main_job():
    spec = importlib.util.spec_from_file_location("main_job", REPO / "scripts" / "main_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ui_recipe_exports_the_metadata_db_the_main_job_uses():
    """docs/airflow.md's recipe (same AIRFLOW_HOME as the main job) names the same DB URL."""
    recipe = (REPO / "docs" / "airflow.md").read_text(encoding="utf-8")
    exported = re.search(r'export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="([^"]+)"', recipe)
    assert exported, "docs/airflow.md's UI recipe sets no AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
    home = Path("/srv/prox")
    wanted = _main_job().airflow_env(home)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert exported.group(1).replace("$AIRFLOW_HOME", str(home / "airflow")) == wanted


def test_the_metadata_db_url_waits_out_another_process_writing_it(tmp_path):
    """A writer (a plain sqlite3 connection standing in for the scheduler) holds the DB's
    write lock for 8 s, past pysqlite's default 5 s: an engine made from the main job's URL,
    as Airflow makes its own, waits and writes. Without the URL's timeout it fails "database
    is locked" after 5 s."""
    from sqlalchemy import create_engine, text

    url = _main_job().airflow_env(tmp_path)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    db = tmp_path / "airflow" / "airflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    writer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE slot (name TEXT)")
    writer.execute("BEGIN IMMEDIATE")  # the write lock, as a scheduler's transaction holds it
    timer = threading.Timer(8, writer.execute, ["COMMIT"])
    timer.start()
    try:
        with create_engine(url).begin() as conn:
            conn.execute(text("INSERT INTO slot VALUES ('gpu')"))
    finally:
        timer.join()
        writer.close()
    with sqlite3.connect(db) as reader:
        assert reader.execute("SELECT name FROM slot").fetchall() == [("gpu",)]
