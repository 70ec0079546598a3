"""Which errors fail a task at once (no retries) and which are left to Airflow's retries."""

from __future__ import annotations

import pytest

from prox_tasks.pipeline.errors import RunError, check_conf, fail_fast
from prox_tasks.refine.limits import DuplicateIdError


class FailNow(Exception):
    """Stands in for Airflow's AirflowFailException (the DAGs pass the real one)."""


@pytest.mark.parametrize(("error", "said"), [
    (RunError("bad conf"), "bad conf"),
    (DuplicateIdError("id 'a' twice in shard 0"), "DuplicateIdError: id 'a' twice in shard 0"),
])  # fmt: skip
def test_errors_no_retry_can_fix_fail_at_once_with_their_message(error, said):
    """Said as ``prox`` says them (cli.errors.describe_error): a refusal that says what to
    change as written, another with its type name, which names what conflicts."""
    from prox_tasks.cli.errors import describe_error

    with pytest.raises(FailNow) as failed:
        with fail_fast(FailNow):
            raise error
    assert str(failed.value) == said == describe_error(error)


def test_every_setting_error_a_command_exits_2_for_fails_the_task_at_once():
    """What ``prox`` exits 2 for (a setting to fix, cli.errors.setting_errors) no retry of a
    DAG task gets past either: NotACatalog, NotAModelFolder and CatalogURLInvalid were
    retried when a task met them."""
    from prox_tasks.cli.errors import setting_errors
    from prox_tasks.pipeline.errors import cannot_succeed

    assert [e for e in setting_errors() if not issubclass(e, cannot_succeed())] == []


def test_an_s3_connection_that_is_not_defined_fails_the_task_at_once(monkeypatch):
    """``PROX_S3_CONN_ID`` naming no connection (a typo, or one never added): the S3
    settings' lookup raised ConnectionNotFound, a KeyError, which every try of the task met
    again (retried with backoff). It fails at once, saying how to create the connection."""
    from prox_tasks.storage.s3_client import S3Settings

    monkeypatch.setenv("PROX_S3_CONN_ID", "no_such_s3_conn")
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_S3_CONN", raising=False)
    with pytest.raises(FailNow, match=r"^PROX_S3_CONN_ID='no_such_s3_conn': "
                       r"Airflow connection 'no_such_s3_conn' is not defined .*create it"):
        with fail_fast(FailNow):
            S3Settings.from_env()


def test_other_errors_are_left_to_retries():
    with pytest.raises(OSError, match="S3 hiccup"):
        with fail_fast(FailNow):
            raise OSError("S3 hiccup")


def test_unknown_conf_keys_are_refused_by_name_with_the_params_meant():
    params = {"target_docs": 1000, "model": None, "keep_threshold": None}
    # the Params as a user reads them, not a Python list ("['keep_threshold', 'model', ...]")
    with pytest.raises(RunError, match=r"^unknown conf key 'tagret_docs' \(did you mean "
                                       r"'target_docs'\?\): fix the trigger's conf \(the run's "
                                       r"Params\); this DAG's Params are keep_threshold, model, "
                                       r"target_docs$"):
        check_conf({"tagret_docs": 5}, params)
    with pytest.raises(RunError, match=r"unknown conf keys 'shards', 'threshold' \(did you mean "
                                       r"'keep_threshold'\?\):"):  # no Param close to 'shards'
        check_conf({"threshold": 0.5, "shards": 3, "model": "m"}, params)
    check_conf({"target_docs": 5}, params)
