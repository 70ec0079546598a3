"""Limits on one document and one batch, and the duplicate-id policy of the refine step.

Memory and time of the refine step grow with a batch's bytes *and* its lines (the line
tagger keeps a feature vector per line, the executor an entry per line), so both are
bounded, per document and per batch. A document over a per-document limit is quarantined
(``too_large`` by the reader, ``too_many_lines`` here) — never truncated, never a crash; a
batch closes before it would pass a per-batch limit (one document always fits, since the
per-document limits are lower).

Every limit is a field of :class:`Limits`, a ``prox refine`` option and an environment
variable (``PROX_`` + the field name in capitals), in that order of precedence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields

from prox_tasks.corpus.document import DEFAULT_MAX_DOC_BYTES

DUPLICATE_POLICIES = ("keep_first", "quarantine", "fail")


class DuplicateIdError(ValueError):
    """A document id occurs twice in a shard and the policy is ``fail``."""


@dataclass(frozen=True)
class Limits:
    """Bounds of the refine step.

    Attributes:
        max_doc_bytes: UTF-8 bytes of one text; larger ones are quarantined as ``too_large``
            by the reader (a planning setting: it is recorded in the manifest).
        max_doc_lines: Lines of one text; more are quarantined as ``too_many_lines``.
        max_batch_docs: Documents per batch (and per checkpoint).
        max_batch_bytes: UTF-8 bytes of the texts of one batch.
        max_batch_lines: Lines of the texts of one batch.
        duplicate_ids: A document id seen again in the shard: ``keep_first`` (later ones
            are quarantined as ``duplicate_id``), ``quarantine`` (every occurrence is), or
            ``fail`` (the shard fails, naming both places).
    """

    max_doc_bytes: int = DEFAULT_MAX_DOC_BYTES
    max_doc_lines: int = 100_000
    max_batch_docs: int = 512
    max_batch_bytes: int = 64 * 1024 * 1024
    max_batch_lines: int = 200_000
    duplicate_ids: str = "keep_first"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int" and (not isinstance(value, int) or value < 1):
                raise ValueError(f"limit {f.name} must be a positive integer, not {value!r}")
        if self.duplicate_ids not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicate_ids must be one of {DUPLICATE_POLICIES}, "
                             f"not {self.duplicate_ids!r}")
        if self.max_doc_lines > self.max_batch_lines or \
                self.max_doc_bytes > self.max_batch_bytes:  # fmt: skip
            raise ValueError("a per-document limit is above its per-batch limit: one document "
                             "would not fit in a batch")

    @classmethod
    def resolve(cls, values: dict | None = None, environ=os.environ) -> Limits:
        """Limits from ``values`` (None entries ignored), else ``PROX_<FIELD>``, else defaults."""
        chosen = {}
        for f in fields(cls):
            value = (values or {}).get(f.name)
            if value is None:
                value = environ.get(f"PROX_{f.name.upper()}")
            if value is not None:
                chosen[f.name] = int(value) if f.type == "int" else str(value)
        return cls(**chosen)

    def to_dict(self) -> dict:
        return asdict(self)


def text_bytes(text: str) -> int:
    """UTF-8 size of ``text`` (no copy for ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def admitted(docs: Iterator, limits: Limits, quarantine, duplicates: set | None = None
             ) -> Iterator:
    """The documents within the per-document limits and the duplicate-id policy; the others
    go to ``quarantine`` (``too_many_lines``, ``duplicate_id``).

    Args:
        docs: The shard's documents, in order.
        limits: The limits and policy.
        quarantine: Where refused documents go.
        duplicates: For the ``quarantine`` policy, the ids that occur more than once in the
            shard (see :func:`duplicated_ids`).

    Raises:
        DuplicateIdError: With the ``fail`` policy, at the second occurrence.
    """
    seen: dict[str, tuple[str, int]] = {}
    for doc in docs:
        lines = doc.text.count("\n") + 1
        if lines > limits.max_doc_lines:
            quarantine.add(doc.source, doc.offset, "too_many_lines",
                           f"{lines} lines > max_doc_lines {limits.max_doc_lines}",
                           doc_id=doc.id)  # fmt: skip
            continue
        first = seen.get(doc.id)
        if limits.duplicate_ids == "quarantine" and duplicates and doc.id in duplicates:
            quarantine.add(doc.source, doc.offset, "duplicate_id",
                           "the id occurs more than once in the shard", doc_id=doc.id)
            continue
        if first is not None:
            where = f"{first[0]} record {first[1]}"
            if limits.duplicate_ids == "fail":
                raise DuplicateIdError(f"document id {doc.id!r} at {doc.source} record "
                                       f"{doc.offset} was already read at {where}")
            quarantine.add(doc.source, doc.offset, "duplicate_id", f"first seen at {where}",
                           doc_id=doc.id)
            continue
        seen[doc.id] = (doc.source, doc.offset)
        yield doc


def duplicated_ids(docs: Iterator) -> set:
    """The ids that occur more than once among ``docs``."""
    seen, twice = set(), set()
    for doc in docs:
        (twice if doc.id in seen else seen).add(doc.id)
    return twice


def batches(docs: Iterator, limits: Limits) -> Iterator[list]:
    """Consecutive batches within ``max_batch_docs``, ``max_batch_bytes``, ``max_batch_lines``."""
    batch: list = []
    size = lines = 0
    for doc in docs:
        n_bytes, n_lines = text_bytes(doc.text), doc.text.count("\n") + 1
        if batch and (len(batch) >= limits.max_batch_docs
                      or size + n_bytes > limits.max_batch_bytes
                      or lines + n_lines > limits.max_batch_lines):  # fmt: skip
            yield batch
            batch, size, lines = [], 0, 0
        batch.append(doc)
        size, lines = size + n_bytes, lines + n_lines
    if batch:
        yield batch
