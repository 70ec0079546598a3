import copy
import shutil

import pytest

from tests.dags.airflow_env import (  # noqa: F401 (sets env)
    HOME,
    PROX_HOME,
    REPO,
    migrate_once,
    schemas_checked_once,
)
from tests.storage.conftest import moto_server, s3_bucket  # noqa: F401 (S3 over HTTP)


@pytest.fixture(scope="session", autouse=True)
def _param_schemas_checked_once():
    """Each Param schema checked against the meta-schema once a session, not at each of the
    hundreds of resolves of every ``dag.test()`` (see ``schemas_checked_once``)."""
    with schemas_checked_once():
        yield


@pytest.fixture(scope="session")
def airflow_db():
    """The session's migrated Airflow metadata DB (SQLite in a temporary AIRFLOW_HOME)."""
    migrate_once()
    yield HOME


#: Each task's params as the DAG files were parsed: (dag_id, task_id) -> ParamsDict.
_PARSED_PARAMS: dict = {}


def _reset_params(bag) -> None:
    """Give every task of ``bag`` a fresh copy of the params it was parsed with."""
    for dag_id, dag in bag.dags.items():
        for task in dag.tasks:
            task.params = copy.deepcopy(_PARSED_PARAMS[(dag_id, task.task_id)])


@pytest.fixture(scope="session")
def parsed_dagbag(airflow_db):
    """The DAGs, parsed once a session; each task's params kept as parsed (``dagbag``)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    _PARSED_PARAMS.update({(dag_id, task.task_id): copy.deepcopy(task.params)
                           for dag_id, dag in bag.dags.items() for task in dag.tasks})
    return bag


@pytest.fixture()
def dagbag(parsed_dagbag):
    """The DAGs, parsed once a session. ``dag.test()`` runs tasks in this process and writes
    the run's conf into each task's own ``params`` (a worker's task process is fresh each
    time): a later ``dag.test()`` whose conf left a Param out got the earlier run's value
    (a seed DAG run got another test's ``teacher: llm``). Each test's tasks start from the
    params they were parsed with — as the session parsed them, not as the test before left
    them (a module's ``world`` runs through ``parsed_dagbag`` itself) — and are reset
    after it."""
    _reset_params(parsed_dagbag)
    yield parsed_dagbag
    _reset_params(parsed_dagbag)


@pytest.fixture()
def prox_home(tmp_path, monkeypatch):
    """A fresh PROX_HOME (catalog, corpus, registry) per test."""
    home = tmp_path / "prox"
    monkeypatch.setenv("PROX_HOME", str(home))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def default_refiner(tmp_path_factory):
    """The refiner the DAG runs use: the shipped ``prox_tasks/models/line-tagger`` when the repository
    has it; otherwise one trained here (rules-teacher labels of 80 sample documents, two
    epochs, seconds on 2 cores) and exported as ``PROX_DEFAULT_MODEL``."""
    import gzip
    import json
    import os

    from prox_tasks.models import SHIPPED_MODEL as shipped

    if (shipped / "refiner.json").exists() or os.environ.get("PROX_DEFAULT_MODEL"):
        yield os.environ.get("PROX_DEFAULT_MODEL") or str(shipped)
        return
    from prox_tasks.labeling import get_teacher
    from prox_tasks.training.run import TrainJob, run_training

    root = tmp_path_factory.mktemp("refiner")
    teacher = get_teacher("rules")
    with gzip.open(REPO / "data" / "sample" / "sample.jsonl.gz", "rt") as src, \
            open(root / "seed.jsonl", "w") as out:
        for _, line in zip(range(80), src):
            row = json.loads(line)
            label = teacher.label(row["text"])
            out.write(json.dumps({"id": row["id"], "text": row["text"],
                                  "doc_program": label.doc_program,
                                  "chunk_program": label.chunk_program}) + "\n")
    record = run_training(TrainJob(seed=str(root / "seed.jsonl"), output=str(root / "registry"),
                                   epochs=2, promote=False, gold_gate=False,
                                   work_dir=str(root / "work")))
    os.environ["PROX_DEFAULT_MODEL"] = record["uri"]
    yield record["uri"]
    os.environ.pop("PROX_DEFAULT_MODEL", None)
