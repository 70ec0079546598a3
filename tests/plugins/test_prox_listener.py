"""prox's listener (plugins/prox_listener.py) in a task's own process, run by Airflow's task
runner (``dag.test()``): its redaction, and what a task that runs a ``prox`` command in its
process gets."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

#: Known to no one but the URL that holds it: not in the environment, so not in Airflow's
#: masker; only prox's URL rule can hide it.
PASSWORD = "UrlOnlyPw-83c1d7"


def test_a_prox_command_run_in_a_task_redacts_other_libraries_records(
    tmp_path, airflow_db, caplog, monkeypatch
):
    """The task runner sets up the log, the listener filters prox's lines only (as the task
    starts), then the task runs ``prox catalog migrate`` in its process, whose install() puts
    the redaction in front of every record: it took the listener's filter for its own, and
    another library's records (botocore logging a URL with its password, urllib3 logging an
    exception that quotes one) reached the task log as they were."""
    from airflow.sdk import dag, task

    from prox_tasks.cli import main
    from prox_tasks.redaction import RedactingFilter

    for name in ("stdout", "stderr"):  # install() wraps them: this process's, put back after
        monkeypatch.setattr(sys, name, getattr(sys, name))
    # a task's fresh process: no filter on the root handlers yet. tests/conftest.py gives
    # each handler back the filters it began a test with, but one put there before (a
    # session fixture's prox command) was in the full CI run, and taken for the listener's
    for handler in logging.getLogger().handlers:
        monkeypatch.setattr(handler, "filters", [f for f in handler.filters
                                                 if not isinstance(f, RedactingFilter)])
    caplog.set_level(logging.INFO)
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"

    @dag(dag_id="prox_listener_redaction_order", schedule=None,
         start_date=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    def with_a_prox_command():
        @task
        def prox_then_libraries():
            from prox_tasks.redaction import PROX_LOGGERS, RedactingFilter

            scopes = {f.loggers for h in logging.getLogger().handlers for f in h.filters
                      if isinstance(f, RedactingFilter)}  # fmt: skip
            assert PROX_LOGGERS in scopes  # the listener's, put there as the task started
            assert main(["catalog", "--url", url, "migrate"]) == 0
            s3 = f"https://AKIAEXAMPLE:{PASSWORD}@s3.example.com/bucket/key"
            logging.getLogger("botocore.endpoint").warning("Making request to %s", s3)
            try:
                raise ConnectionError(f"postgresql://prox:{PASSWORD}@db:5432/prox refused")
            except ConnectionError:
                logging.getLogger("urllib3.connectionpool").exception("Retrying connection")

        prox_then_libraries()

    run = _serialized(with_a_prox_command()).test(logical_date=datetime(2026, 2, 3, tzinfo=UTC))
    assert run.state == "success"
    logged = caplog.text
    assert "Making request to https://AKIAEXAMPLE:***@s3.example.com" in logged, logged
    assert "Retrying connection" in logged and "postgresql://prox:***@db:5432" in logged
    assert PASSWORD not in logged


def _serialized(dag):
    """``dag`` (defined here, in no DAG file) written to the metadata DB as the DAG processor
    writes a parsed one: ``dag.test()`` runs only a serialized DAG."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.collection import update_dag_parsing_results_in_db
    from airflow.serialization.serialized_objects import LazyDeserializedDAG
    from airflow.utils.session import create_session

    with create_session() as session:  # the bundle first: the DAG's row refers to it
        DagBundlesManager().sync_bundles_to_db(session=session)
    with create_session() as session:
        update_dag_parsing_results_in_db("dags-folder", None,
                                         [LazyDeserializedDAG.from_dag(dag)], {}, None, set(),
                                         session=session)  # fmt: skip
    return dag
