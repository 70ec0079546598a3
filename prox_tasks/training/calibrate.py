"""The tagger's operating point: the keep threshold that meets a word-recall target.

Data teams value recall — good text removed is gone for good, leftover boilerplate is cheap —
so the tagger's keep threshold (remove a line when its removal probability is at least
``line_threshold``) is calibrated on validation documents with gold: the threshold with the
best word precision among those whose word recall is at least the target (default 0.95).
The whole precision/recall curve is returned so the study can print it.
"""

from __future__ import annotations

from prox_tasks.evaluation import word_prf
from prox_tasks.programs import execute

DEFAULT_RECALL_TARGET = 0.95
GRID = tuple(round(0.05 * i, 2) for i in range(2, 20)) + (0.97, 0.99)


def threshold_curve(refiner, docs: list[dict], thresholds=GRID) -> list[dict]:
    """Word P/R/F1 against ``gold_text`` at each keep threshold (documents without gold are
    skipped). The tagger scores the documents once; only the programs are rewritten."""
    docs = [d for d in docs if d.get("gold_text")]
    texts = [d.get("text") or "" for d in docs]
    golds = [d["gold_text"] for d in docs]
    if not docs:
        return []
    saved = refiner.config.line_threshold
    doc_programs = refiner.predict_doc(texts)
    curve = []
    try:
        for t in sorted(thresholds):
            refiner.config.line_threshold = t
            chunks = refiner.predict_chunks(texts)
            refined = [execute(x, dp, cp).text for x, dp, cp in zip(texts, doc_programs, chunks)]
            m = word_prf(refined, golds)
            curve.append({"threshold": t, "precision": m["precision"], "recall": m["recall"],
                          "f1": m["f1"]})  # fmt: skip
    finally:
        refiner.config.line_threshold = saved
    return curve


def pick_threshold(curve: list[dict], min_recall: float = DEFAULT_RECALL_TARGET) -> dict:
    """The point with the best precision among those with recall >= ``min_recall``; when none
    reaches it, the point with the highest recall (ties: the better precision)."""
    meeting = [p for p in curve if p["recall"] >= min_recall]
    if meeting:
        return max(meeting, key=lambda p: (p["precision"], -p["threshold"]))
    return max(curve, key=lambda p: (p["recall"], p["precision"]))


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
            "met": point["recall"] >= min_recall, "point": point, "curve": curve,
            "docs": sum(1 for d in docs if d.get("gold_text"))}  # fmt: skip
