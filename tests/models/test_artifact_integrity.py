"""Model folders as loaders read them: a published model whose files changed since is
refused wherever it is loaded, not run under the original's version; a folder that is no
model, or a broken refiner.json, is named for what it is."""

from __future__ import annotations

import json
import shutil

import pytest

from prox_tasks.cli import main
from prox_tasks.models import artifact
from prox_tasks.models.resolver import SHIPPED_MODEL
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


@pytest.fixture
def changed_model(tmp_path):
    model = shutil.copytree(SHIPPED_MODEL, tmp_path / "model")  # has an artifact.json
    weights = model / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other weights
    weights.write_bytes(bytes(data))
    return model


def test_prox_train_refuses_a_base_whose_files_changed(changed_model, tmp_path, capsys):
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(seed), "--output", str(registry), "--epochs", "1",
                 "--base", str(changed_model), "--no-gold-gate",
                 "--work-dir", str(tmp_path / "w")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"{changed_model / 'artifact.json'}: the model's files" in err
    assert not registry.exists()


def test_prox_refine_refuses_a_model_whose_files_changed(changed_model, tmp_path, capsys):
    """A published model whose files changed in place failed each shard as an error a rerun
    may get past: ``prox refine`` exited 1 saying the same command would finish the run, and
    the refine DAG retried every shard's task on it, in vain. It is a damaged model now:
    exit 2, and a DAG task fails at once (no rerun changes the files back)."""
    from prox_tasks.inference import load_backend
    from prox_tasks.pipeline.errors import cannot_succeed

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "Home\nA sentence of text here."}) + "\n")
    assert main(["refine", "--input", str(source), "--output", str(tmp_path / "out"),
                 "--model", str(changed_model), "--no-progress"]) == 2
    assert "artifact.json: the model's files" in capsys.readouterr().err
    with pytest.raises(artifact.ArtifactChanged) as err:
        load_backend(None, str(changed_model))
    assert isinstance(err.value, cannot_succeed())


def test_the_digest_is_computed_once_per_unchanged_folder(tmp_path, monkeypatch):
    model = shutil.copytree(SHIPPED_MODEL, tmp_path / "model")
    calls = []
    real = artifact.artifact_digest
    monkeypatch.setattr(artifact, "artifact_digest", lambda f: calls.append(f) or real(f))
    version = json.loads((model / "artifact.json").read_text())["version"]
    assert artifact.artifact_version(model) == artifact.artifact_version(model) == version
    assert len(calls) == 1


@pytest.mark.parametrize("content, message", [
    (None, "no refiner.json or config.json in {base}"),
    ("{not json", "{base}/refiner.json is not JSON"),
])  # fmt: skip
def test_prox_train_says_what_is_wrong_with_a_base_folder(tmp_path, capsys, content, message):
    base = tmp_path / "base"
    base.mkdir()
    if content is not None:
        (base / "refiner.json").write_text(content)
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    assert main(["train", "--seed", str(seed), "--output", str(tmp_path / "registry"),
                 "--epochs", "1", "--base", str(base), "--no-gold-gate"]) == 2  # a setting to fix
    err = capsys.readouterr().err
    assert message.format(base=base) in err and "is a causal_lm model" not in err


@pytest.mark.parametrize("size", [0, 100])
def test_prox_calibrate_names_a_line_taggers_weights_file_cut_short(tmp_path, capsys, size):
    """prox refine refuses a cut weights file before planning; prox calibrate (and prox train's
    base) loaded it as it was: "SafetensorError: Error while deserializing header: invalid
    header length", naming no file, exit 1 as if a rerun could help. The tagger's loader
    checks the file's size against its header now: exit 2, naming the file and what to do;
    a DAG task fails without retries."""
    from prox_tasks.models.line_tagger import LineTaggerRefiner
    from prox_tasks.pipeline.errors import cannot_succeed

    model = shutil.copytree(SHIPPED_MODEL, tmp_path / "model")
    (model / "artifact.json").unlink()  # a folder of its own: the weights' size is what is wrong
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:size])
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": str(i), "text": f"Menu\nA sentence {i} of text.",
                                        "gold_text": f"A sentence {i} of text."}) + "\n"
                            for i in range(5)))  # fmt: skip
    assert main(["calibrate", "--gold", str(gold), "--model", str(model), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"weights file {weights} is not whole: " in err and "fetch or copy" in err, err
    with pytest.raises(ValueError, match="is not whole") as raised:
        LineTaggerRefiner(model)
    assert isinstance(raised.value, cannot_succeed())
