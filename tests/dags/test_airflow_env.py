"""The session's throwaway Airflow installation (``tests.dags.airflow_env``) leaves nothing
behind: 452 of them (400 MB) had piled up in the test machine's /tmp, one a test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.dags.airflow_env import REPO

#: A session in miniature: the installation is made, a process forked from the session exits
#: (Airflow's task runners are such), then the session exits.
SESSION = ("import os, sys\n"
           "from tests.dags.airflow_env import HOME\n"
           "print(HOME, flush=True)\n"
           "child = os.fork()\n"
           "if child == 0:\n"
           "    sys.exit(0)\n"
           "os.waitpid(child, 0)\n"
           "print(HOME.is_dir(), flush=True)\n")  # fmt: skip


def test_the_airflow_home_is_removed_when_the_session_ends_not_when_a_fork_of_it_does(tmp_path):
    done = subprocess.run([sys.executable, "-c", SESSION], capture_output=True, text=True,
                          timeout=120, cwd=REPO, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)})  # fmt: skip
    home, kept_after_fork = done.stdout.split()
    assert Path(home).parent == tmp_path
    assert kept_after_fork == "True"  # the forked process left the session's installation
    assert not Path(home).exists()  # the session's exit removed it


def test_a_killed_session_s_airflow_home_is_removed_by_the_next_session(tmp_path):
    """A session killed (SIGKILL: a CI timeout, a worker the OOM killer took) runs no
    atexit: its installation stayed in /tmp for good. The next session removes it (named
    after its process: only a dead one's)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal\nfrom tests.dags.airflow_env import HOME\n"
         "print(HOME, flush=True)\nos.kill(os.getpid(), signal.SIGKILL)\n"],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=env)  # fmt: skip
    left = Path(killed.stdout.strip())
    assert left.parent == tmp_path and left.is_dir()
    subprocess.run([sys.executable, "-c", "import tests.dags.airflow_env"], timeout=120,
                   cwd=REPO, env=env, check=True)  # fmt: skip
    assert os.listdir(tmp_path) == []
