"""The fork server's socket folder (prox_tasks.refine.fork_server): a process that started
refine workers leaves none behind, however it ends."""

import os
import subprocess
import sys
from pathlib import Path

from prox_tasks.storage.tempfiles import temp_tag

ROOT = Path(__file__).resolve().parents[2]

# Starts the fork server as `prox refine --workers N` does, then ends: normally, or by
# os._exit, as every Airflow task's process ends (no atexit, no multiprocessing clean-up)
START_THEN_END = """
import os, sys
from prox_tasks.refine.fork_server import start_worker_imports
start_worker_imports()
if sys.argv[1] == "os._exit":
    os._exit(0)
"""


def _run(end: str, env: dict) -> None:
    subprocess.run([sys.executable, "-c", START_THEN_END, end], env=env, check=True,
                   timeout=300)  # fmt: skip


def test_a_process_ended_by_os_exit_leaves_its_socket_folder_to_the_next(short_tmp):
    """multiprocessing made ``pymp-*`` (with the fork server's ``listener-*`` socket) in the
    system temp folder and removed it only at a normal exit: each Airflow refine task with
    workers left one in /tmp. The folder is prox's now, in PROX_TMPDIR, and the next
    process's start removes a dead one's."""
    temp, scratch = os.path.join(short_tmp, "tmp"), os.path.join(short_tmp, "scratch")
    os.mkdir(temp)
    env = {**os.environ, "TMPDIR": temp, "PROX_TMPDIR": scratch, "PYTHONPATH": str(ROOT)}
    _run("os._exit", env)
    assert os.listdir(temp) == []
    (left,) = os.listdir(scratch)  # this host's, of a process gone
    assert left.startswith("prox-mp-" + temp_tag().split(".")[0] + ".")
    _run("normally", env)
    assert os.listdir(scratch) == [] and os.listdir(temp) == []
