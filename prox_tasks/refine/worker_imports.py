"""What the fork server of the refine workers loads once for all of them.

The workers' fork server (:mod:`~prox_tasks.refine.fork_server`) imports this module:
torch, the refine step and the tagger's code, and the tagger's compiled feature kernels
already run once (numba loads a kernel's machine code from its disk cache at the kernel's
first call, ~0.4 CPU-s a process; compiles it where there is no cache). Nothing here starts a thread (no network runs: its math library would start
its thread pool, which a fork does not carry over). Only that server imports this module.

A worker does not run the starting program's main module again. multiprocessing would, in
every worker before it unpickles the task (as ``__mp_main__``), from whatever program starts
the pool: ``prox``, a notebook, or Airflow's task runner, whose main module is the
``airflow`` command — importing it initializes Airflow, which fails in a task's process (no
metadata-database settings there) and killed every worker of an Airflow refine task with
``workers_per_task``. Nothing a worker receives is defined in a main module (the pool's
initializer and tasks are functions of :mod:`prox_tasks.refine.workers`), so the server
makes that step a no-op for the workers it forks, and only for them.

Last, every object loaded so far is frozen (``gc.freeze``): the workers' collections then
never walk them (nor write to their pages, which a fork shares until written), and the
server's own exit, at the end of every run with workers, skips collecting them (~0.6 CPU-s
with torch loaded, and the command's output ends only when the server has exited).
"""

from __future__ import annotations

import gc
import logging
from multiprocessing import spawn

import torch  # noqa: F401

import prox_tasks.inference.loading  # noqa: F401
import prox_tasks.inference.tagger  # noqa: F401
import prox_tasks.models.line_tagger  # noqa: F401
import prox_tasks.refine.step  # noqa: F401

#: Texts that take every path of the feature kernels: ASCII, Latin, CJK and astral code
#: points, the characters whose lower case needs Python, blank lines, an empty document.
WARM_UP_TEXTS = ["A line of words, a number 42.\n\n  Ünïcode  İstanbul ΣΑΣ 中文 😀\tend",
                 "", "one"]  # fmt: skip


def warm_up() -> None:
    """Run the feature kernels once (both with and without the line statistics)."""
    from prox_tasks.models.line_features import featurize_batch

    for stats in (True, False):
        featurize_batch(WARM_UP_TEXTS, 1 << 15, stats)


def keep_the_servers_main(_main: str) -> None:
    """Stands in for multiprocessing's re-run of the starting program's main module."""


spawn._fixup_main_from_path = spawn._fixup_main_from_name = keep_the_servers_main

try:
    warm_up()
except Exception:  # noqa: BLE001 - each worker then loads the kernels itself, as before
    logging.getLogger(__name__).warning("feature kernels not warmed up", exc_info=True)
gc.freeze()
