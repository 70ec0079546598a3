from tests.dags.conftest import airflow_db  # noqa: F401 (sets the Airflow environment first)
