"""A SQLite catalog on a full disk (a real tmpfs): the error names the catalog's file and says
the disk is full; the same command then finishes once there is room."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import resize_tmpfs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tiny_disk(real_tmpfs):
    """64 KiB: the catalog's migrations need more."""
    return real_tmpfs("64k")


def test_a_sqlite_catalog_on_a_full_disk_is_named_as_such(tiny_disk):
    """Before: ``prox catalog: OperationalError: (sqlite3.OperationalError) database or disk
    is full (Background on this error at: https://sqlalche.me/e/21/e3q8)``: no file, no way
    out."""
    catalog = tiny_disk / "catalog.sqlite"
    command = [sys.executable, "-m", "prox_tasks.cli", "catalog", "--url",
               f"sqlite:///{catalog}", "migrate"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"prox catalog: disk full writing the SQLite catalog {catalog} "
                               "(database or disk is full): free space there"), lines[0]
    resize_tmpfs(tiny_disk, "8m")
    again = subprocess.run(command, capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr


def test_a_failure_the_full_catalog_cannot_book_is_one_logged_line(tiny_disk, caplog):
    """Before: ``could not book snapshot s failed`` and SQLAlchemy's traceback (about 60
    lines) on stderr ahead of the command's one-line error."""
    import logging

    from prox_tasks.catalog import Catalog
    from prox_tasks.refine.booking import book_failed

    resize_tmpfs(tiny_disk, "1m")
    catalog = Catalog(f"sqlite:///{tiny_disk}/catalog.sqlite")
    catalog.register_snapshot("s", "file:///in", "file:///out", status="planned")
    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    subprocess.run(["fallocate", "-l", str(free), str(tiny_disk / "filler")], check=True)
    # WARNING: a command's level without -v (INFO, an Airflow task's log, keeps the traceback)
    with caplog.at_level(logging.WARNING, logger="prox_tasks.refine.booking"):
        book_failed(catalog, "s", OSError("the run's own error"))
    catalog.close()
    records = [r for r in caplog.records if r.name == "prox_tasks.refine.booking"]
    assert [r.getMessage() for r in records] == [
        "could not book snapshot s failed: OperationalError: database or disk is full"]
    assert not records[0].exc_info  # no traceback unless -v
