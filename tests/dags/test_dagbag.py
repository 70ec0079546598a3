import pytest

EXPECTED = {
    "prox_seed_label": {"sample", "shards", "label_shard", "validate", "split", "register"},
    "prox_train_refiner": {"resolve_seed_set", "train", "evaluate", "promote", "book_catalog"},
    "prox_refine_snapshot": {"resolve", "wait_for_partition", "plan", "refine_shard", "collect", "quality_gate",
                             "release", "book_unfinished"},
}
POOLS = {("prox_refine_snapshot", "refine_shard"): "gpu", ("prox_train_refiner", "train"): "gpu",
         ("prox_train_refiner", "evaluate"): "gpu", ("prox_train_refiner", "promote"): "gpu",
         ("prox_seed_label", "label_shard"): "teacher_api"}


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
        assert dag.description and dag.owner_links["prox"].endswith("/prox/")
        assert dag.dagrun_timeout is not None
        for task in dag.tasks:
            docs = task.doc_md or task.doc or (getattr(task, "partial_kwargs", None) or {}).get(
                "doc_md") or getattr(getattr(task, "python_callable", None), "__doc__", None)
            assert docs, f"{dag_id}.{task.task_id} has no docs in the UI"
            assert any(type(c).__name__ == "FailureNotifier"
                       for c in task.on_failure_callback or []), task.task_id


def test_each_dags_run_timeout_survives_serialization(dagbag):
    """``dagrun_timeout`` as docs/airflow.md gives it (``PROX_REFRESH_TIMEOUT_S`` 24 h,
    ``PROX_SEED_TIMEOUT_S`` 12 h, ``PROX_TRAIN_RUN_TIMEOUT_S`` 24 h) in the serialized DAG
    the scheduler and the API server read (``GET /api/v2/dags/{id}/details`` showed
    ``dag_run_timeout`` from it: P1D on a real api-server, SQLite and PostgreSQL), not only in
    the parsed one: a timeout put in ``default_args`` would be a task argument, and no run's."""
    from datetime import timedelta

    from airflow.serialization.serialized_objects import DagSerialization

    expected = {"prox_refine_snapshot": timedelta(days=1), "prox_seed_label": timedelta(hours=12),
                "prox_train_refiner": timedelta(days=1)}
    for dag_id, timeout in expected.items():
        dag = dagbag.get_dag(dag_id)
        served = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        assert (dag.dagrun_timeout, served.dagrun_timeout) == (timeout, timeout), dag_id
        assert "dagrun_timeout" not in (dag.default_args or {}), dag_id


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
    from airflow.sdk.exceptions import ParamValidationError

    dag = dagbag.get_dag("prox_refine_snapshot")
    assert dag.params["dry_run"] is False

    def validated(conf):
        params = copy.deepcopy(dag.params)
        params.update(conf)
        return params.validate()

    assert validated({"target_docs": 25, "max_drop_rate": 0.5})["target_docs"] == 25
    assert validated({"snapshot_name": "hotfix-1.b_2"})["snapshot_name"] == "hotfix-1.b_2"
    limits = validated({"max_doc_lines": 500, "max_normalize_growth": 0.5,
                        "duplicate_ids": "quarantine"})  # fmt: skip
    assert (limits["max_doc_lines"], limits["max_batch_lines"], limits["duplicate_ids"]) == (
        500, 200_000, "quarantine")
    for bad in ({"max_doc_lines": 0}, {"max_batch_bytes": "big"}, {"max_program_chars": 1.5},
                {"max_normalize_growth": -0.1}, {"duplicate_ids": "ignore"}):
        with pytest.raises(ParamValidationError, match=next(iter(bad))):
            validated(bad)
    for bad in ({"target_docs": 0}, {"max_drop_rate": 1.5}, {"backend": "gpt"},
                {"snapshot_name": "../etc"}, {"snapshot_name": "a..b"},
                {"snapshot_name": "a/b"}, {"dry_run": "yes"}):
        with pytest.raises(ParamValidationError, match=next(iter(bad))):
            validated(bad)


def test_every_number_param_of_every_dag_refuses_infinity_nan_and_overflowing_integers(dagbag):
    """JSON's 1e400 is infinity and 2**64 overflows what Airflow stores: an unbounded Param let
    both past the trigger form, and the first task then failed every try (inf stored as null;
    the integer with empty logs). NaN (a trigger conf's ``NaN``, which Python's JSON reads)
    passes any bounds, as every comparison with it is False, and is stored as null too. Each
    must be refused at trigger time, naming the Param."""
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    checked = 0
    for dag_id in EXPECTED:
        dag = dagbag.get_dag(dag_id)
        for name in dag.params:
            kinds = dag.params.get_param(name).schema.get("type")
            kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
            huge = 2**64 if "integer" in kinds else float("inf") if "number" in kinds else None
            if huge is None:
                continue
            for value in (huge, -huge, float("nan")):
                params = copy.deepcopy(dag.params)
                with pytest.raises(ParamValidationError, match=name):
                    params[name] = value  # ParamsDict validates on assignment
                    params.validate()
                checked += 1
    assert checked >= 3 * 20  # every DAG's numbers: limits, thresholds, sizes, seeds, epochs


@pytest.mark.parametrize(("dag_id", "name"), [("prox_refine_snapshot", "keep_threshold"),
                                              ("prox_refine_snapshot", "max_kept_token_ratio"),
                                              ("prox_seed_label", "max_invalid_rate"),
                                              ("prox_train_refiner", "epochs")])
def test_a_trigger_conf_with_nan_is_refused_naming_the_param(dagbag, dag_id, name):
    """What a REST or CLI trigger with ``{"keep_threshold": NaN}`` does: the run is refused
    when it is created. Unrefused, the NaN was stored as null: keep_threshold's run went on
    with the model's calibrated value, the others failed their first task on "None"."""
    import json

    from airflow.sdk.exceptions import ParamValidationError

    conf = json.loads(f'{{"{name}": NaN}}')
    with pytest.raises(ParamValidationError, match=f"param {name}: nan "):
        dagbag.get_dag(dag_id).test(run_conf=conf)


def ui_requires(param) -> bool:
    """The Airflow 3 UI's rule (its trigger form): a Param whose schema has a ``type`` that
    does not allow ``null`` is required, and an empty value (None or "") disables Trigger."""
    kind = param.schema.get("type")
    return bool(kind) and (not isinstance(kind, list) or "null" not in kind)


def test_every_dags_default_params_validate_and_enable_trigger(dagbag):
    """What the UI checks before it enables Trigger and Backfill, on each DAG's defaults:
    Airflow's own ParamsDict validation, and no required Param left empty."""
    for dag_id in EXPECTED:
        params = dagbag.get_dag(dag_id).params
        values = params.validate()  # raises ParamValidationError on a bad default
        empty = [name for name in params if ui_requires(params.get_param(name))
                 and values[name] in (None, "")]
        assert empty == [], f"{dag_id}: the UI would show {empty} as required"


@pytest.mark.parametrize("dag_id", ["prox_refine_snapshot", "prox_seed_label",
                                    "prox_train_refiner"])
def test_every_param_has_a_title_and_a_description_and_no_choice_reads_null(dagbag, dag_id):
    """The trigger form shows a Param's title and, under its field, its description (a gate
    threshold without one was a bare "Max drop rate" with no word of what it bounds or where
    its default comes from); an empty choice of a list is shown as its values_display, else
    as the word "null" (the format Param's). tests/dags/test_backfill_and_api.py opens the
    form in chromium."""
    params = dagbag.get_dag(dag_id).params
    bare = [name for name in params if not params.get_param(name).schema.get("title")
            or not params.get_param(name).description]
    assert bare == [], f"{dag_id}: Params without a title or description: {bare}"
    null_shown = [name for name in params if None in params.get_param(name).schema.get("enum", ())
                  and "null" not in params.get_param(name).schema.get("values_display", {})]
    assert null_shown == [], f"{dag_id}: the form shows 'null' as a choice of {null_shown}"
    gate = params.get_param("max_drop_rate").description if "max_drop_rate" in params else None
    assert gate is None or "PROX_GATE_MAX_DROP_RATE" in gate


@pytest.mark.parametrize("dag_id", ["prox_refine_snapshot", "prox_seed_label"])
def test_every_task_has_its_documentation_in_the_ui_mapped_ones_too(dagbag, dag_id):
    """The UI's task page shows a task's doc_md: Airflow fills it from a @task docstring
    only for a task called plainly, and the mapped refine_shard and label_shard had none."""
    dag = dagbag.get_dag(dag_id)
    assert [t.task_id for t in dag.tasks if not (t.doc_md or "").strip()] == []
    mapped = {"prox_refine_snapshot": "refine_shard", "prox_seed_label": "label_shard"}[dag_id]
    assert dag.get_task(mapped).doc_md.startswith(("Refine the shard(s)", "Label one shard"))


def test_the_seed_uri_description_says_a_manual_run_needs_one(dagbag):
    """Empty, seed_uri is the triggering Asset event's; the form said only that, and a
    manual run with the default failed at resolve_seed_set ("no seed set: pass seed_uri")
    (the operator walk: a REST trigger with the form's defaults)."""
    said = dagbag.get_dag("prox_train_refiner").params.get_param("seed_uri").description
    assert "manual run left empty fails" in said
    assert "manifest.json" in said and "s3://" in said


def test_the_train_doc_says_the_registry_param_decides_where_the_model_goes(dagbag):
    """The DAG's doc in the UI said the candidate is published to `$PROX_MODEL_REGISTRY`;
    a run with the `registry` Param set publishes it there instead."""
    doc = dagbag.get_dag("prox_train_refiner").doc_md
    assert "published to the `registry` Param's registry" in doc
    assert "published to the registry (`$PROX_MODEL_REGISTRY`)" not in doc


def test_ui_rule_catches_an_empty_string_default():
    from airflow.sdk import Param

    assert ui_requires(Param("", type="string"))
    assert not ui_requires(Param(None, type=["null", "string"]))


def test_limit_params_take_their_defaults_from_the_environment(monkeypatch):
    from airflow.sdk import Param

    from prox_tasks.pipeline import dag_config

    monkeypatch.setenv("PROX_MAX_DOC_LINES", "4321")
    monkeypatch.setenv("PROX_DUPLICATE_IDS", "fail")
    params = dag_config.limit_params()
    assert params["max_doc_lines"]["default"] == 4321
    assert params["duplicate_ids"] | {"description": ""} == {
        "default": "fail", "enum": ["keep_first", "quarantine", "fail"],
        "title": "Duplicate ids", "description": ""}
    assert (params["max_batch_lines"]["type"], params["max_batch_lines"]["minimum"]) == (
        "integer", 1)
    assert Param(**params["max_doc_lines"]).resolve() == 4321
    assert dag_config.limits_of({"max_doc_lines": 7, "target_docs": 3}) == {"max_doc_lines": 7}


def test_limit_and_gate_params_name_their_built_in_default(monkeypatch):
    """The form shows the deployment's default (``PROX_<NAME>``); the description names the
    built-in one, where it said only "else the built-in value" (read in the UI's trigger
    form and GET /api/v2/dags/prox_refine_snapshot/details during the operator walk)."""
    from prox_tasks.pipeline import dag_config

    monkeypatch.setenv("PROX_MAX_DOC_BYTES", "1000")
    monkeypatch.setenv("PROX_GATE_MAX_DROP_RATE", "0.6")
    params = {**dag_config.limit_params(), **dag_config.threshold_params()}
    said = {name: spec["description"] for name, spec in params.items()}
    assert not [name for name, text in said.items() if "built-in value" in text]
    assert said["max_doc_bytes"].endswith(
        "Default: PROX_MAX_DOC_BYTES, else 8,388,608 (8 MiB).")
    assert said["max_batch_bytes"].endswith("else 67,108,864 (64 MiB).")
    assert said["max_program_chars"].endswith("else 1,048,576.")  # characters, not bytes
    assert said["duplicate_ids"].endswith("Default: PROX_DUPLICATE_IDS, else keep_first.")
    assert said["max_drop_rate"].endswith("Default: PROX_GATE_MAX_DROP_RATE, else 0.9.")
    assert said["history_min"].endswith("Default: PROX_GATE_HISTORY_MIN, else 3.")
    assert params["max_doc_bytes"]["default"] == 1000  # the form still shows the deployment's


@pytest.mark.parametrize(("variable", "value"), [("PROX_QUALITY_FILTER", "bogus"),
                                                 ("PROX_GATE_MAX_DROP_RATE", "2"),
                                                 ("PROX_GATE_MAX_DROP_RATE", "abc"),
                                                 ("PROX_GATE_HISTORY_K", "nan"),
                                                 # settings read while parsing (before:
                                                 # "time data '2026/01/01' does not match
                                                 # format '%Y-%m-%d'", "invalid literal for
                                                 # int()", "could not convert string to
                                                 # float", Airflow's cron message)
                                                 ("PROX_START_DATE", "2026/01/01"),
                                                 ("PROX_RETRIES", "three"),
                                                 ("PROX_MAX_ACTIVE_RUNS", "x"),
                                                 ("PROX_PARTITION_WAIT_S", "6h"),
                                                 # before: parsed (0 runs at once, -1
                                                 # retries, a 0 s timeout), or "cannot
                                                 # convert float infinity to integer"
                                                 ("PROX_MAX_ACTIVE_RUNS", "0"),
                                                 ("PROX_RETRIES", "-1"),
                                                 ("PROX_SHARD_TIMEOUT_S", "0"),
                                                 ("PROX_RETRY_DELAY_S", "inf"),
                                                 ("PROX_RETRY_DELAY_S", "-60"),
                                                 # a marker that would be read as input
                                                 ("PROX_PARTITION_MARKER", "DONE.jsonl"),
                                                 ("PROX_REFRESH_CRON", "0 0 * *"),
                                                 # before: a typo read as false
                                                 ("PROX_CATCHUP", "ture"),
                                                 ("PROX_PARTITION_DEFERRABLE", "flase"),
                                                 # read first by a failed task's alert,
                                                 # which a bad one dropped, silently
                                                 ("PROX_ALERT_CONN_ID", "prox alerts")])
def test_a_bad_deployment_variable_is_named_in_the_import_error(airflow_db, monkeypatch,
                                                                variable, value):
    """A deployment default the Param refuses, or a setting read while the DAG file is
    parsed that is not of its form: the import error (all the UI shows of a broken DAG)
    names the variable, not only Airflow's "required params without default values, or the
    default values are not valid" or Python's conversion error."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.airflow_env import REPO

    monkeypatch.setenv(variable, value)
    errors = DagBag(dag_folder=str(REPO / "dags" / "prox_refine_snapshot.py")).import_errors
    assert len(errors) == 1
    # the message itself, not a line of the traceback's source that happens to read it
    message = next(iter(errors.values())).strip().splitlines()[-1]
    assert variable in message, message


@pytest.mark.parametrize(("catchup", "deferrable", "expected"), [
    ("", "", (False, True)),  # an env file's NAME=: the defaults (before: deferral off)
    ("YES", "0", (True, False)),
    ("1", "no", (True, False))])
def test_yes_no_variables_take_their_default_when_empty(airflow_db, monkeypatch, catchup,
                                                        deferrable, expected):
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.airflow_env import REPO

    monkeypatch.setenv("PROX_CATCHUP", catchup)
    monkeypatch.setenv("PROX_PARTITION_DEFERRABLE", deferrable)
    bag = DagBag(dag_folder=str(REPO / "dags" / "prox_refine_snapshot.py"))
    assert not bag.import_errors
    dag = bag.get_dag("prox_refine_snapshot")
    assert (dag.catchup, dag.get_task("wait_for_partition").deferrable) == expected


def test_a_retry_delay_of_0_retries_at_once(airflow_db, monkeypatch):
    """``PROX_RETRY_DELAY_S=0`` (retry at once: Airflow's backoff waits a second) parsed
    before seconds were checked, then broke every DAG's import ("0 is not above 0")."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.airflow_env import REPO

    monkeypatch.setenv("PROX_RETRY_DELAY_S", "0")
    bag = DagBag(dag_folder=str(REPO / "dags" / "prox_refine_snapshot.py"))
    assert not bag.import_errors
    task = bag.get_dag("prox_refine_snapshot").get_task("refine_shard")
    assert task.retry_delay.total_seconds() == 0


def test_an_empty_gpu_queue_is_the_default_queue(airflow_db, monkeypatch):
    """An env file's ``PROX_GPU_QUEUE=``: the model tasks go to ``default`` (before: to
    queue '', which no worker serves, so they stayed queued for ever)."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.airflow_env import REPO

    monkeypatch.setenv("PROX_GPU_QUEUE", "")
    bag = DagBag(dag_folder=str(REPO / "dags" / "prox_refine_snapshot.py"))
    assert not bag.import_errors
    assert bag.get_dag("prox_refine_snapshot").get_task("refine_shard").queue == "default"


@pytest.mark.parametrize("dag_id", ["prox_refine_snapshot", "prox_seed_label",
                                    "prox_train_refiner"])
def test_tasks_push_their_result_as_one_xcom(dagbag, dag_id):
    """A task returning ``dict`` would also push each key as an XCom of its own (Airflow
    infers ``multiple_outputs`` from the annotation): every refine task's shard list and the
    release's per-shard record stored twice."""
    for task in dagbag.get_dag(dag_id).tasks:
        multiple = getattr(task, "multiple_outputs", None)
        if multiple is None:  # a mapped task keeps it among its partial arguments
            multiple = (getattr(task, "partial_kwargs", None) or {}).get("multiple_outputs")
        assert not multiple, task.task_id


def test_a_dagbag_test_starts_from_the_params_the_dags_were_parsed_with(parsed_dagbag, request):
    """A ``world`` fixture's runs (test_refine_snapshot, test_refine_s3_access) go through
    ``parsed_dagbag``, not ``dagbag``: Airflow's own ``process_params``, as each task of a
    ``dag.test()`` run calls it, writes the run's conf into the task's Params. The
    ``dagbag`` fixture restored each test's tasks to the params they had when the test
    began, so such a run before it left its conf there for every later test, whose runs
    then took ``dry_run`` (or ``teacher: llm``) from it. They start from the params they
    were parsed with. (One test: the run, then the fixture, in this order whatever order
    the tests are run in; its teardown puts the params back.)"""
    from airflow.sdk.definitions.param import process_params

    dag = parsed_dagbag.get_dag("prox_refine_snapshot")
    for task in dag.tasks:
        process_params(dag, task, {"dry_run": True}, suppress_exception=False)
    assert dag.get_task("plan").params["dry_run"] is True
    dag = request.getfixturevalue("dagbag").get_dag("prox_refine_snapshot")
    assert {task.task_id: task.params["dry_run"] for task in dag.tasks} == \
        {task.task_id: False for task in dag.tasks}  # fmt: skip


def test_the_seed_dags_page_says_its_tasks_hold_the_labeling_claim(dagbag):
    """The seed DAG's tasks took the seed set's labeling claim (docs/airflow.md), but its
    page in the UI did not say so: a run beside another labeling of the folder failed its
    sample task with ``SeedSetBusy``, unexplained where the run was triggered."""
    doc = " ".join(dagbag.get_dag("prox_seed_label").doc_md.split())
    assert "hold the seed set's labeling claim" in doc and "`SeedSetBusy`" in doc
