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
                if "AirflowFailException: NoModelError: no promoted model" in line)
    assert "name a model in the model Param" in said and "run prox_seed_label" in said, said
    assert "--model" not in said and "prox train --seed" not in said, said
