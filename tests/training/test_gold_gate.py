"""Promotion on human gold: a candidate worse than the incumbent on the shipped gold set is
refused, whatever its teacher agreement, and the reason is recorded."""

from __future__ import annotations

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
    assert beats(TEACHER, None, None, None) == (True, "no promoted model")


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
