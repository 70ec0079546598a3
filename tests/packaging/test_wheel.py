"""``pip install .`` gives a working prox: a wheel built from the repository holds every file
of the package (the data the code reads at run time: catalog SQL, the shipped model, the gold
set, report templates and assets), and, installed into a folder of its own and run without
the source tree on the path, migrates its catalog, refines with the shipped model, gates and
releases; the DAGs and plugins, copied to folders of their own, import with it. Installed
into an environment without prox's stack, ``prox`` says how to install it."""

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
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


def package_files() -> list[str]:
    """The files of ``prox_tasks/`` in the source tree, as paths in a wheel: those git tracks
    (a developer's stray files are no part of a release), else all but compiled bytecode."""
    tracked = subprocess.run(["git", "ls-files", "-z", "prox_tasks"], cwd=REPO,
                             capture_output=True, text=True)
    if tracked.returncode == 0 and tracked.stdout:
        return sorted(tracked.stdout.strip("\0").split("\0"))
    return sorted(str(p.relative_to(REPO)) for p in (REPO / "prox_tasks").rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the package sources alone (pyproject, README,
    prox_tasks/): no build folder of an earlier build (``build/lib``, which setuptools never
    empties) can add to it."""
    root = tmp_path_factory.mktemp("build")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "prox_tasks", src / "prox_tasks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"),
                    str(src)], check=True, cwd=root, capture_output=True)
    shutil.rmtree(src)  # nothing of the sources is left to fall back on
    return next((root / "dist").glob("prox-*.whl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, wheel):
    """(site folder, environment, work folder) of prox installed from :func:`wheel` into a
    folder of its own, the shared environment's libraries after it."""
    root = tmp_path_factory.mktemp("wheel")
    site = root / "site"
    subprocess.run([*PIP, "install", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, cwd=root, capture_output=True)
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


def test_the_wheel_holds_every_file_of_the_package(wheel):
    """Every file of ``prox_tasks/``, data the code reads at run time included: a data file
    whose name no pattern of ``[tool.setuptools.package-data]`` matches would be missing
    from every installed prox, and only there."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        held = set(archive.namelist())
    missing = [name for name in package_files() if name not in held]
    assert not missing, (f"{len(missing)} files of the package are not in {wheel.name}: "
                         f"{missing[:10]}; add their pattern to [tool.setuptools.package-data] "
                         "in pyproject.toml")


def test_the_installed_package_is_the_one_imported(installed):
    site, env, work = installed
    out = subprocess.run([sys.executable, "-c", "import prox_tasks; print(prox_tasks.__file__)"],
                         cwd=work, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(site)), out.stdout


def test_prox_version_names_the_release_and_where_it_is_installed(installed, wheel):
    """``prox --version`` was refused (``unrecognized arguments``): a user of a wheel had no
    way to tell which prox, installed where, a command ran. The wheel's own version is the
    one it prints (one source: ``prox_tasks.__version__``, pyproject's dynamic version)."""
    site = installed[0]
    done = prox(installed, "--version")
    assert done.returncode == 0, done.stderr
    release = wheel.name.split("-")[1]
    assert done.stdout.strip() == f"prox {release} ({site / 'prox_tasks'})"


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
    # the gate's Data Docs take their scripts from the package (report/static/vendor)
    gated = prox(installed, "gate", "--snapshot", str(work / "out"), "--json")
    assert gated.returncode == 0, gated.stderr
    gate = json.loads(gated.stdout)
    assert gate["passed"], gate["failed"]
    docs = Path(gate["data_docs_uri"].removeprefix("file://")).parent
    assert (docs / "static" / "vendor" / "vega-lite.min.js").is_file()
    released = prox(installed, "release", "--snapshot", str(work / "out"), "--root",
                    str(work / "corpus"), "--name", "out", "--json")
    assert released.returncode == 0, released.stderr
    assert json.loads((work / "corpus" / "latest.json").read_text())["name"] == "out"


def test_prox_without_its_stack_says_how_to_install_it(installed, tmp_path):
    """A wheel declares no dependencies (the stack is pinned in requirements*.txt):
    installed into an environment without them, every command ends with one line naming
    the missing library and how to install the stack (exit 2), not a traceback."""
    site, env, work = installed
    bare = tmp_path / "bare"  # a real environment of its own: the interpreter's stdlib alone
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    for args in (["--help"], ["refine", "--input", "in.jsonl", "--output", "out-bare"]):
        done = subprocess.run([str(bare / "bin" / "python"), str(site / "bin" / "prox"), *args],
                              cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        line = done.stderr.strip()
        assert len(line.splitlines()) == 1
        assert "is not installed in the environment at " in line and bare.name in line
        assert "requirements.txt with constraints.txt" in line and "--no-deps" in line
    # the section the line sends the user to
    assert "\n## Installing prox from a wheel\n" in (REPO / "docs" / "deploy.md").read_text()


def test_the_dags_and_plugins_import_from_folders_of_their_own(installed, tmp_path):
    """dags/ and plugins/ copied away from the repository (the image's /opt/prox/dags, a
    team's Airflow folders), prox from the wheel: every DAG imports."""
    site, env, work = installed
    for folder in ("dags", "plugins"):
        shutil.copytree(REPO / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    airflow = {**env, "AIRFLOW_HOME": str(tmp_path / "airflow"),
               "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
               "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "plugins"),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    code = ("import json, os, prox_tasks; from airflow.dag_processing.dagbag import DagBag; "
            "bag = DagBag(dag_folder=os.environ['AIRFLOW__CORE__DAGS_FOLDER']); "
            "print(json.dumps({'errors': {k: str(v) for k, v in "
            "bag.import_errors.items()}, 'dags': sorted(bag.dag_ids), "
            "'prox_tasks': prox_tasks.__file__}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=airflow,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["dags"] == ["prox_refine_snapshot", "prox_seed_label", "prox_train_refiner"]
    assert parsed["prox_tasks"].startswith(str(site))


def test_a_snapshot_refined_by_a_prox_installed_elsewhere_refines_on_with_this_ones_model(
        installed, wheel, tmp_path):
    """A snapshot refined with the shipped model records that installation's folder of it;
    the installation gone (a checkout replaced by the package, an old environment removed),
    a rerun from this one stopped: 'no model at …/prox_tasks/models/line-tagger', and
    ``--model default`` was refused as another model. The same release's shipped model is
    the same version: the rerun, with no model or with ``--model default``, refines the
    missing shard with this installation's folder, reuses the others, and the shard is the
    one an uninterrupted run wrote, byte for byte; its record keeps the snapshot's request."""
    site, env, work = installed
    elsewhere = tmp_path / "old-site"
    subprocess.run([*PIP, "install", "--no-deps", "--target", str(elsewhere), str(wheel)],
                   check=True, capture_output=True)
    source = write_jsonl(work / "moved.jsonl", short_docs(8))
    output = work / "moved"
    refine = ["refine", "--input", str(source), "--output", str(output), "--target-docs", "4"]
    first = subprocess.run([str(elsewhere / "bin" / "prox"), *refine], cwd=work,
                           env={**env, "PYTHONPATH": str(elsewhere)}, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    # as prox records it: the real path (SHIPPED_MODEL is resolved)
    old_model = elsewhere.resolve() / "prox_tasks" / "models" / "line-tagger"
    shards = sorted((output / "shards").glob("*.parquet"))
    assert len(shards) == 2
    uninterrupted = {shard.name: shard.read_bytes() for shard in shards}
    status = output / "_status" / "shard-00001.json"
    request = json.loads(status.read_text())["request"]
    assert request["model"] == str(old_model)
    shutil.rmtree(elsewhere)
    for model in ([], ["--model", "default"]):
        (output / "shards" / "shard-00001.parquet").unlink()  # one shard to refine again
        done = prox(installed, *refine, *model)
        assert done.returncode == 0, (model, done.stderr)
        assert "(1 reused)" in done.stdout, (model, done.stdout)
        assert {shard.name: shard.read_bytes() for shard in shards} == uninterrupted, model
        # one request for every shard of the snapshot: the one it was refined with
        assert json.loads(status.read_text())["request"] == request, model
