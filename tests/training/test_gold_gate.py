"""Promotion on human gold: a candidate worse than the incumbent on the shipped gold set is
refused, whatever its teacher agreement, and the reason is recorded."""

from __future__ import annotations

import json

import pytest

from prox_tasks.evaluation.goldset import load_gold_set
from prox_tasks.registry import ModelRegistry
from prox_tasks.registry.registry import GOLD_RECALL_TOLERANCE, beats
from prox_tasks.training.run import TrainJob, run_training
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set

TEACHER = {"doc_f1": 0.9, "line_f1": 0.8, "chunk_failure_rate": 0.0}


def gold(f1, recall):
    return {"f1": f1, "recall": recall, "precision": f1, "gold_set": "g-1"}


def test_gold_decides_before_teacher_agreement():
    better_teacher = {**TEACHER, "line_f1": 0.95}
    won, why = beats(better_teacher, TEACHER, gold(0.85, 0.96), gold(0.88, 0.96))
    assert not won and why.startswith("gold word F1 0.8500 < incumbent 0.8800")
    won, why = beats(better_teacher, TEACHER, gold(0.90, 0.90), gold(0.88, 0.96))
    assert not won and "gold word recall 0.9000 < incumbent 0.9600" in why
    # recall within the tolerance, F1 not lower: the teacher comparison decides
    won, why = beats(better_teacher, TEACHER, gold(0.88, 0.96 - GOLD_RECALL_TOLERANCE / 2),
                     gold(0.88, 0.96))
    assert won and why.startswith("score") and "gold word F1 0.8800 >= 0.8800" in why
    # same teacher score: a strictly better gold F1 wins, an equal one does not
    assert beats(TEACHER, TEACHER, gold(0.89, 0.96), gold(0.88, 0.96))[0]
    assert not beats(TEACHER, TEACHER, gold(0.88, 0.96), gold(0.88, 0.96))[0]
    # no incumbent in the registry, but worse than the shipped default on gold: refused
    assert not beats(TEACHER, None, gold(0.5, 0.99), gold(0.88, 0.96))[0]
    assert beats(TEACHER, None, None, None) == (
        True, "no promoted model; gold gate off: not compared with the shipped default")


def test_shipped_gold_set_is_versioned_and_has_gold():
    rows, version = load_gold_set()
    assert version.startswith("wcxb-gold-v1-") and len(rows) >= 100
    assert all(r["text"] and r["gold_text"] for r in rows)
    assert load_gold_set()[1] == version


def test_worse_candidate_than_shipped_default_is_refused(tmp_path):
    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    registry = tmp_path / "registry"
    # a barely trained tagger: worse on real pages' gold than the shipped default
    out = run_training(TrainJob(seed=str(seed), output=str(registry), epochs=1,
                                learning_rate=1e-5, gold_docs=12,
                                work_dir=str(tmp_path / "w")))  # fmt: skip
    assert not out["promoted"]
    assert out["reason"].startswith("gold word F1 ")
    assert out["gold"]["incumbent_source"] == "shipped:line-tagger"
    assert out["gold"]["candidate"]["f1"] < out["gold"]["incumbent"]["f1"]
    assert out["gold"]["candidate"]["docs"] == 12
    reg = ModelRegistry(registry)
    assert reg.promoted("refiner") is None
    record = reg.decisions("refiner")[-1]
    assert record["promoted"] is False and record["reason"] == out["reason"]
    assert record["candidate_gold"]["f1"] == pytest.approx(out["gold"]["candidate"]["f1"])
    assert record["incumbent_gold"]["gold_set"] == load_gold_set()[1]
    assert record["incumbent_source"] == "shipped:line-tagger"


@pytest.mark.parametrize("blank", ["", " \n "])
def test_a_gold_set_without_gold_words_is_refused_before_training(tmp_path, capsys, blank):
    """A gate scored on gold with no words compares nothing (F1 None, or 0.0 for both
    sides): it must not pass every candidate."""
    from prox_tasks.cli import main

    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text("".join(json.dumps({"id": d["id"], "text": d["text"], "gold_text": blank})
                                 + "\n" for d in make_docs(4, 3)))  # fmt: skip
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(seed), "--output", str(registry), "--epochs", "1",
                 "--gold-set", str(gold_file), "--work-dir", str(tmp_path / "w")]) == 1
    assert "has a 'gold_text' with words" in capsys.readouterr().err
    assert not registry.exists()  # refused before training and publishing


def test_gold_rows_without_words_are_left_out(tmp_path):
    docs = make_docs(4, 3)
    rows = [{"id": d["id"], "text": d["text"], "gold_text": d["gold_text"] or ""} for d in docs]
    rows[0]["gold_text"] = "  "
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded, _ = load_gold_set(gold_file)
    assert [r["id"] for r in loaded] == [r["id"] for r in rows[1:] if r["gold_text"]]


def test_a_gate_that_scored_no_gold_refuses_the_candidate():
    unscored = {"f1": None, "recall": None, "precision": None, "gold_set": "g-1"}
    won, why = beats(TEACHER, None, unscored, gold(0.88, 0.96))
    assert not won and why.startswith("no gold word F1 for the candidate on gold set g-1")
    won, why = beats(TEACHER, None, unscored, unscored)
    assert not won and "for the candidate and the incumbent" in why
    assert beats(TEACHER, None, None, None)[0]  # the gate is off


def _gold_file(tmp_path, n: int = 2):
    rows = [d for d in make_docs(6, 3) if d["gold_text"]][:n]
    path = tmp_path / "gold.jsonl"
    path.write_text("".join(json.dumps({"id": d["id"], "text": d["text"],
                                        "gold_text": d["gold_text"]}) + "\n" for d in rows))
    return path


def test_a_causal_lm_candidate_is_gated_against_the_shipped_tagger_on_the_tagger(
        tmp_path, tiny_model):
    """`prox train --kind causal_lm --backend transformers` (the gate on, its default): the
    gold incumbent, the shipped line tagger, runs on the tagger backend. It was scored on the
    candidate's backend and the run failed after training and publishing with "the line
    tagger runs on the tagger backend, not 'transformers'"."""
    from prox_tasks.training.gold_gate import gold_comparison

    out = gold_comparison(str(tiny_model), ModelRegistry(tmp_path / "registry"), "refiner",
                          threads=1, gold_set=str(_gold_file(tmp_path)), limit=2,
                          backend="transformers")  # fmt: skip
    assert out["incumbent_source"] == "shipped:line-tagger"
    assert out["candidate"]["docs"] == out["incumbent"]["docs"] == 2
    assert out["incumbent"]["f1"] is not None


def test_a_promoted_tagger_is_measured_on_its_own_backend_beside_a_causal_lm(
        tmp_path, tiny_model, tagger_model):
    """The validation comparison too: a promoted tagger is evaluated on `tagger` when the
    candidate (a causal LM) is evaluated on `transformers`."""
    from prox_tasks.models.artifact import artifact_version
    from prox_tasks.training.promotion import measure_incumbent

    registry = ModelRegistry(tmp_path / "registry")
    record = registry.publish(tagger_model, "refiner", "line_tagger", {}, {}, TEACHER)
    assert registry.decide("refiner", record["version"], TEACHER, None).promoted
    candidate = {"name": "refiner", "uri": str(tiny_model),
                 "version": artifact_version(tiny_model)}
    measured = measure_incumbent(registry, candidate, lambda: make_docs(2, 4), threads=1,
                                 backend="transformers", gold_gate=False)  # fmt: skip
    assert measured["incumbent"] == record["version"]
    assert measured["metrics"]["docs"] == 2


@pytest.mark.parametrize(("kind", "backend"), [("line_tagger", "transformers"),
                                               ("causal_lm", "tagger")])
def test_a_backend_that_cannot_run_the_kind_is_refused_before_training(tmp_path, capsys,
                                                                       kind, backend):
    from prox_tasks.cli import main

    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(seed), "--output", str(registry), "--kind", kind,
                 "--backend", backend, "--max-steps" if kind == "causal_lm" else "--epochs",
                 "1", "--work-dir", str(tmp_path / "w")]) == 2  # a setting to fix
    assert f"--backend {backend} cannot run a {kind}" in capsys.readouterr().err
    assert not registry.exists()  # refused before training and publishing


def test_the_openai_backend_is_refused_for_training(tmp_path):
    """Its servers serve the model they were started with: the candidate's metrics, and the
    promotion decided on them, were another model's."""
    from prox_tasks.training.run import TrainingRefused

    seed = write_seed_set(tmp_path / "seed", make_docs(20, 1), make_docs(6, 2))
    registry = tmp_path / "registry"
    with pytest.raises(TrainingRefused, match="--backend openai scores the model its servers "
                                              "serve, not the candidate"):
        run_training(TrainJob(seed=str(seed), output=str(registry), kind="causal_lm",
                              max_steps=1, backend="openai", work_dir=str(tmp_path / "w")))
    assert not registry.exists()  # refused before training and publishing


@pytest.mark.parametrize(("options", "message"), [
    (["--tagger-config", '{"dilation": [1, 2]}'], "--tagger-config: unknown field 'dilation'"),
    (["--tagger-config", '{"dilations": 3}'], "--tagger-config 'dilations' must be a list of whole numbers of at least 1"),
    (["--kind", "causal_lm", "--max-steps", "1", "--tiny-config", '{"hiden_size": 64}'],
     "--tiny-config: unknown field 'hiden_size' (did you mean 'hidden_size'?)"),
    (["--tiny-config", '{"hidden_size": 64}'], "--tiny-config is for --kind causal_lm"),
    # fine-tuning kept the base's architecture: section_channels 8 trained a model with 16
    (["--base", "default", "--tagger-config", '{"section_channels": 8}'],
     "--tagger-config sets the architecture of a model trained from scratch; --base default"),
])  # fmt: skip
def test_an_architecture_override_that_cannot_apply_is_refused_before_the_seed_set_is_read(
        tmp_path, capsys, options, message):
    """A typo'd field trained the default architecture unseen; a value of another kind
    failed inside torch after the seed set was read (``'int' object is not iterable``)."""
    from prox_tasks.cli import main

    registry = tmp_path / "registry"
    assert main(["train", "--seed", str(tmp_path / "no-seed-set-here"), "--output",
                 str(registry), "--work-dir", str(tmp_path / "w"), *options]) == 2
    assert message in capsys.readouterr().err
    assert not registry.exists()
