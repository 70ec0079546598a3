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


def _old_folder(root, name: str):
    import os
    import time

    folder = root / name
    folder.mkdir(parents=True)
    (folder / "epoch-1.pt").write_bytes(b"x")
    old = time.time() - 30 * 86400
    for path in (folder / "epoch-1.pt", folder):
        os.utime(path, (old, old))
    return folder


def test_another_user_s_work_folders_are_skipped_not_a_failed_training(tmp_path, monkeypatch):
    """Each ``prox train`` with PROX_TMPDIR set also sweeps the system temp folder's
    ``prox-train``: on a shared host that folder (0700) or a folder in it may be another
    user's, and the PermissionError of listing it or of taking a folder's lock failed the
    user's training, which never looked there before. Such folders are skipped; the user's
    own are swept. A mock, named as such: the suite runs as root, which no mode refuses,
    and a process of another user cannot run this venv's Python (under /root)."""
    from pathlib import Path

    from prox_tasks.training import work_sweep
    from prox_tasks.training.work_sweep import sweep_stale_work_folders

    root = tmp_path / "prox-train"
    theirs, mine = _old_folder(root, "theirs"), _old_folder(root, "mine")
    listed = Path.iterdir

    def iterdir(path):
        if path == root and refuse_listing:
            raise PermissionError(13, "Permission denied", str(path))  # mock: not root's
        return listed(path)

    real_lock = work_sweep.lock_if_free

    def lock_if_free(folder):
        if folder == theirs:  # mock: opening its lock file, as another user's folder refuses
            raise PermissionError(13, "Permission denied", str(folder / ".lock"))
        return real_lock(folder)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(work_sweep, "lock_if_free", lock_if_free)
    refuse_listing = True
    assert sweep_stale_work_folders(root, keep=tmp_path / "none", days=7) == []
    refuse_listing = False
    assert sweep_stale_work_folders(root, keep=tmp_path / "none", days=7) == [mine]
    assert theirs.exists() and not mine.exists()
