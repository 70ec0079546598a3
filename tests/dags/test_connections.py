"""A connection stored in Airflow's metadata database (as ``airflow connections add`` stores
it, not an ``AIRFLOW_CONN_*`` variable) is found by prox: the teacher's endpoint and the S3
settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_a_connection_in_airflows_database_is_found(airflow_db):
    # stored by Airflow's own model in this process (the session's Airflow), as the CLI's
    # `connections add` does: two CLI starts cost 50 s of a loaded 2-core machine
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        session.add(Connection(conn_id="prox_teacher_db", conn_type="http",
                               host="http://127.0.0.1", port=8123, schema="v1",
                               password="sk-db-stored-7781"))
        session.add(Connection.from_json(json.dumps(
            {"conn_type": "aws", "login": "AKDB", "password": "SKDB",
             "extra": {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-3"}}),
            conn_id="prox_s3_db"))
    assert "AIRFLOW_CONN_PROX_TEACHER_DB" not in os.environ
    code = (
        "import json\n"
        "from prox_tasks.labeling.secrets import connection_endpoint\n"
        "from prox_tasks.storage.s3_client import S3Settings\n"
        "s = S3Settings.from_env()\n"
        "print(json.dumps([connection_endpoint('prox_teacher_db'),"
        " [s.aws_access_key_id, s.aws_secret_access_key, s.endpoint_url, s.region_name]]))\n"
    )
    # a fresh process, as `prox label --conn-id` or a task would be
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PROX_S3_CONN_ID": "prox_s3_db"}, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    endpoint, s3 = json.loads(proc.stdout.strip().splitlines()[-1])
    assert endpoint == ["http://127.0.0.1:8123/v1", "sk-db-stored-7781"]
    assert s3 == ["AKDB", "SKDB", "http://127.0.0.1:9", "eu-west-3"]
