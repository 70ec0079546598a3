"""The throw-away PostgreSQL server (tests/deploy/postgres.py) of a killed test process
leaves nothing behind once the next one starts."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.postgres import PostgresServer, PostgresUnavailable

REPO = Path(__file__).resolve().parents[2]

START_THEN_DIE = """
import os, signal
from tests.deploy.postgres import PostgresServer
server = PostgresServer().start()
with open(os.path.join(server.data, "postmaster.pid")) as pid:
    print(server.root, pid.readline().strip(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_test_process_s_postgres_folder_goes_with_the_next_start(short_tmp,
                                                                          monkeypatch):
    """A test process killed (no fixture teardown ran) left ``prox-pg-*`` in /tmp, its
    server running on. The next start removes the folder (named after its dead process);
    the server, its data folder's lock file gone, shuts itself down (here: stopped at
    once)."""
    os.chmod(short_tmp, 0o755)  # the server runs as ``postgres`` when the tests run as root
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": short_tmp}
    died = subprocess.run([sys.executable, "-c", START_THEN_DIE], capture_output=True,
                          text=True, timeout=120, cwd=REPO, env=env)  # fmt: skip
    if "PostgresUnavailable" in died.stderr:
        pytest.skip(died.stderr.strip().splitlines()[-1])
    root, orphan = died.stdout.split()
    try:
        assert Path(root).is_dir()
        monkeypatch.setattr("tempfile.tempdir", short_tmp)
        try:
            server = PostgresServer().start()
        except PostgresUnavailable as err:
            pytest.skip(str(err))
        server.stop()
        assert not Path(root).exists()
        assert os.listdir(short_tmp) == []
    finally:
        try:
            os.kill(int(orphan), signal.SIGQUIT)  # PostgreSQL's immediate shutdown
        except ProcessLookupError:
            pass
        time.sleep(0.5)
