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


@pytest.fixture(scope="session")
def parsed_dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture()
def dagbag(parsed_dagbag):
    """The DAGs, parsed once a session. ``dag.test()`` runs tasks in this process and writes
    the run's conf into each task's own ``params`` (a worker's task process is fresh each
    time): a later ``dag.test()`` whose conf left a Param out got the earlier run's value
    (a seed DAG run got another test's ``teacher: llm``). Each test's tasks start from the
    params they were parsed with."""
    import copy

    parsed = {(dag_id, task.task_id): copy.deepcopy(task.params)
              for dag_id, dag in parsed_dagbag.dags.items() for task in dag.tasks}
    yield parsed_dagbag
    for dag_id, dag in parsed_dagbag.dags.items():
        for task in dag.tasks:
            task.params = copy.deepcopy(parsed[(dag_id, task.task_id)])


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
