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
