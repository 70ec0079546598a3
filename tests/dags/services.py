"""A real Airflow deployment on loopback for tests: api-server, scheduler, dag-processor
(and any further Airflow processes, e.g. Celery workers).

By default shares the session's AIRFLOW_HOME and SQLite metadata DB; ``tests/deploy`` passes
its own home and a PostgreSQL metadata DB in the environment. The API uses Airflow's own
SimpleAuthManager with a known password, so tests log in as a user would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.dags.airflow_env import HOME, PASSWORD, REPO, USER
from tests.ports import PortTaken, free_port, port_taken, start_on_free_port


@dataclass
class Service:
    """One Airflow process: ``airflow ARGS`` with ``env`` on top of the deployment's."""

    name: str
    args: list[str]
    env: dict = field(default_factory=dict)


CORE_SERVICES = (Service("api-server", ["api-server"]), Service("scheduler", ["scheduler"]),
                 Service("dag-processor", ["dag-processor"]))


class Airflow:
    """Handle on the running services: ``url``, ``token()``, ``request()``, run helpers."""

    def __init__(self, url: str, logs: Path, processes: dict | None = None):
        self.url, self.logs = url, logs
        self.processes: dict[str, subprocess.Popen] = processes or {}
        self._token = None

    def token(self) -> str:
        import httpx

        if self._token is None:
            r = httpx.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD},
                           timeout=30)
            r.raise_for_status()
            self._token = r.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, auth: bool = True, headers: dict | None = None,
                **kwargs):
        import httpx

        headers = {**({"Authorization": f"Bearer {self.token()}"} if auth else {}),
                   **(headers or {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=60,
                             follow_redirects=False, **kwargs)

    def tail(self, chars: int = 3000) -> str:
        """The end of every service's log (for assertion messages)."""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
                         for p in sorted(self.logs.glob("*.log")))

    def unpause(self, dag_id: str) -> None:
        r = self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert r.status_code == 200, r.text

    def trigger(self, dag_id: str, conf: dict | None = None, logical_date: str | None = None) -> str:
        """Create a run as the UI's Trigger button does; returns its run id."""
        r = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                         json={"logical_date": logical_date, "conf": conf or {}})
        assert r.status_code == 200, r.text
        return r.json()["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        r = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        r.raise_for_status()
        return r.json()

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300, poll: float = 2) -> dict:
        """Wait until the run has finished (success or failed); returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(poll)
        raise TimeoutError(f"run {run_id} of {dag_id} still {run['state']} after {timeout} s"
                           f"\n{self.tail()}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, mapped ones included (one per map index)."""
        r = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                         params={"limit": 1000})
        r.raise_for_status()
        return r.json()["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        """Every try of one task instance (Airflow's task instance history), oldest first."""
        r = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/"
                         f"{task_id}/{map_index}/tries")
        r.raise_for_status()
        return sorted(r.json()["task_instances"], key=lambda t: t["try_number"])

    def kill(self, name: str) -> list[int]:
        """SIGKILL service ``name`` and every process of its session (task processes put
        themselves in their own process group, so ``killpg`` alone would miss them): what a
        machine that dies does. Returns the pids killed."""
        proc = self.processes[name]
        pids = _session_pids(proc.pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)
        return pids


def _session_pids(sid: int) -> list[int]:
    """Pids of the live processes whose session id is ``sid`` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session
            pids.append(int(entry.name))
    return pids


#: Seconds between two parses of an unchanged DAG file (and two scans of the DAG folder).
PARSE_INTERVAL_S = 60


def service_env(port: int, extra: dict | None = None) -> dict:
    return {
        **os.environ,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        # The DAG files are parsed as the dag-processor starts (the services are ready once
        # prox_refine_snapshot is) and do not change while the services run: parsing them
        # again every 5 s took 8.6 CPU-s a minute (a process per file), ~15% of a 2-core
        # machine, taken from the tasks the tests wait for as long as the services were up
        # (2.1 CPU-s a minute at 30 s, Airflow's default)
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(PARSE_INTERVAL_S),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(PARSE_INTERVAL_S),
        # the scheduler's and triggerer's log servers on ports of their own: another
        # deployment (another pytest-xdist worker's) may hold the defaults, 8793 and 8794
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        **(extra or {}),
    }


@contextmanager
def airflow_services(extra_env: dict | None = None, timeout: float = 180, home: Path = HOME,
                     extra_services: tuple[Service, ...] = (),
                     core: tuple[Service, ...] = CORE_SERVICES):
    """Start ``core`` (api-server, scheduler, dag-processor) and ``extra_services`` (each in
    its own session, log in ``<home>/service-logs/<name>.log``); kill them on exit.
    Ready once the API answers (and, with a dag-processor, has parsed prox_refine_snapshot).
    The API's port (which the tasks are told) and the log servers' are picked free; a
    start that finds one taken meanwhile (another pytest-xdist worker's server) starts
    again on others (tests/ports.py)."""
    handle, procs = start_on_free_port(
        lambda port: _start(port, extra_env, timeout, home, (*core, *extra_services),
                            any(s.name == "dag-processor" for s in core)))  # fmt: skip
    try:
        yield handle
    finally:
        _stop(procs)


def _start(port: int, extra_env: dict | None, timeout: float, home: Path,
           services: tuple[Service, ...], parses: bool) -> tuple[Airflow, list]:
    """Start ``services`` with the API on ``port``; returns the handle and the processes
    (name, Popen, log file) once ready.

    Raises:
        PortTaken: a service could not bind its port (all are stopped).
    """
    env = service_env(port, extra_env)
    logs = home / "service-logs"
    logs.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    procs = []
    try:
        for service in services:
            out = open(logs / f"{service.name}.log", "w")  # noqa: SIM115 - closed in _stop
            procs.append((service.name, subprocess.Popen(
                [airflow, *service.args], env={**env, **service.env}, cwd=str(REPO), stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True), out))
        handle = Airflow(f"http://127.0.0.1:{port}", logs, {n: p for n, p, _ in procs})
        probe = "/api/v2/dags/prox_refine_snapshot" if parses else "/api/v2/version"
        try:
            _wait_ready(handle, [(p, out) for _, p, out in procs], timeout, probe)
        except (RuntimeError, TimeoutError) as err:
            if port_taken(handle.tail()):
                raise PortTaken(f"an Airflow service's port was taken: {err}") from err
            raise
        if port_taken(handle.tail()):  # a log server's: the scheduler runs on without it
            raise PortTaken(f"an Airflow log server's port was taken:\n{handle.tail()}")
        return handle, procs
    except BaseException:
        _stop(procs)
        raise


def _stop(procs: list) -> None:
    # SIGKILL, not SIGTERM: the test is over and nothing a graceful stop does is checked,
    # while the api-server and scheduler took 5-8 s to stop on a SIGTERM (each
    # deployment's teardown). What they wrote is committed; a write cut short is rolled
    # back (SQLite, PostgreSQL), as when a machine dies.
    for _name, proc, _out in procs:
        _signal_session(proc.pid, signal.SIGKILL)  # with its children (task processes)
    for _name, proc, out in procs:
        proc.wait(timeout=30)
        out.close()


def _signal_session(sid: int, sig: int) -> None:
    for pid in _session_pids(sid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _wait_ready(service: Airflow, procs, timeout: float, probe: str) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, _ in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"an Airflow service exited:\n{service.tail()}")
        try:
            r = service.request("GET", probe)
            if r.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"Airflow did not come up in {timeout} s:\n{service.tail()}")


def nightly_schedule(now: datetime | None = None) -> tuple[str, str]:
    """``PROX_REFRESH_CRON`` for a test deployment, and the ``ds`` of the one scheduled run
    that unpausing the refine DAG then creates.

    The daily cron fires at the hour twelve hours from now, so its last firing was 12 to 13
    hours ago and its next is 11 to 12 hours away: the scheduled run covers a known day
    whatever the time of day, and no second one starts while the test runs. (At ``0 0 * * *``
    a test running across midnight UTC would find another day's run, or two.)
    """
    now = now or datetime.now(UTC)
    hour = (now.hour + 12) % 24
    last = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if last > now:
        last -= timedelta(days=1)
    # the latest complete data interval ends at the last firing and starts a day before it
    return f"0 {hour} * * *", (last - timedelta(days=1)).date().isoformat()


def no_scheduled_run(now: datetime | None = None) -> dict:
    """Settings under which unpausing the refine DAG starts no scheduled run (the test
    triggers its own): a yearly schedule whose first data interval starts today, so it ends a
    year from now. (A fixed start date would not do: once a year has passed since it, the
    first interval is complete and unpausing starts a run, which with one active run at a
    time would hold up the test's own.)"""
    today = (now or datetime.now(UTC)).date().isoformat()
    return {"PROX_REFRESH_CRON": "0 0 1 1 *", "PROX_START_DATE": today}


def list_runs(service: Airflow, dag_id: str) -> list[dict]:
    """Every run of ``dag_id`` in the services' metadata DB (up to 100)."""
    return service.request("GET", f"/api/v2/dags/{dag_id}/dagRuns",
                           params={"limit": 100}).json()["dag_runs"]


def wait_for_runs(service: Airflow, dag_id: str, count: int, timeout: float = 300,
                  exclude: Collection[str] = ()) -> list[dict]:
    """Wait until ``count`` runs of ``dag_id`` have finished; returns all runs but those whose
    ``dag_run_id`` is in ``exclude`` (runs an earlier test left in a DB shared by the session,
    which a test counting its own runs must neither count nor wait for)."""
    deadline = time.monotonic() + timeout
    runs = []
    while time.monotonic() < deadline:
        runs = [r for r in list_runs(service, dag_id) if r["dag_run_id"] not in exclude]
        done = [r for r in runs if r["state"] in ("success", "failed")]
        if len(done) >= count and len(done) == len(runs):
            return runs
        time.sleep(2)
    raise TimeoutError(f"runs of {dag_id} not finished: {[(r['dag_run_id'], r['state']) for r in runs]}"
                       f"\n{service.tail()}")


def wait_for_backfills(service: Airflow, dag_id: str, count: int,
                       timeout: float = 120) -> list[dict]:
    """Wait until ``count`` backfills of ``dag_id`` exist and the scheduler has marked every
    one complete (it does so once a backfill has no queued or running run left)."""
    deadline = time.monotonic() + timeout
    backfills = []
    while time.monotonic() < deadline:
        backfills = service.request("GET", "/api/v2/backfills",
                                    params={"dag_id": dag_id}).json()["backfills"]
        if len(backfills) >= count and all(b["completed_at"] for b in backfills):
            return backfills
        time.sleep(1)
    raise TimeoutError(f"backfills of {dag_id} not complete: {backfills}\n{service.tail()}")
