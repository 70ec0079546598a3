"""Scoring a seed set's validation rows streamed from their files (``prox train`` without
``--max-eval-docs``): the rows are not held while they are scored, only their texts, and
the metrics, the threshold curve and the calibrated threshold are those the same rows give
held in a list, scored by the list functions of :mod:`prox_tasks.evaluation`."""

from __future__ import annotations

import weakref

import pytest

from prox_tasks.evaluation import word_prf, word_prf_per_group
from prox_tasks.models.line_tagger import LineTaggerRefiner
from prox_tasks.programs import execute
from prox_tasks.training.calibrate import calibrate_threshold, threshold_curve
from prox_tasks.training.evaluate import evaluate_refiner
from prox_tasks.training.metrics import line_metrics, removed_lines
from prox_tasks.training.seedset import load_seed_set
from tests.training.fixtures import make_docs
from tests.training.seed_files import write_seed_set


class _Row(dict):
    """A row that can be weakly referenced: how long it lives is observable."""


class CountedRows:
    """A seed set's streamed validation rows (read from their files on each pass), each
    row counted while it is alive: ``peak`` is the most held at once."""

    def __init__(self, rows) -> None:
        self.rows, self.alive, self.peak = rows, 0, 0

    def __len__(self) -> int:
        return len(self.rows)

    def _gone(self) -> None:
        self.alive -= 1

    def __iter__(self):
        for plain in self.rows:
            row = _Row(plain)
            self.alive += 1
            self.peak = max(self.peak, self.alive)
            weakref.finalize(row, self._gone)
            yield row


@pytest.fixture
def validation(tmp_path):
    """60 validation pages (those of the rules teacher with gold among them) in seed-set
    files, streamed."""
    seed = load_seed_set(str(write_seed_set(tmp_path / "seed", make_docs(5, 1),
                                            make_docs(60, 2))), stream=True)
    assert sum(1 for d in seed.validation if d.get("gold_text")) >= 30
    return seed.validation


def test_evaluation_does_not_hold_the_validation_rows(tagger_model, validation):
    """Before, the rows were listed (run.py) and the pages with gold held (``gold``) while
    scored: the whole split in memory without --max-eval-docs."""
    refiner = LineTaggerRefiner(tagger_model)
    refiner.config.doc_threshold = 0.4
    rows = CountedRows(validation)
    metrics = evaluate_refiner(refiner, rows, group_field="teacher")
    assert rows.peak <= 5, f"{rows.peak} of {len(rows)} rows held at once"  # a few: the loops' own
    # what the list functions give the same rows held
    docs = list(validation)
    texts = [d["text"] for d in docs]
    doc_programs, chunks = refiner.predict_doc(texts), refiner.predict_chunks(texts)
    n_lines = [t.count("\n") + 1 for t in texts]
    assert {k: metrics[k] for k in ("line_precision", "line_recall", "line_f1")} == line_metrics(
        [removed_lines(p, n) for p, n in zip(chunks, n_lines)],
        [removed_lines(d["chunk_program"], n) for d, n in zip(docs, n_lines)])
    gold = [i for i, d in enumerate(docs) if d.get("gold_text")]
    model = [execute(texts[i], doc_programs[i], chunks[i]).text for i in gold]
    golds = [docs[i]["gold_text"] for i in gold]
    expected = word_prf(model, golds)
    assert (metrics["word_precision"], metrics["word_recall"], metrics["word_f1"]) == \
        (expected["precision"], expected["recall"], expected["f1"])
    assert metrics["gold_docs"] == len(gold) and metrics["docs"] == len(docs)
    teacher = word_prf([execute(docs[i]["text"], docs[i]["doc_program"],
                                docs[i]["chunk_program"]).text for i in gold], golds)
    assert metrics["teacher_word_f1"] == teacher["f1"]
    per = word_prf_per_group(model, golds, [docs[i]["teacher"] for i in gold])
    assert metrics["by_teacher"] == {k: {m: round(v[m], 4) for m in ("precision", "recall", "f1")}
                                     | {"docs": v["docs"]} for k, v in per.items()}
    assert evaluate_refiner(refiner, docs, group_field="teacher") | {
        "predict_seconds": 0, "docs_per_s": 0} == metrics | {"predict_seconds": 0,
                                                              "docs_per_s": 0}


def test_calibration_does_not_hold_the_validation_rows(tagger_model, validation):
    """Before, the curve held every page with gold and its bag of words across the grid."""
    refiner = LineTaggerRefiner(tagger_model)
    refiner.config.doc_threshold = 0.0  # random weights: keep every document, judge the lines
    grid = (0.3, 0.5, 0.7)
    rows = CountedRows(validation)
    curve = threshold_curve(refiner, rows, thresholds=grid)
    assert rows.peak <= 5, f"{rows.peak} of {len(rows)} rows held at once"  # a few: the loops' own
    docs = [d for d in validation if d.get("gold_text")]
    texts = [d["text"] for d in docs]
    doc_programs = refiner.predict_doc(texts)
    for t, point in zip(grid, curve, strict=True):
        refiner.config.line_threshold = t
        chunks = refiner.predict_chunks(texts)
        expected = word_prf([execute(x, dp, cp).text
                             for x, dp, cp in zip(texts, doc_programs, chunks)],
                            [d["gold_text"] for d in docs])  # fmt: skip
        assert (point["threshold"], point["precision"], point["recall"], point["f1"]) == \
            (t, expected["precision"], expected["recall"], expected["f1"])
    refiner.config.line_threshold = 0.5
    assert threshold_curve(refiner, docs, thresholds=grid) == curve  # the held list's
    rows = CountedRows(validation)
    report = calibrate_threshold(refiner, rows, min_recall=0.5, min_docs=5)
    assert rows.peak <= 5 and report["docs"] == len(docs)


def test_a_one_shot_iterator_of_documents_is_refused_by_name(tagger_model):
    """Evaluation and calibration read the documents twice: a generator's second pass is
    empty. It is refused up front, naming what to pass (before: evaluation failed with
    '6 predictions for 0 references', naming no cause)."""
    docs = make_docs(6, 3)
    refiner = LineTaggerRefiner(tagger_model)
    for score in (evaluate_refiner, threshold_curve,
                  lambda r, d: calibrate_threshold(r, d, min_docs=1)):
        with pytest.raises(TypeError, match="read twice.*not a generator"):
            score(refiner, (d for d in docs))
    assert evaluate_refiner(refiner, docs)["docs"] == 6  # a list is read twice as before
