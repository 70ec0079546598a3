"""The age past which a training work folder is swept (prox_tasks/training/work_sweep.py)."""

import pytest

from prox_tasks.pipeline.settings import SettingInvalid
from prox_tasks.training.work_sweep import max_age_days


@pytest.mark.parametrize(("value", "why"), [
    ("inf", "(inf is not finite"), ("nan", "(nan is not finite"),
    ("-1", "(-1 is not at least 0"), ("abc", "days (0: keep every work folder): correct")])  # fmt: skip
def test_a_work_folder_age_that_is_no_finite_number_says_why(monkeypatch, value, why):
    """The sweep's own parser said ``inf is not at least 0`` (and ``nan`` alike): a reason
    that lies to whoever set it (inf is more than 0) and not the one the one parser of a
    number of at least 0 (:func:`~prox_tasks.pipeline.settings.seconds_value`) gives every
    other such setting."""
    monkeypatch.setenv("PROX_TRAIN_WORK_MAX_AGE_DAYS", value)
    with pytest.raises(SettingInvalid) as raised:
        max_age_days()
    assert why in str(raised.value), str(raised.value)
    assert "is not at least 0" not in str(raised.value) or value == "-1"


@pytest.mark.parametrize(("value", "days"), [("0", 0.0), ("2.5", 2.5), (" 7 ", 7.0)])
def test_a_work_folder_age_of_at_least_0_days_is_taken(monkeypatch, value, days):
    monkeypatch.setenv("PROX_TRAIN_WORK_MAX_AGE_DAYS", value)
    assert max_age_days() == days
