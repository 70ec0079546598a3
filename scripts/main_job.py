#!/usr/bin/env python
"""The main job: the whole prox life cycle on the bundled sample, through the real DAGs.

    seed labeling (prox_seed_label) -> training (prox_train_refiner)
        -> refinement, quality gate, release (prox_refine_snapshot)

Each DAG runs once with ``dag.test()`` against a real Airflow metadata DB (SQLite under
``$PROX_HOME/airflow``), in order, with the embedded defaults: the ``rules`` teacher, the
line-tagger refiner (the shipped ``prox_tasks/models/line-tagger`` fine-tuned on the new seed set, or
trained from scratch without it), local storage and the SQLite catalog. Prints where the
refined corpus and its report are.

Usage (from the repository root, with the virtual environment active)::

    python scripts/main_job.py [--sample-size 300] [--epochs 3] [--shard-docs 100]

``PROX_HOME`` (default ``./runs``) holds everything it writes.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def airflow_env(prox_home: Path) -> dict:
    """The environment every Airflow process of this project needs."""
    airflow_home = prox_home / "airflow"
    return {
        "PROX_HOME": str(prox_home),
        "PROX_MODEL_REGISTRY": str(prox_home / "registry"),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # SQLite lets one process write at a time and pysqlite waits 5 s for it: with the
        # scheduler, DAG processor and API server writing, `airflow backfill create` failed
        # "database is locked". 60 s rides out their writes (docs/airflow.md exports the same).
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}?timeout=60",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL",
                                                          "WARNING"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def step(message: str) -> None:
    print(f"[main_job {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def prepare_airflow() -> None:
    """``airflow db migrate`` and the pools the DAGs use (idempotent)."""
    from prox_tasks.pipeline.dag_config import POOLS

    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    for pool, slots in POOLS.items():
        subprocess.run([airflow, "pools", "set", pool, str(slots), f"prox {pool}"], check=True,
                       stdout=subprocess.DEVNULL)


def run_dag(dagbag, dag_id: str, conf: dict):
    started = time.monotonic()
    dag_run = dagbag.get_dag(dag_id).test(run_conf=conf)
    states = {}
    for ti in dag_run.get_task_instances():
        states[str(ti.state)] = states.get(str(ti.state), 0) + 1
    step(f"{dag_id}: {dag_run.state} in {time.monotonic() - started:.0f} s, tasks {states}")
    if dag_run.state != "success":
        raise SystemExit(f"{dag_id} failed; see the task logs under "
                         f"{os.environ['AIRFLOW_HOME']}/logs")
    return dag_run


def main(argv: list[str] | None = None) -> int:
    from prox_tasks.models import SHIPPED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(REPO / "data" / "sample" / "sample.jsonl.gz"),
                        help="the snapshot sampled, labeled and refined (default: the bundled "
                        "sample)")
    parser.add_argument("--sample-size", type=int, default=300, help="documents to label")
    parser.add_argument("--epochs", type=float, default=3, help="refiner training epochs")
    parser.add_argument("--base", default=str(SHIPPED_MODEL),
                        help="refiner to fine-tune (default: the shipped one; '' trains "
                        "from scratch)")
    parser.add_argument("--shard-docs", type=int, default=100, help="documents per shard")
    parser.add_argument("--teacher", default="rules", choices=["rules", "diff"],
                        help="the seed labeling's teacher (default rules; diff needs gold_text)")
    args = parser.parse_args(argv)
    if not Path(args.input).exists():
        # a typo'd path set Airflow up, then failed the seed DAG's first task with a
        # traceback naming the DAG's input_uri Param, not this option
        parser.error(f"--input {args.input}: no such file or folder (give a JSONL, Parquet "
                     "or WET file, or a folder of them)")
    if args.base and not Path(args.base, "refiner.json").exists():
        # a typo'd folder trained from scratch, unsaid but for the step line
        parser.error(f"--base {args.base}: no refiner.json there (give a refiner folder, or "
                     "'' to train from scratch)")

    prox_home = Path(os.environ.get("PROX_HOME") or REPO / "runs").resolve()
    os.environ.update(airflow_env(prox_home))
    sys.path.insert(0, str(REPO))
    step(f"PROX_HOME={prox_home}; AIRFLOW_HOME={os.environ['AIRFLOW_HOME']}")
    prepare_airflow()

    from airflow.dag_processing.dagbag import DagBag

    from prox_tasks.pipeline import settings
    from prox_tasks.registry import ModelRegistry

    dagbag = DagBag(dag_folder=str(REPO / "dags"))
    if dagbag.import_errors:
        raise SystemExit(f"DAG import errors: {dagbag.import_errors}")
    input_uri = str(Path(args.input).resolve())

    step(f"1/3 seed labeling: {args.sample_size} documents, teacher {args.teacher}")
    seed_name = f"sample-{args.teacher}-{args.sample_size}"
    run_dag(dagbag, "prox_seed_label", {
        "input_uri": input_uri, "seed_set_name": seed_name, "teacher": args.teacher,
        "sample_size": args.sample_size, "label_shard_docs": 100})
    seed_uri = str(Path(settings.seed_root()) / seed_name / "manifest.json")

    # absolute: the DAG refuses a relative base (its train task may run in another folder)
    base = str(Path(args.base).resolve()) if args.base else ""
    step(f"2/3 training the refiner ({args.epochs:g} epochs, "
         f"{'fine-tuning ' + base if base else 'from scratch'})")
    run_dag(dagbag, "prox_train_refiner", {"seed_uri": seed_uri, "epochs": args.epochs,
                                           "base": base})
    registry = ModelRegistry(settings.registry_root())
    promoted = registry.promoted(settings.REFINER_NAME)
    decisions = registry.decisions(settings.REFINER_NAME)
    if decisions and not decisions[-1]["promoted"]:
        # the gold gate: a fine-tune worse on human gold than the incumbent is refused
        step(f"   candidate not promoted: {decisions[-1]['reason']}")
    if promoted is None:
        from prox_tasks.models import SHIPPED_MODEL

        promoted = {"version": "shipped", "uri": str(SHIPPED_MODEL)}
    step(f"   refining with {promoted['version']}")

    step("3/3 refining the sample: plan, refine shards, quality gate, release")
    snapshot = f"sample-{promoted['version']}"
    run_dag(dagbag, "prox_refine_snapshot", {
        "input_uri": input_uri, "snapshot_name": snapshot, "target_docs": args.shard_docs,
        "model": promoted["uri"]})

    corpus = Path(settings.corpus_root())
    latest = json.loads((corpus / "latest.json").read_text())
    gate = json.loads((corpus / "snapshots" / snapshot / "_quality" / "gate.json").read_text())
    m = gate["metrics"]
    print()
    print(f"refined corpus:   {corpus / 'snapshots' / snapshot / 'shards'}  "
          f"({m['docs_kept']} kept, {m['docs_dropped']} dropped, "
          f"{m.get('docs_quarantined', 0)} quarantined of {m['docs_planned']}; "
          f"kept-token ratio {m['kept_token_ratio']:.3f})")
    print(f"release pointer:  {corpus / 'latest.json'}  -> {latest['name']}")
    print(f"quality report:   {gate['report_uri']}  (gate {'PASSED' if gate['passed'] else 'FAILED'},"
          f" {sum(c['success'] for c in gate['checks'])}/{len(gate['checks'])} checks)")
    print(f"data docs:        {gate['data_docs_uri']}")
    print(f"catalog:          {settings.catalog_url()}")
    env = airflow_env(Path(os.environ["PROX_HOME"]))
    exports = " ".join(f"{k}={shlex.quote(env[k])}" for k in (  # '?' of the DB URL: a glob
        "PROX_HOME", "PROX_MODEL_REGISTRY", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__CORE__PLUGINS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"))
    print("Airflow UI:       export " + exports + " AIRFLOW__API__HOST=127.0.0.1"
          " AIRFLOW__API__BASE_URL=http://127.0.0.1:8080")
    print("                  airflow standalone   # http://127.0.0.1:8080, Browse -> PROX "
          "report; docs/airflow.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
