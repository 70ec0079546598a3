"""The gate's document rules, counted shard by shard as the rows stream past.

A table of every document (what the gate validated before) grows with the snapshot: about
0.3 KB a document, GBs for a nightly crawl. Here each shard adds one row of counts — how many
of its documents break each rule, with a few of their ids — and the snapshot-wide
duplicate-id check keeps a 16-byte digest per document, in memory up to a budget, then on
disk (:class:`~prox_tasks.corpus.id_search.IdSearch`).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from prox_tasks.corpus.id_search import IdSearch, id_digest
from prox_tasks.programs.policy import growth_allowance
from prox_tasks.programs.stats import error_total, whole_count

#: Rule (a column of the documents table: rows breaking it, per shard) -> what it expects.
DOCUMENT_RULES = {
    "rows_without_id": "Every refined row carries its document id.",
    "ids_written_before": ("No document appears twice in the snapshot: no row repeats an id "
                           "written before it (in this shard or an earlier one)."),
    "rows_with_bad_stats": ("Every row has well-formed execution statistics (whole-number "
                            "chars_in and words_in, normalization and error counts)."),
    "drop_text_mismatch": "A row is dropped exactly when its text is null.",
    "rows_over_growth_cap": ("Refined text is never longer than its input beyond what its "
                             "normalizations may add (the executor's max_normalize_growth the "
                             "shard was refined with)."),
    "kept_rows_empty": "No kept document is empty.",
}
#: Example ids kept per rule (per shard while counting, for the snapshot in the result).
EXAMPLES = 10
#: Characters of an id shown as an example (an id may be any length).
EXAMPLE_CHARS = 80
_NO_ID = bytes(16)  # stands for a row without an id: not compared as a duplicate


def example(doc_id) -> str:
    """``doc_id`` as a failed check names it: quoted (an empty id shows), cut short."""
    if doc_id is None:
        return "(no id)"
    text = str(doc_id)
    return repr(text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + "…")


@dataclass
class ShardDocuments:
    """What one shard's rows add up to: rows breaking each rule (with example ids) and the
    counts the snapshot's metrics sum."""

    broken: dict = field(default_factory=lambda: dict.fromkeys(DOCUMENT_RULES, 0))
    examples: dict = field(default_factory=lambda: {rule: [] for rule in DOCUMENT_RULES})
    written: int = 0
    dropped: int = 0
    low_quality: int = 0
    with_program_errors: int = 0
    normalizations_unmatched: int = 0
    words_in: int = 0
    words_kept: int = 0

    def breaks(self, rule: str, doc_id) -> None:
        self.broken[rule] += 1
        shown = example(doc_id)
        if len(self.examples[rule]) < EXAMPLES and shown not in self.examples[rule]:
            self.examples[rule].append(shown)

    def add(self, row: dict, max_normalize_growth: float) -> None:
        """Count ``row`` (a refined row, ``stats`` decoded)."""
        stats = row.get("stats")
        stats = stats if isinstance(stats, dict) else {}
        doc_id, text = row.get("id"), row.get("text")
        text = text if isinstance(text, str) or text is None else str(text)
        dropped = bool(row.get("dropped"))
        chars_in = whole_count(stats.get("chars_in"))
        words_in = whole_count(stats.get("words_in"))
        normalizations = whole_count(stats.get("normalizations_applied") or 0)
        errors = error_total(stats.get("errors"))
        words_out = len(text.split()) if text else 0
        self.written += 1
        self.dropped += dropped
        self.low_quality += dropped and stats.get("drop_reason") == "low_quality"
        self.with_program_errors += bool(errors)  # as the writer counts them (error_total)
        self.normalizations_unmatched += whole_count(stats.get("normalizations_unmatched") or 0) or 0
        self.words_in += words_in or 0
        self.words_kept += 0 if dropped else words_out
        if doc_id is None:
            self.breaks("rows_without_id", doc_id)
        if None in (chars_in, words_in, normalizations, errors):
            self.breaks("rows_with_bad_stats", doc_id)
        if dropped != (text is None):
            self.breaks("drop_text_mismatch", doc_id)
        if chars_in is not None and normalizations is not None:
            # what the executor could not have written: growth past its normalizations' cap
            allowed = growth_allowance(chars_in, max_normalize_growth) if normalizations else 0
            if len(text or "") - chars_in > allowed:
                self.breaks("rows_over_growth_cap", doc_id)
        if not dropped and words_out < 1:
            self.breaks("kept_rows_empty", doc_id)


def digest_ids(ids, into: bytearray) -> None:
    """Append the 16-byte digest of each of ``ids`` to ``into`` as they pass (what was
    read before a failing read stays counted); a missing id (None) is never compared."""
    for doc_id in ids:
        into += _NO_ID if doc_id is None else id_digest(str(doc_id))


class IdDigests:
    """A 128-bit digest of every id written, in shard order, to find ids written twice
    across the whole snapshot: 16 bytes a document, spilled to disk past the repeated-id
    search's memory budget (the plan's search:
    :class:`~prox_tasks.corpus.id_search.IdSearch`).

    Args:
        budget: Bytes held in memory before spilling (None: ``PROX_ID_SEARCH_MB``).
    """

    def __init__(self, budget: int | None = None):
        self._search = IdSearch(budget=budget)
        self._starts = array("q")  # where each added shard's rows begin
        self._shards = array("q")

    def add_shard(self, shard_index: int, ids) -> None:
        digests = bytearray()
        try:
            digest_ids(ids, digests)
        finally:  # what was read before a failing read stays counted
            self.add_digests(shard_index, digests)

    def add_digests(self, shard_index: int, digests: bytes) -> None:
        """Add the next shard's ids as :func:`digest_ids` wrote them (a shard read apart
        from the others, in a thread of its own)."""
        self._starts.append(len(self._search))
        self._shards.append(shard_index)
        self._search.extend(digests)

    def written_before(self) -> list[tuple[int, int]]:
        """``(shard index, row)`` of every row whose id an earlier row (shard order, then
        row order) already carries. Once asked, the digests spilled to disk are removed."""
        seen, positions = set(), []
        with self._search as search:
            for position, key in search.repeats():  # few: ids repeated, in order
                if key == _NO_ID:
                    continue
                if key in seen:
                    positions.append(position)
                seen.add(key)
        out = []
        for position in positions:
            k = bisect_right(self._starts, position) - 1
            out.append((self._shards[k], position - self._starts[k]))
        return out
