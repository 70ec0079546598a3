"""``pip install .`` gives a working prox: a wheel built from the repository, installed into
a folder of its own and run without the source tree on the path, migrates its catalog and
refines with the shipped model (both package data)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inference.helpers import short_docs, write_jsonl

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder, environment) of prox installed from a wheel built from a copy of the
    package sources alone (pyproject, README, prox_tasks/)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "prox_tasks", src / "prox_tasks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
                    str(src)], check=True, cwd=root, capture_output=True)
    wheel = next((root / "dist").glob("prox-*.whl"))
    site = root / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, cwd=root, capture_output=True)
    shutil.rmtree(src)  # nothing of the sources is left to fall back on
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PROX_", "PYTHONPATH"))}
    # the installed package first; the shared environment's dependencies (torch ...) after
    env.update(PYTHONPATH=str(site), PROX_HOME=str(root / "home"))
    work = root / "work"
    work.mkdir()
    return site, env, work


def prox(installed, *args, **env):
    site, base, work = installed
    return subprocess.run([str(site / "bin" / "prox"), *args], cwd=work, env={**base, **env},
                          capture_output=True, text=True, timeout=600)


def test_the_installed_package_is_the_one_imported(installed):
    site, env, work = installed
    out = subprocess.run([sys.executable, "-c", "import prox_tasks; print(prox_tasks.__file__)"],
                         cwd=work, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(site)), out.stdout


def test_catalog_migrates_from_the_package(installed):
    home = Path(installed[1]["PROX_HOME"])
    absent = prox(installed, "catalog", "status", "--json")  # looking changes nothing
    assert absent.returncode == 2 and "prox catalog migrate" in absent.stderr
    assert f"no catalog at {home / 'catalog.sqlite'}" in absent.stderr
    assert not home.exists()
    home.mkdir()
    (home / "catalog.sqlite").touch()  # an empty catalog: behind by every migration
    behind = prox(installed, "catalog", "status", "--json")
    assert behind.returncode == 2 and "lacks" in behind.stderr
    assert "prox catalog migrate" in behind.stderr
    assert prox(installed, "catalog", "migrate").returncode == 0
    done = prox(installed, "catalog", "status", "--json")
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    shipped = sorted(p.stem for p in (installed[0] / "prox_tasks" / "catalog" / "sql" /
                                      "migrations").glob("*.sql"))
    assert status["migrations"] == shipped and len(shipped) >= 3
    assert set(status["rows"]) >= {"snapshots", "shards", "releases"}


def test_no_migrations_fails_loudly(installed, tmp_path):
    catalog = tmp_path / "catalog.sqlite"
    catalog.touch()  # a catalog to look at (none at all says so before reading migrations)
    done = prox(installed, "catalog", "--url", f"sqlite:///{catalog}", "status",
                PROX_SQL_DIR=str(tmp_path))
    assert done.returncode != 0
    assert "no catalog migrations" in done.stderr + done.stdout


def test_refine_with_the_shipped_model(installed):
    site, _, work = installed
    source = write_jsonl(work / "in.jsonl", short_docs(12))
    done = prox(installed, "refine", "--input", str(source), "--output", str(work / "out"),
                "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["docs_read"] == 12 and summary["docs_written"] == 12
    assert summary["model_source"] == "default"
    assert summary["model"].startswith(str(site / "prox_tasks" / "models" / "line-tagger"))
    booked = prox(installed, "catalog", "list", "shards", "--snapshot", "out", "--json")
    assert booked.returncode == 0 and '"status": "done"' in booked.stdout
