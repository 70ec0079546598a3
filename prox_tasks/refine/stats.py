"""Per-shard statistics of the refine step (JSON-ready, summable across checkpoints)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

PHASES = ("read", "doc_phase", "chunk_phase", "execute", "checkpoint", "write")


@dataclass
class ShardStats:
    """What refining one shard did.

    Attributes:
        docs_in: Records of the shard (documents read plus records quarantined).
        docs_quarantined: Bad input records, kept in the shard's quarantine file.
        docs_kept: Documents written with text.
        docs_dropped: Documents written as dropped (text null).
        dropped_by_model: ... of which the document-level program dropped.
        dropped_too_little_left: ... of which the chunk edits left too little.
        dropped_low_quality: ... of which the document-quality decision dropped (``drop``).
        docs_low_quality: Documents the quality decision judged low quality (``report`` or
            ``drop``; junk drops are not judged).
        docs_refined: Kept documents whose text the programs changed.
        docs_resumed: Documents taken from checkpoints of an earlier, interrupted try.
        docs_with_failures: Documents with at least one program error.
        duplicate_ids: Documents quarantined because their id occurs more than once in the
            snapshot (the ``duplicate_ids`` policy of :class:`~prox_tasks.refine.limits.Limits`).
        failures: Program errors by level (``doc``, ``chunk``) and kind.
        usage: Model work by level: requests, prompt/completion tokens, truncated and
            failed completions, seconds inside the engine.
        seconds: Wall time per phase (``read``, ``doc_phase``, ``chunk_phase`` — model
            plus prompt rendering —, ``execute``, ``checkpoint``, ``write``) and ``total``.
        chars_in: Characters of the documents read.
        chars_out: Characters of the kept texts.
    """

    docs_in: int = 0
    docs_quarantined: int = 0
    docs_kept: int = 0
    docs_dropped: int = 0
    dropped_by_model: int = 0
    dropped_too_little_left: int = 0
    dropped_low_quality: int = 0
    docs_low_quality: int = 0
    docs_refined: int = 0
    docs_resumed: int = 0
    docs_with_failures: int = 0
    duplicate_ids: int = 0
    failures: dict = field(default_factory=lambda: {"doc": Counter(), "chunk": Counter()})
    usage: dict = field(default_factory=dict)
    seconds: Counter = field(default_factory=Counter)
    chars_in: int = 0
    chars_out: int = 0

    def add(self, other: ShardStats | dict) -> None:
        """Add another batch's statistics (an object or its :meth:`to_dict`)."""
        data = other.to_dict() if isinstance(other, ShardStats) else other
        for name in ("docs_kept", "docs_dropped", "dropped_by_model", "dropped_too_little_left",
                     "dropped_low_quality", "docs_low_quality", "docs_refined", "docs_with_failures", "chars_in", "chars_out"):
            setattr(self, name, getattr(self, name) + int(data.get(name, 0)))
        for level, kinds in data.get("failures", {}).items():
            self.failures.setdefault(level, Counter()).update(kinds)
        for level, usage in data.get("usage", {}).items():
            mine = self.usage.setdefault(level, {})
            for key, value in usage.items():
                mine[key] = mine.get(key, 0) + value
        self.seconds.update(data.get("seconds", {}))

    @property
    def docs_out(self) -> int:
        return self.docs_kept + self.docs_dropped

    def to_dict(self) -> dict:
        return {
            "docs_in": self.docs_in, "docs_quarantined": self.docs_quarantined,
            "docs_out": self.docs_out, "docs_kept": self.docs_kept,
            "docs_dropped": self.docs_dropped, "dropped_by_model": self.dropped_by_model,
            "dropped_too_little_left": self.dropped_too_little_left,
            "dropped_low_quality": self.dropped_low_quality,
            "docs_low_quality": self.docs_low_quality,
            "docs_refined": self.docs_refined, "docs_resumed": self.docs_resumed,
            "docs_with_failures": self.docs_with_failures,
            "duplicate_ids": self.duplicate_ids,
            "failures": {k: dict(sorted(v.items())) for k, v in self.failures.items()},
            "tokens_in": sum(u.get("prompt_tokens", 0) for u in self.usage.values()),
            "tokens_out": sum(u.get("completion_tokens", 0) for u in self.usage.values()),
            "usage": self.usage,
            "seconds": {k: round(v, 4) for k, v in sorted(self.seconds.items())},
            "chars_in": self.chars_in, "chars_out": self.chars_out,
        }  # fmt: skip


#: Counts of a shard's accounting (its status record) that add up over a snapshot.
ACCOUNTING_COUNTS = ("docs_read", "docs_written", "docs_kept", "docs_dropped",
                     "docs_quarantined", "docs_low_quality", "docs_with_program_errors")


def accounting_totals(accountings: Iterable[Mapping]) -> dict:
    """Totals over shards' accountings (:class:`~prox_tasks.corpus.writer.ShardAccounting`
    dicts, as their status records hold them, so reused shards count as refined ones):
    the :data:`ACCOUNTING_COUNTS`, quarantined records and drops by reason, program errors
    and input notices (problems that lost no record) by kind."""
    totals = dict.fromkeys(ACCOUNTING_COUNTS, 0)
    by_kind = {key: Counter() for key in ("quarantine_reasons", "drop_reasons", "program_errors",
                                          "input_notices")}
    for acc in accountings:
        for name in ACCOUNTING_COUNTS:
            totals[name] += int(acc.get(name) or 0)
        for key, counter in by_kind.items():
            counter.update(acc.get(key) or {})
    totals.update({key: dict(sorted(counter.items())) for key, counter in by_kind.items()})
    return totals
