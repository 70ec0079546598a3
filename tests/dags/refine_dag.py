"""``dag.test()`` runs of prox_refine_snapshot over one crawl file, for the test modules
that run the DAG so: their ``world`` (:func:`refine_world`), :func:`run` and :func:`tis`."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

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


def run(world, name, **conf):
    """Run the DAG (``dag.test()``) on ``world``'s crawl into snapshot ``name``."""
    # every Param given: dag.test() runs share the DAG object, whose Params keep the values
    # of an earlier run's conf (a real trigger starts from the declared defaults)
    conf = {**world["defaults"], "input_uri": str(world["crawl"]),
            "output_root": str(world["corpus"]), "catalog_url": world["catalog"],
            "snapshot_name": name, "target_docs": 10, **conf}
    return world["dag"].test(logical_date=DAY, run_conf=conf)


def tis(dag_run):
    """The run's task instances by ``(task_id, map_index)``."""
    return {(ti.task_id, ti.map_index): ti for ti in dag_run.get_task_instances()}
