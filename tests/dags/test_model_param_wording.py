"""A refine DAG run with the ``model`` Param ``promoted`` and nothing promoted: the task says
it in the DAG's words (its Params, the DAGs to run), not ``prox``'s options."""

from __future__ import annotations

from tests.dags.crawl import sample_rows, write_jsonl
from tests.dags.refine_dag import refine_run


def test_model_promoted_with_nothing_promoted_names_the_model_param(dagbag, tmp_path, capfd,
                                                                    monkeypatch):
    """NoModelError named `--model` and `prox train --seed SEED --output REGISTRY` in the
    refine DAG's plan task log, where the user sets Params and triggers DAGs."""
    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "empty-registry"))
    crawl = write_jsonl(tmp_path / "crawl" / "2026-01-05.jsonl", sample_rows(10))
    run = refine_run(dagbag.get_dag("prox_refine_snapshot"), crawl, tmp_path, "no-model",
                     model="promoted")
    assert run.state == "failed"
    [plan] = [ti for ti in run.get_task_instances() if ti.task_id == "plan"]
    assert (plan.state, plan.try_number) == ("failed", 1)  # not retried
    logged = capfd.readouterr()
    # the task's failure (the traceback above it quotes the cause as raised)
    said = next(line for line in (logged.out + logged.err).splitlines()
                if "AirflowFailException: no promoted model" in line)
    assert "name a model in the model Param" in said and "run prox_seed_label" in said, said
    assert "--model" not in said and "prox train --seed" not in said, said


def test_a_bad_conf_fails_its_task_saying_what_prox_would(dagbag, tmp_path, capfd):
    """A DAG task failing without retries said ``RunError: unknown conf key …`` (fail_fast put
    the exception's type name first) where ``prox`` words the same error without it
    (cli.errors.describe_error): the task log now reads as the command's line."""
    import pytest

    from prox_tasks.cli.errors import describe_error
    from prox_tasks.pipeline.errors import RunError, check_conf

    dag = dagbag.get_dag("prox_refine_snapshot")
    crawl = write_jsonl(tmp_path / "crawl" / "2026-01-05.jsonl", sample_rows(4))
    run = refine_run(dag, crawl, tmp_path, "bad-conf", target_dox=5)
    assert run.state == "failed"
    [resolve] = [ti for ti in run.get_task_instances() if ti.task_id == "resolve"]
    assert (resolve.state, resolve.try_number) == ("failed", 1)  # not retried
    with pytest.raises(RunError) as refused:
        check_conf({"target_dox": 5}, dag.params)
    said = describe_error(refused.value)
    assert said.startswith("unknown conf key 'target_dox' (did you mean 'target_docs'?)")
    logged = capfd.readouterr()
    failure = [line for line in (logged.out + logged.err).splitlines()
               if "AirflowFailException: " in line]
    assert failure and all(line.endswith(f"AirflowFailException: {said}") for line in failure), \
        failure  # fmt: skip
    assert "RunError" not in "\n".join(failure)
