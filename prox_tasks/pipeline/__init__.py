"""Task bodies the Airflow DAGs call: one plain function per task, JSON in and out.

The DAG files in ``dags/`` only wire these together; the ``prox`` CLI calls the same stage
functions underneath, so a task and its CLI command do the same thing.
"""
