"""Shard counters added by later migrations, which rows booked before them lack.

Migration 0002 added a shard's ``wall_seconds``, 0005 its ``drop_reasons``,
``program_errors`` and ``docs_with_program_errors``, 0008 its ``input_notices``: a shard
booked done before its catalog was migrated holds NULL in them, which is not "0", nor
"none", but a figure never taken. ``prox catalog list shards`` and the PROX report's
snapshot page say so (:data:`NOT_RECORDED`) of a done shard (a shard not done has no
figures yet). The per-snapshot totals of 0011 are summed from the shard rows by the
migration itself, so every snapshot has them.
"""

from __future__ import annotations

#: What a done shard's counter booked before its migration shows.
NOT_RECORDED = "not recorded"

#: The shard row's counters a later migration added (column: the migration).
LATER_SHARD_COUNTERS = {
    "wall_seconds": 2,
    "drop_reasons": 5,
    "program_errors": 5,
    "docs_with_program_errors": 5,
    "input_notices": 8,
}


def unrecorded(shard: dict) -> list[str]:
    """The counters of shard row ``shard`` it was booked done without (NULL: booked before
    the migration that added them, or by a booking that had none to give)."""
    if shard.get("status") != "done":
        return []
    return [c for c in LATER_SHARD_COUNTERS if c in shard and shard[c] is None]


def as_shown(shard: dict) -> dict:
    """``shard`` with :data:`NOT_RECORDED` in its :func:`unrecorded` counters (for a person:
    ``--json`` keeps them null)."""
    return {**shard, **dict.fromkeys(unrecorded(shard), NOT_RECORDED)}
