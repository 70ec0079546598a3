"""The session's Param schema check cache (``tests.dags.airflow_env.schemas_checked_once``):
a schema is checked against its meta-schema once, not at every resolve, and still checked."""

import jsonschema
import pytest
from airflow.sdk import Param

from tests.dags.airflow_env import schemas_checked_once


def _meta_schema_checks(monkeypatch) -> list:
    """Record each check of a schema against its meta-schema (``check_schema`` looks up the
    meta-schema's validator class with ``validator_for`` each time it checks)."""
    checks = []
    meta_schemas = {
        id(cls.META_SCHEMA) for cls in (jsonschema.Draft202012Validator, jsonschema.Draft7Validator)
    }
    real = jsonschema.validators.validator_for

    def spy(schema, *args, **kwargs):
        if id(schema) in meta_schemas:
            checks.append(schema)
        return real(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.validators, "validator_for", spy)
    return checks


def test_a_params_schema_is_checked_once_and_its_values_every_time(monkeypatch):
    checks = _meta_schema_checks(monkeypatch)
    param = Param(3, type="integer", minimum=1, title="checked once")  # a schema of its own
    for value in (3, 4, 5, 6):
        assert param.resolve(value) == value
    assert len(checks) == 1  # the session's DAG tests: once, not once per resolve
    with pytest.raises(Exception, match="is less than the minimum of 1"):
        param.resolve(0)  # the value is still validated


def test_an_invalid_schema_is_still_refused_each_time():
    with schemas_checked_once():
        for _ in range(2):
            with pytest.raises(jsonschema.SchemaError):
                jsonschema.validate(1, {"type": "no-such-type"})
