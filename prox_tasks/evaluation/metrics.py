"""Metrics of refined text against gold.

Word level (the project's headline metric): both texts become bags of words (lower-cased
``\\w+`` runs after NFKC normalization, so curly and straight apostrophes split alike);
a document contributes ``|refined ∩ gold|`` (multiset overlap) true positives, its refined
word count and its gold word count. Counts are summed over documents (micro-average), so a
long page weighs more than a short one. A dropped or missing document keeps nothing: it adds
its gold words to recall's denominator and nothing else.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

_WORD = re.compile(r"\w+")


def word_counts(text: str | None) -> Counter:
    """The bag of words of ``text`` (empty for ``None``)."""
    if not text:
        return Counter()
    return Counter(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def prf(true_positives: int, predicted: int, actual: int) -> dict:
    """Precision, recall and F1 from counts; an empty denominator gives 1.0 (nothing to get wrong)."""
    precision = true_positives / predicted if predicted else 1.0
    recall = true_positives / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def word_prf(refined: Sequence[str | None], gold: Sequence[str]) -> dict:
    """Micro-averaged bag-of-words precision, recall and F1 of refined texts against gold.

    Args:
        refined: One refined text per document; ``None`` for a dropped or missing document.
        gold: The gold text of each document, in the same order.

    Returns:
        ``{"precision", "recall", "f1", "docs", "docs_kept", "words_refined", "words_gold",
        "words_overlap"}``.

    Raises:
        ValueError: When the two lists differ in length.
    """
    if len(refined) != len(gold):
        raise ValueError(f"{len(refined)} refined texts but {len(gold)} gold texts")
    overlap = n_refined = n_gold = kept = 0
    for ref, gld in zip(refined, gold):
        g = word_counts(gld)
        n_gold += sum(g.values())
        if ref is None:
            continue
        kept += 1
        r = word_counts(ref)
        n_refined += sum(r.values())
        overlap += sum((r & g).values())
    out = prf(overlap, n_refined, n_gold)
    out.update(
        docs=len(gold), docs_kept=kept,
        words_refined=n_refined, words_gold=n_gold, words_overlap=overlap,
    )  # fmt: skip
    return out


def word_prf_per_group(
    refined: Sequence[str | None], gold: Sequence[str], groups: Sequence[Hashable]
) -> dict:
    """:func:`word_prf` for each group (e.g. page type), plus ``"all"``."""
    by_group: dict = {}
    for ref, gld, grp in zip(refined, gold, groups):
        pair = by_group.setdefault(grp, ([], []))
        pair[0].append(ref)
        pair[1].append(gld)
    out = {str(k): word_prf(*v) for k, v in sorted(by_group.items(), key=lambda kv: str(kv[0]))}
    out["all"] = word_prf(refined, gold)
    return out


def binary_prf(predicted_keep: Iterable[bool], gold_keep: Iterable[bool]) -> dict:
    """Document-level keep/drop: P/R/F1 of ``keep`` as the positive class, and accuracy."""
    tp = fp = fn = tn = 0
    for p, g in zip(predicted_keep, gold_keep, strict=True):
        if p and g:
            tp += 1
        elif p:
            fp += 1
        elif g:
            fn += 1
        else:
            tn += 1
    out = prf(tp, tp + fp, tp + fn)
    total = tp + fp + fn + tn
    out.update(accuracy=(tp + tn) / total if total else 1.0, tp=tp, fp=fp, fn=fn, tn=tn)
    return out


def line_removal_prf(
    predicted_removed: Iterable[Iterable[int]], gold_removed: Iterable[Iterable[int]]
) -> dict:
    """Line removal P/R/F1 over sets of removed line numbers, micro-averaged over documents."""
    tp = n_pred = n_gold = 0
    for pred, gld in zip(predicted_removed, gold_removed, strict=True):
        p, g = set(pred), set(gld)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    out = prf(tp, n_pred, n_gold)
    out.update(removed_predicted=n_pred, removed_gold=n_gold)
    return out
