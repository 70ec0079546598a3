"""The live Airflow services of the tests (``tests.dags.services``) leave the machine's CPU
to the tasks the tests wait for."""

from __future__ import annotations

from tests.dags.services import service_env


def test_the_dag_processor_does_not_parse_unchanged_dag_files_every_few_seconds():
    """A parse every 5 s (a process per DAG file) took 8.6 CPU-s of each minute the services
    were up, idle: ~15% of a 2-core CI machine, slowing every live-Airflow test. The files
    are parsed as the dag-processor starts and do not change while it runs; at Airflow's
    default of 30 s the idle services took 2.1 CPU-s a minute in all."""
    env = service_env(8080)
    assert int(env["AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"]) >= 30
    assert int(env["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"]) >= 30
    # a test may still ask for its own pace
    assert (
        service_env(8080, {"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5"})[
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"
        ]
        == "5"
    )
