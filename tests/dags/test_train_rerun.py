"""``dag.test()`` of prox_train_refiner: a retry of the train task after its model was
published, and a second run on the same seed set and Params, return that model without
training it again."""

from __future__ import annotations

import copy

import pytest

pytestmark = pytest.mark.slow


def test_a_train_task_retried_after_publishing_and_a_rerun_do_not_train_again(
        dagbag, tmp_path, monkeypatch):  # fmt: skip
    from prox_tasks.registry import ModelRegistry
    from prox_tasks.training import run, tagger
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    trainings = []
    real_train, real_run = tagger.train_tagger, run.run_training

    def counted(*args, **kwargs):
        trainings.append(args[4])
        return real_train(*args, **kwargs)

    lost = []

    def published_then_lost(*args, **kwargs):
        # stand-in for a fault that cannot be made here for real: the worker lost after the
        # model was published, before the task could end (its process killed, its node gone)
        out = real_run(*args, **kwargs)
        if not lost:
            lost.append(out["version"])
            raise ConnectionError("worker lost after the model was published")
        return out

    monkeypatch.setattr(tagger, "train_tagger", counted)
    monkeypatch.setattr(run, "run_training", published_then_lost)
    seed = write_seed_set(tmp_path / "seed", make_docs(24, seed=1), make_docs(12, seed=2))
    dag = dagbag.get_dag("prox_train_refiner")
    conf = {
        **copy.deepcopy(dag.params.dump()),
        "seed_uri": str(seed),
        "registry": str(tmp_path / "registry"),
        "epochs": 1,
        "gold_gate": False,
        "threads": 1,
        "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}",
    }
    first = dag.test(run_conf=conf)
    train = next(ti for ti in first.get_task_instances() if ti.task_id == "train")
    assert first.state == "success" and train.try_number == 2
    assert len(trainings) == 1  # the retry did not train again
    candidate = train.xcom_pull(task_ids="train")
    assert candidate["reused"] is True and candidate["version"] == lost[0]
    again = dag.test(run_conf=conf)
    train = next(ti for ti in again.get_task_instances() if ti.task_id == "train")
    assert again.state == "success" and train.xcom_pull(task_ids="train")["reused"] is True
    assert len(trainings) == 1
    registry = ModelRegistry(tmp_path / "registry")
    assert [v["version"] for v in registry.versions("refiner")] == lost
    assert registry.promoted("refiner")["version"] == lost[0]
