"""The tagger's operating point: the keep threshold that meets a word-recall target.

Data teams value recall — good text removed is gone for good, leftover boilerplate is cheap —
so the tagger's keep threshold (remove a line when its removal probability is at least
``line_threshold``) is calibrated on validation documents with gold: the threshold with the
best word precision among those whose word recall is at least the target (default 0.95).

A validation set of a hundred-odd pages is small: recall measured there moves by a few
points on other pages (measured: 0.956 on validation, 0.918 on the held-out test pages at
the same threshold). So the target is met with confidence, not on average: ``recall_low``
is the 5th percentile of the recall over bootstrap resamples of the validation documents
(seeded), and the calibrated threshold is the most precise one whose ``recall_low`` reaches
the target. The whole curve is returned so the study can print it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from prox_tasks.evaluation import word_counts
from prox_tasks.evaluation.metrics import WordTally
from prox_tasks.programs import execute

DEFAULT_RECALL_TARGET = 0.95
GRID = tuple(round(0.05 * i, 2) for i in range(2, 20)) + (0.97, 0.99)
BOOTSTRAP = 200


def _recall_low(pairs: list[tuple[int, int]], resamples: int = BOOTSTRAP, seed: int = 0) -> float:
    """5th percentile of the micro-averaged recall over resamples of (overlap, gold) pairs."""
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        picked = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        gold = sum(g for _, g in picked)
        values.append(sum(o for o, _ in picked) / gold if gold else 1.0)
    values.sort()
    return values[int(0.05 * len(values))]


def threshold_curve(refiner, docs: Iterable[dict], thresholds=GRID) -> list[dict]:
    """Word P/R/F1 against ``gold_text`` at each keep threshold (documents without gold are
    skipped). The tagger scores the documents once; only the programs are rewritten.

    ``docs`` is read twice (a list, or a seed set's rows streamed from their files): the
    texts with gold first, scored together (a document's probabilities move by ~1e-7 with
    the documents batched beside it), and the chunk programs of every threshold written;
    then each document's gold is counted against its refined text at every threshold, a
    document at a time. Only the texts and the programs are held, not the gold texts nor
    their bags of words.
    """
    return _curve(refiner, docs, thresholds)[0]


def _curve(refiner, docs: Iterable[dict], thresholds=GRID,
           min_docs: int = 1) -> tuple[list[dict], int]:
    """(:func:`threshold_curve`, the documents with gold); the curve is empty, nothing
    scored, when fewer than ``min_docs`` have gold (counted in the read of the texts: no
    pass over ``docs`` only to count them)."""
    from prox_tasks.training.evaluate import read_twice

    texts = [d.get("text") or "" for d in read_twice(docs) if d.get("gold_text")]
    if len(texts) < max(1, min_docs):
        return [], len(texts)
    thresholds = sorted(thresholds)
    saved = refiner.config.line_threshold
    doc_programs = refiner.predict_doc(texts)
    chunks = []  # per threshold, per document
    try:
        for t in thresholds:
            refiner.config.line_threshold = t
            chunks.append(refiner.predict_chunks(texts))
    finally:
        refiner.config.line_threshold = saved
    tallies = [WordTally() for _ in thresholds]
    pairs: list[list[tuple[int, int]]] = [[] for _ in thresholds]  # (overlap, gold words)
    gold_docs = (d for d in docs if d.get("gold_text"))
    for i, (text, d) in enumerate(zip(texts, gold_docs, strict=True)):
        gold = word_counts(d["gold_text"])
        words = sum(gold.values())
        for k, tally in enumerate(tallies):
            refined = execute(text, doc_programs[i], chunks[k][i]).text
            pairs[k].append((tally.add(refined, gold), words))
    curve = []
    for t, tally, scored in zip(thresholds, tallies, pairs):
        m = tally.result()
        curve.append({"threshold": t, "precision": m["precision"], "recall": m["recall"],
                      "f1": m["f1"], "recall_low": _recall_low(scored)})  # fmt: skip
    return curve, len(texts)


def pick_threshold(curve: list[dict], min_recall: float = DEFAULT_RECALL_TARGET) -> dict:
    """The point with the best precision among those whose recall (``recall_low`` when the
    curve has it) is >= ``min_recall``; when none reaches it, the point with the highest
    recall (ties: the better precision)."""
    def recall(p):
        return p.get("recall_low", p["recall"])

    meeting = [p for p in curve if recall(p) >= min_recall]
    if meeting:
        return max(meeting, key=lambda p: (p["precision"], -p["threshold"]))
    return max(curve, key=lambda p: (recall(p), p["precision"]))


def calibrate_threshold(refiner, docs: Iterable[dict], min_recall: float = DEFAULT_RECALL_TARGET,
                        min_docs: int = 20) -> dict | None:
    """Set ``refiner.config.line_threshold`` to the calibrated value; returns the report.

    Returns None (threshold unchanged) when fewer than ``min_docs`` documents have gold.
    """
    curve, with_gold = _curve(refiner, docs, min_docs=min_docs)
    if not curve:
        return None
    point = pick_threshold(curve, min_recall)
    refiner.config.line_threshold = point["threshold"]
    return {"threshold": point["threshold"], "min_recall": min_recall,
            "met": point.get("recall_low", point["recall"]) >= min_recall, "point": point,
            "curve": curve, "bootstrap": BOOTSTRAP, "docs": with_gold}  # fmt: skip


def gold_epoch_score(refiner, docs: Iterable[dict], min_recall: float = DEFAULT_RECALL_TARGET,
                     evaluate=None) -> dict:
    """Teacher agreement plus ``score``: the word F1 against gold at the keep threshold that
    :func:`pick_threshold` would calibrate (``train_tagger`` keeps the epoch with the best
    ``score``, so the epoch is chosen at the operating point it ships with).

    ``gold_threshold``/``gold_precision``/``gold_recall`` describe that point; ``score`` is 0
    when no document has gold.
    """
    if evaluate is None:
        from prox_tasks.training.evaluate import evaluate_refiner as evaluate
    scores = dict(evaluate(refiner, docs))
    curve = threshold_curve(refiner, docs)
    if not curve:
        return {**scores, "score": 0.0}
    point = pick_threshold(curve, min_recall)
    return {**scores, "score": point["f1"], "gold_threshold": point["threshold"],
            "gold_precision": point["precision"], "gold_recall": point["recall"]}  # fmt: skip
