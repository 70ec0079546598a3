"""The SQLite metadata DB that the main job and docs/airflow.md's UI recipe set up waits out
another Airflow process's write: with Airflow's default (pysqlite waits 5 s), `airflow
backfill create` beside a busy scheduler, DAG processor and API server failed "database is
locked" (seen following docs/airflow.md on a real deployment)."""

from __future__ import annotations

import importlib.util
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


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


def test_an_airflow_command_waits_out_another_process_writing_the_sqlite_db(tmp_path):
    """A writer (here a plain sqlite3 connection standing in for the scheduler) holds the DB
    for 20 s, well past pysqlite's default 5 s: the command waits and succeeds."""
    env = {**os.environ, **_main_job().airflow_env(tmp_path)}
    env.pop("AIRFLOW__LOGGING__LOGGING_LEVEL", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=300)  # fmt: skip
    writer = sqlite3.connect(tmp_path / "airflow" / "airflow.db", isolation_level=None,
                             check_same_thread=False)  # fmt: skip
    writer.execute("BEGIN IMMEDIATE")  # the write lock, as a scheduler's transaction holds it
    timer = threading.Timer(20, writer.execute, ["COMMIT"])
    timer.start()
    try:
        done = subprocess.run([AIRFLOW, "pools", "set", "gpu", "1", "one slot"], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        timer.join()
        writer.close()
    assert "database is locked" not in done.stderr + done.stdout, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
