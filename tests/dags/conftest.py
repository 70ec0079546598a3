import shutil

import pytest

from tests.dags.airflow_env import HOME, PROX_HOME, REPO, migrate_once  # noqa: F401 (sets env)


@pytest.fixture(scope="session")
def airflow_db():
    """The session's migrated Airflow metadata DB (SQLite in a temporary AIRFLOW_HOME)."""
    migrate_once()
    yield HOME


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture()
def prox_home(tmp_path, monkeypatch):
    """A fresh PROX_HOME (catalog, corpus, registry) per test."""
    home = tmp_path / "prox"
    monkeypatch.setenv("PROX_HOME", str(home))
    yield home
    shutil.rmtree(home, ignore_errors=True)
