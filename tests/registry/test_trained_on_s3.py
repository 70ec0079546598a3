"""A rerun of ``prox train`` into an S3 registry (a real moto server over HTTP) returns the
version it published before, checked against the checksum its record holds (files it does
not record, an operator's notes, aside)."""

from __future__ import annotations

import json

from prox_tasks.cli import main
from prox_tasks.registry import ModelRegistry
from prox_tasks.storage import get_client, parse_uri
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


def _train(capsys, *args: str) -> dict:
    assert main(["train", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])


def test_a_rerun_into_an_s3_registry_reuses_an_intact_version_and_repairs_a_damaged_one(
    s3_root, tmp_path, monkeypatch, capsys, caplog
):
    monkeypatch.setenv("PROX_HOME", str(tmp_path / "home"))  # the model cache
    seed = write_seed_set(tmp_path / "seed", make_docs(40, 1), make_docs(12, 2))
    args = ["--seed", str(seed), "--output", s3_root, "--epochs", "1", "--threads", "1",
            "--no-gold-gate", "--no-promote", "--work-dir", str(tmp_path / "w")]  # fmt: skip
    first = _train(capsys, *args)
    notes = parse_uri(f"{s3_root}/refiner/{first['version']}/README.md")
    get_client().put_object(Bucket=notes.bucket, Key=notes.path, Body=b"# notes\n")  # no damage
    again = _train(capsys, *args)
    assert (first["reused"], again["reused"]) == (False, True)
    assert again["version"] == first["version"] and again["uri"] == first["uri"]
    where = parse_uri(f"{s3_root}/refiner/{first['version']}/model.safetensors")
    client = get_client()
    intact = client.get_object(Bucket=where.bucket, Key=where.path)["Body"].read()
    client.put_object(Bucket=where.bucket, Key=where.path, Body=intact[:-10])  # damaged
    repaired = _train(capsys, *args)
    assert repaired["reused"] is False and "is damaged" in caplog.text
    assert client.get_object(Bucket=where.bucket, Key=where.path)["Body"].read() == intact
    assert _train(capsys, *args)["reused"] is True
    assert [v["version"] for v in ModelRegistry(s3_root).versions("refiner")] == [first["version"]]
