"""Deployment variables read by :mod:`prox_tasks.pipeline.settings`."""

from __future__ import annotations

import pytest

from prox_tasks.pipeline.settings import SettingInvalid, id_search_bytes


def test_a_whole_number_variable_says_what_it_takes_not_what_int_said(monkeypatch):
    """PROX_ID_SEARCH_MB=1k was refused quoting int()'s "invalid literal for int() with base
    10: '1k'" (its converter was its own, beside the DAG files' one for PROX_RETRIES and
    PROX_MAX_ACTIVE_RUNS, which left those words out): one converter says the form, and the
    bound where it is the bound that fails."""
    monkeypatch.setenv("PROX_ID_SEARCH_MB", "1k")
    with pytest.raises(SettingInvalid) as refused:
        id_search_bytes()
    assert str(refused.value) == (
        "deployment variable PROX_ID_SEARCH_MB='1k' is not a whole "
        "number of MiB: correct it, or unset it for the default"
    )
    monkeypatch.setenv("PROX_ID_SEARCH_MB", "0")
    with pytest.raises(SettingInvalid, match=r"\(0 is not at least 1\)"):
        id_search_bytes()
    monkeypatch.setenv("PROX_ID_SEARCH_MB", "3")
    assert id_search_bytes() == 3 * 2**20


def test_the_dag_files_whole_numbers_take_the_same_converter(monkeypatch):
    """PROX_MAX_ACTIVE_RUNS, read as the DAG files are parsed, is bounded by the same check."""
    from prox_tasks.pipeline import dag_config
    from prox_tasks.pipeline.settings import whole_number

    monkeypatch.setenv("PROX_MAX_ACTIVE_RUNS", "0")
    with pytest.raises(
        SettingInvalid,
        match=r"PROX_MAX_ACTIVE_RUNS='0' is not a whole number "
        r"of at least 1 \(0 is not at least 1;",
    ):
        dag_config.max_active_runs()
    assert whole_number(0)("0") == 0


def _openai_timeout():
    from prox_tasks.inference.openai_engine import check_seconds_settings

    check_seconds_settings({})


def _retry_delay():
    from prox_tasks.pipeline import dag_config

    dag_config.default_args()


def _claim_lease():
    from prox_tasks.pipeline.settings import label_claim_lease

    label_claim_lease()


@pytest.mark.parametrize(("variable", "read", "accepted"), [
    ("PROX_OPENAI_TIMEOUT", _openai_timeout, "a number of seconds above 0"),
    ("PROX_OPENAI_SHARD_BUDGET", _openai_timeout, "a number of seconds above 0"),
    ("PROX_RETRY_DELAY_S", _retry_delay, "a number of seconds of at least 0"),
    ("PROX_LABEL_CLAIM_LEASE_S", _claim_lease, "a number of seconds of at least 10"),
])  # fmt: skip
def test_every_seconds_variable_is_refused_in_the_same_words(monkeypatch, variable, read,
                                                             accepted):
    """Three parsers of a setting in seconds worded a bad one three ways:
    ``PROX_OPENAI_TIMEOUT must be a number of seconds, not 'abc'`` (the openai engine's own,
    which also took ``inf``), and ``deployment variable PROX_RETRY_DELAY_S='abc' is not …``
    from the DAG files' and the labeling claim's. One parser now: the variable, the value
    said and what is accepted, then how to fix it."""
    monkeypatch.setenv(variable, "abc")
    with pytest.raises(SettingInvalid) as refused:
        read()
    assert str(refused.value).startswith(
        f"deployment variable {variable}='abc' is not {accepted}")
    assert str(refused.value).endswith(": correct it, or unset it for the default")
    monkeypatch.setenv(variable, "inf")
    with pytest.raises(SettingInvalid, match=r"\(inf is not finite"):
        read()


def test_an_openai_seconds_option_given_in_code_names_the_option():
    """``timeout``/``shard_budget`` given as the engine's options (a DAG's backend_options, a
    library caller) are checked by the same parser, named as given."""
    from prox_tasks.inference.openai_engine import check_seconds_settings

    with pytest.raises(SettingInvalid) as refused:
        check_seconds_settings({"timeout": 0})
    assert str(refused.value) == ("timeout=0 is not a number of seconds above 0 (0 is not "
                                  "above 0): correct it")
