"""A model folder's ``refiner.json`` is read in one place (``artifact.refiner_settings``): a
damaged file is refused naming it, and a kind prox does not know is never run as a tagger."""

from __future__ import annotations

import json
import shutil

import pytest

from prox_tasks.cli import main
from prox_tasks.inference import load_backend
from prox_tasks.models.resolver import SHIPPED_MODEL


def _copy(tmp_path, settings_text: str):
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, folder)
    (folder / "artifact.json").unlink()  # a folder outside the registry: no digest check
    (folder / "refiner.json").write_text(settings_text)
    return folder


def _input(tmp_path):
    rows = tmp_path / "in.jsonl"
    rows.write_text(json.dumps({"id": "a", "text": "Hello world.\nA second line of text."}) + "\n")
    return rows


def test_an_unknown_kind_is_refused_not_run_as_the_tagger(tmp_path, capsys):
    settings = json.loads((SHIPPED_MODEL / "refiner.json").read_text())
    folder = _copy(tmp_path, json.dumps({**settings, "kind": "line_taggr"}))  # a typo
    with pytest.raises(ValueError, match="kind 'line_taggr' is no refiner kind"):
        load_backend(None, str(folder))
    # prox refine refuses it before planning anything (it refined under line_taggr-… before)
    out = tmp_path / "out"
    assert main(["refine", "--input", str(_input(tmp_path)), "--output", str(out),
                 "--model", str(folder), "--no-progress"]) == 2  # a model to fix
    err = capsys.readouterr().err
    assert f"{folder / 'refiner.json'}: kind 'line_taggr'" in err
    assert "line_tagger, causal_lm" in err
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize(("text", "said"), [
    ('{"kind": "line_tagger", "tagger": ', "is not JSON"),  # cut short
    ("\x00garbage", "is not JSON"),
    ("[1, 2]", "is a JSON list, not an object"),
])
def test_a_refiner_json_that_is_not_json_is_named(tmp_path, capsys, text, said):
    """A damaged ``refiner.json`` ended ``prox refine`` with "ValueError: …/refiner.json is
    not JSON", exit 1 (a rerun may get past it), and a DAG task meeting it was retried,
    where a damaged ``artifact.json`` is a damaged model (ArtifactRecordDamaged). Both are a
    ModelDamaged now, naming the file: exit 2, the DAG's task failed without retries."""
    folder = _copy(tmp_path, text)
    out = tmp_path / "out"
    assert main(["refine", "--input", str(_input(tmp_path)), "--output", str(out),
                 "--model", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    # before: "JSONDecodeError: Expecting value: line 1 column 35 (char 34)", no file named
    assert f"{folder / 'refiner.json'} {said}" in err and "ValueError" not in err, err
    assert "publish the model again" in err
    assert not (out / "manifest.json").exists()
    from prox_tasks.models.artifact import ModelDamaged, RefinerSettingsDamaged
    from prox_tasks.pipeline.errors import fail_fast

    class FailNow(Exception):
        """Stands in for Airflow's AirflowFailException (the DAGs pass the real one)."""

    with pytest.raises(FailNow) as failed:
        with fail_fast(FailNow):
            load_backend(None, str(folder))
    # a DAG task fails saying what the command printed ("RefinerSettingsDamaged: " before it)
    assert str(failed.value).startswith(f"{folder / 'refiner.json'} {said}"), failed.value
    assert "publish the model again" in str(failed.value)
    assert issubclass(RefinerSettingsDamaged, ModelDamaged)


def test_a_damaged_artifact_json_is_refused_before_planning(tmp_path, capsys):
    """A model folder whose ``artifact.json`` is damaged was planned and claimed, then every
    shard failed loading it (ArtifactRecordDamaged, exit 1, the snapshot booked failed). It
    is refused before anything is planned now, naming the file: exit 2."""
    folder = _copy(tmp_path, (SHIPPED_MODEL / "refiner.json").read_text())
    (folder / "artifact.json").write_text("{garbage")
    out = tmp_path / "out"
    assert main(["refine", "--input", str(_input(tmp_path)), "--output", str(out),
                 "--model", str(folder), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'artifact.json'} is damaged (not JSON" in err, err
    assert not out.exists()


def test_a_tagger_without_its_weights_is_refused_before_planning(tmp_path, capsys):
    """It was planned and claimed, then failed loading with a bare "No such file or
    directory: …/model.safetensors"."""
    folder = _copy(tmp_path, (SHIPPED_MODEL / "refiner.json").read_text())
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="which its refiner.json \\(kind line_tagger\\) "
                                                "needs"):
        load_backend(None, str(folder))  # prox calibrate, training's evaluation
    out = tmp_path / "out"
    assert main(["refine", "--input", str(_input(tmp_path)), "--output", str(out),
                 "--model", str(folder), "--no-progress"]) == 2  # a --model to fix (ModelNotFound)
    err = capsys.readouterr().err
    assert f"no model.safetensors in {folder}" in err and "publish the model again" in err
    assert not (out / "manifest.json").exists()


def test_settings_that_do_not_describe_the_weights_say_what_to_do(tmp_path, capsys):
    settings = json.loads((SHIPPED_MODEL / "refiner.json").read_text())
    settings["tagger"]["section_channels"] = 0  # the weights hold a section layer
    folder = _copy(tmp_path, json.dumps(settings))
    assert main(["refine", "--input", str(_input(tmp_path)), "--output", str(tmp_path / "out"),
                 "--model", str(folder), "--no-progress"]) == 1
    # the CLI's one line keeps the start: the advice comes before torch's long detail
    err = capsys.readouterr().err
    assert "as its refiner.json describes it" in err and "publish the model again" in err
