"""``dag.test()`` runs of prox_seed_label then prox_train_refiner on sample documents."""

from __future__ import annotations

import json

import pytest

from tests.dags.crawl import sample_rows, write_jsonl

pytestmark = pytest.mark.slow


def test_seed_label_then_train_promotes(dagbag, tmp_path, monkeypatch):
    from prox_tasks.catalog import Catalog
    from prox_tasks.registry import ModelRegistry

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    snapshot = write_jsonl(tmp_path / "snapshot.jsonl", sample_rows(60), garbage=2)
    seed_run = dagbag.get_dag("prox_seed_label").test(run_conf={
        "input_uri": str(snapshot), "seed_root": str(tmp_path / "seeds"),
        "seed_set_name": "s1", "sample_size": 40, "label_shard_docs": 15,
        "catalog_url": catalog_url})
    assert seed_run.state == "success"
    labels = {ti.rendered_map_index for ti in seed_run.get_task_instances()
              if ti.task_id == "label_shard"}
    assert labels == {"part-00000", "part-00001", "part-00002"}
    manifest = json.loads((tmp_path / "seeds" / "s1" / "manifest.json").read_text())
    sizes = manifest["sizes"]
    assert sizes["sampled"] == 40 and sizes["train"] + sizes["validation"] == sizes["valid"]
    assert sizes["valid"] + sizes["rejected"] == 40 and sum(manifest["strata"].values()) == 40
    assert sizes["input_quarantined"] == {"malformed_json": 2}
    catalog = Catalog(catalog_url)
    registered = catalog.get_seed_set("s1")
    assert registered["teacher"] == "rules" and registered["stats"]["version"] == manifest["version"]

    train_run = dagbag.get_dag("prox_train_refiner").test(run_conf={
        "seed_uri": str(tmp_path / "seeds" / "s1" / "manifest.json"),
        "registry": str(tmp_path / "registry"), "epochs": 1, "catalog_url": catalog_url,
        "gold_gate": False})
    assert train_run.state == "success"
    states = {ti.task_id: ti.state for ti in train_run.get_task_instances()}
    assert states == {"resolve_seed_set": "success", "train": "success",
                      "evaluate": "success", "promote": "success"}
    promoted = ModelRegistry(str(tmp_path / "registry")).promoted("refiner")
    assert promoted is not None
    assert catalog.promoted_model("refiner")["version"] == promoted["version"]


def test_train_dag_keeps_the_epoch_chosen_on_gold(dagbag, tmp_path, monkeypatch):
    """The `select_epoch` Param reaches `prox train`'s epoch selection (`--select-epoch`)."""
    from airflow.sdk.definitions.param import ParamValidationError

    from prox_tasks.registry import ModelRegistry
    from tests.training.fixtures import make_docs
    from tests.training.seed_files import write_seed_set

    monkeypatch.setenv("PROX_MODEL_REGISTRY", str(tmp_path / "registry"))
    seed = write_seed_set(tmp_path / "seed", make_docs(40, seed=1), make_docs(24, seed=2))
    conf = {"seed_uri": str(seed), "registry": str(tmp_path / "registry"), "epochs": 2,
            "gold_gate": False, "catalog_url": f"sqlite:///{tmp_path / 'catalog.sqlite'}"}
    run = dagbag.get_dag("prox_train_refiner").test(run_conf={**conf, "select_epoch": "gold"})
    assert run.state == "success"
    promoted = ModelRegistry(str(tmp_path / "registry")).promoted("refiner")
    artifact = json.loads((tmp_path / "registry" / "refiner" / promoted["version"]
                           / "artifact.json").read_text())
    assert artifact["training_config"]["job"]["select_epoch"] == "gold"
    with pytest.raises(ParamValidationError):
        dagbag.get_dag("prox_train_refiner").test(run_conf={**conf, "select_epoch": "loss"})
