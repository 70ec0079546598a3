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

from prox_tasks.evaluation import prf, word_counts
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


def _word_scores(refined: list[str | None], gold_counts: list) -> tuple[dict, list]:
    """(:func:`prox_tasks.evaluation.word_prf`'s precision/recall/f1, (overlap, gold words) per document) of the
    refined texts against the gold bags of words, each text's bag counted once."""
    overlap = n_refined = n_gold = 0
    pairs = []
    for r, gc in zip(refined, gold_counts):
        gold = sum(gc.values())
        n_gold += gold
        common = 0
        if r is not None:
            rc = word_counts(r)
            n_refined += sum(rc.values())
            common = sum((rc & gc).values())
            overlap += common
        pairs.append((common if r else 0, gold))
    return prf(overlap, n_refined, n_gold), pairs


def threshold_curve(refiner, docs: list[dict], thresholds=GRID) -> list[dict]:
    """Word P/R/F1 against ``gold_text`` at each keep threshold (documents without gold are
    skipped). The tagger scores the documents once; only the programs are rewritten."""
    docs = [d for d in docs if d.get("gold_text")]
    texts = [d.get("text") or "" for d in docs]
    golds = [d["gold_text"] for d in docs]
    if not docs:
        return []
    saved = refiner.config.line_threshold
    gold_counts = [word_counts(g) for g in golds]  # once, not once per threshold
    doc_programs = refiner.predict_doc(texts)
    curve = []
    try:
        for t in sorted(thresholds):
            refiner.config.line_threshold = t
            chunks = refiner.predict_chunks(texts)
            refined = [execute(x, dp, cp).text for x, dp, cp in zip(texts, doc_programs, chunks)]
            m, pairs = _word_scores(refined, gold_counts)
            curve.append({"threshold": t, "precision": m["precision"], "recall": m["recall"],
                          "f1": m["f1"], "recall_low": _recall_low(pairs)})  # fmt: skip
    finally:
        refiner.config.line_threshold = saved
    return curve


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


def calibrate_threshold(refiner, docs: list[dict], min_recall: float = DEFAULT_RECALL_TARGET,
                        min_docs: int = 20) -> dict | None:
    """Set ``refiner.config.line_threshold`` to the calibrated value; returns the report.

    Returns None (threshold unchanged) when fewer than ``min_docs`` documents have gold.
    """
    if sum(1 for d in docs if d.get("gold_text")) < min_docs:
        return None
    curve = threshold_curve(refiner, docs)
    point = pick_threshold(curve, min_recall)
    refiner.config.line_threshold = point["threshold"]
    return {"threshold": point["threshold"], "min_recall": min_recall,
            "met": point.get("recall_low", point["recall"]) >= min_recall, "point": point,
            "curve": curve, "bootstrap": BOOTSTRAP,
            "docs": sum(1 for d in docs if d.get("gold_text"))}  # fmt: skip


def gold_epoch_score(refiner, docs: list[dict], min_recall: float = DEFAULT_RECALL_TARGET,
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
