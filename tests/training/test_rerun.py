"""A rerun of a training that succeeded returns its model instead of training it again, and
two identical trainings never write in one work folder at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from prox_tasks.cli import main
from prox_tasks.registry import ModelRegistry
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    return write_seed_set(tmp_path_factory.mktemp("seed"), make_docs(40, 1), make_docs(12, 2))


@pytest.fixture()
def trainings(monkeypatch):
    """The tagger trainings run (each one's work folder), counted as they start."""
    from prox_tasks.training import tagger

    started = []
    real = tagger.train_tagger

    def counted(train, valid, architecture, config, work, **kwargs):
        started.append(work)
        return real(train, valid, architecture, config, work, **kwargs)

    monkeypatch.setattr(tagger, "train_tagger", counted)
    return started


def _train(capsys, *args: str) -> tuple[dict, str]:
    """``prox train --json ARGS``: its record and what it printed on stderr."""
    assert main(["train", "--json", *args]) == 0
    said = capsys.readouterr()
    return json.loads(said.out.splitlines()[0]), said.err


def _args(seed_dir, registry, *more: str) -> list[str]:
    return ["--seed", str(seed_dir), "--output", str(registry), "--epochs", "1",
            "--no-gold-gate", "--threads", "1", *more]  # fmt: skip


def test_a_rerun_of_a_training_that_succeeded_returns_its_version_without_training(
        seed_dir, tmp_path, monkeypatch, capsys, trainings):  # fmt: skip
    """A rerun with the same seed set and settings trained the whole model again (minutes to
    hours on a real seed set) to the same version. It now returns the version at once, says
    so, and registers nothing new; --retrain trains again."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    registry = tmp_path / "registry"
    first, _ = _train(capsys, *_args(seed_dir, registry))
    assert main(["train", *_args(seed_dir, registry)]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"already trained: refiner {first['version']} (line_tagger)"), line
    assert "--retrain trains again" in line
    again, _ = _train(capsys, *_args(seed_dir, registry))
    assert len(trainings) == 1
    assert first["reused"] is False and again["reused"] is True
    assert set(again) == set(first)  # the same record, the version's own numbers
    for same in ("name", "version", "uri", "kind", "metrics", "train", "seed_set"):
        assert again[same] == first[same], same
    assert again["promoted"] is True and again["reason"] == "already promoted"
    assert [v["version"] for v in ModelRegistry(registry).versions("refiner")] == [first["version"]]
    assert not any((tmp_path / "tmp" / "prox-train").iterdir())  # no folder, no lock left
    # other settings are another training
    other, _ = _train(capsys, *_args(seed_dir, registry, "--random-seed", "1", "--no-promote"))
    assert other["reused"] is False and len(trainings) == 2
    retrained, _ = _train(capsys, *_args(seed_dir, registry, "--retrain"))
    assert retrained["reused"] is False and retrained["version"] == first["version"]
    assert len(trainings) == 3


def test_a_version_damaged_or_removed_since_is_trained_and_published_again(
        seed_dir, tmp_path, capsys, caplog, trainings):  # fmt: skip
    """Returned only when its files are those its artifact.json records: a damaged file is
    trained again and written anew (publishing the same version did not write its files). A
    file it does not record (an operator's README.md beside the model) is no damage."""
    registry = tmp_path / "registry"
    args = _args(seed_dir, registry, "--no-promote", "--work-dir", str(tmp_path / "w"))
    first, _ = _train(capsys, *args)
    weights = registry / "refiner" / first["version"] / "model.safetensors"
    (weights.parent / "README.md").write_text("# notes\n")
    assert _train(capsys, *args)[0]["reused"] is True and len(trainings) == 1
    intact = weights.read_bytes()
    weights.write_bytes(intact[:-10])  # cut short
    again, _ = _train(capsys, *args)
    assert again["reused"] is False and len(trainings) == 2 and "is damaged" in caplog.text
    assert weights.read_bytes() == intact
    assert _train(capsys, *args)[0]["reused"] is True and len(trainings) == 2
    shutil.rmtree(registry / "refiner" / first["version"])  # removed by hand
    removed, _ = _train(capsys, *args)
    assert removed["reused"] is False and len(trainings) == 3 and "cannot be read" in caplog.text
    assert (registry / "refiner" / first["version"] / "artifact.json").exists()


def test_a_version_published_before_trainings_were_recorded_stays_valid(
        seed_dir, tmp_path, capsys, trainings):  # fmt: skip
    """A registry of the release before holds versions without a training record: they list,
    show and serve as before; a rerun trains once more (nothing says which code trained
    them), publishes nothing new (the same version) and records it, then reuses it."""
    registry = tmp_path / "registry"
    args = _args(seed_dir, registry, "--no-promote", "--work-dir", str(tmp_path / "w"))
    first, _ = _train(capsys, *args)
    # the release before wrote all of this but the trainings/ folder
    shutil.rmtree(registry / "refiner" / "trainings")
    record = (registry / "refiner" / first["version"] / "artifact.json").read_bytes()
    again, _ = _train(capsys, *args)
    assert again["reused"] is False and again["version"] == first["version"]
    assert (registry / "refiner" / first["version"] / "artifact.json").read_bytes() == record
    assert _train(capsys, *args)[0]["reused"] is True and len(trainings) == 2
    reg = ModelRegistry(registry)
    assert [v["version"] for v in reg.versions("refiner")] == [first["version"]]
    assert reg.version("refiner", first["version"])["sha256"] == json.loads(record)["sha256"]
    assert main(["models", "list", "--registry", str(registry)]) == 0
    assert first["version"] in capsys.readouterr().out


#: A training long enough (~15-30 s on 2 shared cores) for a second one to come while it runs.
_LONG = ("--epochs", "12", "--random-seed", "3")


def _start_trainer(seed, registry, tmp: str) -> subprocess.Popen:
    """A real ``prox train`` in a process of its own, its default work folder under ``tmp``."""
    return subprocess.Popen(
        [sys.executable, "-m", "prox_tasks.cli", "train", "--json", "--seed", str(seed),
         "--output", str(registry), "--no-gold-gate", "--no-promote", "--threads", "1", *_LONG],
        env={**os.environ, "TMPDIR": tmp}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)  # fmt: skip


def _wait_for_checkpoint(trainer: subprocess.Popen, tmp) -> None:
    deadline = time.monotonic() + 180
    while not any(tmp.glob("prox-train/*/tagger_checkpoint.pt")):
        assert trainer.poll() is None and time.monotonic() < deadline, trainer.communicate()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def long_seed(tmp_path_factory):
    return write_seed_set(tmp_path_factory.mktemp("long"), make_docs(300, 1), make_docs(12, 2))


def test_a_second_identical_training_waits_for_the_first_then_returns_its_model(
        long_seed, tmp_path, monkeypatch, capsys, caplog, trainings):  # fmt: skip
    """Two identical trainings started at once shared one work folder and overwrote each
    other's checkpoints. The second (here this process) waits on the first's lock (a real
    prox train process), saying so, then returns the model the first published."""
    import prox_tasks.training.tagger  # noqa: F401 - imported before the first one runs

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    registry = tmp_path / "registry"
    first = _start_trainer(long_seed, registry, str(tmp))
    _wait_for_checkpoint(first, tmp)
    first.send_signal(signal.SIGSTOP)  # paused, its lock held: the second surely finds it held
    said = {}

    def second_training():
        said["record"], _ = _train(capsys, "--seed", str(long_seed), "--output", str(registry),
                                   "--no-gold-gate", "--no-promote", "--threads", "1", *_LONG)  # fmt: skip

    second = threading.Thread(target=second_training)
    second.start()
    deadline = time.monotonic() + 120
    try:
        while "is in use by another training" not in caplog.text:
            assert second.is_alive() and time.monotonic() < deadline, said
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGCONT)  # never left paused
    second.join(timeout=300)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert (
        "is in use by another training of the same seed set and settings (pid "
        f"{first.pid} on" in caplog.text
    )
    assert said["record"]["reused"] is True and trainings == []
    assert said["record"]["version"] == json.loads(out.splitlines()[0])["version"]
    assert not any((tmp / "prox-train").iterdir())


def test_a_killed_trainer_leaves_no_lock_that_blocks(long_seed, tmp_path, monkeypatch,
                                                      capsys, caplog, trainings):  # fmt: skip
    """kill -9 leaves the lock file behind, not the lock: the rerun resumes at once."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp))
    registry = tmp_path / "registry"
    first = _start_trainer(long_seed, registry, str(tmp))
    _wait_for_checkpoint(first, tmp)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert [p.name for p in (tmp / "prox-train").glob(".*.lock")]  # left by the dead trainer
    again, _ = _train(capsys, "--seed", str(long_seed), "--output", str(registry),
                      "--no-gold-gate", "--no-promote", "--threads", "1", *_LONG)  # fmt: skip
    assert again["reused"] is False and len(trainings) == 1 and "in use" not in caplog.text
    assert again["train"]["resumed_at_epoch"] >= 1


def test_a_rerun_with_a_catalog_books_the_version_it_returns(seed_dir, tmp_path, capsys, trainings):
    """Publishing booked a version in --catalog (a retry after the catalog failed booked it
    then); a rerun that returns the version without publishing books it as well."""
    from prox_tasks.catalog import Catalog

    catalog = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    args = _args(seed_dir, tmp_path / "registry", "--no-promote", "--work-dir", str(tmp_path / "w"))
    first, _ = _train(capsys, *args)  # no catalog then
    again, _ = _train(capsys, *args, "--catalog", catalog)
    assert again["reused"] is True and len(trainings) == 1
    with Catalog(catalog) as booked:
        assert booked.get_model("refiner", first["version"])["uri"] == first["uri"]


def test_a_training_library_upgrade_changes_the_code_identity(monkeypatch):
    """A rerun reuses the version a training of the same identity published; the identity
    hashed prox's modules and torch's version only, so after a transformers or tokenizers
    upgrade (their tokenizers and layers decide an SFT model's weights) a rerun returned the
    model the old libraries trained. Each of those libraries' versions is in the identity.
    The upgrade is a named mock (the installed versions, replaced): a test cannot install
    another transformers."""
    from prox_tasks.training import run

    installed = run.library_versions()
    assert installed["transformers"] and installed["tokenizers"] and installed["torch"]
    run.code_identity.cache_clear()
    before = run.code_identity()
    for library in ("transformers", "tokenizers", "safetensors"):
        monkeypatch.setattr(run, "library_versions",
                            lambda lib=library: {**installed, lib: installed[lib] + ".post1"})
        run.code_identity.cache_clear()
        assert run.code_identity() != before, library
    monkeypatch.undo()
    run.code_identity.cache_clear()
    assert run.code_identity() == before
