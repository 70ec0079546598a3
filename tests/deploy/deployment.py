"""A production-shaped Airflow deployment on loopback, for live tests and ``bench/cluster.py``.

PostgreSQL holds Airflow's metadata DB and the prox catalog (two databases on one server);
optionally moto's S3 server holds corpora and models; the scheduler, dag-processor and
api-server run the repository's DAGs with the LocalExecutor, or the CeleryExecutor with a
Redis broker and N ``airflow celery worker`` processes. Each worker reports its own host
name (``worker-a`` ...) so task instances show which worker ran them, as on separate
machines.

Usage::

    with Deployment(DeploymentConfig(executor="CeleryExecutor", workers=2), root,
                    postgres, redis=redis) as d:
        run_id = d.airflow.trigger("prox_refine_snapshot", conf)
        assert d.airflow.wait_run("prox_refine_snapshot", run_id)["state"] == "success"
"""

from __future__ import annotations

import shutil
import string
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from prox_tasks.storage.tempfiles import tagged_tempdir
from tests.dags.airflow_env import airflow_cli, set_pools
from tests.dags.services import Airflow, Service, airflow_services
from tests.deploy.postgres import PostgresServer
from tests.deploy.redis import RedisServer

#: ``[core] hostname_callable`` of the workers: the name in ``PROX_TEST_WORKER_NAME``.
HOSTNAME_CALLABLE = "tests.deploy.hostname.worker_name"


@dataclass
class DeploymentConfig:
    """What to deploy.

    Args:
        executor: ``LocalExecutor`` or ``CeleryExecutor``.
        workers: Celery workers (``worker-a``, ``worker-b``, ...); CeleryExecutor only.
        worker_concurrency: Task slots per Celery worker.
        queues: Celery queues every worker listens on (``PROX_GPU_QUEUE`` is ``gpu``).
        pools: Airflow pools and their slots.
        parallelism: ``[core] parallelism`` (tasks running at once, all workers together).
        heartbeat_timeout_s: Seconds without a task heartbeat before the scheduler fails the
            task instance (its worker died) and retries it.
        env: More environment for every process (``PROX_*`` settings).
    """

    executor: str = "LocalExecutor"
    workers: int = 0
    worker_concurrency: int = 2
    queues: tuple[str, ...] = ("default", "gpu")
    pools: dict = field(default_factory=lambda: {"gpu": 2, "teacher_api": 4})
    parallelism: int = 4
    heartbeat_timeout_s: int = 20
    env: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.executor not in ("LocalExecutor", "CeleryExecutor"):
            raise ValueError(f"unsupported executor {self.executor!r}")
        if self.workers and self.executor != "CeleryExecutor":
            raise ValueError("workers need the CeleryExecutor")
        if self.executor == "CeleryExecutor" and self.workers < 1:
            raise ValueError("the CeleryExecutor needs at least one worker")


#: PostgreSQL server (its data folder: unique per start, where a port may be reused) -> its
#: database that ``airflow db migrate`` has migrated.
_MIGRATED_TEMPLATES: dict[str, str] = {}
#: (PostgreSQL server, pools) -> a copy of the migrated database with those pools imported.
_POOL_TEMPLATES: dict[tuple[str, tuple], str] = {}


def migrated_metadata_db(postgres: PostgresServer) -> str:
    """A database on ``postgres`` that ``airflow db migrate`` has migrated, made on the first
    call: each deployment's metadata DB is a copy of it (``CREATE DATABASE ... TEMPLATE``,
    a second) instead of a migration of its own (tens of seconds of Airflow CLI each). The
    template itself is never connected to after its migration, so it stays copyable."""
    if postgres.data not in _MIGRATED_TEMPLATES:
        name = f"airflow_template_{uuid.uuid4().hex[:8]}"
        postgres.create_database(name)
        with tempfile.TemporaryDirectory(prefix="prox-airflow-template-") as home:
            airflow_cli("db", "migrate", env={"AIRFLOW_HOME": home,
                                              "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                                                  postgres.database_url(name)})
        _MIGRATED_TEMPLATES[postgres.data] = name
    return _MIGRATED_TEMPLATES[postgres.data]


def pooled_metadata_db(postgres: PostgresServer, pools: dict[str, int]) -> str:
    """A copy of :func:`migrated_metadata_db` holding ``pools`` (``airflow pools import``),
    made on the first call for these pools: deployments with the same pools copy it, and
    skip an Airflow CLI start each (seconds of a loaded 2-core machine). Like the migrated
    template, it is never connected to once the import has exited."""
    key = (postgres.data, tuple(sorted(pools.items())))
    if key not in _POOL_TEMPLATES:
        name = f"airflow_pools_{uuid.uuid4().hex[:8]}"
        postgres.create_database(name, template=migrated_metadata_db(postgres))
        with tempfile.TemporaryDirectory(prefix="prox-airflow-template-") as home:
            set_pools(pools, env={"AIRFLOW_HOME": home,
                                  "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.database_url(name)})
        _POOL_TEMPLATES[key] = name
    return _POOL_TEMPLATES[key]


def s3_env(endpoint: str) -> dict:
    """What every process needs to reach the moto server (see ``prox_tasks.storage``)."""
    return {"PROX_S3_ENDPOINT_URL": endpoint, "PROX_S3_ADDRESSING_STYLE": "path",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}


class Deployment:
    """Started on entering the ``with`` block, stopped on leaving it; then ``airflow`` is the REST client,
    ``catalog_url`` the prox catalog, ``env`` what every process got, ``workers`` the Celery
    worker names."""

    def __init__(self, config: DeploymentConfig, root: Path, postgres: PostgresServer,
                 redis: RedisServer | None = None, s3_endpoint: str | None = None):
        if config.executor == "CeleryExecutor" and redis is None:
            raise ValueError("the CeleryExecutor needs a Redis broker")
        self.config, self.root, self.postgres = config, Path(root), postgres
        self.redis, self.s3_endpoint = redis, s3_endpoint
        self.home = self.root / "airflow"
        self.workers = [f"worker-{string.ascii_lowercase[i]}" for i in range(config.workers)]
        self.airflow: Airflow | None = None
        self._stack = ExitStack()
        tag = uuid.uuid4().hex[:8]
        self._databases = (f"airflow_{tag}", f"catalog_{tag}")
        self.metadata_url = postgres.database_url(self._databases[0])
        self.catalog_url = postgres.database_url(self._databases[1])
        self.env = self._environment()

    def _environment(self) -> dict:
        c = self.config
        env = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CORE__EXECUTOR": c.executor,
            "AIRFLOW__CORE__PARALLELISM": str(c.parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(c.parallelism),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(c.heartbeat_timeout_s),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "PROX_HOME": str(self.root / "prox"),
            "PROX_CATALOG_URL": self.catalog_url,
            "PROX_GPU_QUEUE": "gpu" if "gpu" in c.queues else "default",
        }
        if self.redis is not None and c.executor == "CeleryExecutor":
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
                # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3: name psycopg2
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(c.worker_concurrency),
                # a killed worker's message is not redelivered by the broker: the scheduler
                # notices the missing heartbeats and retries the task instead
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
            })
        if self.s3_endpoint:
            env.update(s3_env(self.s3_endpoint))
        env.update(c.env)
        return env

    def worker_service(self, name: str) -> Service:
        """``airflow celery worker`` named ``name`` (its task instances' hostname)."""
        return Service(name, ["celery", "worker", "--celery-hostname", f"{name}@%h",
                              "--queues", ",".join(self.config.queues),
                              "--concurrency", str(self.config.worker_concurrency),
                              "--skip-serve-logs", "--without-mingle", "--without-gossip"],
                       env={"AIRFLOW__CORE__HOSTNAME_CALLABLE": HOSTNAME_CALLABLE,
                            "PROX_TEST_WORKER_NAME": name})

    def start(self, timeout: float = 240) -> Deployment:
        """Create the databases (the metadata DB a copy of a migrated one with the pools),
        start every service (all undone when a step fails)."""
        try:
            self._stack.callback(self._drop_databases)
            metadata, catalog = self._databases
            self.postgres.create_database(
                metadata, template=pooled_metadata_db(self.postgres, self.config.pools))
            self.postgres.create_database(catalog)
            self.home.mkdir(parents=True, exist_ok=True)
            # every process's temp folder, removed after they are killed: Celery's pool
            # processes (billiard's shared-memory arenas) each left a pymp-* in /tmp
            temp = tagged_tempdir("prox-deploy-")
            self._stack.callback(shutil.rmtree, temp, ignore_errors=True)
            self.env["TMPDIR"] = temp
            workers = tuple(self.worker_service(name) for name in self.workers)
            self.airflow = self._stack.enter_context(airflow_services(
                self.env, timeout=timeout, home=self.home, extra_services=workers))
            if self.workers:
                self.wait_for_workers(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_workers(self, timeout: float) -> None:
        """Return once every Celery worker answers a ping (its task consumer is up).

        The API answering says nothing of the workers: one still importing Airflow takes no
        message, so tasks queued meanwhile all go to the workers already up, and which
        worker runs what would depend on start-up speed.
        """
        from celery import Celery

        app = Celery(broker=self.redis.url)
        deadline = time.monotonic() + timeout
        answered: set[str] = set()
        try:
            while time.monotonic() < deadline:
                exited = [n for n in self.workers if self.airflow.processes[n].poll() is not None]
                if exited:
                    raise RuntimeError(f"Celery workers {exited} exited:\n{self.airflow.tail()}")
                answered = {node.split("@", 1)[0] for reply in app.control.ping(timeout=1.0)
                            for node in reply}
                if answered >= set(self.workers):
                    return
        finally:
            app.close()
        raise TimeoutError(f"Celery workers {sorted(set(self.workers) - answered)} did not "
                           f"answer in {timeout} s:\n{self.airflow.tail()}")

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL Celery worker ``name`` with every process it started (its running tasks)."""
        return self.airflow.kill(name)

    def _drop_databases(self) -> None:
        for name in self._databases:
            self.postgres.drop_database(name)

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
