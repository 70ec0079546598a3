"""``dag.test()`` runs of prox_refine_snapshot, for the test modules that run the DAG so:
one run over any input (:func:`refine_run`), or a module's ``world`` of one crawl file
(:func:`refine_world`) and its runs (:func:`run`); a run's task instances (:func:`tis`)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

from tests.dags.crawl import sample_rows, write_jsonl

DAY = datetime(2026, 1, 5, tzinfo=UTC)


def refine_world(tmp_path_factory, dagbag) -> dict:
    """One crawl file of 30 documents (3 shards of 10), a corpus root and a catalog (a test
    module's ``world`` fixture returns it)."""
    root = tmp_path_factory.mktemp("refine")
    crawl = write_jsonl(root / "crawl" / "2026-01-05.jsonl", sample_rows(30))
    dag = dagbag.get_dag("prox_refine_snapshot")
    return {"root": root, "crawl": crawl, "corpus": root / "corpus",
            "catalog": f"sqlite:///{root / 'catalog.sqlite'}", "dag": dag,
            "defaults": copy.deepcopy(dag.params.dump())}


def refine_run(dag, source, root: Path, name: str, *, defaults: dict | None = None,
               logical_date: datetime = DAY, **conf):
    """Run the refine DAG ``dag`` (``dag.test()``) over ``source`` (its ``input_uri``) into
    snapshot ``name``, its corpus root and SQLite catalog under ``root`` (``root/corpus``,
    ``root/catalog.sqlite``); ``conf`` sets other Params, or these otherwise."""
    # every Param given: dag.test() runs share the DAG object, whose Params keep the values
    # of an earlier run's conf (a real trigger starts from the declared defaults)
    given = copy.deepcopy(dag.params.dump()) if defaults is None else defaults
    conf = {**given, "input_uri": str(source), "output_root": str(root / "corpus"),
            "catalog_url": f"sqlite:///{root / 'catalog.sqlite'}", "snapshot_name": name,
            **conf}
    return dag.test(logical_date=logical_date, run_conf=conf)


def run(world, name, **conf):
    """Run the DAG (``dag.test()``) on ``world``'s crawl into snapshot ``name``."""
    return refine_run(world["dag"], world["crawl"], world["root"], name,
                       defaults=world["defaults"], **{"target_docs": 10, **conf})


def tis(dag_run):
    """The run's task instances by ``(task_id, map_index)``."""
    return {(ti.task_id, ti.map_index): ti for ti in dag_run.get_task_instances()}
