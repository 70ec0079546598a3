"""A real Airflow deployment on loopback for tests: api-server, scheduler, dag-processor.

Shares the session's AIRFLOW_HOME and SQLite metadata DB. The API uses Airflow's own
SimpleAuthManager with a known password, so tests log in as a user would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tests.dags.airflow_env import HOME, PASSWORD, REPO, USER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Airflow:
    """Handle on the running services: ``url``, ``token()``, ``request()``."""

    def __init__(self, url: str, logs: Path):
        self.url, self.logs = url, logs
        self._token = None

    def token(self) -> str:
        import httpx

        if self._token is None:
            r = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD},
                           timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, auth: bool = True, **kwargs):
        import httpx

        headers = {"Authorization": f"Bearer {self.token()}"} if auth else {}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60,
                             follow_redirects=False, **kwargs)

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs.glob("*.log"))


def service_env(port: int, extra: dict | None = None) -> dict:
    return {
        **os.environ,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        **(extra or {}),
    }


@contextmanager
def airflow_services(extra_env: dict | None = None, timeout: float = 180):
    """Start api-server, scheduler and dag-processor; stop them (by pid) on exit."""
    port = free_port()
    env = service_env(port, extra_env)
    logs = HOME / "service-logs"
    logs.mkdir(exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    procs = []
    try:
        for name in ("api-server", "scheduler", "dag-processor"):
            out = open(logs / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            procs.append((subprocess.Popen([airflow, name], env=env, cwd=str(REPO), stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True),
                          out))
        service = Airflow(f"http://127.0.0.1:{port}", logs)
        _wait_ready(service, procs, timeout)
        yield service
    finally:
        for proc, _out in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc, out in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
            out.close()


def _wait_ready(service: Airflow, procs, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, _ in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"an Airflow service exited:\n{service.tail()}")
        try:
            r = service.request("GET", "/api/v2/dags/prox_refine_snapshot")
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"Airflow did not come up in {timeout} s:\n{service.tail()}")


def wait_for_runs(service: Airflow, dag_id: str, count: int, timeout: float = 300) -> list[dict]:
    """Wait until ``count`` runs of ``dag_id`` have finished; returns all runs."""
    deadline = time.monotonic() + timeout
    runs = []
    while time.monotonic() < deadline:
        runs = service.request("GET", f"/api/v2/dags/{dag_id}/dagRuns",
                               params={"limit": 100}).json()["dag_runs"]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        if len(done) >= count and len(done) == len(runs):
            return runs
        time.sleep(2)
    raise TimeoutError(f"runs of {dag_id} not finished: {[(r['dag_run_id'], r['state']) for r in runs]}"
                       f"\n{service.tail()}")
