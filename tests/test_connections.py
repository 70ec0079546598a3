"""Airflow connections without Airflow: ``AIRFLOW_CONN_<ID>`` in JSON and URI form (the
lookup through Airflow's database is tested with a real Airflow installation in
tests/dags/test_connections.py)."""

import json

import pytest

from prox_tasks.connections import get_connection, parse_connection


def test_json_and_uri_forms_give_the_same_fields():
    as_json = parse_connection("c", json.dumps(
        {"conn_type": "aws", "host": "h.test", "login": "AK", "password": "S/K", "port": 9000,
         "schema": "s", "extra": json.dumps({"region_name": "eu-west-1"})}))  # fmt: skip
    as_uri = parse_connection("c", "aws://AK:S%2FK@h.test:9000/s?region_name=eu-west-1")
    assert as_json == as_uri
    assert (as_uri.login, as_uri.password, as_uri.port, as_uri.extra) == \
        ("AK", "S/K", 9000, {"region_name": "eu-west-1"})
    nested = parse_connection("c", "http://h?__extra__=%7B%22a%22%3A+%7B%22b%22%3A+1%7D%7D")
    assert nested.extra == {"a": {"b": 1}}


def test_password_is_not_in_the_repr():
    assert "S3CR3T" not in repr(parse_connection("c", "http://u:S3CR3T@h"))


def test_environment_first_and_a_clear_error_without_airflow(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MINE", "https://u:pw@api.test/v1")
    assert get_connection("mine").host == "api.test"
    monkeypatch.setattr("prox_tasks.connections.airflow_installed", lambda: False)
    with pytest.raises(KeyError, match="AIRFLOW_CONN_ABSENT is unset"):
        get_connection("absent")
