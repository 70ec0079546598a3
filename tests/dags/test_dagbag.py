EXPECTED = {
    "prox_seed_label": {"sample", "shards", "label_shard", "validate", "split", "register"},
    "prox_train_refiner": {"resolve_seed_set", "train", "evaluate", "promote"},
    "prox_refine_snapshot": {"resolve", "plan", "refine_shard", "collect", "quality_gate",
                             "release"},
}
POOLS = {("prox_refine_snapshot", "refine_shard"): "gpu", ("prox_train_refiner", "train"): "gpu",
         ("prox_train_refiner", "evaluate"): "gpu", ("prox_seed_label", "label_shard"): "teacher_api"}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(EXPECTED) <= set(dagbag.dag_ids)


def test_expected_tasks_retries_and_pools(dagbag):
    for dag_id, tasks in EXPECTED.items():
        dag = dagbag.get_dag(dag_id)
        assert set(dag.task_ids) == tasks, dag_id
        for task in dag.tasks:
            assert task.retries >= 1, task.task_id
            assert task.retry_exponential_backoff, task.task_id
            assert task.pool, task.task_id
            assert task.pool == POOLS.get((dag_id, task.task_id), "default_pool"), task.task_id
        assert dag.doc_md and len(dag.doc_md) > 200


def test_refine_is_mapped_named_and_timed(dagbag):
    dag = dagbag.get_dag("prox_refine_snapshot")
    refine = dag.get_task("refine_shard")
    assert refine.map_index_template == "{{ prox_shard_label }}"
    assert refine.execution_timeout is not None
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert {o.name for o in dag.get_task("release").outlets} == {"prox_refined_corpus"}


def test_params_validate(dagbag):
    import copy

    import pytest

    dag = dagbag.get_dag("prox_refine_snapshot")
    assert dag.params["dry_run"] is False

    def validated(conf):
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert validated({"target_docs": 25, "max_drop_rate": 0.5})["target_docs"] == 25
    for bad in ({"target_docs": 0}, {"max_drop_rate": 1.5}, {"backend": "gpt"},
                {"snapshot_name": "../etc"}, {"dry_run": "yes"}):
        with pytest.raises(Exception):  # noqa: B017 (Airflow's ParamValidationError)
            validated(bad)
