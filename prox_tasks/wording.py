"""Words of the messages the library and the ``prox`` commands share."""

from __future__ import annotations


def count(n: int | float, word: str) -> str:
    """``1 shard``, ``2 shards``, ``1,234 documents`` (thousands separated)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"
