"""scripts/main_job.py's options."""

from __future__ import annotations

import pytest

from tests.test_airflow_sqlite import _main_job


def test_a_base_folder_without_a_refiner_is_refused_not_trained_from_scratch(
    tmp_path, capsys, monkeypatch
):
    """``--base`` naming a folder with no ``refiner.json`` (a typo) trained from scratch,
    said only in the step line; it is refused before Airflow is set up."""
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as exited:
        _main_job().main(["--base", str(tmp_path / "line-taggr")])
    assert exited.value.code == 2
    assert "line-taggr: no refiner.json there" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


def test_an_input_path_that_is_not_there_is_refused_before_airflow_is_set_up(
    tmp_path, capsys, monkeypatch
):
    """``--input`` naming nothing (a typo) set Airflow up, then failed the seed DAG's first
    task with a traceback saying "check input_uri", a Param the user never typed, and "see
    the task logs"; it is refused first, naming the option."""
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit) as exited:
        _main_job().main(["--input", str(tmp_path / "sampel.jsonl.gz")])
    assert exited.value.code == 2
    assert "--input " + str(tmp_path / "sampel.jsonl.gz") + ": no such file or folder" \
        in capsys.readouterr().err
    assert not (tmp_path / "home").exists()
