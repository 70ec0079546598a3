"""Training checkpoints written as every other prox file is: atomically, through the storage
layer's writer (:func:`prox_tasks.storage.open_uri`)."""

from __future__ import annotations

import os
import re


def legacy_temp_pattern(name: str) -> str:
    """The temporary names older prox versions saved checkpoint ``name`` through, with no
    host in them (never swept): ``tagger_checkpoint.pt.<pid>.tmp`` (the tagger),
    ``checkpoint.pt.tmp`` (the sft trainer); for
    :func:`~prox_tasks.storage.tempfiles.sweep_stale`'s ``legacy``."""
    return rf"{re.escape(name)}(\.\d+)?\.tmp"


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """``torch.save`` ``state`` to ``path``: readers (a resuming run) see the previous
    checkpoint or the whole new one.

    The bytes go to a temporary file beside ``path`` named for this process, removed when the
    save fails (a full disk) and swept by the next write into the folder when the process was
    killed, so neither leaves a partial checkpoint of the model's size behind; so does one an
    older prox left under its old name (:func:`legacy_temp_pattern`), a day untouched.

    Raises:
        OSError: the file could not be written; a full disk is ``ENOSPC`` naming the file
            (``torch.save`` itself says only "unexpected pos N vs M").
    """
    import torch

    from prox_tasks.storage import open_uri
    from prox_tasks.storage.local import TEMP_MARK
    from prox_tasks.storage.tempfiles import sweep_stale

    sweep_stale(os.path.dirname(os.fspath(path)) or ".", ".", TEMP_MARK,
                legacy=legacy_temp_pattern(os.path.basename(os.fspath(path))))
    with open_uri(os.fspath(path), "wb") as out:
        try:
            torch.save(state, out)
        except RuntimeError as err:
            if out.failure is not None:  # the writer's own OSError, which torch wrapped
                raise out.failure from err
            # Ctrl-C (SIGTERM) during the save: torch turns it into "unexpected pos" when
            # it lands in a write, or raises its own error over it closing the archive;
            # the interrupt is what the command must end with (exit 130, "resumes")
            stop = out.interrupted or _interrupt_in(err)
            if stop is not None:
                raise stop from None
            raise


def _interrupt_in(err: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or SystemExit among the exceptions ``err`` was raised while
    handling, else None."""
    seen = err.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt | SystemExit):
            return seen
        seen = seen.__context__
    return None
