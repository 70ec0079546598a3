"""The keep threshold: calibrated on validation gold to a recall target at the best precision."""

from __future__ import annotations

import pytest

from prox_tasks.models.line_tagger import LineTaggerRefiner
from prox_tasks.training.calibrate import (
    calibrate_threshold,
    gold_epoch_score,
    pick_threshold,
    threshold_curve,
)
from tests.training.fixtures import make_docs

CURVE = [{"threshold": 0.3, "precision": 0.95, "recall": 0.90, "f1": 0.92},
         {"threshold": 0.5, "precision": 0.90, "recall": 0.95, "f1": 0.92},
         {"threshold": 0.7, "precision": 0.85, "recall": 0.97, "f1": 0.91}]


def test_pick_threshold_uses_the_confident_recall_when_known():
    curve = [dict(p, recall_low=p["recall"] - 0.03) for p in CURVE]
    assert pick_threshold(curve, 0.95)["threshold"] == 0.7  # 0.5's recall is 0.95 on average only


def test_pick_threshold_meets_recall_at_best_precision():
    assert pick_threshold(CURVE, 0.95)["threshold"] == 0.5
    assert pick_threshold(CURVE, 0.99)["threshold"] == 0.7  # unreachable: highest recall
    assert pick_threshold(CURVE, 0.5)["threshold"] == 0.3


def test_curve_and_calibration_on_a_tagger(tagger_model):
    refiner = LineTaggerRefiner(tagger_model)
    refiner.config.doc_threshold = 0.0  # random weights: keep every document, judge the lines
    docs = [d for d in make_docs(30, 3) if d["gold_text"]]
    curve = threshold_curve(refiner, docs, thresholds=(0.01, 0.5, 1.0))
    assert [p["threshold"] for p in curve] == [0.01, 0.5, 1.0]
    assert curve[-1]["recall"] >= curve[0]["recall"]  # a higher threshold keeps more
    assert curve[-1]["recall"] == pytest.approx(1.0)  # p >= 1.0 removes nothing
    assert refiner.config.line_threshold == 0.5  # the sweep leaves the refiner as it was
    # the bootstrap's 5th percentile: never above the measured recall
    assert all(p["recall_low"] <= p["recall"] + 1e-12 for p in curve)
    report = calibrate_threshold(refiner, docs, min_recall=0.99, min_docs=5)
    assert refiner.config.line_threshold == report["threshold"] and report["met"]
    assert calibrate_threshold(refiner, docs[:2], min_docs=5) is None


def test_keep_threshold_override_and_bounds(tagger_model):
    assert LineTaggerRefiner(tagger_model, line_threshold=0.9).config.line_threshold == 0.9
    with pytest.raises(ValueError, match="line_threshold"):
        LineTaggerRefiner(tagger_model, line_threshold=0)


def test_gold_epoch_score_is_the_f1_at_the_calibrated_threshold(tagger_model):
    refiner = LineTaggerRefiner(tagger_model)
    refiner.config.doc_threshold = 0.0
    docs = make_docs(30, 3)
    scores = gold_epoch_score(refiner, docs, min_recall=0.99)
    point = pick_threshold(threshold_curve(refiner, docs), 0.99)
    assert scores["score"] > 0
    assert scores["score"] == point["f1"] and scores["gold_threshold"] == point["threshold"]
    assert scores["gold_recall"] == point["recall"] and "line_f1" in scores  # teacher agreement too
    assert refiner.config.line_threshold == 0.5  # scoring does not move the operating point
    assert gold_epoch_score(refiner, [dict(d, gold_text="") for d in docs])["score"] == 0.0


def test_the_curve_counts_each_gold_text_once(tagger_model, monkeypatch):
    """The threshold sweep on a validation split of thousands of pages: each gold bag of
    words is counted once, each refined text once per threshold."""
    from prox_tasks.training import calibrate

    counted = []
    word_counts = calibrate.word_counts

    def counting(text):
        counted.append(text)
        return word_counts(text)

    refiner = LineTaggerRefiner(tagger_model)
    refiner.config.doc_threshold = 0.0
    docs = [d for d in make_docs(30, 3) if d["gold_text"]]
    thresholds = (0.01, 0.5, 1.0)
    expected = threshold_curve(refiner, docs, thresholds=thresholds)
    monkeypatch.setattr(calibrate, "word_counts", counting)
    assert threshold_curve(refiner, docs, thresholds=thresholds) == expected
    golds = [d["gold_text"] for d in docs]
    assert sum(text in golds for text in counted) == len(docs)  # not once per threshold
    assert len(counted) <= len(docs) * (len(thresholds) + 1)
