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


class WordTally:
    """The sums behind :func:`word_prf`, documents added one at a time: a caller reading its
    documents from files (a seed set's validation rows) need not hold them to score them."""

    def __init__(self) -> None:
        self.docs = self.kept = self.refined = self.gold = self.overlap = 0

    def add(self, refined: str | None, gold: Counter) -> int:
        """Count one document: its refined text (None: dropped or missing) against the bag
        of words of its gold text (:func:`word_counts`); returns its overlap."""
        self.docs += 1
        self.gold += sum(gold.values())
        if refined is None:
            return 0
        self.kept += 1
        counts = word_counts(refined)
        self.refined += sum(counts.values())
        common = sum((counts & gold).values())
        self.overlap += common
        return common

    def result(self) -> dict:
        """:func:`word_prf`'s figures of the documents added."""
        out = prf(self.overlap, self.refined, self.gold)
        out.update(
            docs=self.docs, docs_kept=self.kept,
            words_refined=self.refined, words_gold=self.gold, words_overlap=self.overlap,
        )  # fmt: skip
        return out


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
    tally = WordTally()
    for ref, gld in zip(refined, gold):
        tally.add(ref, word_counts(gld))
    return tally.result()


class GroupedWordTally:
    """:class:`WordTally` per group (e.g. page type) and for ``"all"``, documents added one
    at a time (:func:`word_prf_per_group`)."""

    def __init__(self) -> None:
        self.groups: dict = {}
        self.all = WordTally()

    def add(self, refined: str | None, gold: Counter, group: Hashable) -> None:
        self.groups.setdefault(group, WordTally()).add(refined, gold)
        self.all.add(refined, gold)

    def result(self) -> dict:
        out = {str(k): v.result()
               for k, v in sorted(self.groups.items(), key=lambda kv: str(kv[0]))}
        out["all"] = self.all.result()
        return out


def word_prf_per_group(
    refined: Sequence[str | None], gold: Sequence[str], groups: Sequence[Hashable]
) -> dict:
    """:func:`word_prf` for each group (e.g. page type), plus ``"all"``."""
    if len(refined) != len(gold):
        raise ValueError(f"{len(refined)} refined texts but {len(gold)} gold texts")
    tally = GroupedWordTally()
    for ref, gld, grp in zip(refined, gold, groups):
        tally.add(ref, word_counts(gld), grp)
    return tally.result()


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


class LineTally:
    """The sums behind :func:`line_removal_prf`, documents added one at a time."""

    def __init__(self) -> None:
        self.overlap = self.predicted = self.gold = 0

    def add(self, predicted: Iterable[int], gold: Iterable[int]) -> None:
        p, g = set(predicted), set(gold)
        self.overlap += len(p & g)
        self.predicted += len(p)
        self.gold += len(g)

    def result(self) -> dict:
        out = prf(self.overlap, self.predicted, self.gold)
        out.update(removed_predicted=self.predicted, removed_gold=self.gold)
        return out


def line_removal_prf(
    predicted_removed: Iterable[Iterable[int]], gold_removed: Iterable[Iterable[int]]
) -> dict:
    """Line removal P/R/F1 over sets of removed line numbers, micro-averaged over documents."""
    tally = LineTally()
    for pred, gld in zip(predicted_removed, gold_removed, strict=True):
        tally.add(pred, gld)
    return tally.result()
