"""The training stage end to end: seed set in, evaluated, published, promoted or refused."""

from __future__ import annotations

import json
import shutil

import pytest

from prox_tasks.inference import load_backend
from prox_tasks.registry import ModelRegistry
from prox_tasks.training.run import TrainJob, run_training
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory):
    return write_seed_set(tmp_path_factory.mktemp("seed"), make_docs(40, 1), make_docs(12, 2))


def test_tagger_job_promotes_then_refuses_a_worse_model(seed_dir, tmp_path):
    registry = tmp_path / "registry"
    # the teacher-agreement mechanics (the gold gate is tested in test_gold_gate.py)
    good = run_training(TrainJob(seed=str(seed_dir), output=str(registry), epochs=4,
                                 learning_rate=1e-2, work_dir=str(tmp_path / "w1"),
                                 gold_gate=False))  # fmt: skip
    assert good["promoted"] and good["reason"].startswith("no promoted model; gold gate off")
    assert good["seed_set"]["version"] == "test-1"
    assert good["metrics"]["line_f1"] > 0.5 and good["metrics"]["chunk_failure_rate"] == 0.0
    json.dumps(good)  # the CLI prints it as one JSON line
    # a barely trained model: evaluated beside the incumbent on the same documents, refused
    weak = run_training(TrainJob(seed=str(seed_dir), output=str(registry), epochs=1,
                                 learning_rate=1e-5, work_dir=str(tmp_path / "w2"),
                                 gold_gate=False))  # fmt: skip
    assert not weak["promoted"]
    assert weak["incumbent"]["version"] == good["version"]
    assert weak["incumbent"]["metrics"]["line_f1"] == pytest.approx(good["metrics"]["line_f1"])
    reg = ModelRegistry(registry)
    assert reg.promoted("refiner")["version"] == good["version"]
    refused = reg.decisions("refiner")[-1]
    assert refused["candidate_metrics"]["line_f1"] == weak["metrics"]["line_f1"]
    # the promoted artifact loads through the inference contract
    refiner = load_backend(None, good["uri"])
    assert refiner.version == good["version"]  # one version string: rows, registry, catalog
    assert refiner.predict_doc(["x"]) in (["keep_doc()"], ["drop_doc()"])
    # and the main job can fine-tune it instead of training from zero
    tuned = run_training(TrainJob(seed=str(seed_dir), output=str(registry), epochs=1,
                                  base=good["uri"], promote=False, gold_gate=False,
                                  work_dir=str(tmp_path / "w3")))  # fmt: skip
    assert tuned["metrics"]["line_f1"] > 0.5 and "promoted" not in tuned


@pytest.mark.slow  # greedy decoding of an untrained model runs to the token limit: ~20-40 s
def test_causal_lm_job_on_the_embedded_tiny_llama(seed_dir, tmp_path):
    from prox_tasks.training.evaluate import evaluate_refiner
    from prox_tasks.training.seedset import load_seed_set
    from tests.training.fixtures import tiny_lm_config

    job = TrainJob(seed=str(seed_dir), output=str(tmp_path / "registry"), kind="causal_lm",
                   max_steps=3, max_eval_docs=2, chunk_tokens=48, batch_tokens=2048,
                   tiny=tiny_lm_config().to_dict(), work_dir=str(tmp_path / "w"),
                   gold_gate=False, backend="transformers", threads=1)  # fmt: skip
    out = run_training(job)
    assert out["kind"] == "causal_lm" and out["train"]["steps"] == 3
    # promotion measured exactly what production runs: the published model, loaded by the
    # production loader, scores the same on the same documents (greedy decoding), and
    # reports the registry's version
    refiner = load_backend("transformers", out["uri"], threads=1)
    assert refiner.version == out["version"]
    valid = load_seed_set(str(seed_dir)).validation[:2]
    again = evaluate_refiner(refiner, valid)
    for key in ("doc_f1", "line_f1", "doc_failure_rate", "chunk_failure_rate"):
        assert again[key] == out["metrics"][key], key
    assert out["metrics"]["docs"] == 2
    programs = refiner.predict_chunks([make_docs(1, 5)[0]["text"]])
    assert programs[0].startswith("# chunk 0-")


def test_tagger_job_can_keep_the_epoch_best_on_gold_at_its_operating_point(seed_dir, tmp_path):
    out = run_training(TrainJob(seed=str(seed_dir), output=str(tmp_path / "registry"), epochs=4,
                                learning_rate=1e-2, work_dir=str(tmp_path / "w"),
                                gold_gate=False, select_epoch="gold"))  # fmt: skip
    gold_f1 = out["train"]["gold_f1_by_epoch"]
    # the wiring (a few tiny pages: gold F1 may be the same at every epoch;
    # the selection itself: test_tagger.py, the score: test_calibrate.py)
    assert len(gold_f1) == 4 and all(0 <= f <= 1 for f in gold_f1)
    assert out["train"]["best_epoch"] == 1 + gold_f1.index(max(gold_f1))
    with pytest.raises(ValueError, match="select_epoch"):
        run_training(TrainJob(seed=str(seed_dir), output=str(tmp_path / "r2"), epochs=1,
                              work_dir=str(tmp_path / "w2"), select_epoch="loss"))


def test_work_folder_follows_the_base_models_version(seed_dir, tmp_path, monkeypatch):
    """A base named by location (``default``, a path) that now holds another model must not
    resume the epoch checkpoint of a run from the model it held before."""
    import dataclasses

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    first = run_training(TrainJob(seed=str(seed_dir), output=str(tmp_path / "r1"), epochs=1,
                                  work_dir=str(tmp_path / "w1"), gold_gate=False))  # fmt: skip
    base = tmp_path / "base"  # one location, two models in turn
    shutil.copytree(first["uri"].removeprefix("file://"), base)
    job = TrainJob(seed=str(seed_dir), output=str(tmp_path / "r1"), epochs=1, base=str(base),
                   promote=False, gold_gate=False)  # fmt: skip
    folders = []
    real = TrainJob.resolved_work_dir

    def recording(self, *args):
        folders.append(real(self, *args))
        return folders[-1]

    monkeypatch.setattr(TrainJob, "resolved_work_dir", recording)
    run_training(job)
    assert not folders[0].exists()  # a run that succeeds keeps no checkpoint
    # what a run that failed in its folder leaves there: its epoch checkpoint
    run_training(dataclasses.replace(job, work_dir=str(folders[0]), retrain=True))
    assert folders[0].joinpath("tagger_checkpoint.pt").exists()
    # the location now holds a model of another architecture (section context on)
    shutil.rmtree(base)
    other = run_training(TrainJob(seed=str(seed_dir), output=str(tmp_path / "r2"), epochs=1,
                                  tagger={"section_channels": 4}, gold_gate=False,
                                  work_dir=str(tmp_path / "w2")))  # fmt: skip
    shutil.copytree(other["uri"].removeprefix("file://"), base)
    tuned = run_training(job)  # resumed the old checkpoint before: missing section weights
    assert tuned["metrics"]["line_f1"] > 0.0
    assert folders[-1] != folders[0]  # a folder of its own


def test_a_training_that_succeeds_removes_its_default_work_folder_not_a_given_one(
        seed_dir, tmp_path, monkeypatch):  # fmt: skip
    """`prox train` kept its epoch checkpoints (~20 MB a tagger run) in $TMPDIR/prox-train
    after it published its model: a nightly job filled the disk run by run. The default
    folder is removed once the run succeeds (a failed run keeps it to resume: the stopped
    train test); a --work-dir the user gave stays."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    job = TrainJob(seed=str(seed_dir), output=str(tmp_path / "r"), epochs=1, gold_gate=False,
                   threads=1)  # fmt: skip
    out = run_training(job)
    assert out["version"] and (tmp_path / "r" / "refiner").is_dir()
    assert list((tmp_path / "tmp" / "prox-train").iterdir()) == []
    given = TrainJob(seed=str(seed_dir), output=str(tmp_path / "r"), epochs=1, gold_gate=False,
                     threads=1, work_dir=str(tmp_path / "w"), retrain=True)  # fmt: skip
    run_training(given)
    assert (tmp_path / "w" / "tagger_checkpoint.pt").exists()


def test_a_training_under_prox_tmpdir_still_sweeps_the_system_temp_folders_stale_ones(
        seed_dir, tmp_path, monkeypatch):  # fmt: skip
    """The default work folder moved to PROX_TMPDIR, and the sweep of stale ones with it:
    the folders failed runs had left in the system temp folder's prox-train (a small /tmp,
    the reason to set PROX_TMPDIR) were then resumed by no run and swept by none, there for
    ever. A training sweeps both; a fresh one there stays (it may be another run's)."""
    import os
    import time

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("PROX_TMPDIR", str(tmp_path / "scratch"))
    old, fresh = tmp_path / "tmp" / "prox-train" / "0123456789abcdef", tmp_path / "tmp" / \
        "prox-train" / "fedcba9876543210"  # fmt: skip
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "tagger_checkpoint.pt").write_bytes(b"x" * 1000)
    then = time.time() - 30 * 86400
    for path in (old / "tagger_checkpoint.pt", old):
        os.utime(path, (then, then))
    job = TrainJob(seed=str(seed_dir), output=str(tmp_path / "r"), epochs=1, gold_gate=False,
                   threads=1)  # fmt: skip
    assert run_training(job)["version"]
    assert not old.exists() and fresh.exists()


def test_prox_train_leaves_out_rows_that_cannot_train_and_counts_them(tmp_path, capsys):
    """Rows that crashed training (unhashable id or teacher, a gold_text the gold scoring
    cannot read) or trained silently as something else (no text, a label for another
    text) are left out before training and counted by reason."""
    from prox_tasks.cli import main

    good = make_docs(20, 1)
    bad = [{**good[0], "id": "gold-int", "gold_text": 12345},
           {**good[1], "id": ["a", "list"]},
           {**good[2], "id": "teacher-list", "teacher": ["rules"]},
           {**good[3], "id": "empty", "text": ""},
           {**good[4], "id": "past", "chunk_program": "remove_lines(line_start=500, line_end=900)"}]
    seed = write_seed_set(tmp_path / "seed", good[5:] + bad, make_docs(6, 2))
    assert main(["train", "--json", "--seed", str(seed), "--output", str(tmp_path / "reg"),
                 "--epochs", "1", "--no-gold-gate", "--no-promote",
                 "--work-dir", str(tmp_path / "w")]) == 0  # fmt: skip
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["seed_set"]["train_docs"] == 15
    assert record["seed_set"]["skipped_reasons"] == {
        "chunk_program past the text": 1, "empty text": 1, "gold_text is an int, not a text": 1,
        "id is a list, not a string or number": 1, "teacher is a list, not a name": 1}


def test_calibration_follows_the_evaluation_cap(tmp_path, monkeypatch):
    """The keep threshold is calibrated on at most ``max_eval_docs`` validation pages with
    gold (the first ones of the split, the same every run), not on every one."""
    from prox_tasks.training import calibrate
    from prox_tasks.training.seedset import load_seed_set

    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(30, 2))
    calibrated = []
    real_calibrate = calibrate.calibrate_threshold

    def recording_calibrate(refiner, docs, *args, **kwargs):
        calibrated.append([d["id"] for d in docs])
        return real_calibrate(refiner, docs, *args, **kwargs)

    monkeypatch.setattr(calibrate, "calibrate_threshold", recording_calibrate)
    for run in range(2):
        out = run_training(TrainJob(seed=str(seed), output=str(tmp_path / "registry"), epochs=1,
                                    max_eval_docs=22, work_dir=str(tmp_path / f"w{run}"),
                                    gold_gate=False, promote=False, threads=1,
                                    retrain=True))  # fmt: skip
    with_gold = [d["id"] for d in load_seed_set(str(seed)).validation if d.get("gold_text")]
    assert len(with_gold) > 22 and calibrated == [with_gold[:22], with_gold[:22]]
    assert out["metrics"]["docs"] == 22 and out["train"]["calibration"]["docs"] == 22


def test_the_training_rows_are_read_from_the_seed_sets_files(seed_dir, tmp_path, monkeypatch):
    """``prox train`` (and the DAG's train task) hands the tagger the seed set's training
    rows, and the validation pages it scores after each epoch, as :class:`StreamedRows`
    read from the files, not lists of every row held through the training."""
    from prox_tasks.training import tagger
    from prox_tasks.training.seedset import StreamedRows, load_seed_set

    given, real_train = [], tagger.train_tagger

    def recording_train(train_docs, valid_docs, *args, **kwargs):
        given.append((train_docs, valid_docs))
        return real_train(train_docs, valid_docs, *args, **kwargs)

    monkeypatch.setattr(tagger, "train_tagger", recording_train)
    run_training(TrainJob(seed=str(seed_dir), output=str(tmp_path / "registry"), epochs=1,
                          work_dir=str(tmp_path / "w"), gold_gate=False, promote=False,
                          threads=1))  # fmt: skip
    assert len(given) == 1 and all(isinstance(rows, StreamedRows) for rows in given[0])
    listed = load_seed_set(str(seed_dir))
    assert list(given[0][0]) == listed.train
    assert list(given[0][1]) == listed.validation  # no --max-eval-docs: all of them


def test_the_epoch_is_chosen_on_gold_on_the_pages_calibrated_on(tmp_path, monkeypatch):
    """With ``--max-eval-docs N``, ``--select-epoch gold`` scores each epoch on the first N
    validation pages with gold, the ones the keep threshold is calibrated on — not on the
    first N pages, which may hold few or none with gold (a split's files group their
    sources) — and is not refused when the first N pages have none."""
    from prox_tasks.training import calibrate
    from prox_tasks.training.seedset import load_seed_set

    valid = make_docs(40, 2)
    for doc in valid[:10]:  # the first pages have no gold
        doc["gold_text"] = None
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), valid)
    scored, calibrated = [], []
    real_score, real_calibrate = calibrate.gold_epoch_score, calibrate.calibrate_threshold

    def recording_score(refiner, docs, *args, **kwargs):
        scored.append([d["id"] for d in docs])
        return real_score(refiner, docs, *args, **kwargs)

    def recording_calibrate(refiner, docs, *args, **kwargs):
        calibrated.append([d["id"] for d in docs])
        return real_calibrate(refiner, docs, *args, **kwargs)

    monkeypatch.setattr(calibrate, "gold_epoch_score", recording_score)
    monkeypatch.setattr(calibrate, "calibrate_threshold", recording_calibrate)
    for cap in (8, 22):
        out = run_training(TrainJob(seed=str(seed), output=str(tmp_path / "registry"), epochs=2,
                                    max_eval_docs=cap, select_epoch="gold", promote=False,
                                    gold_gate=False, work_dir=str(tmp_path / f"w{cap}"),
                                    threads=1))  # fmt: skip
        with_gold = [d["id"] for d in load_seed_set(str(seed)).validation if d.get("gold_text")]
        assert len(with_gold) > cap
        assert scored[-2:] == [with_gold[:cap]] * 2 and calibrated[-1] == with_gold[:cap]
        assert out["metrics"]["docs"] == cap  # evaluation: the first N pages, as before


def test_base_promoted_is_the_model_promoted_in_the_registry_trained_into(seed_dir, tmp_path,
                                                                          tagger_model):
    """`prox train --base promoted --output REG` fine-tunes REG's promoted model (the
    incumbent its gold gate compares with); it looked in $PROX_MODEL_REGISTRY (default
    $PROX_HOME/registry) and failed with "no promoted model 'refiner' in the model registry
    …/registry" while REG had one."""
    registry = ModelRegistry(tmp_path / "registry")
    metrics = {"doc_f1": 0.5, "line_f1": 0.5, "chunk_failure_rate": 0.0}
    base = registry.publish(tagger_model, "refiner", "line_tagger", {}, {}, metrics)
    assert registry.decide("refiner", base["version"], metrics, None).promoted
    out = run_training(TrainJob(seed=str(seed_dir), output=registry.root, base="promoted",
                                epochs=1, promote=False, gold_gate=False, threads=1,
                                work_dir=str(tmp_path / "w")))  # fmt: skip
    config = registry.artifact("refiner", out["version"])["training_config"]
    assert (config["base"], config["base_version"]) == ("promoted", base["version"])


def test_a_causal_lm_artifact_is_a_base_to_fine_tune(tmp_path, tiny_model):
    """The folder `prox train --kind causal_lm` publishes (refiner.json, the model in
    model/) fine-tunes as --base; transformers found no tokenizer at its top and failed
    with "Couldn't instantiate the backend tokenizer …"."""
    from prox_tasks.training.lm import train_causal_lm
    from prox_tasks.training.sft import SFTConfig

    artifact = tmp_path / "artifact"
    shutil.copytree(tiny_model, artifact / "model")
    (artifact / "refiner.json").write_text(json.dumps(
        {"kind": "causal_lm", "doc_model": "model", "chunk_model": "model"}))
    out, report = train_causal_lm(make_docs(4, 5), tmp_path / "out", tmp_path / "w",
                                  SFTConfig(max_steps=1, threads=1, batch_tokens=2048),
                                  base=str(artifact), chunk_tokens=48)  # fmt: skip
    assert report["steps"] == 1
    settings = json.loads((out / "refiner.json").read_text())
    assert settings["base"] == str(artifact)
    assert (out / "model" / "config.json").exists()
    # a model per level is refused, naming the folders to choose from
    (artifact / "refiner.json").write_text(json.dumps(
        {"kind": "causal_lm", "doc_model": "model", "chunk_model": "chunk"}))
    with pytest.raises(ValueError, match="holds a model per level"):
        train_causal_lm(make_docs(4, 5), tmp_path / "out2", tmp_path / "w2",
                        SFTConfig(max_steps=1, threads=1), base=str(artifact))


def test_gold_pages_in_the_seed_set_are_not_trained_on_and_counted(tmp_path, caplog):
    """A seed set built over the gold gate's own pages (``prox label --seed-set`` over WCXB
    dev) would have the gate score the candidate on pages it learned from. ``prox train``
    (and the DAG's train task: the same run_training) leaves them out of training and
    validation, says so and counts them: the model is the one the seed set without them
    trains (the same version), and the DAG's evaluate and promote tasks score the
    incumbent on the validation pages the candidate was scored on."""
    from prox_tasks.cli.train_cmd import summary_line
    from prox_tasks.pipeline.training import validation_documents
    from tests.training.fixtures import gold_page_rows

    train, valid, gold = make_docs(30, 1), make_docs(10, 2), gold_page_rows(3)
    with_gold = write_seed_set(tmp_path / "seed-with", train[:5] + gold[:2] + train[5:],
                               valid + gold[2:], "v-1")  # fmt: skip
    without = write_seed_set(tmp_path / "seed-without", train, valid, "v-1")
    runs = {}
    for name, seed in (("with", with_gold), ("without", without)):
        caplog.clear()
        with caplog.at_level("WARNING", logger="prox_tasks.training.run"):
            runs[name] = run_training(TrainJob(seed=str(seed), output=str(tmp_path / f"reg-{name}"),
                                               epochs=1, gold_gate=False, promote=False,
                                               work_dir=str(tmp_path / f"w-{name}"),
                                               threads=1))  # fmt: skip
        runs[name]["log"] = caplog.text
    assert runs["with"]["version"] == runs["without"]["version"]
    timing = ("predict_seconds", "docs_per_s")
    assert {k: v for k, v in runs["with"]["metrics"].items() if k not in timing} == \
        {k: v for k, v in runs["without"]["metrics"].items() if k not in timing}
    described = runs["with"]["seed_set"]
    assert described["gold_pages_left_out"] == 3 and described["train_docs"] == 30
    assert described["validation_docs"] == 10
    assert runs["with"]["log"].count("3 of its pages are pages of the gold set wcxb-gold-v1-") == 1, \
        runs["with"]["log"]  # once per run: it was said twice
    assert "gold gate scores the candidate on them" in runs["with"]["log"]
    assert "3 seed rows left out (3 in the gold set)" in summary_line(runs["with"])
    assert runs["without"]["seed_set"]["gold_pages_left_out"] == 0
    assert "gold set" not in runs["without"]["log"] + summary_line(runs["without"])
    # the published record keeps the count (prox models show)
    record = ModelRegistry(tmp_path / "reg-with").artifact("refiner", runs["with"]["version"])
    assert record["seed_set"]["gold_pages_left_out"] == 3
    # the DAG's evaluate and promote tasks: the candidate's validation pages, not the gold
    dag_seed = {"uri": str(with_gold), "registry": str(tmp_path / "reg-with"),
                "catalog_url": None}
    assert [d["id"] for d in validation_documents(dag_seed, {})] == [d["id"] for d in valid]


def test_a_seed_set_without_gold_pages_trains_in_the_folder_and_to_the_version_as_before(
        seed_dir, tmp_path, monkeypatch):
    """Nothing left out, nothing changes: the default work folder is keyed as before (a run
    of the previous release resumes there) and the artifact records the same seed set."""
    from prox_tasks.training.seedset import load_seed_set

    job = TrainJob(seed=str(seed_dir), output=str(tmp_path / "registry"), epochs=1,
                   gold_gate=False, promote=False, threads=1)  # fmt: skip
    seen = []
    real = TrainJob.resolved_work_dir

    def recording(self, *args):
        seen.append(real(self, *args))
        return seen[-1]

    monkeypatch.setattr(TrainJob, "resolved_work_dir", recording)
    out = run_training(job)
    assert seen == [real(job, load_seed_set(str(seed_dir)).version, "")]
    assert out["seed_set"]["gold_pages_left_out"] == 0 and out["seed_set"]["skipped"] == 0


def test_prox_label_seed_set_over_gold_pages_then_prox_train_leaves_them_out(tmp_path, capsys,
                                                                            caplog):
    """The documented flow: ``prox label --seed-set`` over a collection that holds gold-set
    pages (WCXB dev, as WCXB's rows carry them: id, url, text, gold_text), then ``prox
    train``: every gold page the seed set holds, in either split, is left out and counted."""
    import gzip

    from prox_tasks.cli import main
    from prox_tasks.evaluation.goldset import load_gold_set

    pages = [{k: page[k] for k in ("id", "url", "text", "gold_text", "page_type")}
             for page in load_gold_set()[0][:12]]  # fmt: skip
    collection = tmp_path / "wcxb_dev.jsonl"
    collection.write_text("".join(json.dumps(r) + "\n" for r in make_docs(50, 3) + pages))
    seed = tmp_path / "seed"
    assert main(["label", "--input", str(collection), "--output", str(seed), "--seed-set",
                 "--sample-size", "62", "--no-register"]) == 0  # fmt: skip
    gold_ids = {page["id"] for page in pages}
    held = sum(json.loads(line)["id"] in gold_ids for split in ("train", "validation")
               for line in gzip.open(seed / f"{split}.jsonl.gz", "rt"))  # fmt: skip
    assert held >= 10  # the rules teacher's labels of these pages are valid
    capsys.readouterr()
    assert main(["train", "--json", "--seed", str(seed), "--output", str(tmp_path / "reg"),
                 "--epochs", "1", "--no-gold-gate", "--no-promote", "--threads", "1",
                 "--work-dir", str(tmp_path / "w")]) == 0  # fmt: skip
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["seed_set"]["gold_pages_left_out"] == held
    assert record["seed_set"]["skipped_reasons"] == {"in the gold set": held}
    assert f"{held} of its pages are pages of the gold set" in caplog.text


def test_a_trainings_default_work_folder_is_under_prox_tmpdir(tmp_path, monkeypatch):
    """The epoch checkpoints went to ``$TMPDIR/prox-train`` whatever ``PROX_TMPDIR`` said:
    a small ``/tmp`` filled while the operator had pointed every scratch file at a volume
    with room. The default work folder is in ``storage.tempfiles.scratch_dir`` now (in a
    ``prox-train`` folder of its own: the stale-folder sweep lists its parent), the system
    temp folder only without ``PROX_TMPDIR``; a ``work_dir`` given stays as given."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("PROX_TMPDIR", str(tmp_path / "scratch"))
    job = TrainJob(seed=str(tmp_path / "seed"), output=str(tmp_path / "r"))
    work = job.resolved_work_dir("seed-v1")
    assert work.parent == tmp_path / "scratch" / "prox-train", work
    monkeypatch.delenv("PROX_TMPDIR")
    assert job.resolved_work_dir("seed-v1") == tmp_path / "tmp" / "prox-train" / work.name
    given = TrainJob(seed=str(tmp_path / "seed"), output=str(tmp_path / "r"),
                     work_dir=str(tmp_path / "w"))
    assert given.resolved_work_dir("seed-v1") == tmp_path / "w"
