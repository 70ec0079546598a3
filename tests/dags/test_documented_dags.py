"""docs/airflow.md against the DAGs Airflow parses: the table's tasks and their pools, every
Param the docs name, and the defaults docs/airflow.md gives the Params it lists."""

from __future__ import annotations

import re

from tests.dags.airflow_env import REPO

DAGS = ("prox_seed_label", "prox_train_refiner", "prox_refine_snapshot")
AIRFLOW_MD = (REPO / "docs" / "airflow.md").read_text(encoding="utf-8")


def _table_rows() -> dict[str, str]:
    """DAG id -> the tasks column of docs/airflow.md's first table."""
    rows = re.findall(r"^\| `(prox_\w+)` \| [^|]* \| (.*) \|$", AIRFLOW_MD, re.M)
    return dict(rows)


def test_the_table_names_each_dags_tasks_and_their_pools(dagbag):
    rows = _table_rows()
    assert set(rows) == set(DAGS)
    for dag_id, column in rows.items():
        dag = dagbag.get_dag(dag_id)
        named = set(re.findall(r"(?<!pool )(?<!Asset )`([a-z_]+)`", column))
        assert named == set(dag.task_ids), dag_id
        pools = {}
        for step in column.split("→"):
            task = re.search(r"`([a-z_]+)`", step).group(1)
            pool = re.search(r"pool `(\w+)`", step)
            pools[task] = pool.group(1) if pool else "default_pool"
        actual = {task: dag.get_task(task).pool for task in pools}
        assert pools == actual, f"{dag_id}: docs/airflow.md says {pools}, the DAG has {actual}"


def _params(dagbag) -> dict[str, dict]:
    return {
        dag_id: {
            name: dagbag.get_dag(dag_id).params[name] for name in dagbag.get_dag(dag_id).params
        }
        for dag_id in DAGS
    }


def test_every_param_the_docs_name_is_a_param(dagbag):
    params = set().union(*(set(p) for p in _params(dagbag).values()))
    named = set()
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        named |= {
            m
            for found in re.findall(r"Params?\s+`(\w+)`|`(\w+)`\s+Params?\b", text)
            for m in found
            if m and not m.startswith("prox_")
        }
        for conf in re.findall(r'"conf": (\{.*?\})\}|--dag-run-conf \'(\{.*?\})\'', text, re.S):
            named |= set(re.findall(r'"(\w+)":', "".join(conf)))
    assert len(named) > 10
    assert not named - params, f"named as Params in the docs, Params of no DAG: {named - params}"


def test_the_defaults_docs_airflow_md_lists_are_the_dags(dagbag):
    """The paragraph "Params this page does not otherwise name": `name` (default)."""
    params = _params(dagbag)
    start = AIRFLOW_MD.index("Params this page does not otherwise name")
    listed = AIRFLOW_MD[start : AIRFLOW_MD.index("caps the mapped refine tasks", start)]
    dag_id, checked = None, 0
    for found in re.finditer(
        r"`(prox_\w+)` —|`(\w+)`\s+\((?!default:)(?:default\s+)?`?(-?[0-9.]+|[a-z_]+)`?[\s):;,]",
        listed,
    ):
        if found.group(1):
            dag_id = found.group(1)
            continue
        name, value = found.group(2), found.group(3)
        if value == "default":
            continue  # "(default `$PROX_SEED_ROOT`, else …)": from the environment
        default = params[dag_id][name]
        if value == "empty":
            assert default in (None, ""), (dag_id, name, default)
        elif re.fullmatch(r"-?[0-9.]+", value):
            assert float(value) == default, (dag_id, name, value, default)
        elif value in ("true", "false"):  # a boolean Param, as JSON (a conf) writes it
            assert default is (value == "true"), (dag_id, name, value, default)
        else:
            assert value == default, (dag_id, name, value, default)
        checked += 1
    assert checked >= 14


def test_docs_airflow_md_names_every_param_of_each_dag(dagbag):
    """Each DAG's Params are on docs/airflow.md: in its text, else in the paragraph "Params
    this page does not otherwise name". prox_train_refiner's select_epoch, gold_gate and
    retrain were in neither (named in docs/training.md only, so the check below, over every
    page, passed), and its backend only in passing. The refine limits are named on this page as a range
    (`max_doc_bytes` … `duplicate_ids`); their table is docs/storage.md's."""
    from prox_tasks.pipeline.dag_config import limit_params

    assert "(`max_doc_bytes` … `duplicate_ids`)" in AIRFLOW_MD
    unnamed = {
        dag_id: sorted(name for name in params if f"`{name}`" not in AIRFLOW_MD
                       and not (dag_id == "prox_refine_snapshot" and name in limit_params()))
        for dag_id, params in _params(dagbag).items()
    }
    assert not any(unnamed.values()), f"Params docs/airflow.md does not name: {unnamed}"


def test_every_param_of_a_dag_is_named_in_the_docs(dagbag):
    """Each field of a DAG's trigger form has its name somewhere in README.md or docs/*.md."""
    text = "".join(
        path.read_text(encoding="utf-8")
        for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    )
    unnamed = {
        dag_id: sorted(name for name in params if f"`{name}`" not in text)
        for dag_id, params in _params(dagbag).items()
    }
    assert not any(unnamed.values()), f"Params no doc names: {unnamed}"


def test_the_way_out_of_a_backfill_held_by_a_waiting_run_is_airflows(airflow_db):
    """docs/airflow.md's way out when ``airflow backfill create`` is refused because another
    backfill's run still waits for its partition (seen live): the error it quotes is
    Airflow's, and each REST call it gives is a route of Airflow's API app."""
    import inspect

    from airflow.api_fastapi.app import create_app
    from airflow.models import backfill

    section = AIRFLOW_MD[AIRFLOW_MD.index("**one backfill per DAG at a time**"):]
    section = section[:section.index("\n\n")]
    error = re.search(r"`(\w+): (Another backfill is running for Dag) prox_refine_snapshot`",
                      section)
    assert error, "docs/airflow.md quotes no refusal of a second backfill"
    assert issubclass(getattr(backfill, error.group(1)), Exception)
    # the words Airflow raises it with (the CLI prints them after the exception's name)
    assert error.group(2) in inspect.getsource(backfill._create_backfill)
    calls = re.findall(r"`(GET|PUT|POST|PATCH) (/api/v2/[^`?\s]+)", section)
    assert {method for method, _ in calls} == {"GET", "PUT"}, calls
    routes = {(method, re.sub(r"\{\w+\}", "<id>", route.path))
              for route in create_app().routes for method in getattr(route, "methods", ())}
    for method, path in calls:
        assert (method, path) in routes, f"{method} {path} is no route of Airflow's API"
