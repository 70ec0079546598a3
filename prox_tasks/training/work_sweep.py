"""Default training work folders no retry came back for are removed after a while.

A failed training keeps its default work folder (``$PROX_TMPDIR/prox-train/<key>``) so that
the same job resumes from its checkpoints; a job that is never run again with the same
settings left it there for ever (13 GB had piled up on one machine). Each training first removes the
folders of ``$PROX_TMPDIR/prox-train`` untouched for :func:`max_age_days` days
(``PROX_TRAIN_WORK_MAX_AGE_DAYS``, default 7; 0 keeps them all) — never its own, which its
retry resumes, and never one a live run holds: the sweep takes the folder's lock
(:mod:`~prox_tasks.training.work_lock`) without waiting and skips the folder when it is held.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from pathlib import Path

from prox_tasks.training.work_lock import lock_if_free

log = logging.getLogger(__name__)

#: Days a default work folder may sit untouched before a training removes it.
DEFAULT_MAX_AGE_DAYS = 7.0


def max_age_days() -> float:
    """``PROX_TRAIN_WORK_MAX_AGE_DAYS`` (0: never sweep), else :data:`DEFAULT_MAX_AGE_DAYS`.

    Raises:
        SettingInvalid: naming the variable when it is not a number of at least 0.
    """
    from prox_tasks.pipeline.settings import env_value, seconds_value

    # the one parser of a finite number of at least 0 (a duration, here in days): its own
    # said "inf is not at least 0" of inf and nan
    return env_value("PROX_TRAIN_WORK_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS,
                     functools.partial(seconds_value, zero=True),
                     "a number of days (0: keep every work folder)")  # fmt: skip


def sweep_stale_work_folders(root: Path, keep: Path, days: float | None = None) -> list[Path]:
    """Remove the work folders in ``root`` untouched (no file in them written) for ``days``
    days (None: :func:`max_age_days`), except ``keep`` and those whose lock a run holds.

    Each removal is logged (a warning: ``prox train`` shows it without ``-v``) with its age
    and size. Returns the folders removed.
    """
    days = max_age_days() if days is None else days
    if not days:
        return []
    try:
        folders = [p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir()
                   and not p.is_symlink()]  # fmt: skip
    except FileNotFoundError:
        return []
    except PermissionError as err:  # another user's (a shared host's system temp folder)
        log.info("training work folders in %s not swept: %s", root, err)
        return []
    removed = []
    cutoff = time.time() - days * 86400
    for folder in folders:
        if folder == keep:
            continue
        try:
            touched, size = _last_write_and_size(folder)
            if touched >= cutoff:
                continue
            with lock_if_free(folder) as free:
                if not free:  # a live run: its epochs are being written (or waited for)
                    continue
                if _last_write_and_size(folder)[0] >= cutoff:  # written before we locked it
                    continue
                shutil.rmtree(folder, ignore_errors=True)
        except PermissionError as err:  # another user's folder: theirs to resume or sweep
            log.info("training work folder %s not swept: %s", folder, err)
            continue
        removed.append(folder)
        log.warning("removed training work folder %s: untouched for %.0f days (%.1f MB), no "
                    "run resumed it (PROX_TRAIN_WORK_MAX_AGE_DAYS=%g)", folder,
                    (time.time() - touched) / 86400, size / 1e6, days)  # fmt: skip
    return removed


def _last_write_and_size(folder: Path) -> tuple[float, int]:
    """When anything in ``folder`` was last written (its own mtime included), and its bytes."""
    latest, size = 0.0, 0
    for where, _, files in os.walk(folder):
        for path in (where, *(os.path.join(where, f) for f in files)):
            try:
                stat = os.lstat(path)
            except FileNotFoundError:
                continue
            latest = max(latest, stat.st_mtime)
            size += stat.st_size if path != where else 0
    return latest, size
