"""The evaluation set with human gold that ships with prox (promotion is decided on it).

A model is promoted only when it is at least as good as the incumbent on the same human gold
(:func:`prox_tasks.registry.registry.beats`); teacher agreement on the seed set's validation
split alone cannot tell a better refiner from one that copies a weaker teacher better. The
set is small, fixed and versioned (``GOLD_SET_VERSION`` is the hash of its rows, recorded in
every promotion decision), and ships inside the package because a training run cannot count on
any other data folder.

Contents: WCXB dev pages (Web Content eXtraction Benchmark, CC-BY-4.0,
Murrough-Foley/web-content-extraction-benchmark; see ``gold/README.md``) with a human-reviewed
main text, none of which any shipped model trained on. Rebuild with ``bench/goldset.py``.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

GOLD_DIR = Path(__file__).resolve().parent / "gold"
GOLD_FILE = "wcxb-gold-v1.jsonl.gz"


@lru_cache(maxsize=4)
def _read(uri: str) -> tuple[tuple[dict, ...], str]:
    from prox_tasks.corpus import Quarantine, read_rows
    from prox_tasks.evaluation.metrics import word_counts
    from prox_tasks.storage import open_uri

    quarantine = Quarantine()
    rows = tuple(row for _source, _line, row in read_rows(uri, quarantine))
    if len(quarantine):
        raise ValueError(f"gold set {uri}: {len(quarantine)} bad rows "
                         f"({dict(quarantine.reasons)}); fix the file")
    unusable = sum(not isinstance(r.get("text"), str) or not isinstance(r.get("gold_text"), str)
                   for r in rows)  # fmt: skip
    if not rows or unusable:
        raise ValueError(f"gold set {uri}: {len(rows)} rows, {unusable} without a string "
                         "'text' and 'gold_text'; every row needs both")
    # a gold_text with no words scores nothing (evaluate_programs skips an empty one, and a
    # blank one gives every model the same 0.0): a set of only such rows would pass the gate
    # for any candidate, so they are left out and counted, and a set left empty is refused
    scored = tuple(r for r in rows if word_counts(r["gold_text"]))
    if not scored:
        raise ValueError(f"gold set {uri}: none of its {len(rows)} rows has a 'gold_text' with "
                         "words; the gold gate needs human gold to score against")
    if len(scored) < len(rows):
        log.warning("gold set %s: %d of %d rows left out (a 'gold_text' with no words)", uri,
                    len(rows) - len(scored), len(rows))
    rows = scored
    with open_uri(uri, "rb", compression="infer") as fh:  # the version: the rows' bytes
        digest = hashlib.sha256(fh.read()).hexdigest()[:12]
    return rows, f"{uri.rstrip('/').rsplit('/', 1)[-1].split('.')[0]}-{digest}"


def load_gold_set(path: str | Path | None = None) -> tuple[list[dict], str]:
    """``(rows, version)`` of the shipped gold set (or of the JSONL file at ``path``: a
    path or URI, plain, ``.gz`` or ``.zst``, read by :func:`prox_tasks.corpus.read_rows`).

    Rows have ``id``, ``text``, ``gold_text``, ``page_type``, ``url``. Rows whose
    ``gold_text`` has no words are left out (logged with their count).

    Raises:
        FileNotFoundError: No file at ``path``.
        ValueError: A bad line, a row without a string ``text`` and ``gold_text``, or no
            row whose ``gold_text`` has words.
    """
    rows, version = _read(str(path or GOLD_DIR / GOLD_FILE))
    return [dict(r) for r in rows], version


def text_key(text: str) -> str:
    """A key of a page's text that a copy of the page keeps: the SHA-256 of its lines,
    Unicode-normalized (NFC), whitespace runs collapsed, blank lines dropped — a page written
    out again (other line endings, indentation, blank lines) has the same key."""
    lines = (" ".join(line.split()) for line in unicodedata.normalize("NFC", text).splitlines())
    normalized = "\n".join(line for line in lines if line)
    return hashlib.sha256(normalized.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class GoldPages:
    """What identifies the pages of a gold set in a seed set (:func:`gold_pages`).

    Promotion scores candidate and incumbent on these pages; a candidate trained on them
    would be scored on pages it learned from. A seed row is one of them when its ``id`` is
    a gold row's id (the refine readers' id, :func:`~prox_tasks.corpus.document.id_text`)
    or its text is a gold row's text (:func:`text_key`). Both are what a seed row and a gold
    row carry: ``prox label --seed-set`` keeps the input's id and text, not its URL.

    Attributes:
        version: The gold set's version (:func:`load_gold_set`).
        ids: The gold rows' ids.
        texts: :func:`text_key` of each gold row's text.
    """

    version: str
    ids: frozenset[str]
    texts: frozenset[str]

    def __len__(self) -> int:
        return len(self.texts)

    def match(self, row: dict) -> str | None:
        """``"id"`` or ``"text"``: what makes ``row`` (an ``id`` filled in as the refine
        readers fill it, a string ``text``) a page of this gold set; None when it is not."""
        if row.get("id") in self.ids:
            return "id"
        if text_key(row["text"]) in self.texts:
            return "text"
        return None


@lru_cache(maxsize=4)
def _pages(uri: str) -> GoldPages:
    from prox_tasks.corpus.document import RecordError, id_text

    rows, version = _read(uri)
    ids = set()
    for row in rows:
        try:
            ids.add(id_text(row.get("id")))
        except RecordError:  # an id the refine readers refuse: no seed row has it
            pass
    ids.discard(None)
    return GoldPages(version, frozenset(ids), frozenset(text_key(r["text"]) for r in rows))


def gold_pages(path: str | Path | None = None) -> GoldPages:
    """The pages of the shipped gold set (or of the one at ``path``), to be kept out of
    training (:func:`prox_tasks.training.seedset.load_seed_set`'s ``leave_out``). The rows
    scored are those of :func:`load_gold_set`, which raises as it does."""
    return _pages(str(path or GOLD_DIR / GOLD_FILE))


def evaluate_on_gold(refiner, docs: list[dict] | None = None, limit: int | None = None) -> dict:
    """Word P/R/F1 of ``refiner``'s programs, executed, against the human gold.

    Args:
        refiner: Anything with ``predict_doc`` / ``predict_chunks`` (see
            :func:`prox_tasks.inference.load_backend`).
        docs: Rows with ``text`` and ``gold_text`` (default: the shipped gold set).
        limit: Score the first ``limit`` rows only (None: all).

    Returns:
        ``{"precision", "recall", "f1", "docs", "gold_set"}``.
    """
    from prox_tasks.training.evaluate import evaluate_refiner

    version = "custom"
    if docs is None:
        docs, version = load_gold_set()
    docs = docs[:limit]
    metrics = evaluate_refiner(refiner, docs)
    return {"precision": metrics.get("word_precision"), "recall": metrics.get("word_recall"),
            "f1": metrics.get("word_f1"), "docs": len(docs), "gold_set": version}  # fmt: skip
